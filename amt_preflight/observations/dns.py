"""DNS observations: questions and answers at each resolver, dynamic-update attempts, and
the site's resolvers; with the names both the DNS probe and the DNS checks derive from a
domain, so they agree on what was asked."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any, ClassVar, Literal

from amt_preflight.observations.base import Outcome, Transport, answers_timing
from amt_preflight.typed import record

# The records an AD domain must publish for its DCs and KDCs (CHECKS.md, DNS-AD-SRV).
AD_SRV_PREFIXES = ("_ldap._tcp.dc._msdcs", "_kerberos._tcp", "_kerberos._udp", "_kpasswd._tcp")


@lru_cache(maxsize=65536)  # the checks derive the same names per domain again and again
def normal_name(name: str) -> str:
    """DNS names compare case-insensitively and without the root dot."""
    return name.strip().rstrip(".").lower() or "."


def provision_server_name(domain: str) -> str:
    """The name an AMT device resolves to find its provisioning server."""
    return f"ProvisionServer.{normal_name(domain)}"


@lru_cache(maxsize=4096)  # one provisioning server's address is reversed for every domain
def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer


# Addresses of one ProvisionServer answer that are reverse-resolved: an answer of thousands
# of A records (one UDP datagram holds 4,000) must not make thousands of PTR queries at
# every resolver. DNS-PROVSERVER-PTR names the rest as not reversed.
MAX_REVERSED = 16


def reversed_addresses(values: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the addresses of one answer that are reverse-resolved, the rest): the first
    MAX_REVERSED distinct ones in sorted order, so the probe and the check agree."""
    distinct = sorted(set(values))
    return tuple(distinct[:MAX_REVERSED]), tuple(distinct[MAX_REVERSED:])


def srv_target(value: str) -> str:
    """The target of an SRV record in presentation format; "" for "." (no service)."""
    parts = value.split()
    target = normal_name(parts[3]) if len(parts) == 4 else "."
    return "" if target == "." else target


def resolver_probe_question(domains: list[str], ad_domain: str | None) -> tuple[str, str]:
    """The question that tells whether a resolver answers: one the survey asks anyway."""
    if domains:
        return provision_server_name(domains[0]), "A"
    if ad_domain:
        return normal_name(ad_domain), "SOA"
    return ".", "SOA"


def in_domain(name: str, domain: str) -> bool:
    name, domain = normal_name(name), normal_name(domain)
    return name == domain or name.endswith("." + domain)


@record
class DnsQuestion:
    resolver: str
    name: str
    rdtype: str
    transport: Transport = "udp"

    def __post_init__(self) -> None:
        name, rdtype = normal_name(self.name), self.rdtype.upper()
        if name != self.name:  # most questions are asked in normal form already
            object.__setattr__(self, "name", name)
        if rdtype != self.rdtype:
            object.__setattr__(self, "rdtype", rdtype)


@record
class DnsRecord:
    name: str
    rdtype: str
    ttl: int
    value: str  # presentation format: "10.0.0.1", "0 100 389 dc01.corp.example."


@record
class DnsAnswer:
    question: DnsQuestion
    outcome: Outcome
    rcode: str | None = None  # "NOERROR", "NXDOMAIN", ...
    records: tuple[DnsRecord, ...] = ()  # of the asked type, at the end of any CNAME chain
    cname_chain: tuple[str, ...] = ()
    authority_soa: DnsRecord | None = None
    attempts: int = 0
    started_at: float = 0.0  # epoch seconds
    elapsed_ms: float = 0.0
    detail: str = ""  # why it is not an answer; for MALFORMED, a hex excerpt of what came

    @classmethod
    def not_observed(cls, question: DnsQuestion) -> DnsAnswer:
        """A question no answer was recorded for."""
        return cls(question, Outcome.NOT_OBSERVED, detail="never probed")

    STORE: ClassVar[str] = "dns"  # kept in Observations.dns
    SHARED: ClassVar[Literal[True]] = True  # by the sites

    def key(self) -> DnsQuestion:
        """Where it is kept (Observations.dns): by question, shared by the sites."""
        return self.question

    @cached_property
    def values(self) -> tuple[str, ...]:
        return tuple(r.value for r in self.records)

    def to_evidence(self) -> dict[str, Any]:
        """How one resolver's answer is shown in a result's evidence: made once, as every
        check about the domain shows the same answers (evidence is never changed after)."""
        return self._evidence

    @cached_property
    def _evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "resolver": self.question.resolver,
            "transport": self.question.transport,
            "query": f"{self.question.name} {self.question.rdtype}",
            "outcome": self.outcome.value,
        }
        if self.outcome is Outcome.ANSWER:
            doc["rcode"] = self.rcode
            doc["records"] = list(self.values)
            if self.cname_chain:
                doc["cname_chain"] = list(self.cname_chain)
        if self.detail:
            doc["detail"] = self.detail
        doc["attempts"] = self.attempts
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc

    def describe(self) -> str:
        """One line for a message: what this resolver said."""
        where = f"{self.question.resolver}/{self.question.transport}"
        if self.outcome is Outcome.ANSWER:
            if self.records:
                return f"{', '.join(self.values)} from {where}"
            rcode = "NODATA" if self.rcode == "NOERROR" else self.rcode
            return f"{rcode} from {where}"
        return f"{self.outcome.value} at {where}" + (f" ({self.detail})" if self.detail else "")


