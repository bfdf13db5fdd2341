"""Typed, frozen observations that probes make and checks read.

Errors are data: a timeout, a refused connection or a malformed answer is an observation
with an outcome, never an exception.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from amt_preflight.config import ChecksConfig
    from amt_preflight.device_reports import DeviceInventory
    from amt_preflight.model import Leftover

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


DHCP_OPTION6 = "dhcp option 6"  # a ResolverSet's source: the option 6 of the site's DHCP


class ResolverTrust(StrEnum):
    """Whether what a site's resolvers say may lead a secret somewhere (the AD bind): set
    where the resolvers are chosen (engine._site_resolvers)."""

    TRUSTED = "trusted"  # config.yaml's resolvers, the host's, or option 6 of an allowed server
    UNCHECKED = "unchecked"  # option 6 while dhcp.allowed_servers is empty: any server's
    ROGUE = "rogue"  # option 6 of servers outside dhcp.allowed_servers (no allowed one answered)


@dataclass(frozen=True)
class ResolverSet:
    addresses: tuple[str, ...]
    source: str  # "config", DHCP_OPTION6, "/etc/resolv.conf"
    trust: ResolverTrust = ResolverTrust.TRUSTED


@dataclass
class Observations:
    """Everything the probes of one run saw. Filled while gathering, read-only after."""

    dns: dict[DnsQuestion, DnsAnswer] = field(default_factory=dict)
    dns_updates: dict[str, DnsUpdateAttempt] = field(default_factory=dict)  # by domain
    resolvers: dict[str, ResolverSet] = field(default_factory=dict)  # by site name
    # The resolvers ProvisionServer.<domain> is asked at, by site: the site's, and those DHCP
    # option 6 hands to devices; each with where it came from
    provision_resolvers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # DHCP, by site name (sites on one interface share one survey)
    dhcp: dict[str, DhcpSurvey] = field(default_factory=dict)
    option15: dict[str, Option15] = field(default_factory=dict)
    dhcp_registrations: dict[str, DhcpRegistration] = field(default_factory=dict)
    # Certificates and CA, by site name first: names in URLs resolve at the site's resolvers
    certificates: dict[tuple[str, str], CertificateBundle] = field(default_factory=dict)
    http: dict[tuple[str, str], HttpFetch] = field(default_factory=dict)  # GET, by URL
    ocsp: dict[tuple[str, str, str], HttpFetch] = field(default_factory=dict)  # URL, cert SHA-256
    tcp: dict[tuple[str, str, int], TcpConnect] = field(default_factory=dict)  # host, port
    # AD and Kerberos: KDCs and DCs by site and role; AS-REQs and rootDSEs by address (shared
    # by sites); binds by site and DC address (each site binds with its own account)
    ad_servers: dict[tuple[str, AdRole], AdServers] = field(default_factory=dict)
    kerberos: dict[KerberosQuestion, KerberosReply] = field(default_factory=dict)
    root_dse: dict[str, RootDse] = field(default_factory=dict)
    ldap_binds: dict[tuple[str, str], LdapBind] = field(default_factory=dict)
    # SNMP, by (site name, device host)
    snmp_systems: dict[tuple[str, str], SnmpSystem] = field(default_factory=dict)
    snmp_interfaces: dict[tuple[str, str], SnmpInterfaces] = field(default_factory=dict)
    snmp_processes: dict[tuple[str, str], SnmpProcesses] = field(default_factory=dict)
    # Handshakes (hello and connect-back), by (site name, domain, kind)
    # one attempt per device profile (PKI) or configured provision_server address (PSK)
    handshakes: dict[tuple[str, str, HandshakeKind], tuple[HandshakeAttempt, ...]] = field(
        default_factory=dict)
    # The devices' own reports (amt.devices), by site name
    devices: dict[str, DeviceInventory] = field(default_factory=dict)
    # Changes intrusive probes made and have not undone yet (a DNS test record, a lease), by
    # a key of the probe's: entered before the change is made, removed once it is undone.
    # Whatever is left when the run ends is named in every report.
    undo: dict[str, Leftover] = field(default_factory=dict)

    def site(
        self, name: str, now: datetime | None = None, checks: ChecksConfig | None = None
    ) -> SiteView:
        from amt_preflight.config import ChecksConfig

        return SiteView(self, name, now or datetime.now(UTC), checks or ChecksConfig())


@dataclass(frozen=True)
class SiteView:
    """The observations as one site's checks see them."""

    observations: Observations
    site: str
    now: datetime  # the run's clock: checks read no other
    checks: ChecksConfig  # the config's `checks:` settings (cert_warn_days)
    # A chain presented in a handshake is judged against the hashes its hello announced, not
    # the site's lists (HS-PRESENTED-CHAIN sets this; CERT-ROOT-TRUSTED reads it).
    announced_roots: tuple[AnnouncedHash, ...] | None = None

    @property
    def resolvers(self) -> ResolverSet:
        return self.observations.resolvers.get(self.site, ResolverSet((), "not observed"))

    @property
    def provision_resolvers(self) -> tuple[tuple[str, str], ...]:
        """(address, where it came from) of every resolver ProvisionServer is asked at: the
        site's resolvers and the devices' (DHCP option 6)."""
        found = self.observations.provision_resolvers.get(self.site)
        if found is not None:
            return found
        return tuple((a, f"site resolver ({self.resolvers.source})")
                     for a in self.resolvers.addresses)

    def dns(self, resolver: str, name: str, rdtype: str, transport: Transport = "udp") -> DnsAnswer:
        question = DnsQuestion(resolver, name, rdtype, transport)
        answer = self.observations.dns.get(question)
        return answer or DnsAnswer(question, Outcome.NOT_OBSERVED, detail="never probed")

    def dns_at_all(self, name: str, rdtype: str) -> list[DnsAnswer]:
        """The answers of every resolver of the site to one question, over UDP."""
        return [self.dns(r, name, rdtype) for r in self.resolvers.addresses]

    def dns_update(self, domain: str) -> DnsUpdateAttempt | None:
        return self.observations.dns_updates.get(normal_name(domain))

    @property
    def dhcp_survey(self) -> DhcpSurvey | None:
        return self.observations.dhcp.get(self.site)

    @property
    def option15(self) -> Option15 | None:
        """The option 15 this site's DHCP hands out (from an allowed server when one
        answered) and the server it came from; None when none was seen."""
        return self.observations.option15.get(self.site)

    @property
    def dhcp_registration(self) -> DhcpRegistration | None:
        return self.observations.dhcp_registrations.get(self.site)

    def certificate(self, domain: str) -> CertificateBundle | None:
        return self.observations.certificates.get((self.site, normal_name(domain)))

    def http_get(self, url: str) -> HttpFetch:
        fetch = self.observations.http.get((self.site, url))
        return fetch or HttpFetch(url, detail="never fetched")

    def ocsp(self, url: str, certificate_sha256: str) -> HttpFetch:
        fetch = self.observations.ocsp.get((self.site, url, certificate_sha256))
        return fetch or HttpFetch(url, "POST", detail="never asked")

    def tcp(self, host: str, port: int) -> TcpConnect:
        return self.observations.tcp.get((self.site, host, port)) or TcpConnect(
            host, port, detail="never tried")

    def ad_servers(self, role: AdRole) -> AdServers | None:
        return self.observations.ad_servers.get((self.site, role))

    def kerberos(self, question: KerberosQuestion) -> KerberosReply:
        reply = self.observations.kerberos.get(question)
        return reply or KerberosReply(question, Outcome.NOT_OBSERVED, detail="never asked")

    def root_dse(self, address: str) -> RootDse:
        return self.observations.root_dse.get(address) or RootDse(address, detail="never read")

    def ldap_bind(self, address: str) -> LdapBind | None:
        return self.observations.ldap_binds.get((self.site, address))

    def snmp_system(self, host: str) -> SnmpSystem:
        return self.observations.snmp_systems.get((self.site, host)) or SnmpSystem(
            snmp_not_observed(host, "GET system"))

    def snmp_interfaces(self, host: str) -> SnmpInterfaces:
        return self.observations.snmp_interfaces.get((self.site, host)) or SnmpInterfaces(
            host, (snmp_not_observed(host, "WALK ifName"),))

    def snmp_processes(self, host: str) -> SnmpProcesses:
        return self.observations.snmp_processes.get((self.site, host)) or SnmpProcesses(
            snmp_not_observed(host, "WALK hrSWRunName"))

    def handshakes(self, domain: str, kind: HandshakeKind) -> tuple[HandshakeAttempt, ...] | None:
        """The attempts of one domain: one per device profile (PKI) or per configured
        provision_server address (PSK); None when they did not finish."""
        return self.observations.handshakes.get((self.site, normal_name(domain), kind))

    @property
    def devices(self) -> DeviceInventory | None:
        """The devices this site's amt.devices names, and the files that gave none; None
        when they were not read (no amt.devices, or no DEV-* check selected)."""
        return self.observations.devices.get(self.site)


