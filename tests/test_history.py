"""Run history: whole runs in, newest first out, safe with two writers and with a writer
killed mid-transaction; diffs by fingerprint."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from amt_preflight import history
from amt_preflight.diff import diff
from amt_preflight.model import RunResult, Status, Verdict

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
