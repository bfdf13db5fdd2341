"""Finding the programs the lab runs, and naming the Debian package of a missing one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from lab.errors import LabError

# Debian package that provides each program the lab runs.
PACKAGES: dict[str, str] = {
    "ip": "iproute2",
    "dnsmasq": "dnsmasq-base",
    "named": "bind9",
    "openssl": "openssl",
    "prlimit": "util-linux",
    "snmpd": "snmpd",
    "snmptrapd": "snmptrapd",
    "kea-dhcp4": "kea-dhcp4-server",
    "samba": "samba-ad-dc",
    "samba-tool": "samba-ad-provision",
    "krb5kdc": "krb5-kdc",
    "kdb5_util": "krb5-kdc",
    "slapd": "slapd",
}

# Servers live in sbin, which a non-login root shell (sudo, CI) may not have on PATH.
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", os.defpath), "/usr/local/sbin", "/usr/sbin", "/sbin"]
)


def find(program: str) -> str | None:
    """Absolute path of `program`, or None when it is not installed."""
    return shutil.which(program, path=_SEARCH_PATH)


def path(program: str) -> str:
    """Absolute path of `program`; LabError naming its package when it is missing."""
    found = find(program)
    if found is None:
        raise LabError(_missing_message([program]))
    return found


def require(programs: Iterable[str]) -> None:
    """Raise one LabError naming every missing program and the package to install."""
    missing = sorted({p for p in programs if find(p) is None})
    if missing:
        raise LabError(_missing_message(missing))


def _missing_message(missing: list[str]) -> str:
    lines = [
        f"  {p}: install Debian package {PACKAGES[p]}" if p in PACKAGES else f"  {p}: not found"
        for p in missing
    ]
    packages = sorted({PACKAGES[p] for p in missing if p in PACKAGES})
    hint = f"\n  apt-get install --no-install-recommends {' '.join(packages)}" if packages else ""
    return "the lab network needs programs that are not installed:\n" + "\n".join(lines) + hint