class Timed(Protocol):
    """A probe's record of when it started (epoch seconds) and how long it took."""

    @property
    def started_at(self) -> float: ...

    @property
    def elapsed_ms(self) -> float: ...


def answers_timing(answers: Iterable[Timed]) -> tuple[datetime | None, int | None]:
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


# --- DHCP

# What the DHCP probe asks for in its parameter request list (option 55).
DHCP_REQUESTED_OPTIONS = (1, 3, 6, 15, 81)
DHCP_OPTION_NAMES = {
    1: "subnet mask",
    3: "router",
    6: "domain name servers",
    12: "host name",
    15: "domain name",
    28: "broadcast address",
    51: "lease time",
    53: "message type",
    54: "server identifier",
    58: "renewal time",
    59: "rebinding time",
    81: "client FQDN",
}
DHCP_MESSAGE_TYPES = {
    1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
    8: "INFORM",
}
# Suffixes that no public CA certifies (CHECKS.md, DHCP-OPT15-CLEAN).
PRIVATE_SUFFIXES = ("local", "corp", "lan", "internal", "home", "localdomain")
_ADDRESS_OPTIONS = frozenset({1, 3, 6, 28, 54})
MAX_OPTION6 = 8  # DNS servers used of one answer's option 6 (DhcpAnswer.dns_servers)


def _addresses(data: bytes) -> tuple[str, ...]:
    return tuple(str(ipaddress.IPv4Address(data[i:i + 4])) for i in range(0, len(data) - 3, 4))


def _text(data: bytes) -> str:
    """Bytes from the network as text, one character per byte: nothing is lost or hidden
    (reports show control characters as escapes)."""
    return data.decode("latin-1")


@dataclass(frozen=True)
class ClientFqdn:
    """Option 81 (RFC 4702) as a server sent it back."""

    flags: int
    rcode1: int
    rcode2: int
    name: str  # presentation format; a partial name has no trailing dot

    @property
    def server_updates(self) -> bool:
        """S set and N clear: the server says it will update the A record."""
        return bool(self.flags & 0x01) and not self.flags & 0x08

    def describe(self) -> str:
        letters = "".join(f for bit, f in ((0x08, "N"), (0x04, "E"), (0x02, "O"), (0x01, "S"))
                          if self.flags & bit)
        return f"flags {letters or '-'} (0x{self.flags:02x}), name {self.name or '(none)'}"

    @classmethod
    def decode(cls, data: bytes) -> ClientFqdn | None:
        if len(data) < 3:
            return None
        flags, name = data[0], data[3:]
        if flags & 0x04:  # E: canonical wire format
            labels, i = [], 0
            while i < len(name) and name[i] != 0:
                length = name[i]
                labels.append(_text(name[i + 1:i + 1 + length]))
                i += 1 + length
            text = ".".join(labels) + ("." if i < len(name) else "")
        else:
            text = _text(name)
        return cls(flags, data[1], data[2], text)


