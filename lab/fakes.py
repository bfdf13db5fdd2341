"""Misbehaving DNS servers for the lab: one that never answers, one that answers garbage,
one with a stale ProvisionServer record, and a relay that answers late.

    python -m lab.fakes silent --listen 10.250.0.3:53
    python -m lab.fakes garbage --listen 10.250.0.4:53
    python -m lab.fakes stale --listen 10.250.0.7:53
    python -m lab.fakes delay --listen 10.250.0.6:53 --to 10.250.0.5:53 --delay-ms 25

All serve UDP and TCP on the same address and run until SIGTERM. `delay` relays every query
to the server at --to, holding it --delay-ms first (the kernel here has no netem), so each
query's round trip grows by exactly that; replies go back at once.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any, cast

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

HOLD_SECONDS = 120.0  # a TCP connection is closed after this, so none is held forever
RELAY_FLOW_SECONDS = 5.0  # delay: a relayed UDP query's upstream socket lives at most this long
RELAY_IDLE_SECONDS = 10.0  # delay: a TCP connection idle this long (either way) is closed
# Shorter than the 12-byte DNS header, so no parser can accept it; see garbage_reply.
JUNK = b"\xde\xad\xbe\xef\x00"
# stale: a resolver whose zone copy still sends the devices' hellos to a retired server
STALE_RECORDS = {("provisionserver.corp.example.", "A"): "10.250.0.66"}

TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def garbage_reply(query: bytes) -> bytes:
    """The query's ID (so a client takes this as the reply to its query) and then junk."""
    return query[:2] + JUNK


def stale_reply(query: bytes) -> bytes:
    """The stale record for its one question, REFUSED for any other; nothing for junk."""
    try:
        message = dns.message.from_wire(query)
    except dns.exception.DNSException:  # junk: no answer, as a real server drops it
        return b""
    reply = dns.message.make_response(message)
    question = message.question[0] if message.question else None
    found = STALE_RECORDS.get((question.name.to_text().lower(), dns.rdatatype.to_text(
        question.rdtype))) if question is not None else None
    if question is None or found is None:
        reply.set_rcode(dns.rcode.REFUSED)
    else:
        reply.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", found))
    wire: bytes = reply.to_wire()
    return wire


class _StaleUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if reply := stale_reply(data):
            self.transport.sendto(reply, addr)


def _framed_tcp(answer: Callable[[bytes], bytes]) -> TcpHandler:
    """A TCP handler that answers each length-prefixed query with answer(query), framed the
    same way; an empty answer ends the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HOLD_SECONDS):
                while True:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    reply = answer(await reader.readexactly(length))
                    if not reply:
                        break
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return handle


class _GarbageUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport does not subclass DatagramTransport: cast, not check.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(garbage_reply(data), addr)


async def _silent_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Hold the connection open, reading and discarding, never answering."""
    try:
        async with asyncio.timeout(HOLD_SECONDS):
            while await reader.read(4096):
                pass
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


# --- delay: a relay that holds each query for a while ------------------------------------


class _RelayUpstream(asyncio.DatagramProtocol):
    """One relayed UDP query: its own upstream socket; the reply goes back to its client."""

    def __init__(
        self, downstream: asyncio.DatagramTransport, client: tuple[str | Any, int]
    ) -> None:
        self.downstream = downstream
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.downstream.sendto(data, self.client)
        self.transport.close()  # one reply per query: the flow is done

    def error_received(self, exc: Exception) -> None:
        self.transport.close()  # e.g. ICMP port unreachable: the client times out, as without us


