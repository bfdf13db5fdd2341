"""Handshake probe: the hello an AMT device in setup mode sends to ProvisionServer.<domain>,
and a synthetic AMT endpoint that takes the provisioning server's connect-back.

The hello goes out as a device sends it: one write (servers keep only the first TCP
segment), then our side of the connection closes, and the server is expected to close its own.
Before it goes, the endpoint listens on handshake.listen: for a PKI hello a TLS server with a
fresh self-signed RSA certificate (a TLS 1.2 provisioning server offers RSA key exchange only)
that requires a client certificate and keeps the chain presented; for a PSK hello a TLS-PSK
server with the site's PID/PPS. It closes each connection after the handshake.

A connect-back names no hello (TLS carries no UUID back), so hellos through one endpoint go
one at a time: a connection is the answer to the hello in flight. A connection from a server
asked earlier, while another one is awaited, is a late answer to that earlier hello and is
ignored. Hellos to one server are spaced by handshake.hello_spacing: after a connect-back a
provisioning server ignores further hellos from the same address for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from amt_preflight import firmware, pki, tlsio
from amt_preflight.firmware import DeviceProfile, TlsProfile
from amt_preflight.hello import (
    MAX_HASHES,
    Hello,
    HelloError,
    RootHash,
    normal_pid,
    normal_pps,
    synthetic_uuid,
)
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import CertificateFacts
from amt_preflight.observations.dns import provision_server_name
from amt_preflight.observations.handshake import (
    AnnouncedHash,
    ConnectBack,
    ConnectBackOutcome,
    HandshakeAttempt,
    HandshakeEvent,
    HandshakeKind,
    Handshakes,
    HelloClose,
)
from amt_preflight.probes import tcp
from amt_preflight.probes.wire import excerpt, os_error
from amt_preflight.secrets import SecretError, read_secret_async

if TYPE_CHECKING:
    from amt_preflight.config import DomainConfig
    from amt_preflight.probes import SiteProbes

MAX_PRESENTED = 20  # certificates of a presented chain described; the rest are only counted
ENDPOINT_KEY_BITS = 2048
ENDPOINT_NAME = "Intel(R) AMT synthetic endpoint (amt-preflight)"
TLS_HANDSHAKE_RECORD = 0x16  # the first byte of every TLS handshake


def announced_hashes(profile: DeviceProfile, custom: list[str]) -> tuple[AnnouncedHash, ...]:
    """The root hashes a device of this profile announces in its hello: its default list in
    its algorithm, then amt.custom_root_hashes (firmware.DeviceProfile.announced)."""
    return tuple(AnnouncedHash(e.algorithm, e.value, f"{e.ca} ({e.source})")
                 for e in profile.announced(custom))[:MAX_HASHES]


def endpoint_identity() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A fresh self-signed RSA certificate for the synthetic endpoint, valid for a day."""
    key = rsa.generate_private_key(65537, ENDPOINT_KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ENDPOINT_NAME)])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(hours=1))
                   .not_valid_after(now + timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    return key, certificate


_CHAIN_ERRORS: tuple[type[Exception], ...] = (SSL.Error, *pki.cert_errors())


def _described(chain: list[x509.Certificate]) -> tuple[tuple[CertificateFacts, ...], str]:
    """Facts of the first MAX_PRESENTED certificates, and why one could not be read."""
    described: list[CertificateFacts] = []
    for index, certificate in enumerate(chain[:MAX_PRESENTED]):
        try:
            described.append(pki.facts(certificate))
        except pki.cert_errors() as exc:  # hostile bytes: a BIT STRING name, an unknown version
            return tuple(described), (f"certificate {index + 1} of the chain is unreadable: "
                                      f"{pki.parse_problem(exc)}")
    return tuple(described), ""


# --- the synthetic AMT endpoint --------------------------------------------------------


@dataclass
class _Awaited:
    """The connect-back one hello is waiting for."""

    kind: HandshakeKind
    server: str  # where the hello went
    allowed: frozenset[str]  # addresses whose connect-back counts: it, and provision_server
    psk: tlsio.PskServer | None
    tls: TlsProfile | None  # PKI: the versions and suites the endpoint accepts
    result: asyncio.Future[ConnectBack]
    notes: list[tuple[float, str]]  # the attempt's timeline: (monotonic, what was seen)
    hello_sent: float = 0.0  # monotonic
    connected: bool = False  # a connection is being answered: its handshake is bounded


class SyntheticEndpoint:
    """The TLS server a provisioning server connects back to, as to an AMT device."""

    def __init__(self, listen: str, timeout: float) -> None:
        host, _, port = listen.rpartition(":")
        self.host, self.port, self.timeout = host.strip("[]"), int(port), timeout
        self.awaited: _Awaited | None = None
        self.servers_asked: set[str] = set()  # addresses hellos went to through this endpoint
        self._server: asyncio.Server | None = None
        self._identity: tuple[rsa.RSAPrivateKey, x509.Certificate] | None = None
        self._making: asyncio.Future[tuple[rsa.RSAPrivateKey, x509.Certificate]] | None = None
        self._contexts: dict[str, SSL.Context] = {}  # by TLS profile name
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def is_open(self) -> bool:
        return self._server is not None

    def prepare(self) -> None:
        """Start making the endpoint's certificate (an RSA key: a tenth of a second of CPU)
        in a worker thread, so it is there when the first hello may go; one per endpoint."""
        if self._identity is None and (self._making is None or self._making.cancelled()):
            self._making = asyncio.ensure_future(asyncio.to_thread(endpoint_identity))

    async def open(self) -> None:
        """Listen; OSError when the address cannot be bound."""
        if self._identity is None:
            self.prepare()
            assert self._making is not None
            self._identity = await asyncio.shield(self._making)  # a cancelled open: kept
        self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                  reuse_address=True)

    def _pki_context(self, tls: TlsProfile) -> SSL.Context:
        """A mutual-TLS server context that speaks only the profile's versions and suites
        (never TLS 1.3), as a device of that profile does."""
        context = self._contexts.get(tls.name)
        if context is None:
            assert self._identity is not None  # open() made it before listening
            key, certificate = self._identity
            context = SSL.Context(SSL.TLS_METHOD)
            context.use_privatekey(key)
            context.use_certificate(certificate)
            tlsio.limit(context, tls.versions, tls.cipher_suites)
            # Every chain is accepted: it is captured and judged by the CERT-* rules.
            context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                               lambda *_: True)
            self._contexts[tls.name] = context
        return context

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for handler in list(self._handlers):
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # start_server runs each connection in a task
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_host, peer_port = writer.get_extra_info("peername")[:2]
        peer = f"{peer_host}:{peer_port}"
        awaited = self.awaited
        if awaited is None:
            return  # no hello in flight: nothing this connection could answer
        if awaited.result.done():
            awaited.notes.append((time.monotonic(), f"closed a further connection from {peer}"))
            return
        if peer_host != awaited.server and peer_host in self.servers_asked:
            awaited.notes.append((time.monotonic(), f"ignored a connection from {peer}: a late "
                                  f"answer to an earlier hello to {peer_host}"))
            return
        if peer_host not in awaited.allowed:
            awaited.notes.append((time.monotonic(), f"ignored a connection from {peer}: "
                                  f"neither the address the hello went to ({awaited.server}) "
                                  "nor a configured provision_server address"))
            return
        awaited.notes.append((time.monotonic(), f"connection from {peer}"))
        awaited.connected = True
        answer = await self._handshake(awaited, reader, writer, peer)
        if not awaited.result.done():
            awaited.result.set_result(answer)

    async def _handshake(self, awaited: _Awaited, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter, peer: str) -> ConnectBack:
        if awaited.psk is not None:
            context = awaited.psk.context
        else:
            assert awaited.tls is not None  # a PKI hello names its device's TLS
            context = self._pki_context(awaited.tls)
        connection = SSL.Connection(context, None)
        connection.set_accept_state()
        received = bytearray()

        def failed(outcome: ConnectBackOutcome, detail: str) -> ConnectBack:
            if received and received[0] != TLS_HANDSHAKE_RECORD:
                outcome, detail = ConnectBackOutcome.NOT_TLS, "the first bytes are not TLS"
            offer = tlsio.client_hello_offer(bytes(received))
            return ConnectBack(outcome, peer, self._after(awaited),
                               received=excerpt(bytes(received)) if received else "",
                               offered=offer.describe() if offer else "",
                               detail=detail, psk_identity_matched=self._psk_matched(awaited))

        try:
            async with asyncio.timeout(self.timeout):
                await tlsio.handshake(connection, reader, writer, received)
        except TimeoutError:
            return failed(ConnectBackOutcome.STALLED,
                          f"the handshake did not finish within {self.timeout:g} s")
        except SSL.Error as exc:
            return failed(ConnectBackOutcome.TLS_FAILED, tlsio.error_text(exc))
        except OSError as exc:  # ConnectionError: the peer closed or reset
            if not received:
                return failed(ConnectBackOutcome.NOT_TLS, "closed without sending a byte")
            return failed(ConnectBackOutcome.TLS_FAILED,
                          exc.strerror or str(exc) or type(exc).__name__)
        answer = ConnectBack(
            ConnectBackOutcome.HANDSHAKE, peer, self._after(awaited),
            connection.get_protocol_version_name(), connection.get_cipher_name() or "",
            psk_identity_matched=self._psk_matched(awaited))
        if awaited.kind is HandshakeKind.PKI:
            answer = self._with_chain(answer, connection)
        with contextlib.suppress(TimeoutError):  # the answer is known: the close is a courtesy
            async with asyncio.timeout(self.timeout):
                await tlsio.close(connection, writer)
        return answer

    @staticmethod
    def _with_chain(answer: ConnectBack, connection: SSL.Connection) -> ConnectBack:
        """The chain the peer presented, leaf first (a server's OpenSSL keeps the leaf apart
        from the rest)."""
        try:
            leaf = connection.get_peer_certificate(as_cryptography=True)
            rest = connection.get_peer_cert_chain(as_cryptography=True) or []
            chain = ([leaf] if leaf is not None else []) + [c for c in rest if c != leaf]
        except _CHAIN_ERRORS as exc:
            return replace(answer, chain_problem="the presented chain is unreadable: "
                           f"{pki.parse_problem(exc)}")
        described, problem = _described(chain)
        return replace(answer, chain=described, chain_length=len(chain), chain_problem=problem)

    @staticmethod
    def _after(awaited: _Awaited) -> float:
        return (time.monotonic() - awaited.hello_sent) * 1000

    @staticmethod
    def _psk_matched(awaited: _Awaited) -> bool | None:
        if awaited.psk is None or not awaited.psk.identities_seen:
            return None
        return awaited.psk.identity in awaited.psk.identities_seen