@dataclass(frozen=True)
class DhcpAnswer:
    """One message a server sent in answer to the probe, decoded as far as it goes."""

    answering: str  # the probe's message it answers: "DISCOVER", "INFORM", "REQUEST"
    message_type: str  # "OFFER", "ACK", "NAK", ...; "BOOTREPLY" without option 53
    source: str  # IP source address
    source_mac: str
    xid: int
    yiaddr: str
    giaddr: str
    options: tuple[tuple[int, bytes], ...]  # in order; repeated codes joined (RFC 3396)
    after_ms: float = 0.0  # since the probe's message was sent
    problems: tuple[str, ...] = ()  # what could not be decoded

    def option(self, code: int) -> bytes | None:
        return next((data for c, data in self.options if c == code), None)

    @property
    def server_id(self) -> str | None:
        data = self.option(54)
        return str(ipaddress.IPv4Address(data)) if data is not None and len(data) == 4 else None

    @property
    def server(self) -> str:
        """Who answered: its server identifier (option 54), else the packet's source."""
        return self.server_id or self.source

    @property
    def domain_name(self) -> bytes | None:
        return self.option(15)

    @property
    def dns_servers(self) -> tuple[str, ...]:
        """Option 6's first MAX_OPTION6 distinct addresses: one frame of a rogue server
        holds hundreds, and each would be asked every question of the survey."""
        data = self.option(6)
        return tuple(dict.fromkeys(_addresses(data)))[:MAX_OPTION6] if data else ()

    @property
    def dns_servers_dropped(self) -> int:
        """How many distinct option 6 addresses beyond MAX_OPTION6 are not used."""
        data = self.option(6)
        return max(0, len(dict.fromkeys(_addresses(data))) - MAX_OPTION6) if data else 0

    @property
    def client_fqdn(self) -> ClientFqdn | None:
        data = self.option(81)
        return ClientFqdn.decode(data) if data is not None else None

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "message": self.message_type,
            "answering": self.answering,
            "server_id": self.server_id,
            "source": self.source,
            "source_mac": self.source_mac,
        }
        if self.giaddr != "0.0.0.0":
            doc["relay"] = self.giaddr
        if self.yiaddr != "0.0.0.0":
            doc["offered_address"] = self.yiaddr
        doc["after_ms"] = round(self.after_ms, 1)
        doc["options"] = [option_evidence(code, data) for code, data in self.options]
        if self.dns_servers_dropped:
            doc["option6_dropped"] = self.dns_servers_dropped  # not asked: beyond MAX_OPTION6
        if self.problems:
            doc["problems"] = list(self.problems)
        return doc


def option_evidence(code: int, data: bytes) -> dict[str, Any]:
    """One option as shown in a result's evidence: its code, name, value and bytes in hex."""
    doc: dict[str, Any] = {"code": code, "name": DHCP_OPTION_NAMES.get(code, f"option {code}")}
    if code in _ADDRESS_OPTIONS and data and len(data) % 4 == 0:
        value: Any = list(_addresses(data))
    elif code == 53 and len(data) == 1:
        value = DHCP_MESSAGE_TYPES.get(data[0], str(data[0]))
    elif code in (51, 58, 59) and len(data) == 4:
        value = int.from_bytes(data, "big")
    elif code == 81 and (fqdn := ClientFqdn.decode(data)) is not None:
        value = fqdn.describe()
    elif code in (12, 15):
        value = _text(data)
    else:
        value = None
    if value is not None:
        doc["value"] = value
    doc["hex"] = data.hex()
    return doc


@dataclass(frozen=True)
class DhcpSurvey:
    """A DISCOVER (no REQUEST follows) and an INFORM on one interface, and every answer that
    came within the window. `error` says why the probe could not run."""

    interface: str
    client_mac: str
    window: float
    sent: tuple[str, ...] = ()
    answers: tuple[DhcpAnswer, ...] = ()
    malformed: tuple[str, ...] = ()  # answers to the probe that could not be decoded
    ignored: tuple[tuple[str, int], ...] = ()  # (why, how many) for DHCP packets not for us
    dropped: int = 0  # answers beyond the number kept (a flood)
    error: str = ""
    started_at: float = 0.0
    elapsed_ms: float = 0.0

    def by_server(self) -> dict[str, list[DhcpAnswer]]:
        """The answers grouped by server (option 54, else source), in order of arrival."""
        grouped: dict[str, list[DhcpAnswer]] = {}
        for answer in self.answers:
            grouped.setdefault(answer.server, []).append(answer)
        return grouped

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "interface": self.interface,
            "client_mac": self.client_mac,
            "window_s": self.window,
            "sent": list(self.sent),
            "answers": len(self.answers),
        }
        if self.malformed:
            doc["malformed"] = list(self.malformed)
        if self.ignored:
            doc["ignored"] = dict(self.ignored)
        if self.dropped:
            doc["dropped"] = self.dropped
        if self.error:
            doc["error"] = self.error
        return doc


@dataclass(frozen=True)
class Option15:
    """The domain DHCP hands out here (raw bytes as text) and the server it came from."""

    value: str
    server: str
    interface: str


def trusted_answers(survey: DhcpSurvey, allowed: Iterable[str]) -> list[DhcpAnswer]:
    """The answers of the site's allowed servers when any answered, else every answer: a
    rogue server should not decide what the rest of the survey judges against."""
    allowed = set(allowed)
    trusted = [a for a in survey.answers if a.server in allowed]
    return trusted or list(survey.answers)


def option15_of(survey: DhcpSurvey, allowed: Iterable[str]) -> Option15 | None:
    for answer in trusted_answers(survey, allowed):
        if answer.domain_name is not None:
            return Option15(_text(answer.domain_name), answer.server, survey.interface)
    return None


def domain_of(option15: bytes) -> str | None:
    """Option 15 as a DNS domain, when it is one (one trailing dot allowed), else None."""
    text = _text(option15)
    return normal_name(text) if re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?", text) \
        else None


def option6_questions(answer: DhcpAnswer, domains: Sequence[str]) -> list[DnsQuestion]:
    """What a device served by this answer asks: ProvisionServer.<its option 15> (else, no
    usable option 15, <the site's first domain>) at each DNS server of its option 6."""
    domain = domain_of(answer.domain_name) if answer.domain_name is not None else None
    if domain is None and domains:
        domain = domains[0]
    if not domain:
        return []
    return [DnsQuestion(r, provision_server_name(domain), "A") for r in answer.dns_servers]


