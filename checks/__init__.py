"""The catalogue of checks: every check the tool knows, in report order.

Add a check by writing it in its area's module, listing it in that module's CHECKS, and
naming its ID in INDEX below (tests/test_catalogue.py holds INDEX to the modules).

INDEX lets a run know every check ID without importing a module: a run imports only the
areas it judges (`--check 'DNS-*'` loads checks/dns.py alone), while the config's check
names and the coverage's "not selected" list still see the whole catalogue.
"""

from __future__ import annotations

# One import name: from the repository root or under pytest the folder is importable
# as `checks` too, which would make a second copy of every module beside this one.
if __name__ != "amt_preflight.checks":
    raise ImportError("import amt_preflight.checks; checks/ is installed under that one name")

import importlib
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amt_preflight.catalogue import CheckSpec

# Area module -> its check IDs, in report order. Every ID of an area starts with the area's
# prefix (DHCP-, DNS-, ...), and no two areas share one.
INDEX: dict[str, tuple[str, ...]] = {
    "dhcp": ("DHCP-SERVER-ANSWERS", "DHCP-SERVER-ALLOWED", "DHCP-OPT15-PRESENT",
             "DHCP-OPT15-MATCH", "DHCP-OPT15-CLEAN", "DHCP-OPT6-DNS", "DHCP-OPT81-ACCEPTED",
             "DHCP-OPT81-REGISTERS"),
    "dns": ("DNS-RESOLVER-ANSWERS", "DNS-PROVSERVER-A", "DNS-PROVSERVER-MATCH",
            "DNS-PROVSERVER-CONSISTENT", "DNS-PROVSERVER-PTR", "DNS-AD-SRV",
            "DNS-DYNUPDATE-OPEN"),
    "ad": ("AD-KDC-ANSWERS", "AD-REALM-MATCH", "AD-CLOCK-SKEW", "AD-LDAP-ROOTDSE",
           "AD-LDAP-BIND", "AD-AMT-OU"),
    "cert": ("CERT-LOADABLE", "CERT-AMT-USAGE", "CERT-SERVER-AUTH", "CERT-VALIDITY",
             "CERT-EXPIRY-SOON", "CERT-CHAIN-COMPLETE", "CERT-ROOT-TRUSTED",
             "CERT-DOMAIN-MATCH", "CERT-CRYPTO", "CERT-CHAIN-LENGTH"),
    "ca": ("CA-CRL-FRESH", "CA-NOT-REVOKED", "CA-OCSP-ANSWERS", "CA-AIA-REACHABLE",
           "CA-ENTERPRISE-REACHABLE"),
    "handshake": ("HS-PROVSERVER-TCP", "HS-HELLO-SENT", "HS-CONNECT-BACK",
                  "HS-PRESENTED-CHAIN", "HS-TLS-PSK"),
    "devices": ("DEV-ROOT-ACTIVE", "DEV-SUFFIX-MATCH", "DEV-CONTROL-MODE"),
    "snmp": ("SNMP-DEVICE-ANSWERS", "SNMP-IF-UP", "SNMP-SERVICE-RUNNING"),
}

IDS: tuple[str, ...] = tuple(check_id for ids in INDEX.values() for check_id in ids)
_AREA_OF_PREFIX = {ids[0].split("-", 1)[0]: area for area, ids in INDEX.items()}


def area_of(check_id: str) -> str:
    """The module a check ID is defined in (KeyError for an ID of no area)."""
    return _AREA_OF_PREFIX[check_id.split("-", 1)[0]]


@cache
def _area(area: str) -> dict[str, CheckSpec]:
    checks: tuple[CheckSpec, ...] = importlib.import_module(f"{__name__}.{area}").CHECKS
    return {spec.id: spec for spec in checks}


def spec(check_id: str) -> CheckSpec:
    """One check (KeyError for an unknown ID); imports its area's module only."""
    if check_id not in IDS:
        raise KeyError(check_id)
    return _area(area_of(check_id))[check_id]


def specs(check_ids: Iterable[str]) -> list[CheckSpec]:
    return [spec(check_id) for check_id in check_ids]


def catalogue() -> tuple[CheckSpec, ...]:
    """Every check, in report order (imports every area)."""
    return tuple(specs(IDS))
