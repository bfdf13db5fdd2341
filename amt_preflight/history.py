"""Run history in SQLite: every run kept whole, for "what changed since last night".

One transaction per run (a run killed mid-write leaves nothing half-stored), WAL so a
report can read while a run writes, and a busy timeout so two runs at once both land.
The database holds every run's evidence: it is created 0600 before SQLite opens it (its
-wal and -shm files take that mode), in a folder created 0700, never through a symlink.
A stored row is checked against the JSON schema when it is loaded: a damaged one is
skipped with a warning, never a crash of the run that reads it.

Like is compared with like: each run's selection (its checks after --check and
checks.disable, and whether intrusive probes were allowed) is stored as a key, and a site's
run is compared only with an earlier run of that site with the same key. Rows stored by
older versions have no key: they are a selection of their own, compared with one another
only, never with a run that records its selection.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from amt_preflight import files
from amt_preflight.model import RunResult, Selection

BUSY_TIMEOUT_S = 30.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    host TEXT NOT NULL,
    config TEXT NOT NULL,
    verdict TEXT NOT NULL,
    document TEXT NOT NULL              -- the RunResult JSON, schema_version 1
);
CREATE TABLE IF NOT EXISTS site_runs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    site TEXT NOT NULL,
    verdict TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, site)
);
CREATE INDEX IF NOT EXISTS site_runs_by_site ON site_runs (site, finished_at);
-- Each document's SHA-256 as this tool stored it: a row that still matches is loaded as it
-- is; any other (damaged, edited, stored by an older version) is first checked against the
-- JSON schema, which costs seconds for a run of tens of thousands of results.
CREATE TABLE IF NOT EXISTS run_digests (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL
);
-- What each run selected (model.Selection.key: its checks and intrusive flag) and how that
-- reads; none for rows of older versions, which are a selection of their own.
CREATE TABLE IF NOT EXISTS run_selections (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    selection TEXT NOT NULL,
    described TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_finished_at ON runs (finished_at);
"""


class HistoryError(Exception):
    """The history database cannot be used; the message says which file and why."""


Warn = Callable[[str], None]


def _warn(message: str) -> None:
    print(f"amt-preflight: warning: {message}", file=sys.stderr)


# SQLite's own files beside the database, created with the database's mode
COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class StoredRun:
    id: str
    started_at: str
    finished_at: str
    host: str
    verdict: str
    sites: dict[str, str]  # site -> verdict
    selection: str | None = None  # "12 checks, non-intrusive"; None: not recorded (older)


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        files.make_folder(path.parent)
        files.private_file(path, COMPANIONS)  # 0600 before SQLite opens it; no symlink
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise HistoryError(f"{path}: cannot open the run history: {exc}") from None
    with closing(db):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(SCHEMA)
            yield db
        except sqlite3.Error as exc:
            raise HistoryError(f"{path}: run history: {exc}") from None