def option6_of(survey: DhcpSurvey, allowed: Iterable[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for answer in trusted_answers(survey, allowed):
        found.update(dict.fromkeys(answer.dns_servers))
    return tuple(found)


def option6_trust(survey: DhcpSurvey, allowed: Iterable[str]) -> ResolverTrust:
    """Whom option6_of's resolvers come from: trusted_answers() falls back to every answer
    when no allowed server answered, so the fallback must be told apart here."""
    allowed = set(allowed)
    if not allowed:
        return ResolverTrust.UNCHECKED
    if any(a.server in allowed for a in survey.answers):
        return ResolverTrust.TRUSTED
    return ResolverTrust.ROGUE


@dataclass(frozen=True)
class DhcpRegistration:
    """A full DISCOVER/OFFER/REQUEST/ACK with option 81 for a throw-away host name, the wait
    for its A and PTR records, and the RELEASE of the lease."""

    interface: str
    client_mac: str
    host_name: str  # the partial name sent in option 81
    steps: tuple[str, ...] = ()  # what was sent and seen, in order
    server: str = ""  # who leased
    address: str = ""  # the leased address
    fqdn: str = ""  # the name looked up in DNS
    fqdn_source: str = ""
    a_seen: tuple[str, ...] = ()  # resolvers where the A record showed with the address
    ptr_seen: tuple[str, ...] = ()  # resolvers where the PTR showed with the name
    a_after_ms: float | None = None  # since the ACK
    ptr_after_ms: float | None = None
    waited_s: float = 0.0
    lookups: tuple[DnsAnswer, ...] = ()  # the last A and PTR answer of each resolver
    released: bool = False
    cleanup: str = ""
    no_lease: str = ""  # why no lease was had (no OFFER, no ACK, a NAK)
    error: str = ""  # why the probe could not run
    started_at: float = 0.0
    elapsed_ms: float = 0.0

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "interface": self.interface,
            "client_mac": self.client_mac,
            "host_name": self.host_name,
            "steps": list(self.steps),
        }
        if self.address:
            doc.update(server=self.server, leased_address=self.address, fqdn=self.fqdn,
                       fqdn_source=self.fqdn_source, a_seen_at=list(self.a_seen),
                       ptr_seen_at=list(self.ptr_seen), waited_s=self.waited_s,
                       released=self.released, cleanup=self.cleanup)
            if self.a_after_ms is not None:
                doc["a_after_ms"] = round(self.a_after_ms)
            if self.ptr_after_ms is not None:
                doc["ptr_after_ms"] = round(self.ptr_after_ms)
            doc["lookups"] = [a.to_evidence() for a in self.lookups]
        if self.no_lease:
            doc["no_lease"] = self.no_lease
        if self.error:
            doc["error"] = self.error
        return doc


# --- certificates and CA

EVIDENCE_TEXT_LIMIT = 300  # characters of one certificate field shown in evidence (huge subjects)


def clipped(text: str, limit: int = EVIDENCE_TEXT_LIMIT) -> str:
    """A field from a certificate or a server, cut to a length a report can show."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class LoadOutcome(StrEnum):
    """What reading a configured certificate file gave: each way of failing has its value."""

    LOADED = "loaded"  # certificates and exactly one private key, which belongs to one of them
    UNREADABLE = "unreadable"  # missing, no permission, a folder, or larger than a bundle can be
    GARBAGE = "garbage"  # neither PEM, DER nor PKCS#12
    NO_PASSWORD = "no-password"  # encrypted, and the configured password source gives none
    WRONG_PASSWORD = "wrong-password"
    NO_CERTIFICATE = "no-certificate"
    BAD_CERTIFICATE = "bad-certificate"  # a certificate whose fields or extensions do not parse
    NO_KEY = "no-key"
    SEVERAL_KEYS = "several-keys"
    KEY_MISMATCH = "key-mismatch"  # the private key belongs to no certificate of the file


@dataclass(frozen=True)
class CertificateFacts:
    """What one certificate says, as read from its DER."""

    der: bytes
    subject: str  # RFC 4514
    issuer: str
    serial: str  # hex
    not_before: datetime
    not_after: datetime
    sha1: str
    sha256: str
    sha384: str
    key_type: str  # "RSA", "EC", "Ed25519", ...
    key_bits: int
    key_detail: str  # "RSA 2048", "EC secp256r1"
    signature_algorithm: str  # "sha256WithRSAEncryption", or the OID when unknown
    signature_hash: str | None  # "sha256", "sha1", "md5"; None when there is none (Ed25519)
    self_issued: bool  # subject equals issuer: a root (or a self-signed leaf)
    is_ca: bool = False
    ekus: tuple[str, ...] = ()  # dotted OIDs; empty when the extension is absent
    organizational_units: tuple[str, ...] = ()  # of the subject
    common_names: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()  # SAN dNSName entries
    crl_urls: tuple[str, ...] = ()  # CRL distribution points (full names that are URIs)
    ca_issuer_urls: tuple[str, ...] = ()  # AIA caIssuers
    ocsp_urls: tuple[str, ...] = ()  # AIA OCSP
    problem: str = ""  # why its extensions could not be read (malformed, duplicated)

    @property
    def label(self) -> str:
        """How a message names this certificate: its first CN, else its subject."""
        return clipped(self.common_names[0] if self.common_names else self.subject, 80)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "subject": clipped(self.subject),
            "issuer": clipped(self.issuer),
            "serial": self.serial,
            "not_before": utc_text(self.not_before),
            "not_after": utc_text(self.not_after),
            "sha1": self.sha1,
            "sha256": self.sha256,
            "key": self.key_detail,
            "signature": self.signature_algorithm,
            "ca": self.is_ca,
            "self_issued": self.self_issued,
            "san_dns": [clipped(n) for n in self.dns_names[:20]],
            "eku": list(self.ekus[:20]),
        }
        for name, urls in (("crl", self.crl_urls), ("ca_issuers", self.ca_issuer_urls),
                           ("ocsp", self.ocsp_urls)):
            if urls:
                doc[name] = [clipped(u) for u in urls[:10]]
        if self.problem:
            doc["problem"] = clipped(self.problem)
        return doc


@dataclass(frozen=True)
class CertificateBundle:
    """A domain's provisioning certificate file (PKCS#12, or PEM/DER with a key file) as
    read: its certificates in file order and its private keys, described, never kept."""

    domain: str
    source: str  # the file (and key file) as configured
    outcome: LoadOutcome
    detail: str = ""
    format: str = ""  # "PKCS#12", "PEM", "DER"
    certificates: tuple[CertificateFacts, ...] = ()
    leaf: int | None = None  # index of the certificate the private key belongs to
    keys: tuple[str, ...] = ()  # each private key found, described: "RSA 2048"
    password_source: str = ""  # where the password came from (its name, never its value)
    read_at: float = 0.0

    @property
    def leaf_certificate(self) -> CertificateFacts | None:
        return self.certificates[self.leaf] if self.leaf is not None else None

    @property
    def issued(self) -> tuple[CertificateFacts, ...]:
        """The certificates a CA vouches for: the leaf and intermediates (not the roots)."""
        return tuple(c for c in self.certificates if not c.self_issued)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file": self.source,
            "outcome": self.outcome.value,
            "format": self.format,
            "keys": list(self.keys),
            "leaf": self.leaf,
            "certificates": [c.to_evidence() for c in self.certificates[:20]],
        }
        if len(self.certificates) > 20:
            doc["certificates_not_shown"] = len(self.certificates) - 20
        if self.password_source:
            doc["password_source"] = self.password_source
        if self.detail:
            doc["detail"] = clipped(self.detail, 1000)
        return doc


@dataclass(frozen=True)
class HttpFetch:
    """One HTTP exchange (a CRL or issuer download, an OCSP request), after every attempt."""

    url: str
    method: str = "GET"
    outcome: Outcome = Outcome.NOT_OBSERVED
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    truncated: bool = False  # the body is longer than the probe reads: `body` is its start
    address: str = ""  # where the request went (the URL's host, resolved)
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""  # how the host resolved, or why there is no answer

    @property
    def ok(self) -> bool:
        """A whole 200 answer."""
        return self.outcome.answered and self.status == 200 and not self.truncated

    def describe(self) -> str:
        if self.outcome.answered:
            cut = f", cut at {len(self.body)} bytes" if self.truncated else ""
            return f"HTTP {self.status}, {len(self.body)} bytes{cut}"
        return self.outcome.value + (f" ({clipped(self.detail, 200)})" if self.detail else "")

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"url": clipped(self.url), "method": self.method,
                               "outcome": self.outcome.value}
        if self.address:
            doc["address"] = self.address
        if self.outcome.answered:
            doc.update(status=self.status, content_type=clipped(self.content_type, 100),
                       bytes=len(self.body), truncated=self.truncated)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc["attempts"] = self.attempts
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc


@dataclass(frozen=True)
class TcpConnect:
    """A TCP connection attempt to host:port (closed again at once)."""

    host: str
    port: int
    outcome: Outcome = Outcome.NOT_OBSERVED  # ANSWER: the connection was accepted
    address: str = ""
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""

    def to_evidence(self) -> dict[str, Any]:
        return {"port": self.port, "address": self.address,
                "outcome": "accepted" if self.outcome.answered else self.outcome.value,
                "detail": self.detail, "attempts": self.attempts,
                "elapsed_ms": round(self.elapsed_ms, 1)}


# --- SNMP

# IF-MIB ifOperStatus (RFC 2863); ifAdminStatus uses its first three values.
IF_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
             7: "lowerLayerDown"}


def if_status_text(value: int | None) -> str | None:
    """"down(2)": the name and the number, as MIB browsers show an enumeration."""
    if value is None:
        return None
    return f"{IF_STATUS.get(value, 'undefined')}({value})"


class SnmpOutcome(StrEnum):
    ANSWER = "answer"
    # Silence for every attempt: what a wrong community, a wrong privacy key, an ACL or a
    # host that is down all look like, since SNMP answers none of them with an error.
    NO_ANSWER = "no-answer"
    AUTH_FAILED = "auth-failed"  # USM refused us: wrong auth key (digest), unknown user
    AGENT_ERROR = "agent-error"  # the response carries an error-status (noAccess, genErr, ...)
    BAD_WALK = "bad-walk"  # a walk stopped by us: its OIDs stopped increasing, or never ended
    NO_SECRET = "no-secret"  # the community or a key could not be read (variable not set, ...)
    PROBE_ERROR = "probe-error"  # the request could not be made (bad address, no AES support)
    NOT_OBSERVED = "not-observed"  # never probed, or unfinished at the run's deadline

    @property
    def answered(self) -> bool:
        """The agent responded (a walk that went wrong had responses too)."""
        return self in (SnmpOutcome.ANSWER, SnmpOutcome.AGENT_ERROR, SnmpOutcome.BAD_WALK)


@dataclass(frozen=True)
class SnmpExchange:
    """One GET, or one walk of a column, with one agent: what was asked and how it ended."""

    host: str
    port: int
    security: str  # "v2c, community from $SNMP_COMMUNITY": how we spoke, never a secret
    request: str  # "GET sysDescr.0 sysUpTime.0 sysName.0", "WALK ifName"
    outcome: SnmpOutcome
    detail: str = ""  # why it is not a full answer, in words
    requests: int = 0  # PDUs sent, one per GET or walk step (retries not counted)
    rows: int = 0  # variable bindings received
    started_at: float = 0.0  # epoch seconds
    elapsed_ms: float = 0.0

    def describe(self) -> str:
        """One line for a message: how this exchange with the agent went."""
        said = f"{self.request} at {self.host}: {self.outcome.value}"
        return f"{said} ({self.detail})" if self.detail else said

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "agent": f"{self.host}:{self.port}",
            "security": self.security,
            "request": self.request,
            "outcome": self.outcome.value,
        }
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc.update(requests=self.requests, rows=self.rows, elapsed_ms=round(self.elapsed_ms, 1))
        return doc


def snmp_not_observed(host: str, request: str) -> SnmpExchange:
    return SnmpExchange(host, 0, "", request, SnmpOutcome.NOT_OBSERVED,
                        "never probed, or not finished before the run's deadline")


@dataclass(frozen=True)
class SnmpSystem:
    """sysDescr, sysUpTime and sysName of one device (SNMPv2-MIB system group)."""

    exchange: SnmpExchange
    descr: str | None = None
    uptime_ticks: int | None = None  # hundredths of a second since the agent (re)started
    name: str | None = None
    missing: tuple[str, ...] = ()  # objects the agent answered with an exception, and which

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"exchange": self.exchange.to_evidence()}
        if self.exchange.outcome is SnmpOutcome.ANSWER:
            doc.update(sysDescr=None if self.descr is None else clipped(self.descr),
                       sysUpTime=self.uptime_ticks, sysName=self.name)
            if self.uptime_ticks is not None:
                doc["uptime"] = uptime_text(self.uptime_ticks)
            if self.missing:
                doc["missing"] = list(self.missing)
        return doc


def uptime_text(ticks: int) -> str:
    """TimeTicks as "12d 03:04:05"."""
    seconds = ticks // 100
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"


@dataclass(frozen=True)
class SnmpInterface:
    """One configured interface as the device reports it (IF-MIB)."""

    wanted: str  # as configured: a name, or an ifIndex written as a number
    index: int | None = None  # None: the device has no such interface (or it was not found)
    matched_by: str = ""  # "ifName", "ifDescr" or "ifIndex"
    if_name: str | None = None
    if_descr: str | None = None
    admin_status: int | None = None  # ifAdminStatus: 1 up, 2 down, 3 testing
    oper_status: int | None = None  # ifOperStatus: see IF_STATUS

    def to_evidence(self) -> dict[str, Any]:
        return {
            "interface": self.wanted,
            "ifIndex": self.index,
            "matched_by": self.matched_by or None,
            "ifName": self.if_name,
            "ifDescr": self.if_descr,
            "ifAdminStatus": if_status_text(self.admin_status),
            "ifOperStatus": if_status_text(self.oper_status),
        }


@dataclass(frozen=True)
class SnmpInterfaces:
    """The configured interfaces of one device: the name walks, then a GET of their status."""

    host: str
    exchanges: tuple[SnmpExchange, ...]  # in the order they were made
    interfaces: tuple[SnmpInterface, ...] = ()  # one per configured interface, found or not
    names_seen: tuple[str, ...] = ()  # every ifName and ifDescr the walks returned

    def interface(self, wanted: str) -> SnmpInterface | None:
        return next((i for i in self.interfaces if i.wanted == wanted), None)

    @property
    def failed(self) -> SnmpExchange | None:
        """The first exchange that did not end in a full answer; None when all did."""
        return next((e for e in self.exchanges if e.outcome is not SnmpOutcome.ANSWER), None)


@dataclass(frozen=True)
class SnmpProcesses:
    """The running software of one device: HOST-RESOURCES-MIB hrSWRunName, walked."""

    exchange: SnmpExchange
    names: tuple[str, ...] = ()  # one per running process, in hrSWRunIndex order


# --- AD and Kerberos

KDC_PORT = 88
LDAP_PORT = 389

# The AS-REQ asks for the realm's own KDC principal, never for a user (no user enumeration).
# AD keeps it as the account `krbtgt`; MIT and Heimdal realms outside AD as `krbtgt/REALM`.
AD_KDC_PRINCIPAL = "krbtgt"
# KRB-ERROR codes (RFC 4120, 7.5.9) the AD checks tell apart.
KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
# The KDC found the client principal in the asked realm's database, so it serves that realm:
# PREAUTH_REQUIRED, CLIENT_REVOKED (AD's disabled krbtgt account), KEY_EXPIRED, ETYPE_NOSUPP.
PRINCIPAL_FOUND = frozenset({25, 18, 23, 14})
# A principal lookup took place: the KDC speaks Kerberos for the asked realm's name.
LOOKUP_ANSWERS = PRINCIPAL_FOUND | {KDC_ERR_C_PRINCIPAL_UNKNOWN}


def tgs_principal(realm: str) -> str:
    """The ticket-granting service principal of a realm, as MIT and Heimdal name it."""
    return f"krbtgt/{realm}"


def naming_context(domain: str) -> str:
    """The LDAP naming context of an AD domain: corp.example -> DC=corp,DC=example."""
    return ",".join(f"DC={label}" for label in normal_name(domain).split("."))


def same_dn(a: str, b: str) -> bool:
    """Distinguished names compare case-insensitively, spaces around separators ignored.
    Split and strip, no regex: linear in the length of a DC's untrusted text."""
    def canonical(dn: str) -> str:
        return ",".join("=".join(part.strip() for part in rdn.split("="))
                        for rdn in dn.split(",")).lower()

    return canonical(a) == canonical(b)


def _epoch_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _offset(remote: float | None, sent_at: float, rtt_ms: float) -> float | None:
    """A server's clock minus this host's, taken halfway through the round trip."""
    return None if remote is None else remote - (sent_at + rtt_ms / 2000)


class AdRole(StrEnum):
    KDC = "KDC"  # asked AS-REQs: ad.kdcs, else the _kerberos SRV targets
    DC = "DC"  # asked over LDAP: ad.kdcs (in AD every KDC is a DC), else the _ldap SRV targets


@dataclass(frozen=True)
class AdServer:
    """One KDC or domain controller: one target of the AD checks' results."""

    target: str  # as configured in ad.kdcs, else the address an SRV target resolves to
    addresses: tuple[str, ...]  # where it is asked (a configured name may resolve to several)
    host_names: tuple[str, ...] = ()  # the SRV targets, or the configured name, naming it
    detail: str = ""  # why it has no address

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"target": self.target, "addresses": list(self.addresses)}
        if self.host_names:
            doc["host_names"] = list(self.host_names)
        if self.detail:
            doc["detail"] = self.detail
        return doc


