"""The AD section: every KDC and DC surveyed, with its measured clock offset (a KDC's from
the server time in its KRB-ERROR, a DC's from its rootDSE currentTime)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amt_preflight.model import NO_TARGET, Result, Status

from .common import as_map, maps, number, text, texts, truthy_text


class ClockSkew:
    """Evidence of AD-CLOCK-SKEW, written by checks/ad.py (clock_skew)."""

    CHECK = "AD-CLOCK-SKEW"
    KDC = "kdc"  # `AdServer.to_evidence()` of amt_preflight/observations/ad.py
    HOST_NAMES = "host_names"  # in `kdc`: the KDC's names
    OFFSET = "offset_s"  # the worst offset of the readings, seconds
    READINGS = "readings"  # each `KerberosReply.to_evidence()` (observations/ad.py)
    REPLY_REALM = "reply_realm"  # in a reading: the realm the KRB-ERROR carries


class LdapRootDse:
    """Evidence of AD-LDAP-ROOTDSE, written by checks/ad.py (ldap_root_dse)."""

    CHECK = "AD-LDAP-ROOTDSE"
    ROOTDSE = "rootdse"  # each `RootDse.to_evidence()` of amt_preflight/observations/ad.py
    ADDRESS = "address"  # in a rootDSE read: the address asked
    NAMING_CONTEXT = "defaultNamingContext"
    HOST_NAME = "dnsHostName"
    OFFSET = "clock_offset_s"


@dataclass(frozen=True)
class AdServer:
    """One row: a KDC, or one rootDSE read of a DC."""

    site: str
    server: str  # the result's target
    address: str  # the DC's address read, if it is not the target; else ""
    role: str  # "KDC" or "DC"
    realm: str  # the realms a KDC answered with, or a DC's naming context; "" for none
    host_name: str  # "": none known
    offset_s: float | None  # the server's clock minus this host's; None: not read
    status: Status
    message: str


@dataclass(frozen=True)
class AdView:
    servers: Sequence[AdServer]  # the KDCs, then the DCs
    results: int  # the AD-CLOCK-SKEW and AD-LDAP-ROOTDSE results they come from


def _unique(names: Sequence[str]) -> list[str]:
    """Each name once, the first spelling of those that differ only in case."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return list(seen.values())


def kdc(r: Result) -> AdServer:
    realms = [text(v) for reading in maps(r.evidence.get(ClockSkew.READINGS))
              if (v := reading.get(ClockSkew.REPLY_REALM))]
    return AdServer(r.site, r.target, "", "KDC", ", ".join(_unique(realms)),
                    ", ".join(texts(as_map(r.evidence.get(ClockSkew.KDC)).get(
                        ClockSkew.HOST_NAMES))),
                    number(r.evidence.get(ClockSkew.OFFSET)), r.status, r.message)


def dcs(r: Result) -> list[AdServer]:
    """One row per rootDSE read (a DC may have several addresses), one without any."""
    rows = []
    for dse in maps(r.evidence.get(LdapRootDse.ROOTDSE)) or [{}]:
        address = dse.get(LdapRootDse.ADDRESS)
        rows.append(AdServer(
            r.site, r.target, truthy_text(address) if address != r.target else "", "DC",
            truthy_text(dse.get(LdapRootDse.NAMING_CONTEXT)),
            truthy_text(dse.get(LdapRootDse.HOST_NAME)),
            number(dse.get(LdapRootDse.OFFSET)), r.status, r.message))
    return rows


def build(results: Sequence[Result]) -> AdView:
    kdcs = [r for r in results if r.check == ClockSkew.CHECK and r.target != NO_TARGET]
    found = [r for r in results if r.check == LdapRootDse.CHECK and r.target != NO_TARGET]
    return AdView([*map(kdc, kdcs), *(row for r in found for row in dcs(r))],
                  len(kdcs) + len(found))
