"""DHCP probe: real DISCOVER, INFORM, REQUEST and RELEASE packets on the site's interface.

scapy builds the packets (its layers are imported on first use: a few tenths of a second);
they go out on a raw socket of the interface, opened here. Answers are decoded here, bounds-
checked byte by byte, because they come from anyone on the segment: a truncated packet, an
option that overruns the packet, another client's transaction or a flood of offers is counted
or kept as evidence, never a crash, and the window bounds the wait whatever arrives.

The blocking socket work runs in threads of the probe's own, each bounded by its window;
a thread lives in the network namespace of the thread that started it (the event loop's).
Packets on one interface use one client MAC per run, locally administered, so repeated
surveys never fill a server's pool.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import functools
import hashlib
import ipaddress
import logging
import secrets
import select
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from amt_preflight.model import Leftover, LeftoverKind
from amt_preflight.observations.dhcp import (
    DHCP_MESSAGE_TYPES,
    DhcpAnswer,
    DhcpRegistration,
    DhcpSurvey,
    option6_questions,
)
from amt_preflight.observations.dns import (
    DnsAnswer,
    DnsQuestion,
    ResolverSet,
    normal_name,
    reverse_name,
)
from amt_preflight.probes.dhcp_trust import option15_of
from amt_preflight.probes.observer import ProbeObserver
from amt_preflight.probes.undo import CLEANUP_S, undo_within
from amt_preflight.probes.wire import excerpt

if TYPE_CHECKING:
    from amt_preflight.probes import SetUp, SiteProbes
    from amt_preflight.probes.dns import DnsProbe

CLIENT_PORT, SERVER_PORT = 68, 67
MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTP_FIXED = 236  # bytes of the BOOTP header before the magic cookie
MAX_ANSWERS = 16  # answers kept per exchange; a flood beyond that is counted, not kept
MAX_MALFORMED = 8  # undecodable answers kept (as hex excerpts) per exchange
POLL = 0.1  # seconds: how often a waiting thread looks whether the run was stopped
DNS_POLL = 0.5  # seconds between lookups while waiting for a registration to show
CLEANUP_WAIT = 3.0  # seconds to watch the A record go after the RELEASE
RELEASE_WAIT = 10.0  # seconds a RELEASE may take to go out (undo.CLEANUP_S once the run stops)
BROADCAST_FLAG = 0x8000  # answers to a MAC that is not the interface's must be broadcast
ETH_P_IP = 0x0800
SIOCGIFADDR, SIOCGIFHWADDR = 0x8915, 0x8927
RECEIVE_SIZE = 65535
MAX_THREADS = 64  # interfaces surveyed (and leases taken) at once
# What the probe asks for in its parameter request list (option 55).
DHCP_REQUESTED_OPTIONS = (1, 3, 6, 15, 81)


class ProbeUnavailable(Exception):
    """The probe cannot run here (no privilege, no such interface); the message says why."""


def client_mac(run_key: bytes, interface: str) -> bytes:
    """The run's client MAC on one interface: unicast, locally administered (never a
    vendor's), the same for every packet of the run there, another on each interface (a
    server that keeps one lease per MAC would move it between segments)."""
    first, *rest = hashlib.sha256(run_key + interface.encode()).digest()[:6]
    return bytes([(first & 0xFC) | 0x02, *rest])


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def fqdn_option(host_name: str) -> bytes:
    """Option 81 asking the server to update the A record (S) for a partial name in
    canonical wire format (E), no terminating root label (RFC 4702 §2.3.1)."""
    label = host_name.encode("ascii")
    return bytes([0x05, 0, 0, len(label)]) + label


# --- decoding what comes back -----------------------------------------------------------


@dataclass(frozen=True)
class Transaction:
    """A message the probe sent, to recognise its answers by: same xid, same chaddr."""

    xid: int
    chaddr: bytes
    message: str  # "DISCOVER", "INFORM", "REQUEST"
    sent_at: float  # time.monotonic()


@dataclass(frozen=True)
class Rejected:
    """A DHCP packet to a client that is not a usable answer to the probe."""

    why: str
    ours: bool = False  # it answers our transaction but cannot be decoded
    excerpt: str = ""


def decode_frame(
    frame: bytes, transactions: Mapping[int, Transaction], now: float
) -> DhcpAnswer | Rejected | None:
    """An Ethernet frame as an answer to one of `transactions`; Rejected when it is a DHCP
    packet to a client but not (usable as) ours; None when it is not DHCP to a client."""
    offset, ethertype = 14, frame[12:14]
    if ethertype == b"\x81\x00":  # an 802.1Q tag left in the frame
        offset, ethertype = 18, frame[16:18]
    if ethertype != b"\x08\x00" or len(frame) < offset + 28:
        return None
    ip = frame[offset:]
    header = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17 or header < 20 or len(ip) < header + 8:
        return None
    if int.from_bytes(ip[6:8], "big") & 0x3FFF:
        return None  # a fragment: DHCP answers fit one packet; not reassembled
    udp = ip[header:]
    if int.from_bytes(udp[2:4], "big") != CLIENT_PORT:
        return None
    problems = []
    total = int.from_bytes(ip[2:4], "big")
    length = int.from_bytes(udp[4:6], "big")
    if total > len(ip) or length > len(udp):
        problems.append(f"IP or UDP length says more bytes than arrived ({len(udp)} of UDP)")
    payload = udp[8:length] if 8 <= length <= len(udp) else udp[8:]
    source = str(ipaddress.IPv4Address(ip[12:16]))
    return decode_bootp(payload, source, mac_text(frame[6:12]), transactions, now, problems)


def decode_bootp(
    payload: bytes, source: str, source_mac: str, transactions: Mapping[int, Transaction],
    now: float, problems: list[str] | None = None,
) -> DhcpAnswer | Rejected:
    problems = list(problems or ())
    if len(payload) < 8:
        return Rejected("shorter than a BOOTP header")
    if payload[0] != 2:
        return Rejected("not a BOOTREPLY")
    transaction = transactions.get(int.from_bytes(payload[4:8], "big"))
    if transaction is None:
        return Rejected("another transaction (xid)")
    if len(payload) >= 34 and payload[28:34] != transaction.chaddr:
        return Rejected("another client's hardware address (chaddr)")
    if len(payload) < BOOTP_FIXED + len(MAGIC_COOKIE):
        return Rejected(f"truncated: {len(payload)} bytes, a DHCP message has at least 240",
                        ours=True, excerpt=f"from {source}: {excerpt(payload)}")
    if payload[BOOTP_FIXED:BOOTP_FIXED + 4] != MAGIC_COOKIE:
        return Rejected("no DHCP magic cookie", ours=True,
                        excerpt=f"from {source}: {excerpt(payload)}")
    options, option_problems = parse_options(payload[BOOTP_FIXED + 4:])
    problems += option_problems
    overload = options.get(52, b"\x00")[:1]
    for bit, start, end, name in ((1, 108, 236, "file"), (2, 44, 108, "sname")):
        if overload and overload[0] & bit:  # RFC 2132 §9.3: options continue in these fields
            more, more_problems = parse_options(payload[start:end], needs_end=False)
            for code, data in more.items():
                options[code] = options.get(code, b"") + data
            problems += [f"{name} field: {p}" for p in more_problems]
    kind = options.get(53, b"")
    message = DHCP_MESSAGE_TYPES.get(kind[0], f"type {kind[0]}") if len(kind) == 1 else "BOOTREPLY"
    if message == "BOOTREPLY":
        problems.append("no DHCP message type (option 53)")
    return DhcpAnswer(
        answering=transaction.message,
        message_type=message,
        source=source,
        source_mac=source_mac,
        xid=transaction.xid,
        yiaddr=str(ipaddress.IPv4Address(payload[16:20])),
        giaddr=str(ipaddress.IPv4Address(payload[24:28])),
        options=tuple(options.items()),
        after_ms=(now - transaction.sent_at) * 1000,
        problems=tuple(problems),
    )


def parse_options(data: bytes, needs_end: bool = True) -> tuple[dict[int, bytes], list[str]]:
    """Options as {code: value} in order, a repeated code's parts joined (RFC 3396), and what
    stopped the decoding. An option that overruns the data ends it: what came before is kept,
    the overrunning part is not (it would be judged as if it were the whole value)."""
    found: dict[int, bytes] = {}
    problems: list[str] = []
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:  # pad
            i += 1
            continue
        if code == 255:  # end
            return found, problems
        if i + 1 >= len(data):
            problems.append(f"option {code}: the packet ends before its length byte")
            return found, problems
        end = i + 2 + data[i + 1]
        if end > len(data):
            problems.append(f"option {code}: length {data[i + 1]} overruns the packet by "
                            f"{end - len(data)} bytes; decoding stopped there")
            return found, problems
        found[code] = found.get(code, b"") + data[i + 2:end]
        i = end
    if needs_end:
        problems.append("no end option")
    return found, problems


@dataclass
class Collected:
    """What one exchange received: the answers kept, and what was not kept."""

    answers: list[DhcpAnswer] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    dropped: int = 0

    def take(self, result: DhcpAnswer | Rejected | None) -> None:
        if result is None:
            return
        if isinstance(result, DhcpAnswer):
            if len(self.answers) < MAX_ANSWERS:
                self.answers.append(result)
            else:
                self.dropped += 1
        elif result.ours and len(self.malformed) < MAX_MALFORMED:
            self.malformed.append(f"{result.why}; {result.excerpt}")
        else:
            self.ignored[result.why if not result.ours else "undecodable (not kept)"] += 1


# --- the wire: a raw socket on the interface, in a thread -------------------------------


# Surveys and leases on several interfaces start at once, each in its thread: one imports
# scapy while the others wait, rather than each seeing its modules half made.
_LAYERS_IMPORT = threading.Lock()


class Layers:
    """The scapy layers the probe builds packets with, imported on first use (their
    import costs a few tenths of a second); scapy.all is never imported."""

    def __init__(self) -> None:
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # no start-up chatter
        with _LAYERS_IMPORT:
            from scapy.layers.dhcp import BOOTP, DHCP
            from scapy.layers.inet import IP, UDP
            from scapy.layers.l2 import Ether

        self.Ether, self.IP, self.UDP, self.BOOTP, self.DHCP = Ether, IP, UDP, BOOTP, DHCP


def _interface_addresses(interface: str) -> tuple[bytes, str | None]:
    """The interface's MAC and first IPv4 address (None without one), by ioctl in the
    calling thread's network namespace."""
    name = struct.pack("256s", interface.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        mac = fcntl.ioctl(probe, SIOCGIFHWADDR, name)[18:24]
        try:
            address = socket.inet_ntoa(fcntl.ioctl(probe, SIOCGIFADDR, name)[20:24])
        except OSError:  # EADDRNOTAVAIL: no IPv4 address
            address = None
    return mac, address


class Wire:
    """A raw socket on the interface: send frames, collect what answers our transactions.

    The socket is opened here, not by scapy, so no interface list cached by scapy (in
    whatever namespace it was first imported) decides which interfaces exist.
    """

    def __init__(self, interface: str) -> None:
        self.interface = interface
        try:
            self.socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                        socket.htons(ETH_P_IP))
        except PermissionError:
            raise ProbeUnavailable(
                f"the DHCP probe needs root (CAP_NET_RAW) to send and receive raw DHCP "
                f"packets on {interface}; run amt-preflight as root, or give it "
                "CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW; contrib/ has the unit)"
            ) from None
        try:
            self.socket.bind((interface, ETH_P_IP))
            self.mac, self.address = _interface_addresses(interface)
        except OSError as exc:
            self.socket.close()
            if exc.errno == errno.ENODEV:
                raise ProbeUnavailable(f"no interface named {interface} here") from None
            raise ProbeUnavailable(f"{interface}: {exc.strerror or exc}") from None
        try:
            self.layers = Layers()
        except ImportError as exc:  # pragma: no cover - scapy is a dependency
            self.socket.close()
            raise ProbeUnavailable(f"scapy cannot be imported: {exc}") from None

    def close(self) -> None:
        self.socket.close()

    def send(self, packet: Any) -> None:
        try:
            self.socket.send(bytes(packet))
        except OSError as exc:
            raise ProbeUnavailable(f"sending on {self.interface}: {exc.strerror or exc}") from None

    def collect(
        self, transactions: Mapping[int, Transaction], until: float, stop: threading.Event,
        done: Callable[[list[DhcpAnswer]], bool] = lambda answers: False,
    ) -> Collected:
        """Everything that answers `transactions` until `until` (monotonic), the run stops,
        or `done` says the answers so far are enough."""
        collected = Collected()
        while not stop.is_set() and not done(collected.answers):
            remaining = until - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([self.socket], [], [], min(remaining, POLL))
            if not ready:
                continue
            frame, (_, _, kind, _, _) = self.socket.recvfrom(RECEIVE_SIZE)
            if kind != socket.PACKET_OUTGOING:  # not our own frames
                collected.take(decode_frame(frame, transactions, time.monotonic()))
        return collected

    # Packets, built with scapy ------------------------------------------------------

    def _broadcast(self, mac: bytes, xid: int, options: list[Any], source: str = "0.0.0.0",
                   fqdn: bytes | None = None, **bootp: Any) -> Any:
        """A client message to every server: from `source` (no address yet: 0.0.0.0), with
        the options the probe always asks for, and option 81 where a host name is given."""
        s = self.layers
        named = [("client_FQDN", fqdn)] if fqdn is not None else []
        return (
            s.Ether(src=mac_text(mac), dst="ff:ff:ff:ff:ff:ff")
            / s.IP(src=source, dst="255.255.255.255")
            / s.UDP(sport=CLIENT_PORT, dport=SERVER_PORT)
            / s.BOOTP(chaddr=mac, xid=xid, **bootp)
            / s.DHCP(options=[*options, ("param_req_list", list(DHCP_REQUESTED_OPTIONS)),
                              ("max_dhcp_size", 1500), *named, "end"])
        )

    def discover(self, mac: bytes, xid: int, host_name: str) -> Any:
        return self._broadcast(mac, xid, [("message-type", "discover")],
                               flags=BROADCAST_FLAG, fqdn=fqdn_option(host_name))

    def inform(self, xid: int, address: str) -> Any:
        """RFC 2131 §3.4: the host's own address as ciaddr and source; the ACK comes back
        unicast and carries no lease time (option 51), which the probe never asks for."""
        return self._broadcast(self.mac, xid, [("message-type", "inform")], address,
                               ciaddr=address)

    def request(self, mac: bytes, xid: int, offer: DhcpAnswer, host_name: str) -> Any:
        return self._broadcast(mac, xid, [("message-type", "request"),
                                          ("requested_addr", offer.yiaddr),
                                          ("server_id", offer.server)],
                               flags=BROADCAST_FLAG, fqdn=fqdn_option(host_name))

    def release(self, mac: bytes, xid: int, ack: DhcpAnswer) -> Any:
        """Unicast to the server (through whatever sent the ACK), from the leased address."""
        s = self.layers
        return (
            s.Ether(src=mac_text(mac), dst=ack.source_mac)
            / s.IP(src=ack.yiaddr, dst=ack.server)
            / s.UDP(sport=CLIENT_PORT, dport=SERVER_PORT)
            / s.BOOTP(chaddr=mac, xid=xid, ciaddr=ack.yiaddr)
            / s.DHCP(options=[("message-type", "release"), ("server_id", ack.server), "end"])
        )