@dataclass(frozen=True)
class AdServers:
    """The KDCs or DCs of a site's AD domain, and where the list came from."""

    role: AdRole
    servers: tuple[AdServer, ...]
    source: str  # "ad.kdcs", or the SRV records asked and the resolvers asked


@dataclass(frozen=True)
class KerberosQuestion:
    kdc: str  # address
    realm: str
    principal: str  # the client principal: AD_KDC_PRINCIPAL or tgs_principal(realm)
    transport: Transport


@dataclass(frozen=True)
class KerberosReply:
    """What one AS-REQ without pre-authentication got, after every attempt."""

    question: KerberosQuestion
    outcome: Outcome
    message: str = ""  # "KRB-ERROR" or "AS-REP" when answered
    error_code: int | None = None
    error_name: str = ""  # "KDC_ERR_PREAUTH_REQUIRED"
    realm: str = ""  # the realm the reply carries
    e_text: str = ""
    kdc_time: float | None = None  # the KDC's clock (stime + susec), epoch seconds
    sent_at: float = 0.0  # this host's clock when the answered request left, epoch seconds
    rtt_ms: float = 0.0  # round trip of the answered attempt
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""  # why it is not an answer; for MALFORMED, a hex excerpt of what came

    @property
    def krb_error(self) -> bool:
        return self.outcome.answered and self.message == "KRB-ERROR"

    @property
    def clock_offset(self) -> float | None:
        """The KDC's clock minus this host's, in seconds."""
        return _offset(self.kdc_time, self.sent_at, self.rtt_ms)

    def proves(self, realm: str) -> bool:
        """The reply shows the KDC holds `realm`: it found the asked principal there."""
        return self.krb_error and self.error_code in PRINCIPAL_FOUND and self.realm == realm

    def said(self) -> str:
        """What came back, in a few words: "KDC_ERR_PREAUTH_REQUIRED (25) in CORP.EXAMPLE"."""
        if self.krb_error:
            return f"{self.error_name or 'error'} ({self.error_code}) in {clipped(self.realm, 80)}"
        if self.outcome.answered:
            return f"{self.message} in {clipped(self.realm, 80)}"
        return self.outcome.value + (f" ({clipped(self.detail, 200)})" if self.detail else "")

    def describe(self) -> str:
        q = self.question
        return f"{q.principal}@{q.realm} over {q.transport.upper()} to {q.kdc}: {self.said()}"

    def to_evidence(self) -> dict[str, Any]:
        q = self.question
        doc: dict[str, Any] = {
            "kdc": q.kdc, "transport": q.transport, "realm": q.realm,
            "principal": q.principal, "outcome": self.outcome.value,
        }
        if self.outcome.answered:
            doc["message"] = self.message
            doc["reply_realm"] = clipped(self.realm)
            if self.error_code is not None:
                doc.update(error_code=self.error_code, error=self.error_name)
            if self.e_text:
                doc["e_text"] = clipped(self.e_text)
            if self.kdc_time is not None:
                doc["kdc_time"] = _epoch_iso(self.kdc_time)
                doc["local_time"] = _epoch_iso(self.sent_at)
                offset = self.clock_offset
                doc["clock_offset_s"] = None if offset is None else round(offset, 3)
            doc["rtt_ms"] = round(self.rtt_ms, 1)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc["attempts"] = self.attempts
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc


