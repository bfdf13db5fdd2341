"""Run history: whole runs in, newest first out, safe with two writers and with a writer
killed mid-transaction; diffs by fingerprint."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from amt_preflight import cli, engine, history, notify
from amt_preflight.diff import diff
from amt_preflight.model import RunResult, Selection, Status, Verdict

from . import runs
from .test_reports import hostile_run


def run_at(run_id: str, finished: str, *, fail_a: bool = True) -> RunResult:
    base = hostile_run()
    results = list(base.results) if fail_a else [
        replace(r, status=Status.PASS) if r.check == "DNS-PROVSERVER-A" else r
        for r in base.results]
    sites = [replace(s, verdict=Verdict.READY) if (s.name == "hq" and not fail_a) else s
             for s in base.sites]
    return RunResult(replace(base.run, id=run_id, started_at=finished, finished_at=finished),
                     sites, results)


def test_store_list_load(tmp_path: Path) -> None:
    db = tmp_path / "h" / "history.sqlite"
    history.store(db, run_at("r1", "2026-11-27T01:00:00.000Z"))
    history.store(db, run_at("r2", "2026-11-28T01:00:00.000Z"))
    stored = history.runs(db)
    assert [r.id for r in stored] == ["r2", "r1"]
    assert stored[0].sites["hq"] == "not-ready"
    assert history.load(db, "r2").to_json() == run_at("r2", "2026-11-28T01:00:00.000Z").to_json()


def test_previous_site_results_and_latest_two(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    history.store(db, run_at("r1", "2026-11-27T01:00:00.000Z"))
    history.store(db, run_at("r2", "2026-11-28T01:00:00.000Z", fail_a=False))
    previous = history.previous_site_results(db, ["hq", "nowhere"], "2026-11-28T00:00:00.000Z")
    assert previous is not None and previous.run.id == "r1"
    assert [s.name for s in previous.sites] == ["hq"]
    pair = history.latest_two(db)
    assert pair is not None
    change = diff(*pair)
    assert [r.check for r in change.resolved] == ["DNS-PROVSERVER-A"]
    assert change.verdicts["hq"] == ("not-ready", "ready") and change.changed_sites == ["hq"]
    assert not change.new


def test_diff_without_previous_run_is_all_new() -> None:
    change = diff(None, hostile_run())
    assert len(change.new) == 3 and set(change.changed_sites) == {"hq", "branch-ü", "lab", "dr"}


def _store_many(db: str, prefix: str) -> None:
    for i in range(20):
        history.store(Path(db), run_at(f"{prefix}{i:02}", f"2026-11-28T01:00:{i:02}.000Z"))


def test_two_writers_at_once_both_land(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    history.store(db, run_at("r0", "2026-11-27T00:00:00.000Z"))  # schema exists first
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_store_many, args=(str(db), p)) for p in ("a", "b")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    assert len(history.runs(db, limit=100)) == 41


def _die_mid_write(db: str) -> None:
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO runs VALUES ('half', 'x', 'x', 'h', 'c', 'ready', '{}')")
    os._exit(9)  # killed before COMMIT


def test_a_run_killed_mid_write_leaves_nothing(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    history.store(db, run_at("r1", "2026-11-27T01:00:00.000Z"))
    dying = multiprocessing.get_context("spawn").Process(target=_die_mid_write, args=(str(db),))
    dying.start()
    dying.join(30)
    assert dying.exitcode == 9
    history.store(db, run_at("r2", "2026-11-28T01:00:00.000Z"))
    assert [r.id for r in history.runs(db)] == ["r2", "r1"]


def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "history.sqlite"
    bad.write_text("this is not a database")
    try:
        history.store(bad, hostile_run())
    except history.HistoryError as exc:
        assert str(bad) in str(exc)
    else:
        raise AssertionError("no HistoryError")


def _damage(db: Path, run_id: str, document: str) -> None:
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE runs SET document = ? WHERE id = ?", (document, run_id))


DAMAGED = [
    "{not json",
    '{"schema_version": 1}',  # JSON, not a run
    # schema-valid in shape but for one field: a result whose status is no status
    None,
]


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_row_is_skipped_with_a_warning_not_a_crash(tmp_path: Path,
                                                           damage: str | None) -> None:
    db = tmp_path / "history.sqlite"
    history.store(db, run_at("r1", "2026-11-27T01:00:00.000Z"))
    history.store(db, run_at("r2", "2026-11-28T01:00:00.000Z", fail_a=False))
    if damage is None:
        document = run_at("r2", "2026-11-28T01:00:00.000Z", fail_a=False).to_json()
        document["results"][0]["status"] = "exploded"
        damage = json.dumps(document)
    _damage(db, "r2", damage)
    warnings: list[str] = []
    previous = history.previous_site_results(db, ["hq"], "2026-11-29T00:00:00.000Z",
                                             warn=warnings.append)
    assert previous is not None and previous.run.id == "r1"  # the one before the damaged row
    assert len(warnings) == 1 and "r2" in warnings[0] and "damaged" in warnings[0]
    assert history.latest_two(db, warn=warnings.append) is None  # one good run per site
    with pytest.raises(history.HistoryError, match="r2 is damaged"):
        history.load(db, "r2")


def test_diff_over_a_damaged_history_warns_and_compares_the_good_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from amt_preflight import cli

    db = tmp_path / "history.sqlite"
    history.store(db, run_at("r1", "2026-11-27T01:00:00.000Z"))
    history.store(db, run_at("r2", "2026-11-28T01:00:00.000Z", fail_a=False))
    history.store(db, run_at("r3", "2026-11-29T01:00:00.000Z", fail_a=False))
    _damage(db, "r3", '{"schema_version": 1, "results": "everything"}')
    assert cli.main(["diff", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert "site hq: not-ready -> ready" in out  # r1 against r2, the damaged r3 left out
    assert "stored run r3 is damaged" in err and "Traceback" not in err


def test_a_row_of_an_older_version_without_digest_is_checked_and_loaded(tmp_path: Path
                                                                       ) -> None:
    db = tmp_path / "history.sqlite"
    stored = run_at("r1", "2026-11-27T01:00:00.000Z")
    history.store(db, stored)
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM run_digests")  # as an older version stored it
    assert history.load(db, "r1").to_json() == stored.to_json()


# --- like with like: each run's selection -------------------------------------------

FULL_CHECKS = ("DNS-PROVSERVER-A", "DNS-RESOLVER-ANSWERS", "DHCP-OPT15-CLEAN", "AD-KDC-ANSWERS")
FULL = Selection.of(["hq"], FULL_CHECKS, False)
DNS_ONLY = Selection.of(["hq"], ["DNS-PROVSERVER-A", "DNS-RESOLVER-ANSWERS"], False)


def survey(run_id: str, finished: str, selection: Selection | None,
           failing: Sequence[str] = ("DHCP-OPT15-CLEAN", "AD-KDC-ANSWERS")) -> RunResult:
    """A run of site hq as the engine would record it: one result per selected check."""
    checks = selection.checks if selection is not None else FULL_CHECKS
    results = [runs.result(check, status=Status.FAIL if check in failing else Status.PASS,
                           title="t", message="m", remediation="", started=finished)
               for check in checks]
    return runs.run_of(results, run_id=run_id, started=finished, selection=selection)


def test_a_selection_is_in_the_json_and_documents_without_one_still_load() -> None:
    from amt_preflight.reports.json_report import ReportInputError
    from amt_preflight.reports.json_report import load as load_json

    run = survey("r1", "2026-11-27T01:00:00.000Z", FULL)
    document = run.to_json()
    assert document["run"]["selection"] == {
        "sites": ["hq"], "checks": sorted(FULL_CHECKS), "intrusive": False}
    assert load_json(json.dumps(document)) == run
    del document["run"]["selection"]  # as an older version wrote it
    assert load_json(json.dumps(document)).run.selection is None
    document["run"]["selection"] = {"sites": ["hq"], "checks": "DNS-*", "intrusive": False}
    with pytest.raises(ReportInputError, match="selection"):
        load_json(json.dumps(document))


def test_the_selection_key_is_the_checks_and_the_intrusive_flag() -> None:
    assert FULL.key == Selection.of(["branch", "hq"], reversed(FULL_CHECKS), False).key
    assert FULL.key != DNS_ONLY.key
    assert FULL.key != Selection.of(["hq"], FULL_CHECKS, True).key


def test_a_dns_only_run_changes_nothing_in_the_nightly_comparison(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    full1 = survey("full1", "2026-11-27T01:00:00.000Z", FULL)
    adhoc = survey("adhoc", "2026-11-27T14:00:00.000Z", DNS_ONLY)
    full2 = survey("full2", "2026-11-28T01:00:00.000Z", FULL)
    assert [s.verdict for r in (full1, adhoc, full2) for s in r.sites] == [
        Verdict.NOT_READY, Verdict.READY, Verdict.NOT_READY]

    history.store(db, full1)
    before_adhoc = history.previous_site_results(db, ["hq"], adhoc.run.started_at,
                                                 selection=DNS_ONLY)
    assert before_adhoc is None  # nothing like it: no "resolved failures", no trap
    assert not diff(before_adhoc, adhoc).resolved
    assert notify.regressions(before_adhoc, adhoc) == []
    history.store(db, adhoc)
    assert history.latest_two(db) is None  # full1 and adhoc are not a pair

    before_full2 = history.previous_site_results(db, ["hq"], full2.run.started_at,
                                                 selection=FULL)
    assert before_full2 is not None and before_full2.run.id == "full1"
    assert notify.regressions(before_full2, full2) == []  # ready (ad hoc) -> not-ready: no
    history.store(db, full2)
    pair = history.latest_two(db)
    assert pair is not None and [r.run.id for r in pair] == ["full1", "full2"]
    change = diff(*pair)
    assert not change.new and not change.resolved and len(change.unchanged) == 2

    # the next ad-hoc run of the same checks is compared with the first one
    history.store(db, survey("adhoc2", "2026-11-28T14:00:00.000Z", DNS_ONLY,
                             failing=["DNS-PROVSERVER-A"]))
    pair = history.latest_two(db)
    assert pair is not None and [r.run.id for r in pair] == ["adhoc", "adhoc2"]


def test_rows_without_a_selection_are_a_selection_of_their_own(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    old1 = survey("old1", "2026-11-25T01:00:00.000Z", None)
    old2 = survey("old2", "2026-11-26T01:00:00.000Z", None)
    for run in (old1, old2):
        history.store(db, run)
    with sqlite3.connect(db) as connection:  # a database as an older version left it
        connection.execute("DROP TABLE run_selections")
    assert history.load(db, "old2") == old2
    assert history.runs(db)[0].selection is None
    new = survey("new", "2026-11-27T01:00:00.000Z", FULL, failing=[])
    assert history.previous_site_results(db, ["hq"], new.run.started_at,
                                         selection=FULL) is None
    history.store(db, new)
    assert history.runs(db)[0].selection == "4 checks, non-intrusive"
    pair = history.latest_two(db)  # the old rows still pair with one another
    assert pair is not None and [r.run.id for r in pair] == ["old1", "old2"]
    previous = history.previous_site_results(db, ["hq"], "2026-11-28T00:00:00.000Z")
    assert previous is not None and previous.run.id == "old2"


def test_prune_deletes_by_age_and_keeps_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    for run_id, finished in (("a", "2026-10-01T01:00:00.000Z"), ("b", "2026-11-20T01:00:00Z"),
                             ("c", "2026-11-21T13:00:00+00:00"), ("d", "2026-11-28T01:00:00Z")):
        history.store(db, survey(run_id, finished, FULL))
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert history.prune(db, 7, now=now) == 2
    assert [r.id for r in history.runs(db)] == ["d", "c"]
    with sqlite3.connect(db) as connection:
        for table in ("site_runs", "run_digests", "run_selections"):
            left = {row[0] for row in connection.execute(f"SELECT run_id FROM {table}")}
            assert left == {"c", "d"}, table
    assert history.prune(db, 7, now=now) == 0
    with pytest.raises(history.HistoryError):
        history.prune(db, 0, now=now)


def test_history_prune_command_says_how_many(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from amt_preflight import cli

    db = tmp_path / "history.sqlite"
    history.store(db, survey("old", "2020-01-01T01:00:00.000Z", FULL))
    history.store(db, survey("new", _now(), FULL))
    assert cli.main(["history", "prune", "--keep-days", "30", "--db", str(db)]) == 0
    assert f"{db}: deleted 1 runs finished more than 30 days ago" in capsys.readouterr().out
    assert [r.id for r in history.runs(db)] == ["new"]
    assert cli.main(["history", "--db", str(db), "prune", "--keep-days", "0"]) == 64


# --- the command line: --quiet, traps, --no-history, history_keep_days ----------------

CONFIG = """
history: {history}
{extra}
sites:
  - name: hq
    resolvers: [10.0.0.1]