def new_xid() -> int:
    return secrets.randbits(32)


def survey_interface(
    interface: str, mac: bytes, host_name: str, window: float, stop: threading.Event
) -> DhcpSurvey:
    """Blocking: DISCOVER and INFORM, then every answer for `window` seconds."""
    started, clock = time.time(), time.monotonic()
    sent: list[str] = []
    try:
        wire = Wire(interface)
    except ProbeUnavailable as exc:
        return DhcpSurvey(interface, mac_text(mac), window, error=str(exc), started_at=started,
                          elapsed_ms=(time.monotonic() - clock) * 1000)
    try:
        transactions: dict[int, Transaction] = {}
        xid = new_xid()
        window_start = time.monotonic()  # the window counts from the DISCOVER
        wire.send(wire.discover(mac, xid, host_name))
        transactions[xid] = Transaction(xid, mac, "DISCOVER", time.monotonic())
        requested = ", ".join(map(str, DHCP_REQUESTED_OPTIONS))
        sent.append(f"DISCOVER xid 0x{xid:08x} from {mac_text(mac)}, broadcast flag, options "
                    f"{requested} requested, option 81 {host_name} with S set (no REQUEST "
                    "follows: no lease is taken)")
        if wire.address is not None:
            xid = new_xid()
            wire.send(wire.inform(xid, wire.address))
            transactions[xid] = Transaction(xid, wire.mac, "INFORM", time.monotonic())
            sent.append(f"INFORM xid 0x{xid:08x} from {wire.address} ({mac_text(wire.mac)}), "
                        f"options {requested} requested")
        else:
            sent.append(f"no INFORM: {interface} has no IPv4 address")
        collected = wire.collect(transactions, window_start + window, stop)
    except ProbeUnavailable as exc:
        return DhcpSurvey(interface, mac_text(mac), window, tuple(sent), error=str(exc),
                          started_at=started, elapsed_ms=(time.monotonic() - clock) * 1000)
    finally:
        wire.close()
    return DhcpSurvey(
        interface, mac_text(mac), window, tuple(sent), tuple(collected.answers),
        tuple(collected.malformed), tuple(sorted(collected.ignored.items())), collected.dropped,
        started_at=started, elapsed_ms=(time.monotonic() - clock) * 1000,
    )