# Characters kept of one value a DC sends (rootDSE attributes, the OU's objectClass): they
# are untrusted, and a real one is far shorter.
LDAP_VALUE_LIMIT = 1024


@dataclass(frozen=True)
class RootDse:
    """A DC's rootDSE, read anonymously over LDAP (each value at most LDAP_VALUE_LIMIT
    characters)."""

    address: str
    outcome: Outcome = Outcome.NOT_OBSERVED  # ANSWER: the server answered the search
    result: str = ""  # LDAP result of the search: "success", "insufficientAccessRights"
    default_naming_context: str = ""
    dns_host_name: str = ""
    ldap_service_name: str = ""
    naming_contexts: tuple[str, ...] = ()
    dc_time: float | None = None  # currentTime (AD's, whole seconds), epoch seconds
    sent_at: float = 0.0
    rtt_ms: float = 0.0
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""

    @property
    def clock_offset(self) -> float | None:
        """The DC's clock minus this host's, in seconds (to about one second)."""
        return _offset(self.dc_time, self.sent_at, self.rtt_ms)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"address": self.address, "outcome": self.outcome.value}
        if self.outcome.answered:
            doc.update(
                result=self.result,
                defaultNamingContext=clipped(self.default_naming_context),
                dnsHostName=clipped(self.dns_host_name),
                ldapServiceName=clipped(self.ldap_service_name),
                namingContexts=[clipped(n) for n in self.naming_contexts[:10]],
            )
            if self.dc_time is not None:
                doc["currentTime"] = _epoch_iso(self.dc_time)
                offset = self.clock_offset
                doc["clock_offset_s"] = None if offset is None else round(offset, 1)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc["attempts"] = self.attempts
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc


class BindStage(StrEnum):
    """How far a bind as the service account got."""

    SECRET = "secret"  # the password could not be read: nothing was sent
    WITHHELD = "withheld"  # not sent: the DC's rootDSE did not show the AD domain
    # not sent: nothing vouches for the DC (found through resolvers from a DHCP server
    # outside dhcp.allowed_servers, or no name of it configured or inside the AD domain)
    UNSAFE = "unsafe"
    CONNECT = "connect"
    STARTTLS = "starttls"  # refused, or a certificate not trusted: the password was not sent
    BIND = "bind"  # the server refused the bind
    BOUND = "bound"


@dataclass(frozen=True)
class LdapBind:
    """A bind as the provisioning service account over StartTLS, then a look at the AMT OU."""

    address: str
    user: str
    stage: BindStage
    outcome: Outcome = Outcome.NOT_OBSERVED  # of the last step: ANSWER when the server answered
    password_source: str = ""  # where the password came from, never the password
    trust: str = ""  # what the DC's certificate was verified against
    tls: str = ""  # protocol, cipher and certificate subject of the StartTLS session
    result: str = ""  # LDAP result of the bind: "success", "invalidCredentials"
    diagnostic: str = ""  # the server's message with that result
    ou: str = ""
    ou_result: str = ""  # LDAP result of reading the OU: "success", "noSuchObject", ...
    ou_classes: tuple[str, ...] = ()
    ou_matched: str = ""  # with noSuchObject: the deepest entry that exists
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "address": self.address, "user": self.user, "stage": self.stage.value,
            "outcome": self.outcome.value, "password_source": self.password_source,
        }
        for key in ("trust", "tls", "result", "diagnostic", "detail"):
            if value := getattr(self, key):
                doc[key] = clipped(value, 500)
        if self.ou:
            doc["ou"] = {"dn": self.ou, "result": self.ou_result,
                         "objectClass": [clipped(c, 80) for c in self.ou_classes[:10]],
                         "matched": clipped(self.ou_matched)}
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc


