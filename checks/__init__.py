"""The catalogue of checks: every check the tool knows, in report order.

Add a check by writing it in its area's module and listing it in that module's CHECKS.
"""

from __future__ import annotations

# One import name: from the repository root or under pytest the folder is importable
# as `checks` too, which would make a second copy of every module beside this one.
if __name__ != "amt_preflight.checks":
    raise ImportError("import amt_preflight.checks; checks/ is installed under that one name")

from amt_preflight.catalogue import CheckSpec

from . import ad, ca, cert, devices, dhcp, dns, handshake, snmp

CATALOGUE: tuple[CheckSpec, ...] = (
    *dhcp.CHECKS, *dns.CHECKS, *ad.CHECKS, *cert.CHECKS, *ca.CHECKS, *handshake.CHECKS,
    *devices.CHECKS, *snmp.CHECKS)

BY_ID: dict[str, CheckSpec] = {spec.id: spec for spec in CATALOGUE}