# --- sending the hello -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """How sending one hello went."""

    outcome: Outcome
    close: HelloClose | None = None
    reply: str = ""
    detail: str = ""


async def send_hello(address: str, port: int, payload: bytes, timeout: float) -> Delivery:
    """Connect, write the hello in one write, close our side, and see how the server closes."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return Delivery(Outcome.TIMEOUT, detail=f"no answer to the connection in {timeout:g} s")
    except OSError as exc:
        return Delivery(Outcome.UNREACHABLE, detail=os_error(exc))
    try:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.write(payload)  # one write: a server keeps only the first segment
        await writer.drain()
        writer.write_eof()
        try:
            async with asyncio.timeout(timeout):
                reply = await reader.read(4096)
        except TimeoutError:
            return Delivery(Outcome.ANSWER, HelloClose.HELD_OPEN,
                             detail=f"the server kept the connection open for {timeout:g} s "
                                    "after the hello")
        except ConnectionResetError:
            return Delivery(Outcome.ANSWER, HelloClose.RESET,
                             detail="the server reset the connection after the hello")
        if reply:
            return Delivery(Outcome.ANSWER, HelloClose.ANSWERED, excerpt(reply),
                             "the server answered the hello; a hello gets no answer")
        return Delivery(Outcome.ANSWER, HelloClose.CLEAN, detail="the server closed cleanly")
    except OSError as exc:
        return Delivery(Outcome.UNREACHABLE, detail=f"writing the hello: {os_error(exc)}")
    finally:
        writer.close()


# --- one hello at a time through an endpoint -------------------------------------------


@dataclass
class Timeline:
    """What happened during one attempt, and when (monotonic clock)."""

    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def add(self, event: str) -> None:
        self.events.append((time.monotonic(), event))

    def done(self) -> tuple[HandshakeEvent, ...]:
        ordered = sorted(self.events, key=lambda e: e[0])
        return tuple(HandshakeEvent((at - self.started) * 1000, text) for at, text in ordered)


@dataclass(frozen=True)
class HelloPlan:
    """What one attempt sends, where, and what it waits for."""

    domain: str
    kind: HandshakeKind
    address: str
    port: int
    hello: Hello
    connect_back_timeout: float
    spacing: float
    allowed: frozenset[str]  # where a connect-back may come from
    psk: tlsio.PskServer | None = None
    tls: TlsProfile | None = None


@dataclass
class _Turn:
    """A hello waiting for the endpoint."""

    address: str
    spacing: float
    granted: asyncio.Future[None]


class HelloQueue:
    """The hellos that share one synthetic endpoint, one at a time: the endpoint goes to the
    first waiting hello whose server is past its spacing, so a spaced hello does not hold up
    hellos to other servers. The endpoint listens while any hello waits, so a late
    connect-back is seen (and set aside) too."""

    def __init__(self, listen: str, timeout: float) -> None:
        self.endpoint = SyntheticEndpoint(listen, timeout)
        self.timeout = timeout
        self._waiting: list[_Turn] = []
        self._busy = False
        self._wake: asyncio.TimerHandle | None = None
        self._last: dict[str, float] = {}  # server address -> monotonic end of its last hello

    async def exchange(self, plan: HelloPlan, timeline: Timeline,
                       limiter: asyncio.Semaphore) -> tuple[Delivery | None, ConnectBack | None,
                                                            str]:
        """(how the hello went, what connected back, why nothing was sent)."""
        turn = _Turn(plan.address, plan.spacing, asyncio.get_running_loop().create_future())
        self._waiting.append(turn)
        try:
            self._dispatch()
            if not turn.granted.done():
                timeline.add("waiting for the endpoint: a hello is in flight, or hellos to "
                             f"{plan.address} are spaced (handshake.hello_spacing)")
            await turn.granted
            try:
                return await self._exchange(plan, timeline, limiter)
            finally:
                self._last[plan.address] = time.monotonic()
        finally:
            if turn in self._waiting:  # cancelled while waiting
                self._waiting.remove(turn)
            elif turn.granted.done() and not turn.granted.cancelled():
                self._busy = False  # it had the endpoint (or was just granted it)
            if not self._waiting and not self._busy:
                await self.endpoint.close()
            else:
                self._dispatch()

    def _dispatch(self) -> None:
        """Grant the endpoint to the first hello that may go now, or wake when one may."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._busy or not self._waiting:
            return
        now = time.monotonic()
        ready_at = [self._last.get(t.address, float("-inf")) + t.spacing for t in self._waiting]
        for turn, at in zip(self._waiting, ready_at, strict=True):
            if at <= now:
                self._waiting.remove(turn)
                self._busy = True
                turn.granted.set_result(None)
                return
        self._wake = asyncio.get_running_loop().call_later(min(ready_at) - now, self._dispatch)

    async def _exchange(self, plan: HelloPlan, timeline: Timeline, limiter: asyncio.Semaphore
                        ) -> tuple[Delivery | None, ConnectBack | None, str]:
        endpoint = self.endpoint
        if not endpoint.is_open:
            try:
                await endpoint.open()
            except OSError as exc:
                return None, None, (f"the synthetic AMT endpoint cannot listen on "
                                    f"{endpoint.host}:{endpoint.port}: {os_error(exc)}; "
                                    "no hello was sent")
            timeline.add(f"synthetic AMT endpoint listening on {endpoint.host}:{endpoint.port}")
        loop = asyncio.get_running_loop()
        awaited = _Awaited(plan.kind, plan.address, plan.allowed, plan.psk, plan.tls,
                           loop.create_future(), timeline.events)
        endpoint.awaited = awaited
        try:
            payload = plan.hello.encode()
            timeline.add(f"connecting to {plan.address}:{plan.port}")
            async with limiter:
                awaited.hello_sent = time.monotonic()
                delivery = await send_hello(plan.address, plan.port, payload, self.timeout)
            if delivery.outcome.answered:
                timeline.add(f"{plan.hello.kind} hello sent: {len(payload)} bytes in one write, "
                             "then our side closed")
                timeline.add(f"server close: {delivery.close.value if delivery.close else '?'}")
            else:
                timeline.add(f"hello not delivered: {delivery.outcome.value} ({delivery.detail})")
                return delivery, None, ""
            endpoint.servers_asked.add(plan.address)
            answer = await self._connect_back(awaited, plan, timeline)
            return delivery, answer, ""
        finally:
            endpoint.awaited = None

    async def _connect_back(self, awaited: _Awaited, plan: HelloPlan, timeline: Timeline
                            ) -> ConnectBack:
        remaining = awaited.hello_sent + plan.connect_back_timeout - time.monotonic()
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                answer = await asyncio.shield(awaited.result)
        except TimeoutError:
            if awaited.connected and not awaited.result.done():
                # A connection came in time: its handshake ends within the probe timeout.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.timeout + 1):
                        await asyncio.shield(awaited.result)
            if not awaited.result.done():
                timeline.add(f"no connect-back within {plan.connect_back_timeout:g} s")
                return ConnectBack(ConnectBackOutcome.NO_CONNECTION, after_ms=None,
                                   detail=f"nothing connected to the endpoint within "
                                          f"{plan.connect_back_timeout:g} s of the hello")
            answer = awaited.result.result()
        if answer.outcome is ConnectBackOutcome.HANDSHAKE:
            what = (f"{answer.chain_length} certificates presented" if plan.kind is
                    HandshakeKind.PKI else "pre-shared key accepted")
            timeline.add(f"{answer.protocol} handshake with {answer.peer} complete "
                         f"({answer.cipher}): {what}")
        else:
            timeline.add(f"connect-back from {answer.peer} failed: {answer.outcome.value} "
                         f"({answer.detail})")
        timeline.add("endpoint closed the connection")
        return answer