@dataclass(frozen=True)
class LeaseAttempt:
    steps: tuple[str, ...]
    ack: DhcpAnswer | None = None
    no_lease: str = ""  # why the servers gave none
    error: str = ""  # why the probe could not run
    # The OFFER a REQUEST went out for when no ACK was seen (the window ended, the run
    # stopped): the server may have leased it all the same, so it is released too.
    requested: DhcpAnswer | None = None


def take_lease(
    interface: str, mac: bytes, host_name: str, window: float, allowed: Sequence[str],
    stop: threading.Event,
) -> LeaseAttempt:
    """Blocking: DISCOVER, the first OFFER from an allowed server (any server when none is
    configured), REQUEST, ACK; each wait bounded by `window`."""
    steps: list[str] = []
    try:
        wire = Wire(interface)
    except ProbeUnavailable as exc:
        return LeaseAttempt((), error=str(exc))
    try:
        xid = new_xid()

        def acceptable(answer: DhcpAnswer) -> bool:
            return (answer.message_type == "OFFER" and answer.yiaddr != "0.0.0.0"
                    and (not allowed or answer.server in allowed))

        wire.send(wire.discover(mac, xid, host_name))
        discover = {xid: Transaction(xid, mac, "DISCOVER", time.monotonic())}
        steps.append(f"DISCOVER xid 0x{xid:08x} from {mac_text(mac)} with option 81 {host_name}")
        offers = wire.collect(discover, time.monotonic() + window, stop,
                              lambda answers: any(map(acceptable, answers)))
        offer = next((a for a in offers.answers if acceptable(a)), None)
        if offer is None:
            others = ", ".join(sorted({a.server for a in offers.answers})) or "none"
            return LeaseAttempt(tuple(steps), no_lease=f"no OFFER from an allowed server "
                                f"within {window:g} s (offers from: {others})")
        steps.append(f"OFFER of {offer.yiaddr} from {offer.server} after "
                     f"{offer.after_ms:.0f} ms")
        wire.send(wire.request(mac, xid, offer, host_name))
        request = {xid: Transaction(xid, mac, "REQUEST", time.monotonic())}
        steps.append(f"REQUEST {offer.yiaddr} from {offer.server} with option 81 {host_name}")

        def final(answer: DhcpAnswer) -> bool:
            return answer.message_type in ("ACK", "NAK") and answer.server == offer.server

        replies = wire.collect(request, time.monotonic() + window, stop,
                               lambda answers: any(map(final, answers)))
        ack = next((a for a in replies.answers if final(a)), None)
        if ack is None:
            why = ("the run stopped before an ACK came" if stop.is_set()
                   else f"no ACK from {offer.server} within {window:g} s")
            return LeaseAttempt(tuple(steps), no_lease=why, requested=offer)
        if ack.message_type == "NAK":
            return LeaseAttempt(tuple(steps), no_lease=f"NAK from {ack.server}")
        fqdn = ack.client_fqdn
        steps.append(f"ACK of {ack.yiaddr} from {ack.server} after {ack.after_ms:.0f} ms"
                     + (f", option 81 {fqdn.describe()}" if fqdn else ", no option 81"))
        return LeaseAttempt(tuple(steps), ack)
    except ProbeUnavailable as exc:
        return LeaseAttempt(tuple(steps), error=str(exc))
    finally:
        wire.close()


