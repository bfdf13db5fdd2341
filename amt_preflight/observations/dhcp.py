"""DHCP observations: what servers answered the probe's DISCOVER and INFORM (options kept
raw, decoded where read), the option 15 a site's DHCP hands out, and a registration's lease
and DNS records."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from amt_preflight.observations.dns import (
    DnsAnswer,
    DnsQuestion,
    normal_name,
    provision_server_name,
)
from amt_preflight.typed import record

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
_ADDRESS_OPTIONS = frozenset({1, 3, 6, 28, 54})
MAX_OPTION6 = 8  # DNS servers used of one answer's option 6 (DhcpAnswer.dns_servers)


def _addresses(data: bytes) -> tuple[str, ...]:
    return tuple(str(ipaddress.IPv4Address(data[i:i + 4])) for i in range(0, len(data) - 3, 4))


def option_text(data: bytes) -> str:
    """Bytes from the network as text, one character per byte: nothing is lost or hidden
    (reports show control characters as escapes)."""
    return data.decode("latin-1")


@record
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
                labels.append(option_text(name[i + 1:i + 1 + length]))
                i += 1 + length
            text = ".".join(labels) + ("." if i < len(name) else "")
        else:
            text = option_text(name)
        return cls(flags, data[1], data[2], text)


@record
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
        value = option_text(data)
    else:
        value = None
    if value is not None:
        doc["value"] = value
    doc["hex"] = data.hex()
    return doc


@record
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

    STORE: ClassVar[str] = "dhcp"  # kept in Observations.dhcp
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> str:
        """Where it is kept (Observations.dhcp): by site (sites on one interface share one
        survey, each keeps it)."""
        return site

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


@record
class Option15:
    """The domain DHCP hands out here (raw bytes as text) and the server it came from."""

    value: str
    server: str
    interface: str

    STORE: ClassVar[str] = "option15"  # kept in Observations.option15
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> str:
        """Where it is kept (Observations.option15): by site."""
        return site


def domain_of(option15: bytes) -> str | None:
    """Option 15 as a DNS domain, when it is one (one trailing dot allowed), else None."""
    text = option_text(option15)
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


@record
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

    STORE: ClassVar[str] = "dhcp_registrations"  # kept in Observations.dhcp_registrations
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> str:
        """Where it is kept (Observations.dhcp_registrations): by site."""
        return site

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
