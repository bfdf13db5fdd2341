"""Start-up stays cheap: the engine, the check catalogue and `--help` import no heavy library
(cryptography, pyOpenSSL, pysnmp, scapy, asn1crypto, jinja2); a check that needs one imports
it on first use (DESIGN.md, "Performance"). Each case runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("cryptography", "OpenSSL", "pysnmp", "scapy", "asn1crypto", "jinja2")
# the last line a case prints: the heavy modules it imported
REPORT = f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"


def heavy_modules_after(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", f"{code}\n{REPORT}"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("module", ["amt_preflight.engine", "amt_preflight.checks"])
def test_importing_the_engine_and_checks_imports_no_heavy_library(module: str) -> None:
    assert heavy_modules_after(f"import sys, {module}") == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    code = (
        "import contextlib, io, sys\n"
        "from amt_preflight import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, "
        "contextlib.suppress(SystemExit):\n"
        f"    cli.main({argv!r})\n"
        "assert 'usage:' in out.getvalue()\n"
    )
    assert heavy_modules_after(code) == "[]"


def test_pki_imports_cryptography_on_first_use() -> None:
    """Importing pki costs nothing; the error tuple every certificate reader catches is built
    on first use."""
    code = (
        "import sys\n"
        "from amt_preflight import pki\n"
        "assert 'cryptography' not in sys.modules\n"
        "from cryptography.exceptions import UnsupportedAlgorithm\n"
        "assert UnsupportedAlgorithm in pki.cert_errors()\n"
    )
    assert heavy_modules_after(code).startswith("['cryptography")