# --- What to ask: the gatherers ------------------------------------------------------


async def gather_hello_port(ctx: SiteProbes) -> None:
    """A TCP connection to each domain's ProvisionServer on the hello port (sends nothing)."""
    port = ctx.site.handshake.hello_port

    async def one(domain: str) -> None:
        name = provision_server_name(domain)
        ctx.record(await tcp.connect(ctx, name, port))

    await asyncio.gather(*(one(d) for d in ctx.site.domain_names))


async def gather_pki(ctx: SiteProbes) -> None:
    """For each domain, one hello and connect-back per device profile of the site: the
    profile's root hashes announced, the connect-back taken only with its TLS."""
    custom = ctx.site.amt.custom_root_hashes
    plans = []
    for profile in firmware.profiles(ctx.site.amt.generations):
        hashes = announced_hashes(profile, custom)
        hello = Hello.pki(synthetic_uuid(f"{ctx.site.name}/{profile.label}"),
                          [RootHash.from_hex(h.algorithm, h.value) for h in hashes])
        plans.append(_Planned(profile.label, hello, None, hashes, profile.tls))
    await _gather(ctx, HandshakeKind.PKI, plans)


async def gather_psk(ctx: SiteProbes) -> None:
    """A version 2 hello with the PID to each configured provision_server address of each
    domain (never to an address DNS alone names: it carries the PID), where a generation
    that has TLS-PSK (AMT 10 and earlier) is configured."""
    psk = ctx.site.handshake.psk
    if psk is None or psk.pid is None or psk.pps is None or not any(
            p.psk for p in firmware.profiles(ctx.site.amt.generations)):
        return  # HS-TLS-PSK: skipped, and it says why
    try:
        pid = normal_pid((await read_secret_async(psk.pid, ctx.config, "pid")).value)
        pps = normal_pps((await read_secret_async(psk.pps, ctx.config, "pps")).value)
        hello: Hello | None = Hello.psk(synthetic_uuid(ctx.site.name), pid)
        problem = ""
    except (SecretError, HelloError) as exc:
        hello, problem, pid, pps = None, f"no hello sent: handshake.psk: {exc}", "", ""
    plans = [_Planned("TLS-PSK (AMT 10 and earlier)", hello, tlsio.PskServer(
        pid.encode(), pps.encode()) if hello else None, (), None, problem)]
    await _gather(ctx, HandshakeKind.PSK, plans)