def release_lease(interface: str, mac: bytes, ack: DhcpAnswer) -> tuple[bool, str]:
    """Blocking: send the RELEASE (no answer comes); whether it went, and the step."""
    try:
        wire = Wire(interface)
    except ProbeUnavailable as exc:
        return False, f"RELEASE not sent: {exc}"
    try:
        wire.send(wire.release(mac, new_xid(), ack))
    except ProbeUnavailable as exc:
        return False, f"RELEASE not sent: {exc}"
    finally:
        wire.close()
    return True, f"RELEASE of {ack.yiaddr} to {ack.server}"


# --- the probe, as the engine and the gatherers use it ----------------------------------


class DhcpProbe:
    """The run's DHCP probe: one client MAC per run and interface (so no pool fills up
    however often it runs), each interface surveyed once however many sites or checks ask."""

    def __init__(self, observer: ProbeObserver | None = None) -> None:
        self.observer = observer or ProbeObserver()
        self.run_key = secrets.token_bytes(16)
        self.host_name = f"amtp-{secrets.token_hex(4)}"  # in the survey's option 81
        self._stop = threading.Event()
        self._surveys: dict[tuple[str, float], asyncio.Task[DhcpSurvey]] = {}
        self._prepared: asyncio.Future[Layers] | None = None
        # Threads of its own: a window holds one for seconds, and the loop's default pool
        # (a handful of threads) also serves name lookups, which must not wait behind it.
        self._threads = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="dhcp-probe")

    def prepare(self, setup: SetUp) -> None:
        """Import scapy in the run's set-up lane, ahead of the set-up that other probes ask
        for there (pysnmp): the DISCOVER, and so the window, waits for it (Layers)."""
        if self._prepared is None:
            self._prepared = asyncio.ensure_future(setup.run(Layers))
            # The survey's own thread says what went wrong, if anything did
            self._prepared.add_done_callback(lambda done: done.cancelled() or done.exception())

    def survey(self, interface: str, window: float) -> asyncio.Future[DhcpSurvey]:
        key = (interface, window)
        task = self._surveys.get(key)
        if task is None:
            task = asyncio.ensure_future(self._in_thread(
                f"DHCP survey on {interface}", survey_interface, interface,
                client_mac(self.run_key, interface), self.host_name, window, self._stop))
            self._surveys[key] = task
        return asyncio.shield(task)

    async def _in_thread(self, what: str, blocking: Callable[..., Any], *args: Any) -> Any:
        """Blocking socket work in one of the probe's threads, which is created by (and so
        in the network namespace of) the event loop's thread."""
        self.observer.probe_started(what)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, functools.partial(blocking, *args))
        finally:
            self.observer.probe_finished(what)

    async def register(
        self, interface: str, window: float, register_wait: float, allowed: Sequence[str],
        dns: DnsProbe, resolvers: ResolverSet, domains: Sequence[str], *,
        undo: dict[str, Leftover] | None = None, site: str | None = None,
    ) -> DhcpRegistration:
        """Lease with option 81, wait for the A and PTR records, release. `undo` (the run's
        Observations.undo) holds the lease from before the REQUEST until it is released:
        what is still there when the run ends was not given back."""
        undo = {} if undo is None else undo
        started, clock = time.time(), time.monotonic()
        # A name of its own: sites registering at one server at once must not take each
        # other's name (dnsmasq moves a name to its newest lease).
        host_name = f"amtp-{secrets.token_hex(4)}"
        mac = client_mac(self.run_key, interface)
        base = DhcpRegistration(interface, mac_text(mac), host_name, started_at=started)
        key = f"dhcp-lease {interface} {mac_text(mac)} {host_name}"
        client = f"client {mac_text(mac)} ({host_name}) on {interface}"
        undo[key] = Leftover(LeftoverKind.DHCP_LEASE, f"a lease for {client}", ", ".join(allowed),
                             "the run ended during the lease exchange: a lease it got stays "
                             "until it expires", site)
        leasing = asyncio.ensure_future(self._in_thread(
            f"DHCP lease on {interface}", take_lease, interface, mac, host_name, window,
            tuple(allowed), self._stop))
        try:
            lease: LeaseAttempt = await asyncio.shield(leasing)
        except asyncio.CancelledError:  # the run stops: the thread stops at once (stop())...
            late = await undo_within(leasing, CLEANUP_S)
            held = None if late is None else late.ack or late.requested
            if late is not None and held is None:
                undo.pop(key, None)  # no lease was had
            elif held is not None:  # ...and a lease it still got (or may have got) goes back
                await self._give_back(interface, mac, held, undo, key, client, CLEANUP_S)
            raise
        if lease.ack is None:
            if lease.requested is None:
                undo.pop(key, None)
                steps = lease.steps
            else:  # the ACK may have been lost on its way: release what was asked for
                step = await self._give_back(interface, mac, lease.requested, undo, key,
                                             client, RELEASE_WAIT)
                steps = (*lease.steps, step)
            return _replace(base, steps=steps, no_lease=lease.no_lease,
                            error=lease.error, clock=clock)
        ack = lease.ack
        undo[key] = _held(undo[key], ack, client, "the run ended before the RELEASE was sent")
        fqdn, source = _registered_name(host_name, ack, domains)
        try:
            found = await _wait_for_records(dns, resolvers, fqdn, ack.yiaddr, register_wait)
        finally:  # the lease goes back whatever happened meanwhile
            step = await self._give_back(interface, mac, ack, undo, key, client, RELEASE_WAIT)
            released = key not in undo
        cleanup = await _watch_cleanup(dns, found.a_seen, fqdn, ack.yiaddr)
        return _replace(
            base, steps=(*lease.steps, f"waited {found.waited:.1f} s for {fqdn} in DNS", step),
            server=ack.server, address=ack.yiaddr, fqdn=fqdn, fqdn_source=source,
            a_seen=found.a_seen, ptr_seen=found.ptr_seen, a_after_ms=found.a_after_ms,
            ptr_after_ms=found.ptr_after_ms, waited_s=round(found.waited, 1),
            lookups=found.lookups, released=released, cleanup=cleanup, clock=clock,
        )

    async def _give_back(self, interface: str, mac: bytes, lease: DhcpAnswer,
                         undo: dict[str, Leftover], key: str, client: str, within: float
                         ) -> str:
        """RELEASE the lease (an ACK, or the OFFER a REQUEST went out for), within `within`
        seconds (CLEANUP_S once the run stops); off the undo list once sent. The step, for
        the evidence."""
        undo[key] = _held(undo[key], lease, client, "the run ended before the RELEASE was sent")
        outcome = await undo_within(self._release(interface, mac, lease), within)
        if outcome is None:
            step = f"RELEASE of {lease.yiaddr} not sent in time"
        else:
            sent, step = outcome
            if sent:
                undo.pop(key, None)
                return step
        undo[key] = _held(undo[key], lease, client, f"{step}: it stays until it expires")
        return step

    async def _release(self, interface: str, mac: bytes, ack: DhcpAnswer
                       ) -> tuple[bool, str]:
        result: tuple[bool, str] = await self._in_thread(
            f"DHCP release on {interface}", release_lease, interface, mac, ack)
        return result

    def stop(self) -> None:
        """The run ends (its deadline): threads stop waiting, nothing more is sent."""
        self._stop.set()
        for task in self._surveys.values():
            task.cancel()


