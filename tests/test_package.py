"""The wheel a user installs: the tool, its checks, reports, schemas and root lists; never
the lab (its fixed private keys, its hostile servers)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_the_tool_and_no_lab_file_or_private_key(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", str(REPO), "-w", str(tmp_path)],
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
