"""Typed, frozen observations that probes make and checks read.

Errors are data: a timeout, a refused connection or a malformed answer is an observation
with an outcome, never an exception.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

Transport = Literal["udp", "tcp"]

# The records an AD domain must publish for its DCs and KDCs (CHECKS.md, DNS-AD-SRV).
AD_SRV_PREFIXES = ("_ldap._tcp.dc._msdcs", "_kerberos._tcp", "_kerberos._udp", "_kpasswd._tcp")


def normal_name(name: str) -> str:
    """DNS names compare case-insensitively and without the root dot."""
    return name.strip().rstrip(".").lower() or "."


def provision_server_name(domain: str) -> str:
    """The name an AMT device resolves to find its provisioning server."""
    return f"ProvisionServer.{normal_name(domain)}"


def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer


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


class ProbeObserver:
    """Told when a probe starts and ends; the console's progress display subclasses it."""

    def probe_started(self, what: str) -> None:
        """A probe attempt began."""

    def probe_finished(self, what: str) -> None:
        """A probe attempt ended, however it ended."""


class Outcome(StrEnum):
    ANSWER = "answer"  # a well-formed response, whatever its rcode
    TIMEOUT = "timeout"  # silence for every attempt
    UNREACHABLE = "unreachable"  # refused or no route (ICMP, RST)
    MALFORMED = "malformed"  # something came back that is not a valid response to us
    DEADLINE = "deadline"  # the run's deadline ended the probe
    NOT_OBSERVED = "not-observed"  # never probed (deadline before it started)

    @property
    def answered(self) -> bool:
        return self is Outcome.ANSWER


@dataclass(frozen=True)
class DnsQuestion:
    resolver: str
    name: str
    rdtype: str
    transport: Transport = "udp"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", normal_name(self.name))
        object.__setattr__(self, "rdtype", self.rdtype.upper())


@dataclass(frozen=True)
class DnsRecord:
    name: str
    rdtype: str
    ttl: int
    value: str  # presentation format: "10.0.0.1", "0 100 389 dc01.corp.example."


@dataclass(frozen=True)
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

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(r.value for r in self.records)

    def to_evidence(self) -> dict[str, Any]:
        """How one resolver's answer is shown in a result's evidence."""
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class ResolverSet:
    addresses: tuple[str, ...]
    source: str  # "config", "dhcp option 6", "/etc/resolv.conf"


@dataclass
class Observations:
    """Everything the probes of one run saw. Filled while gathering, read-only after."""

    dns: dict[DnsQuestion, DnsAnswer] = field(default_factory=dict)
    dns_updates: dict[str, DnsUpdateAttempt] = field(default_factory=dict)  # by domain
    resolvers: dict[str, ResolverSet] = field(default_factory=dict)  # by site name

    def site(self, name: str, now: datetime | None = None) -> SiteView:
        return SiteView(self, name, now or datetime.now(UTC))


@dataclass(frozen=True)
class SiteView:
    """The observations as one site's checks see them."""

    observations: Observations
    site: str
    now: datetime  # the run's clock: checks read no other

    @property
    def resolvers(self) -> ResolverSet:
        return self.observations.resolvers.get(self.site, ResolverSet((), "not observed"))

    def dns(self, resolver: str, name: str, rdtype: str, transport: Transport = "udp") -> DnsAnswer:
        question = DnsQuestion(resolver, name, rdtype, transport)
        answer = self.observations.dns.get(question)
        return answer or DnsAnswer(question, Outcome.NOT_OBSERVED, detail="never probed")

    def dns_at_all(self, name: str, rdtype: str) -> list[DnsAnswer]:
        """The answers of every resolver of the site to one question, over UDP."""
        return [self.dns(r, name, rdtype) for r in self.resolvers.addresses]

    def dns_update(self, domain: str) -> DnsUpdateAttempt | None:
        return self.observations.dns_updates.get(normal_name(domain))


def answers_timing(answers: Iterable[DnsAnswer]) -> tuple[datetime | None, int | None]:
    """When the first of these probes started and how long until the last one ended."""
    seen = [a for a in answers if a.started_at]
    if not seen:
        return None, None
    start = min(a.started_at for a in seen)
    end = max(a.started_at + a.elapsed_ms / 1000 for a in seen)
    return datetime.fromtimestamp(start, UTC), round((end - start) * 1000)


def answers_evidence(answers: Iterable[DnsAnswer]) -> list[dict[str, Any]]:
    """Which resolver said what, question by question, for a result's evidence."""
    return [a.to_evidence() for a in answers]