def _held(entry: Leftover, lease: DhcpAnswer, client: str, detail: str) -> Leftover:
    """The undo entry of a lease once its address and server are known."""
    return replace(entry, what=f"the lease of {lease.yiaddr} for {client}", server=lease.server,
                   detail=detail)


def _replace(base: DhcpRegistration, clock: float, **changes: Any) -> DhcpRegistration:
    return replace(base, elapsed_ms=(time.monotonic() - clock) * 1000, **changes)


def _registered_name(host_name: str, ack: DhcpAnswer, domains: Sequence[str]
                     ) -> tuple[str, str]:
    """The name the server registers: its option 81 when fully qualified, else our host name
    in the option 15 it gave, else in the site's first domain."""
    fqdn = ack.client_fqdn
    if fqdn is not None and "." in fqdn.name.rstrip("."):
        return normal_name(fqdn.name), "option 81 in the ACK"
    if ack.domain_name:
        return normal_name(f"{host_name}.{ack.domain_name.decode('latin-1')}"), \
            "host name + option 15 in the ACK"
    if domains:
        return normal_name(f"{host_name}.{domains[0]}"), "host name + the site's domain"
    return host_name, "host name alone (no option 15, no domain configured)"


@dataclass(frozen=True)
class Found:
    a_seen: tuple[str, ...]
    ptr_seen: tuple[str, ...]
    a_after_ms: float | None
    ptr_after_ms: float | None
    waited: float
    lookups: tuple[DnsAnswer, ...]