@dataclass(frozen=True)
class _Planned:
    """One hello of a domain: the device profile it stands for and what it carries."""

    profile: str
    hello: Hello | None  # None: it could not be made (problem says why)
    psk: tlsio.PskServer | None
    hashes: tuple[AnnouncedHash, ...]
    tls: TlsProfile | None
    problem: str = ""


async def _gather(ctx: SiteProbes, kind: HandshakeKind, plans: list[_Planned]) -> None:
    if not ctx.intrusive:
        return  # a hello makes a provisioning server act
    handshake = ctx.site.handshake
    timeout = ctx.config.defaults.timeout

    async def new_queue() -> HelloQueue:
        queue = HelloQueue(handshake.listen, timeout)
        queue.endpoint.prepare()  # while the ProvisionServer lookup and connection go on
        return queue

    queue = await ctx.once.run(("handshake endpoint", handshake.listen), new_queue)

    async def domain_attempts(domain: DomainConfig) -> tuple[HandshakeAttempt, ...]:
        configured = tuple(domain.provision_server)
        if kind is HandshakeKind.PSK:  # the PID goes only where the config says
            targets = [(a, p) for a in configured for p in plans]
        else:
            targets = [(provision_server_name(domain.name), p) for p in plans]
        return tuple(await asyncio.gather(
            *(_attempt(ctx, queue, domain.name, kind, target, plan, configured)
              for target, plan in targets)))

    found = await asyncio.gather(*(domain_attempts(d) for d in ctx.site.domains))
    for domain, attempts in zip(ctx.site.domains, found, strict=True):
        ctx.record(Handshakes(domain.name, kind, attempts))


