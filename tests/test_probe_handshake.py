"""The handshake probe on loopback, against peers made here: how the hello goes out and how
the synthetic endpoint survives what connects to it. Loopback only: no lab needed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid
from collections.abc import Awaitable, Callable

import pytest
from OpenSSL import SSL

from amt_preflight import firmware, tlsio
from amt_preflight.hello import Hello
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.handshake import (
    ConnectBack,
    ConnectBackOutcome,
    HandshakeKind,
    HelloClose,
)
from amt_preflight.probes.handshake import (
    HelloPlan,
    HelloQueue,
    Timeline,
    endpoint_identity,
    send_hello,
)

HOST = "127.0.0.1"
HELLO = Hello.pki(uuid.UUID(int=1), [])
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


async def serving(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, HOST, 0)
    return server, server.sockets[0].getsockname()[1]


async def _closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.close()


async def _answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    writer.close()


async def _holds(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    await asyncio.sleep(5)
    writer.close()


async def _resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
    writer.close()


@pytest.mark.parametrize(("handler", "close"), [
    (_closes, HelloClose.CLEAN), (_answers, HelloClose.ANSWERED),
    (_holds, HelloClose.HELD_OPEN), (_resets, HelloClose.RESET)])
def test_the_hello_is_sent_whole_and_the_servers_close_is_seen(
        handler: Handler, close: HelloClose) -> None:
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))  # the first read: the first segment
        await handler(reader, writer)

    async def scenario() -> HelloClose | None:
        server, port = await serving(record)
        async with server:
            delivery = await send_hello(HOST, port, HELLO.encode(), timeout=0.5)
        assert delivery.outcome is Outcome.ANSWER
        return delivery.close

    assert asyncio.run(scenario()) is close
    assert received == [HELLO.encode()]


def test_a_refused_hello_is_not_delivered() -> None:
    delivery = asyncio.run(send_hello(HOST, free_port(), HELLO.encode(), timeout=0.5))
    assert delivery.outcome is Outcome.UNREACHABLE and delivery.close is None


async def _connect_back(port: int, send: bytes, hold: float) -> None:
    _, writer = await asyncio.open_connection(HOST, port)
    writer.write(send)
    await asyncio.sleep(hold)
    writer.close()


@pytest.mark.parametrize(("send", "hold", "outcome"), [
    (b"", 0.0, ConnectBackOutcome.NOT_TLS),  # connects and closes without a byte
    (b"", 3.0, ConnectBackOutcome.STALLED),  # connects and holds the connection, silent
    (b"GET / HTTP/1.1\r\n\r\n" * 200, 1.0, ConnectBackOutcome.NOT_TLS),  # a non-TLS stream
    (b"\x16\x03\x01\x00", 3.0, ConnectBackOutcome.STALLED),  # a TLS record cut short
])
def test_what_connects_back_ends_bounded(send: bytes, hold: float,
                                         outcome: ConnectBackOutcome) -> None:
    listen = free_port()

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()
        await _connect_back(listen, send, hold)

    async def scenario() -> ConnectBackOutcome | None:
        hello_server, port = await serving(server)
        async with hello_server:
            queue = HelloQueue(f"{HOST}:{listen}", timeout=0.5)
            plan = HelloPlan("corp.example", HandshakeKind.PKI, HOST, port, HELLO, 5.0, 0.0,
                             frozenset({HOST}), tls=firmware.TLS_FROM_15)
            delivery, answer, error = await queue.exchange(plan, Timeline(),
                                                           asyncio.Semaphore(4))
        assert error == "" and delivery is not None and answer is not None
        return answer.outcome

    assert asyncio.run(scenario()) is outcome


def _psk_exchange(client_identity: bytes) -> ConnectBack:
    """A PSK hello with the PID ABCD1234, and a server that connects back offering
    `client_identity` (with the right key)."""
    listen = free_port()
    client = tlsio.PskClient(client_identity, b"K" * 32)

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()
        back_reader, back_writer = await asyncio.open_connection(HOST, listen)
        connection = SSL.Connection(client.context, None)
        connection.set_connect_state()
        with contextlib.suppress(SSL.Error, OSError):  # the endpoint may refuse it
            await tlsio.handshake(connection, back_reader, back_writer)
        back_writer.close()

    async def scenario() -> ConnectBack:
        hello_server, port = await serving(server)
        async with hello_server:
            queue = HelloQueue(f"{HOST}:{listen}", timeout=1.0)
            plan = HelloPlan("corp.example", HandshakeKind.PSK, HOST, port,
                             Hello.psk(uuid.UUID(int=1), "ABCD1234"), 5.0, 0.0,
                             frozenset({HOST}), tlsio.PskServer(b"ABCD1234", b"K" * 32))
            _, answer, _ = await queue.exchange(plan, Timeline(), asyncio.Semaphore(4))
        assert answer is not None
        return answer

    return asyncio.run(scenario())


def test_a_psk_connect_back_with_another_identity_fails_and_says_so() -> None:
    answer = _psk_exchange(b"OTHERPID")
    assert (answer.outcome, answer.psk_identity_matched) == (ConnectBackOutcome.TLS_FAILED,
                                                             False)


def test_an_endpoint_that_cannot_listen_sends_no_hello() -> None:
    taken = socket.socket()
    taken.bind((HOST, 0))
    taken.listen()
    hellos: list[bytes] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hellos.append(await reader.read())
        writer.close()

    async def scenario() -> str:
        hello_server, port = await serving(server)
        async with hello_server:
            queue = HelloQueue(f"{HOST}:{taken.getsockname()[1]}", timeout=0.5)
            plan = HelloPlan("corp.example", HandshakeKind.PKI, HOST, port, HELLO, 5.0, 0.0,
                             frozenset({HOST}), tls=firmware.TLS_FROM_15)
            delivery, _, error = await queue.exchange(plan, Timeline(), asyncio.Semaphore(4))
        assert delivery is None
        return error

    with taken:
        assert "cannot listen" in asyncio.run(scenario())
    assert hellos == []


def test_the_pre_shared_pair_is_in_no_repr() -> None:
    for holder in (tlsio.PskServer(b"ABCD1234", b"K" * 32), tlsio.PskClient(b"ABCD1234",
                                                                             b"K" * 32)):
        assert "ABCD1234" not in repr(holder) and "KKKK" not in repr(holder)


# --- TLS as each device profile speaks it ----------------------------------------------

MESHCENTRAL_LIKE = (("TLSv1", "TLSv1.1", "TLSv1.2"), ("AES128-GCM-SHA256", "AES128-SHA"))


def _tls_connect_back(listen: int, versions: tuple[str, ...], ciphers: tuple[str, ...],
                      source: str = HOST) -> Handler:
    """A provisioning server that connects back (from `source`) with mutual TLS, speaking
    only these versions and suites."""
    key, certificate = endpoint_identity()
    context = SSL.Context(SSL.TLS_METHOD)
    context.use_privatekey(key)
    context.use_certificate(certificate)
    tlsio.limit(context, versions, ciphers)

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()
        back_reader, back_writer = await asyncio.open_connection(
            HOST, listen, local_addr=(source, 0))
        connection = SSL.Connection(context, None)
        connection.set_connect_state()
        with contextlib.suppress(SSL.Error, OSError):  # the endpoint may refuse it
            await tlsio.handshake(connection, back_reader, back_writer)
        back_writer.close()

    return server


def _exchange(server: Handler, listen: int, tls: firmware.TlsProfile,
              timeout: float = 5.0) -> ConnectBack:
    async def scenario() -> ConnectBack:
        hello_server, port = await serving(server)
        async with hello_server:
            queue = HelloQueue(f"{HOST}:{listen}", timeout=1.0)
            plan = HelloPlan("corp.example", HandshakeKind.PKI, HOST, port, HELLO, timeout,
                             0.0, frozenset({HOST}), tls=tls)
            _, answer, _ = await queue.exchange(plan, Timeline(), asyncio.Semaphore(4))
        assert answer is not None
        return answer

    return asyncio.run(scenario())


@pytest.mark.parametrize(("tls", "protocol"), [
    (firmware.TLS_UP_TO_11, "TLSv1.1"), (firmware.TLS_12_TO_14, "TLSv1.2"),
    (firmware.TLS_FROM_15, "TLSv1.2")])
def test_a_server_speaking_tls_1_0_to_1_2_with_rsa_key_exchange_suits_every_profile(
        tls: firmware.TlsProfile, protocol: str) -> None:
    listen = free_port()
    answer = _exchange(_tls_connect_back(listen, *MESHCENTRAL_LIKE), listen, tls)
    assert answer.outcome is ConnectBackOutcome.HANDSHAKE and answer.protocol == protocol
    assert answer.chain_length == 1


@pytest.mark.parametrize(("versions", "tls", "offered"), [
    (("TLSv1.3",), firmware.TLS_FROM_15, "TLSv1.3 with"),
    (("TLSv1.3",), firmware.TLS_UP_TO_11, "TLSv1.3 with"),
    (("TLSv1.2",), firmware.TLS_UP_TO_11, "up to TLSv1.2 with"),
    (("TLSv1",), firmware.TLS_FROM_15, "up to TLSv1 with"),
])
def test_a_server_whose_tls_the_profile_lacks_fails_and_what_it_offered_is_kept(
        versions: tuple[str, ...], tls: firmware.TlsProfile, offered: str) -> None:
    listen = free_port()
    answer = _exchange(_tls_connect_back(listen, versions, ("DEFAULT",)), listen, tls)
    assert answer.outcome is ConnectBackOutcome.TLS_FAILED
    assert answer.offered.startswith(offered)


def test_a_connect_back_from_another_address_does_not_count() -> None:
    listen = free_port()
    stranger = _tls_connect_back(listen, *MESHCENTRAL_LIKE, source="127.0.0.2")
    answer = _exchange(stranger, listen, firmware.TLS_FROM_15, timeout=2.0)
    assert answer.outcome is ConnectBackOutcome.NO_CONNECTION


def test_the_psk_endpoint_speaks_tls_1_0() -> None:
    answer = _psk_exchange(b"ABCD1234")
    assert answer.outcome is ConnectBackOutcome.HANDSHAKE and answer.protocol == "TLSv1"
    assert answer.cipher == "PSK-AES128-CBC-SHA"