def store(path: Path, run: RunResult) -> None:
    """Keep one run, all of it or nothing."""
    document = json.dumps(run.to_json(), ensure_ascii=False, separators=(",", ":"))
    with _connect(path) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run.run.id, run.run.started_at, run.run.finished_at, run.run.host,
                 run.run.config, run.verdict.value, document),
            )
            db.executemany(
                "INSERT INTO site_runs VALUES (?, ?, ?, ?)",
                [(run.run.id, s.name, s.verdict.value, run.run.finished_at) for s in run.sites],
            )
            db.execute("INSERT INTO run_digests VALUES (?, ?)", (run.run.id, _digest(document)))
            if run.run.selection is not None:
                db.execute("INSERT INTO run_selections VALUES (?, ?, ?)",
                           (run.run.id, run.run.selection.key, run.run.selection.describe()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def runs(path: Path, limit: int = 50) -> list[StoredRun]:
    """The newest runs first."""
    with _connect(path) as db:
        rows = db.execute(
            "SELECT r.id, r.started_at, r.finished_at, r.host, r.verdict, k.described "
            "FROM runs r LEFT JOIN run_selections k ON k.run_id = r.id "
            "ORDER BY r.finished_at DESC, r.rowid DESC LIMIT ?", (limit,)).fetchall()
        out = []
        for run_id, started, finished, host, verdict, described in rows:
            sites = dict(db.execute(
                "SELECT site, verdict FROM site_runs WHERE run_id = ? ORDER BY site",
                (run_id,)).fetchall())
            out.append(StoredRun(run_id, started, finished, host, verdict, sites, described))
        return out


def prune(path: Path, keep_days: int, now: datetime | None = None) -> int:
    """Delete the runs finished more than `keep_days` days before `now`, in one
    transaction; how many were deleted. A row whose time cannot be read is kept."""
    if keep_days < 1:
        raise HistoryError(f"{path}: keep at least one day of runs, not {keep_days}")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    with _connect(path) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            old = [run_id for run_id, finished in db.execute(
                       "SELECT id, finished_at FROM runs").fetchall()
                   if (moment := _moment(finished)) is not None and moment < cutoff]
            db.executemany("DELETE FROM runs WHERE id = ?", [(r,) for r in old])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(old)


def _moment(text: object) -> datetime | None:
    """A stored time (ISO 8601; without a zone: UTC), or None for one that is not."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def load(path: Path, run_id: str) -> RunResult:
    """A stored run by its id, or by an unambiguous prefix of it."""
    with _connect(path) as db:
        rows = db.execute(f"{_ROWS} WHERE r.id LIKE ? || '%'", (run_id,)).fetchall()
    if not rows:
        raise HistoryError(f"{path}: no run {run_id}")
    if len(rows) > 1:
        raise HistoryError(f"{path}: {run_id} matches {len(rows)} runs; give more of the id")
    found_id, document, digest = rows[0]
    try:
        return _document(found_id, document, digest)
    except ValueError as exc:
        raise HistoryError(f"{path}: {exc}") from None


_ROWS = ("SELECT r.id, r.document, d.sha256 FROM runs r "
         "LEFT JOIN run_digests d ON d.run_id = r.id")


def _digest(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()


def _document(run_id: str, document: object, digest: object = None) -> RunResult:
    """A stored row's run. One that is not as this tool stored it (its digest differs) is
    checked against the JSON schema first: a damaged or edited row, or one an older version
    stored without checking, is a ValueError saying why, never a crash further on."""
    from amt_preflight.reports.json_report import ReportInputError
    from amt_preflight.reports.json_report import load as load_json

    if isinstance(document, str) and isinstance(digest, str) and digest == _digest(document):
        try:
            return RunResult.from_json(json.loads(document))
        except (KeyError, TypeError, ValueError):
            pass  # as stored, yet not a run: the schema says what is wrong with it
    if not isinstance(document, str) or not document.lstrip().startswith("{"):
        raise ValueError(f"stored run {run_id} is damaged: not a JSON document")
    try:
        return load_json(document)
    except ReportInputError as exc:
        raise ValueError(f"stored run {run_id} is damaged: "
                         f"{str(exc).removeprefix('<json text>: ')}") from None
    except (KeyError, TypeError, ValueError) as exc:  # valid, yet not a run after all
        raise ValueError(f"stored run {run_id} is damaged: {type(exc).__name__}: {exc}"
                         ) from None


def _loaded(path: Path, db: sqlite3.Connection, run_ids: Sequence[str], warn: Warn
            ) -> dict[str, RunResult]:
    """The stored runs of these ids that load; each damaged one skipped with a warning."""
    found: dict[str, RunResult] = {}
    for run_id in dict.fromkeys(run_ids):
        row = db.execute(f"{_ROWS} WHERE r.id = ?", (run_id,)).fetchone()
        if row is None:
            continue
        try:
            found[run_id] = _document(*row)
        except ValueError as exc:
            warn(f"{path}: {exc}; skipped")
    return found


def previous_site_results(path: Path, sites: Sequence[str], before: str, warn: Warn = _warn,
                          *, selection: Selection | None = None) -> RunResult | None:
    """For each site, its latest stored run of the same selection (None: rows without one,
    as older versions stored them) finished before `before` (a damaged one skipped, with a
    warning, for the one before it), as one RunResult holding those sites only; None when no
    site has one."""
    key = selection.key if selection is not None else None
    picked: dict[str, str] = {}
    loaded: dict[str, RunResult] = {}
    damaged: set[str] = set()
    with _connect(path) as db:
        for site in sites:
            rows = db.execute(
                "SELECT s.run_id FROM site_runs s "
                "LEFT JOIN run_selections k ON k.run_id = s.run_id "
                "WHERE s.site = ? AND s.finished_at < ? AND k.selection IS ? "
                "ORDER BY s.finished_at DESC", (site, before, key)).fetchall()
            for (run_id,) in rows:
                if run_id in damaged:
                    continue
                if run_id not in loaded:
                    loaded.update(_loaded(path, db, [run_id], warn))
                if run_id in loaded:
                    picked[site] = run_id
                    break
                damaged.add(run_id)
    if not picked:
        return None
    return only_sites([loaded[r] for r in set(picked.values())], picked)


def site_verdicts(path: Path, sites: Sequence[str], before: str, *,
                  selection: Selection | None = None, limit: int = 10) -> dict[str, list[str]]:
    """For each site, the verdicts of its last `limit` stored runs of the same selection (as
    previous_site_results picks them) finished before `before`, the oldest first; a site
    without one is left out. Read from the index of site verdicts: no run is loaded."""
    key = selection.key if selection is not None else None
    found: dict[str, list[str]] = {}
    with _connect(path) as db:
        for site in sites:
            rows = db.execute(
                "SELECT s.verdict FROM site_runs s "
                "LEFT JOIN run_selections k ON k.run_id = s.run_id "
                "WHERE s.site = ? AND s.finished_at < ? AND k.selection IS ? "
                "ORDER BY s.finished_at DESC LIMIT ?", (site, before, key, limit)).fetchall()
            if rows:
                found[site] = [str(verdict) for (verdict,) in reversed(rows)]
    return found


def latest_two(path: Path, warn: Warn = _warn) -> tuple[RunResult, RunResult] | None:
    """For each site its newest run that has an earlier run of the same selection, and that
    earlier run (damaged ones skipped, with a warning), as two RunResults; None when no
    site has two runs of one selection yet. An ad-hoc run of a few checks after the nightly
    ones leaves the nightly pair the one compared until it has a like run of its own."""
    older: dict[str, str] = {}
    newer: dict[str, str] = {}
    loaded: dict[str, RunResult] = {}
    damaged: set[str] = set()
    with _connect(path) as db:

        def good(run_id: str) -> bool:
            if run_id not in loaded and run_id not in damaged:
                loaded.update(_loaded(path, db, [run_id], warn))
                if run_id not in loaded:
                    damaged.add(run_id)
            return run_id in loaded

        sites = [row[0] for row in db.execute("SELECT DISTINCT site FROM site_runs ORDER BY site")]
        for site in sites:
            rows: list[tuple[str, str | None]] = db.execute(
                "SELECT s.run_id, k.selection FROM site_runs s "
                "LEFT JOIN run_selections k ON k.run_id = s.run_id WHERE s.site = ? "
                "ORDER BY s.finished_at DESC", (site,)).fetchall()
            pair = next(((run_id, earlier) for i, (run_id, key) in enumerate(rows)
                         for earlier, earlier_key in rows[i + 1:]
                         if earlier_key == key and good(run_id) and good(earlier)), None)
            if pair is not None:
                newer[site], older[site] = pair
    if not newer:
        return None
    return (only_sites([loaded[r] for r in set(older.values())], older),
            only_sites([loaded[r] for r in set(newer.values())], newer))


def only_sites(runs_: Sequence[RunResult], picked: dict[str, str]) -> RunResult:
    """One RunResult of the given site -> run id choice, the newest run's info on top."""
    newest = max(runs_, key=lambda r: r.run.finished_at)
    by_id = {r.run.id: r for r in runs_}
    sites = [s for site, rid in picked.items() for s in by_id[rid].sites if s.name == site]
    results = [r for site, rid in picked.items() for r in by_id[rid].results if r.site == site]
    return RunResult(newest.run, sites, results)