async def _wait_for_records(
    dns: DnsProbe, resolvers: ResolverSet, fqdn: str, address: str, wait: float
) -> Found:
    """Ask every resolver for the A record until it shows with the leased address, and
    each resolver that has it for the PTR, until both show somewhere or `wait` ends."""
    clock = time.monotonic()
    last: dict[tuple[str, str], DnsAnswer] = {}
    a_after = ptr_after = None

    async def ask(questions: list[DnsQuestion]) -> None:
        for answer in await asyncio.gather(*(dns.ask_again(q) for q in questions)):
            last[(answer.question.resolver, answer.question.rdtype)] = answer

    try:
        async with asyncio.timeout(wait):
            while True:
                await ask([DnsQuestion(r, fqdn, "A") for r in resolvers.addresses])
                if a_after is None and _where(last, "A", address):
                    a_after = (time.monotonic() - clock) * 1000
                await ask([DnsQuestion(r, reverse_name(address), "PTR")
                           for r in _where(last, "A", address)])
                if ptr_after is None and _where(last, "PTR", fqdn):
                    ptr_after = (time.monotonic() - clock) * 1000
                if a_after is not None and ptr_after is not None:
                    break
                await asyncio.sleep(DNS_POLL)
    except TimeoutError:
        pass
    return Found(_where(last, "A", address), _where(last, "PTR", fqdn), a_after, ptr_after,
                 time.monotonic() - clock, tuple(last.values()))


