"""Check IDs, patterns and waiver sites named in config.yaml must exist (CHECKS.md): a typo
is a config error naming the file, line and key, never a waiver or a disable that silently
applies to nothing. And the catalogue is loaded only where a config is."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from amt_preflight.config import ConfigError, parse

SITES = "sites:\n  - name: hq\n  - name: branch\n"


@pytest.mark.parametrize(("text", "line", "key", "words"), [
    ("checks:\n  disable: [DNS-PROVSERVER-PTR, CERT-EXPIRY-SON]\n", 5, "checks.disable[1]",
     "'CERT-EXPIRY-SON' is not a check ID: did you mean CERT-EXPIRY-SOON?"),
    ("checks:\n  disable: ['DSN-*']\n", 5, "checks.disable[0]",
     "the pattern 'DSN-*' matches no check ID"),
    ("checks:\n  severity:\n    CERT-CHAIN-LENGTH: info\n    CERT-CHAIN-LENGHT: low\n", 7,
     "checks.severity.CERT-CHAIN-LENGHT", "did you mean CERT-CHAIN-LENGTH?"),
    ("checks:\n  severity: {'CERT-*': low}\n", 5, "checks.severity.CERT-*",
     "is a pattern: this key takes one check ID"),
    ("waivers:\n  - {check: CERT-EXPIRY-SOON, reason: r}\n  - {check: NOPE, reason: r}\n", 6,
     "waivers[1].check", "'NOPE' is not a check ID"),
    ("waivers:\n  - check: 'HS-*-TYPO'\n    reason: r\n", 5, "waivers[0].check",
     "matches no check ID"),
    ("waivers:\n  - check: CERT-EXPIRY-SOON\n    site: hw\n    reason: r\n", 6,
     "waivers[0].site", "no site is named 'hw' (sites: hq, branch)"),
], ids=["disable-id", "disable-glob", "severity-id", "severity-glob", "waiver-id",
        "waiver-glob", "waiver-site"])
def test_a_name_that_selects_nothing_is_a_config_error_at_its_line(
        text: str, line: int, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse(SITES + text, Path("site.yaml"))
    error = refused.value
    assert (error.path, error.line, error.key) == ("site.yaml", line, key)
    assert words in error.problem


def test_names_that_select_checks_are_accepted_in_any_case() -> None:
    config = parse(SITES + "checks:\n  disable: ['dhcp-opt81-*', DNS-PROVSERVER-PTR]\n"
                   "  severity: {cert-chain-length: info}\n"
                   "waivers:\n  - {check: 'CERT-*', site: branch, reason: r}\n"
                   "  - {check: ca-crl-fresh, reason: r}\n", Path("site.yaml"))
    assert config.checks.severity == {"CERT-CHAIN-LENGTH": "info"}


def test_the_demo_config_names_only_checks_that_exist() -> None:
    repository = Path(__file__).resolve().parents[1]
    parse((repository / "config.yaml").read_text(), repository / "config.yaml")


def test_a_config_error_exits_78_naming_the_line(tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text(SITES + "waivers:\n  - {check: CERT-EXPIRY-SOOON, reason: r}\n")
    done = subprocess.run([sys.executable, "-m", "amt_preflight.cli", "run", "-c", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 78, done.stderr
    assert f"{config}:5: waivers[0].check" in done.stderr


def test_importing_the_config_does_not_load_the_catalogue() -> None:
    """--help and the commands without a config stay fast: cryptography (behind the
    catalogue) is imported only when a config is validated."""
    code = ("import sys, time; t = time.perf_counter(); import amt_preflight.config; "
            "print(time.perf_counter() - t, 'amt_preflight.checks' in sys.modules, "
            "'cryptography' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    took, checks, crypto = done.stdout.split()
    assert (checks, crypto) == ("False", "False"), done.stdout
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "amt_preflight.cli", "--help"], capture_output=True,
                   timeout=60, check=True)
    print(f"import config {float(took):.3f} s, --help {time.perf_counter() - started:.3f} s")
