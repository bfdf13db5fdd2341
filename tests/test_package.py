"""The wheel a user installs: the tool, its checks, reports, schemas and root lists; never
the lab (its fixed private keys, its hostile servers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_the_tool_and_no_lab_file_or_private_key(tmp_path: Path) -> None:
    # built from a copy without build/: setuptools puts in the wheel whatever an earlier
    # build left in build/lib, files since removed or moved included
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
        ".amt-preflight", "demo-report", "lab-pki", "test-artifacts"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", str(source), "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("amt_preflight-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        contents = {n: archive.read(n) for n in names}
    assert not [n for n in names if n.startswith("lab/") or "/lab/" in n]
    assert not [n for n, data in contents.items() if b"PRIVATE KEY-----" in data]
    assert not [n for n in names if "hostile" in n or "fake_" in n]
    for wanted in ("amt_preflight/cli.py", "amt_preflight/checks/cert.py",
                   "amt_preflight/reports/templates/report.html.j2",
                   "amt_preflight/schemas/run-result-1.json",
                   "amt_preflight/data/amt-root-hashes.json"):
        assert wanted in names, wanted
    # checks/ and reports/ go in only under amt_preflight/ (pyproject's package-dir)
    assert not [n for n in names if n.split("/")[0] in ("checks", "reports")]


def test_checks_and_reports_have_one_import_name(tmp_path: Path) -> None:
    """From the repository root (as under pytest) `checks` and `reports` are importable by
    the folder's name too: a second copy of every module, a second catalogue. They refuse it;
    amt_preflight.checks and amt_preflight.reports import from anywhere."""
    for name in ("checks", "reports"):
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert (f"ImportError: import amt_preflight.{name}; {name}/ is installed under that "
                "one name") in done.stderr, done.stderr
    for folder in (REPO, tmp_path):
        done = subprocess.run(
            [sys.executable, "-c", "import amt_preflight.checks as c, amt_preflight.reports as r;"
             " print(c.__file__); print(r.__file__); print(len(c.catalogue()))"],
            cwd=folder, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        checks, reports, count = done.stdout.split()
        assert Path(checks).parent.name == "checks", checks
        assert Path(reports).parent.name == "reports", reports
        assert int(count) > 0