def _where(last: Mapping[tuple[str, str], DnsAnswer], rdtype: str, value: str
           ) -> tuple[str, ...]:
    wanted = normal_name(value) if rdtype == "PTR" else value
    return tuple(resolver for (resolver, kind), answer in last.items() if kind == rdtype
                 and any((normal_name(v) if rdtype == "PTR" else v) == wanted
                         for v in answer.values))


async def _watch_cleanup(dns: DnsProbe, resolvers: Iterable[str], fqdn: str, address: str
                         ) -> str:
    """After the RELEASE: does the A record go (most servers delete it with the lease)?"""
    resolvers = tuple(resolvers)
    if not resolvers:
        return "no A record was seen: nothing to remove"
    end = time.monotonic() + CLEANUP_WAIT
    while True:
        answers = await asyncio.gather(*(dns.ask_again(DnsQuestion(r, fqdn, "A"))
                                         for r in resolvers))
        if all(a.outcome.answered and address not in a.values for a in answers):
            return "A record gone after the RELEASE"
        if time.monotonic() + DNS_POLL >= end:
            return (f"A record still there {CLEANUP_WAIT:g} s after the RELEASE (the server "
                    "may keep it until the lease would have expired)")
        await asyncio.sleep(DNS_POLL)


# --- What to probe: one gatherer per Need (see catalogue.Need) ---------------------------


