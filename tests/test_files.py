"""Files the tool writes (review M2): whole or not at all, never through a planted symlink,
0600 where they hold evidence, folders it creates 0700; the history database likewise."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from amt_preflight import files, history
from amt_preflight.reports import json_report

from .test_reports import hostile_run

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "amt_preflight.cli"]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_file_is_replaced_whole_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    files.write_text(target, "new ü\r\n", files.PRIVATE)
    assert target.read_bytes() == "new ü\r\n".encode()  # exact bytes, line ends as given
    assert mode(target) == 0o600
    files.write_text(target, "shared", files.SHARED)
    assert mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "amt_preflight.prom"
    target.write_text("complete old metrics\n")

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(files.OutputError, match=r"cannot write .*: No space left on device"):
        files.write_text(target, "new metrics\n")
    monkeypatch.undo()
    assert target.read_text() == "complete old metrics\n"
    assert [p.name for p in tmp_path.iterdir()] == ["amt_preflight.prom"]


@pytest.mark.parametrize("dangling", [False, True])
def test_a_planted_symlink_is_refused_and_its_target_untouched(
    tmp_path: Path, dangling: bool
) -> None:
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "amt-preflight.html").symlink_to(victim)
    with pytest.raises(files.OutputError, match="symbolic link"):
        files.write_text(out / "amt-preflight.html", "<html>")
    assert victim.read_text() == "precious" if not dangling else not victim.exists()
    assert (out / "amt-preflight.html").is_symlink()


def test_folders_the_tool_creates_are_private(tmp_path: Path) -> None:
    existing = tmp_path / "var"
    existing.mkdir(mode=0o755)
    files.make_folder(existing / "lib" / "report")
    assert mode(existing / "lib") == mode(existing / "lib" / "report") == 0o700
    assert mode(existing) == 0o755  # what existed is left as it was
    (tmp_path / "file").write_text("")
    with pytest.raises(files.OutputError, match="not a folder"):
        files.make_folder(tmp_path / "file" / "report")


def test_report_refuses_a_symlink_planted_as_its_output(tmp_path: Path) -> None:
    """The review's reproducer: `report -o` onto a symlink exits 70 and writes nothing."""
    saved = tmp_path / "run.json"
    saved.write_text(json_report.render(hostile_run()))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "outdir"
    out.mkdir()
    (out / "amt-preflight.html").symlink_to(victim)
    done = subprocess.run([*CLI, "report", str(saved), "--format", "html", "-o",
                           str(out / "amt-preflight.html")], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 70, done.stderr
    assert done.stderr.splitlines() == [
        f"amt-preflight: cannot write {out / 'amt-preflight.html'}: it is a symbolic link "
        "(refused: it could point at any file)"]
    assert victim.read_text() == "precious\n"


def test_report_files_holding_evidence_are_private(tmp_path: Path) -> None:
    saved = tmp_path / "run.json"
    saved.write_text(json_report.render(hostile_run()))
    for fmt, expected in (("json", 0o600), ("html", 0o600), ("prometheus", 0o644)):
        target = tmp_path / f"again.{fmt}"
        done = subprocess.run([*CLI, "report", str(saved), "--format", fmt, "-o", str(target)],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert done.returncode == 0, done.stderr
        assert mode(target) == expected, fmt
    assert json.loads((tmp_path / "again.json").read_text())["run"]["id"]


def test_the_prometheus_textfile_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """node_exporter may read the collector's folder at any moment: the textfile appears by a
    rename of a temporary file in the same folder, never written in place."""
    from amt_preflight.cli import main

    saved = tmp_path / "run.json"
    saved.write_text(json_report.render(hostile_run()))
    folder = tmp_path / "textfile"
    folder.mkdir()
    (folder / "amt_preflight.prom").write_text("complete old metrics\n")
    renames: list[tuple[Path, Path, str]] = []
    real_replace = os.replace

    def spy(source: str | Path, target: str | Path) -> None:
        renames.append((Path(source), Path(target), Path(target).read_text()))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    assert main(["report", str(saved), "--format", "prometheus", "-o", str(folder)]) == 0
    [(source, target, before)] = renames
    assert target == folder / "amt_preflight.prom" and before == "complete old metrics\n"
    assert source.parent == folder and source.name.startswith(".amt_preflight.prom.")
    assert "amt_preflight_check_status{" in target.read_text()
    assert [p.name for p in folder.iterdir()] == ["amt_preflight.prom"]
    assert mode(target) == 0o644


def test_history_database_is_private_in_a_private_folder(tmp_path: Path) -> None:
    db = tmp_path / "state" / "history.sqlite"
    history.store(db, hostile_run())
    assert mode(db.parent) == 0o700
    assert mode(db) == 0o600
    for companion in history.COMPANIONS:  # SQLite gives its own files the database's mode
        path = Path(f"{db}{companion}")
        if path.exists():
            assert mode(path) == 0o600, companion


def test_an_older_world_readable_history_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    history.store(db, hostile_run())
    os.chmod(db, 0o644)
    history.runs(db)
    assert mode(db) == 0o600


@pytest.mark.parametrize("companion", ["", "-wal"])
def test_a_symlinked_history_database_is_refused(tmp_path: Path, companion: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    db = tmp_path / "history.sqlite"
    Path(f"{db}{companion}").symlink_to(victim)
    with pytest.raises(history.HistoryError, match="symbolic link"):
        history.store(db, hostile_run())
    assert victim.read_text() == "precious"