# --- handshake

MAX_PRESENTED = 20  # certificates of a presented chain described; the rest are only counted


class HandshakeKind(StrEnum):
    PKI = "pki"  # a version 3 hello; the server answers with mutual TLS and its chain
    PSK = "psk"  # a version 2 hello with the PID; the server answers with TLS-PSK


class HelloClose(StrEnum):
    """How the provisioning server ended the hello connection after our half-close."""

    CLEAN = "clean"  # it closed its side and sent nothing, as a device expects
    RESET = "reset"  # it reset the connection
    ANSWERED = "answered"  # it sent bytes back: a hello gets no answer
    HELD_OPEN = "held-open"  # it did not close within the probe timeout


class ConnectBackOutcome(StrEnum):
    HANDSHAKE = "handshake"  # TLS completed: a client chain (PKI) or the pre-shared key (PSK)
    NO_CONNECTION = "no-connection"  # nothing connected within connect_back_timeout
    NOT_TLS = "not-tls"  # a connection whose first bytes are not a TLS handshake
    TLS_FAILED = "tls-failed"  # TLS began and failed: no client certificate, wrong key, ...
    STALLED = "stalled"  # a connection whose handshake did not finish within the timeout


@dataclass(frozen=True)
class AnnouncedHash:
    """One root hash a hello announced, and the hash list entry it came from."""

    algorithm: str  # "sha1", "sha256", "sha384"
    value: str  # lower-case hex
    label: str  # "Go Daddy Class 2 CA (built-in list for AMT 11 and later ...)"

    def to_evidence(self) -> dict[str, str]:
        return {"type": self.algorithm, "hash": self.value, "entry": self.label}


@dataclass(frozen=True)
class HandshakeEvent:
    at_ms: float  # since the attempt started
    event: str

    def to_evidence(self) -> dict[str, Any]:
        return {"at_ms": round(self.at_ms, 1), "event": self.event}


@dataclass(frozen=True)
class ConnectBack:
    """What reached the synthetic AMT endpoint in answer to one hello."""

    outcome: ConnectBackOutcome
    peer: str = ""  # address:port the connection came from
    after_ms: float | None = None  # from the hello leaving to the handshake's end (or failure)
    protocol: str = ""  # "TLSv1.3"
    cipher: str = ""
    chain: tuple[CertificateFacts, ...] = ()  # as presented, leaf first; at most MAX_PRESENTED
    chain_length: int = 0  # certificates presented, described or not
    chain_problem: str = ""  # why a presented certificate could not be read
    psk_identity_matched: bool | None = None  # PSK: the server's identity was the PID
    received: str = ""  # NOT_TLS: a hex excerpt of what came instead
    offered: str = ""  # a failed handshake: the versions and suites the server offered
    detail: str = ""

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"outcome": self.outcome.value}
        if self.peer:
            doc["peer"] = self.peer
        if self.after_ms is not None:
            doc["hello_to_handshake_ms"] = round(self.after_ms, 1)
        if self.protocol:
            doc.update(protocol=self.protocol, cipher=self.cipher)
        if self.chain_length:
            doc["presented_chain"] = [c.to_evidence() for c in self.chain]
            doc["chain_length"] = self.chain_length
            if self.chain_length > len(self.chain):
                doc["certificates_not_shown"] = self.chain_length - len(self.chain)
        if self.chain_problem:
            doc["chain_problem"] = clipped(self.chain_problem, 500)
        if self.psk_identity_matched is not None:
            doc["psk_identity_was_the_pid"] = self.psk_identity_matched
        if self.received:
            doc["received"] = self.received
        if self.offered:
            doc["server_offered"] = clipped(self.offered, 1000)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        return doc


@dataclass(frozen=True)
class HandshakeAttempt:
    """A hello to ProvisionServer.<domain> and the connect-back to the synthetic endpoint."""

    domain: str
    kind: HandshakeKind
    provision_server: str  # the name resolved (PSK: the configured address)
    hello_port: int
    listen: str  # the synthetic AMT endpoint, ADDRESS:PORT
    profile: str = ""  # the device profile the hello stands for: "AMT 11", "AMT 15 and later"
    tls_versions: tuple[str, ...] = ()  # what the endpoint accepted in the connect-back
    cipher_suites: tuple[str, ...] = ()
    address: str = ""  # where the hello went
    hello: tuple[tuple[str, Any], ...] = ()  # the hello's fields as evidence (never the PID)
    announced: tuple[AnnouncedHash, ...] = ()  # PKI: the root hashes the hello carried
    delivered: Outcome = Outcome.NOT_OBSERVED  # ANSWER: the hello was written in one piece
    close: HelloClose | None = None
    reply: str = ""  # a hex excerpt of what the server sent back, if anything
    connect_back: ConnectBack | None = None  # None: no hello went out, nothing was awaited
    waited_s: float = 0.0  # connect_back_timeout as configured
    timeline: tuple[HandshakeEvent, ...] = ()
    error: str = ""  # why no hello was sent (no address, no endpoint, no PID/PPS)
    detail: str = ""  # how the hello connection went, in words
    started_at: float = 0.0
    elapsed_ms: float = 0.0

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "provision_server": self.provision_server,
            "address": self.address,
            "hello_port": self.hello_port,
            "listen": self.listen,
        }
        if self.profile:
            doc["profile"] = self.profile
            doc["endpoint_tls"] = {"versions": list(self.tls_versions),
                                   "cipher_suites": list(self.cipher_suites)}
        if self.hello:
            doc["hello"] = dict(self.hello)
        if self.announced:
            doc["announced_hashes"] = [h.to_evidence() for h in self.announced]
        doc["hello_delivery"] = {"outcome": self.delivered.value,
                                 "server_close": self.close.value if self.close else None}
        if self.reply:
            doc["hello_delivery"]["reply"] = self.reply
        if self.detail:
            doc["hello_delivery"]["detail"] = clipped(self.detail, 500)
        if self.connect_back is not None:
            doc["connect_back"] = self.connect_back.to_evidence()
            doc["connect_back_timeout_s"] = self.waited_s
        if self.error:
            doc["error"] = clipped(self.error, 500)
        doc["timeline"] = [e.to_evidence() for e in self.timeline]
        return doc
