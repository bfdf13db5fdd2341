"""Misbehaving DNS servers for the lab: one that never answers, one that answers garbage.

    python -m amt_preflight.lab.fakes silent --listen 10.250.0.3:53
    python -m amt_preflight.lab.fakes garbage --listen 10.250.0.4:53

Both serve UDP and TCP on the same address and run until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any, cast

HOLD_SECONDS = 120.0  # a TCP connection is closed after this, so none is held forever
# Shorter than the 12-byte DNS header, so no parser can accept it; see garbage_reply.
JUNK = b"\xde\xad\xbe\xef\x00"

TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def garbage_reply(query: bytes) -> bytes:
    """The query's ID (so a client takes this as the reply to its query) and then junk."""
    return query[:2] + JUNK


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


async def _garbage_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer each length-prefixed query with a well-framed reply whose content is junk."""
    try:
        async with asyncio.timeout(HOLD_SECONDS):
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = garbage_reply(await reader.readexactly(length))
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(kind: str, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    udp: Callable[[], asyncio.DatagramProtocol]
    tcp: TcpHandler
    if kind == "silent":
        udp, tcp = asyncio.DatagramProtocol, _silent_tcp  # the base protocol ignores datagrams
    else:
        udp, tcp = _GarbageUdp, _garbage_tcp
    await loop.create_datagram_endpoint(udp, local_addr=(host, port))
    server = await asyncio.start_server(tcp, host, port, reuse_address=True)
    print(f"{kind} DNS server on {host}:{port} (UDP and TCP)", flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m amt_preflight.lab.fakes")
    parser.add_argument("kind", choices=["silent", "garbage"])
    parser.add_argument("--listen", required=True, metavar="ADDR:PORT")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(args.kind, host, int(port)))


if __name__ == "__main__":
    main()