def dns_update_key(domain: str) -> str:
    return normal_name(domain)


@record
class DnsUpdateAttempt:
    """An unsigned RFC 2136 update of a throw-away TXT record, and its clean-up."""

    domain: str
    zone: str
    server: str
    name: str
    outcome: Outcome
    rcode: str | None = None
    zone_source: str = ""  # how the zone and server were found
    cleanup: str = ""  # "not needed", "deleted", or what went wrong
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""

    STORE: ClassVar[str] = "dns_updates"  # kept in Observations.dns_updates
    SHARED: ClassVar[Literal[True]] = True  # by the sites

    def key(self) -> str:
        """Where it is kept (Observations.dns_updates): by domain, shared by the sites."""
        return dns_update_key(self.domain)

    def to_evidence(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "server": self.server,
            "zone_source": self.zone_source,
            "update": f"add {self.name} TXT (unsigned)",
            "outcome": self.outcome.value,
            "rcode": self.rcode,
            "cleanup": self.cleanup,
            "detail": self.detail,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


DHCP_OPTION6 = "dhcp option 6"  # a ResolverSet's source: the option 6 of the site's DHCP


class ResolverTrust(StrEnum):
    """Whether what a site's resolvers say may lead a secret somewhere (the AD bind): set
    where the resolvers are chosen (probes.dns.gather_site_resolvers)."""

    TRUSTED = "trusted"  # config.yaml's resolvers, the host's, or option 6 of an allowed server
    UNCHECKED = "unchecked"  # option 6 while dhcp.allowed_servers is empty: any server's
    ROGUE = "rogue"  # option 6 of servers outside dhcp.allowed_servers (no allowed one answered)


@record
class ResolverSet:
    addresses: tuple[str, ...]
    source: str  # "config", DHCP_OPTION6, "/etc/resolv.conf"
    trust: ResolverTrust = ResolverTrust.TRUSTED

    @classmethod
    def not_observed(cls) -> ResolverSet:
        return cls((), "not observed")

    STORE: ClassVar[str] = "resolvers"  # kept in Observations.resolvers
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> str:
        """Where a site's resolvers are kept (Observations.resolvers): by site."""
        return site


@record
class ProvisionResolvers:
    """Every resolver ProvisionServer is asked at for one site: its own, and those DHCP
    option 6 hands to the devices; each (address, where it came from)."""

    resolvers: tuple[tuple[str, str], ...]

    STORE: ClassVar[str] = "provision_resolvers"  # kept in Observations.provision_resolvers
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> str:
        """Where they are kept (Observations.provision_resolvers): by site."""
        return site


class Answers(tuple[DnsAnswer, ...]):
    """Answers a finding shows together (one question at each resolver, or several), with
    how they show: made once per tuple, as every check about a domain shows the same answers
    (SiteView.kept keeps the tuple; evidence is never changed after)."""

    @cached_property
    def evidence(self) -> list[dict[str, Any]]:
        """Which resolver said what, question by question, for a result's evidence."""
        return [a.to_evidence() for a in self]

    @cached_property
    def timing(self) -> tuple[datetime | None, int | None]:
        return answers_timing(self)