class _DelayUdp(asyncio.DatagramProtocol):
    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.flows: set[asyncio.Task[None]] = set()  # strong references until each is sent

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._relay(data, addr))
        self.flows.add(task)
        task.add_done_callback(self.flows.discard)

    async def _relay(self, data: bytes, client: tuple[str | Any, int]) -> None:
        await asyncio.sleep(self.delay)
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _RelayUpstream(self.transport, client), remote_addr=self.upstream
            )
        except OSError:
            return  # upstream unreachable: the client times out, as it would without us
        transport.sendto(data)
        loop.call_later(RELAY_FLOW_SECONDS, transport.close)  # no reply: drop the flow


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes as they come until EOF or RELAY_IDLE_SECONDS of silence."""
    while True:
        async with asyncio.timeout(RELAY_IDLE_SECONDS):
            data = await reader.read(65536)
        if not data:
            return
        writer.write(data)
        await writer.drain()


async def _delayed_messages(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Copy length-prefixed DNS messages, each sent `delay` after it arrived, in order;
    at the client's end of input, pass the end on once the last message has gone."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            async with asyncio.timeout(RELAY_IDLE_SECONDS):
                header = await reader.readexactly(2)
                (length,) = struct.unpack("!H", header)
                message = header + await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            break
        loop.call_later(delay, writer.write, message)  # same delay for all: order is kept
    await asyncio.sleep(delay)
    if writer.can_write_eof():
        writer.write_eof()  # the server then closes, which ends the copy the other way


def _delay_tcp(upstream: tuple[str, int], delay: float) -> TcpHandler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_writer = None
        try:
            async with asyncio.timeout(HOLD_SECONDS):
                up_reader, up_writer = await asyncio.open_connection(*upstream)
                to_server = asyncio.ensure_future(_delayed_messages(reader, up_writer, delay))
                to_client = asyncio.ensure_future(_pipe(up_reader, writer))
                try:
                    # Either side closing (or idling out) ends the connection.
                    await asyncio.wait(
                        (to_server, to_client), return_when=asyncio.FIRST_COMPLETED
                    )
                    if to_server.done() and not to_server.exception():
                        # The client is done sending: let the replies still due arrive.
                        await asyncio.wait((to_client,), timeout=RELAY_IDLE_SECONDS)
                finally:
                    for task in (to_server, to_client):
                        task.cancel()
                    await asyncio.gather(to_server, to_client, return_exceptions=True)
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()
            if up_writer is not None:
                up_writer.close()

    return handle


async def serve(
    kind: str, host: str, port: int, upstream: tuple[str, int] | None = None, delay: float = 0.0
) -> None:
    loop = asyncio.get_running_loop()
    udp: Callable[[], asyncio.DatagramProtocol]
    tcp: TcpHandler
    if kind == "silent":
        udp, tcp = asyncio.DatagramProtocol, _silent_tcp  # the base protocol ignores datagrams
    elif kind == "stale":
        udp, tcp = _StaleUdp, _framed_tcp(stale_reply)
    elif kind == "delay":
        if upstream is None:
            raise ValueError("the delay relay needs an upstream server")
        relay_to = upstream

        def udp() -> asyncio.DatagramProtocol:
            return _DelayUdp(relay_to, delay)

        tcp = _delay_tcp(relay_to, delay)
    else:
        udp, tcp = _GarbageUdp, _framed_tcp(garbage_reply)
    await loop.create_datagram_endpoint(udp, local_addr=(host, port))
    server = await asyncio.start_server(tcp, host, port, reuse_address=True)
    print(f"{kind} DNS server on {host}:{port} (UDP and TCP)", flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.fakes")
    parser.add_argument("kind", choices=["silent", "garbage", "stale", "delay"])
    parser.add_argument("--listen", required=True, metavar="ADDR:PORT")
    parser.add_argument("--to", metavar="ADDR:PORT", help="delay: the server to relay to")
    parser.add_argument(
        "--delay-ms", type=float, default=0.0, help="delay: added to each query's round trip"
    )
    args = parser.parse_args(argv)
    if args.kind == "delay" and not args.to:
        parser.error("delay needs --to ADDR:PORT")
    if not 0 <= args.delay_ms <= 60_000:
        parser.error("--delay-ms must be between 0 and 60000")
    host, _, port = args.listen.rpartition(":")
    upstream = None
    if args.to:
        to_host, _, to_port = args.to.rpartition(":")
        upstream = (to_host, int(to_port))
    asyncio.run(serve(args.kind, host, int(port), upstream, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