async def _attempt(ctx: SiteProbes, queue: HelloQueue, domain: str, kind: HandshakeKind,
                   target: str, plan: _Planned, configured: tuple[str, ...]
                   ) -> HandshakeAttempt:
    handshake = ctx.site.handshake
    started, timeline = time.time(), Timeline()
    tls = plan.tls
    base = HandshakeAttempt(domain, kind, target, handshake.hello_port, handshake.listen,
                            profile=plan.profile,
                            tls_versions=tls.versions if tls else ("TLSv1",),
                            cipher_suites=tls.cipher_suites if tls else
                            tlsio.DEVICE_PSK_SUITES,
                            announced=plan.hashes, waited_s=handshake.connect_back_timeout,
                            started_at=started)

    def attempt(**found: Any) -> HandshakeAttempt:
        return replace(base, timeline=timeline.done(),
                       elapsed_ms=(time.monotonic() - timeline.started) * 1000, **found)

    if plan.hello is None:
        return attempt(error=plan.problem)
    hello_fields = tuple(plan.hello.to_evidence().items())
    connected = await tcp.connect(ctx, target, handshake.hello_port)
    ctx.record(connected)
    timeline.add(connected.detail)
    if not connected.outcome.answered:
        return attempt(address=connected.address, hello=hello_fields,
                       error=f"no hello sent: {target} port {handshake.hello_port} "
                             f"is not reachable ({connected.outcome.value})")
    hello_plan = HelloPlan(domain, kind, connected.address, handshake.hello_port, plan.hello,
                           handshake.connect_back_timeout, handshake.hello_spacing,
                           frozenset((connected.address, *configured)), plan.psk, tls)
    delivery, answer, error = await queue.exchange(hello_plan, timeline, ctx.dns.limiter)
    if delivery is None:
        return attempt(address=connected.address, hello=hello_fields, error=error)
    return attempt(address=connected.address, hello=hello_fields, delivered=delivery.outcome,
                   close=delivery.close, reply=delivery.reply, detail=delivery.detail,
                   connect_back=answer)