async def gather_survey(ctx: SiteProbes) -> None:
    site = ctx.site
    if site.interface is None:
        return
    if isinstance(ctx.dhcp, DhcpProbe):  # not a test's stand-in
        ctx.dhcp.prepare(ctx.setup)
    survey = await ctx.dhcp.survey(site.interface, site.dhcp.window)
    ctx.record(survey)
    option15 = option15_of(survey, site.dhcp.allowed_servers)
    if option15 is not None:
        ctx.record(option15)


async def gather_option6_dns(ctx: SiteProbes) -> None:
    """ProvisionServer.<option 15> at every DNS server each answer names in option 6."""
    site = ctx.site
    if site.interface is None:
        return
    survey = await ctx.dhcp.survey(site.interface, site.dhcp.window)
    questions = {q for answer in survey.answers
                 for q in option6_questions(answer, site.domain_names)}
    await asyncio.gather(*(ctx.dns.ask(q) for q in questions))


async def gather_registration(ctx: SiteProbes) -> None:
    site = ctx.site
    if not ctx.intrusive or site.interface is None:
        return
    ctx.record(await ctx.dhcp.register(
        site.interface, site.dhcp.window, site.dhcp.register_wait, site.dhcp.allowed_servers,
        ctx.dns, ctx.resolvers, site.domain_names, undo=ctx.observations.undo,
        site=site.name))