notify:
  snmp_trap: {{host: 192.0.2.162, community_env: TRAP_COMMUNITY}}
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Runs:
    """`amt-preflight run` with the survey replaced by hand-made runs; traps recorded."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = ""
                 ) -> None:
        from amt_preflight.probes import snmp

        self.db = tmp_path / "history.sqlite"
        self.config = tmp_path / "site.yaml"
        self.config.write_text(CONFIG.format(history=self.db, extra=extra))
        self.traps: list[dict[str, str | int]] = []
        self.next: RunResult | None = None
        monkeypatch.setenv("TRAP_COMMUNITY", "public")
        monkeypatch.setattr(engine, "run", lambda config, options: self.next)

        async def send_trap(*args: object) -> str:
            values = args[4]
            assert isinstance(values, list)
            self.traps.append(dict(values))
            return "recorded"

        monkeypatch.setattr(snmp, "send_trap", send_trap)

    def run(self, result: RunResult, *extra: str) -> int:
        self.next = result
        return cli.main(["run", "-c", str(self.config), "--quiet", *extra])


def test_quiet_and_traps_skip_an_ad_hoc_run_of_other_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = Runs(tmp_path, monkeypatch)
    assert runs.run(survey("full1", "2026-11-27T01:00:00.000Z", FULL)) == 2
    capsys.readouterr()
    assert runs.run(survey("adhoc", "2026-11-27T14:00:00.000Z", DNS_ONLY)) == 0
    capsys.readouterr()
    assert runs.run(survey("full2", "2026-11-28T01:00:00.000Z", FULL)) == 2
    assert capsys.readouterr().out == ""  # same verdict as full1: --quiet is quiet
    assert runs.traps == []  # ready (ad hoc) -> not-ready is no regression of the nightly
    assert cli.main(["diff", "--db", str(runs.db)]) == 0
    out = capsys.readouterr().out
    assert "  site hq: not-ready -> not-ready" in out
    assert "resolved failures: 0" in out and "new failures: 0" in out
    assert "[4 checks, non-intrusive]" in _history(capsys, runs.db)[0]

    # a nightly run that does get worse than the last nightly one still sends its trap
    assert runs.run(survey("full3", "2026-11-29T01:00:00.000Z", FULL,
                           failing=["DNS-PROVSERVER-A", "AD-KDC-ANSWERS"])) == 2
    assert runs.traps == []  # not-ready -> not-ready
    assert runs.run(survey("fixed", "2026-11-30T01:00:00.000Z", FULL, failing=[])) == 0
    assert runs.run(survey("broken", "2026-12-01T01:00:00.000Z", FULL,
                           failing=["DNS-PROVSERVER-A"])) == 2
    assert [t[notify.OLD_VERDICT] for t in runs.traps] == ["ready"]


def _history(capsys: pytest.CaptureFixture[str], db: Path) -> list[str]:
    from amt_preflight import cli

    assert cli.main(["history", "--db", str(db)]) == 0
    return capsys.readouterr().out.splitlines()


def test_no_history_neither_stores_nor_compares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = Runs(tmp_path, monkeypatch)
    assert runs.run(survey("r1", "2026-11-27T01:00:00.000Z", FULL, failing=[])) == 0
    capsys.readouterr()
    worse = survey("r2", "2026-11-28T01:00:00.000Z", FULL)
    assert runs.run(worse, "--no-history") == 2
    assert "Overall: NOT-READY" in capsys.readouterr().out  # nothing to compare: news
    assert runs.traps == []  # ready -> not-ready, yet not compared: no trap
    assert [r.id for r in history.runs(runs.db)] == ["r1"]
    (tmp_path / "fresh").mkdir()
    fresh = Runs(tmp_path / "fresh", monkeypatch)
    assert fresh.run(worse, "--no-history") == 2
    assert not fresh.db.exists()


def test_history_keep_days_prunes_after_each_stored_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = Runs(tmp_path, monkeypatch, extra="history_keep_days: 30")
    history.store(runs.db, survey("ancient", "2020-01-01T01:00:00.000Z", FULL))
    history.store(runs.db, survey("recent", _now(), FULL))
    assert runs.run(survey("now", _now(), FULL), "--no-history") == 2
    assert len(history.runs(runs.db)) == 2  # --no-history: not stored, nothing pruned
    assert cli.main(["run", "-c", str(runs.config), "--format", "json", "-o",
                     str(tmp_path / "out")]) == 2
    assert [r.id for r in history.runs(runs.db)] == ["now", "recent"]
    assert "deleted 1 runs older than 30 days (history_keep_days)" in capsys.readouterr().err


def test_site_verdicts_are_the_last_runs_of_the_same_selection_oldest_first(
        tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    history.store(db, survey("full1", "2026-11-27T01:00:00.000Z", FULL))
    history.store(db, survey("adhoc", "2026-11-27T14:00:00.000Z", DNS_ONLY))
    history.store(db, survey("full2", "2026-11-28T01:00:00.000Z", FULL, failing=[]))
    history.store(db, survey("full3", "2026-11-29T01:00:00.000Z", FULL))
    before = "2026-11-30T01:00:00.000Z"
    assert history.site_verdicts(db, ["hq", "nowhere"], before, selection=FULL) == {
        "hq": ["not-ready", "ready", "not-ready"]}
    assert history.site_verdicts(db, ["hq"], before, selection=FULL, limit=2) == {
        "hq": ["ready", "not-ready"]}
    assert history.site_verdicts(db, ["hq"], before, selection=DNS_ONLY) == {"hq": ["ready"]}
    assert history.site_verdicts(db, ["hq"], "2026-11-27T00:00:00.000Z", selection=FULL) == {}


def test_run_shows_each_sites_trend_of_like_runs_in_the_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = Runs(tmp_path, monkeypatch)
    out = tmp_path / "out"
    html_of = out / "amt-preflight.html"
    assert runs.run(survey("full1", "2026-11-27T01:00:00.000Z", FULL), "--format", "html",
                    "-o", str(out)) == 2
    assert 'class="trend"' not in html_of.read_text()  # no earlier run: no trend
    runs.run(survey("adhoc", "2026-11-27T14:00:00.000Z", DNS_ONLY))
    runs.run(survey("fixed", "2026-11-28T01:00:00.000Z", FULL, failing=[]))
    assert runs.run(survey("full2", "2026-11-29T01:00:00.000Z", FULL), "--format", "html",
                    "-o", str(out)) == 2
    html = html_of.read_text()
    svg = html.split('<svg class="trend"')[1].split("</svg>")[0]
    # the ad-hoc DNS-only run (ready) is not in the nightly trend
    assert ("<title>Verdict over the last 3 runs, the oldest first: not-ready, ready; now "
            "not-ready</title>") in svg
    assert [c for c in svg.split('class="t-')[1:] if c] and [
        c.split('"')[0] for c in svg.split('class="t-')[1:]] == [
        "not-ready", "ready", "not-ready"]
    assert "<script" not in svg and "href" not in svg
