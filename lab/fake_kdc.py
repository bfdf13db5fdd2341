"""Misbehaving KDCs for the lab, each behaviour on its own address, all in one process:

    python -m lab.fake_kdc --garbage 10.250.0.25 --truncated 10.250.0.26 \\
        --huge 10.250.0.27 --picky 10.250.0.28=CORP.EXAMPLE

garbage    a reply that is no Kerberos message: junk bytes (UDP), a well-framed junk message (TCP)
truncated  the first half of a real KRB-ERROR (UDP); two bytes of the four-byte length prefix,
           then the connection closed (TCP)
huge       a 65,000-byte junk datagram (UDP); a length prefix announcing 16 MiB, then junk until
           the client goes (TCP)
picky      a KDC of one realm: PREAUTH_REQUIRED for its krbtgt account, C_PRINCIPAL_UNKNOWN for
           any other name, and silence for every other realm (as some KDCs do)

Every behaviour serves UDP and TCP port 88 and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from minikerberos.protocol.asn1_structs import AS_REQ, KRB_ERROR, PrincipalName

KDC_PORT = 88
HOLD_SECONDS = 60.0  # a TCP connection is closed after this, so none is held forever
# Starts like a KRB-ERROR (APPLICATION 30) whose length no message can have.
JUNK = b"\x7e\x84\xff\xff\xff\xff" + b"amt-preflight lab: not Kerberos" * 4
HUGE_DATAGRAM = 65_000  # bytes, just under what UDP over IPv4 carries
HUGE_ANNOUNCED = 16 * 1024 * 1024  # bytes the TCP length prefix promises
CHUNK = 64 * 1024

Answer = Callable[[bytes], bytes | None]  # request -> reply, None for silence


def krb_error(realm: str, code: int, principal: list[str] | None = None) -> bytes:
    """A KRB-ERROR as a KDC of `realm` sends it, with this host's clock."""
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "pvno": 5, "msg-type": 30, "stime": now.replace(microsecond=0),
        "susec": now.microsecond, "error-code": code, "realm": realm,
        "sname": PrincipalName({"name-type": 2, "name-string": ["krbtgt", realm]}),
    }
    if principal is not None:
        fields["crealm"] = realm
        fields["cname"] = PrincipalName({"name-type": 1, "name-string": principal})
    return cast(bytes, KRB_ERROR(fields).dump())


def picky(served: str) -> Answer:
    def answer(request: bytes) -> bytes | None:
        try:
            body = AS_REQ.load(request).native["req-body"]
        except Exception:  # junk makes the ASN.1 parser raise anything: ignore it, as a KDC does
            return None
        if body["realm"] != served:
            return None
        names = list(body["cname"]["name-string"]) if body.get("cname") else []
        code = 25 if names == ["krbtgt"] else 6  # PREAUTH_REQUIRED, C_PRINCIPAL_UNKNOWN
        return krb_error(served, code, names)

    return answer


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.answer(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _request(reader: asyncio.StreamReader) -> bytes:
    (length,) = struct.unpack("!I", await reader.readexactly(4))
    return await reader.readexactly(min(length, CHUNK))


def _tcp(kind: str, answer: Answer) -> TcpHandler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HOLD_SECONDS):
                request = await _request(reader)
                if kind == "truncated":
                    writer.write(b"\x00\x00")  # half a length prefix
                elif kind == "huge":
                    writer.write(struct.pack("!I", HUGE_ANNOUNCED))
                    for _ in range(HUGE_ANNOUNCED // CHUNK):  # bounded, as the announcement
                        writer.write(b"\xa5" * CHUNK)
                        await writer.drain()
                else:
                    reply = answer(request)
                    if reply is None:
                        await reader.read()  # silent: hold until the client goes
                    else:
                        writer.write(struct.pack("!I", len(reply)) + reply)
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return handle


def _udp_answer(kind: str, served: str) -> Answer:
    if kind == "garbage":
        return lambda request: JUNK
    if kind == "truncated":
        whole = krb_error(served, 6)
        return lambda request: whole[: len(whole) // 2]
    if kind == "huge":
        return lambda request: b"\xa5" * HUGE_DATAGRAM
    return picky(served)


async def serve(behaviours: list[tuple[str, str, str]]) -> None:
    """(kind, address, realm) for each address to serve."""
    loop = asyncio.get_running_loop()
    servers = []
    for kind, address, realm in behaviours:
        answer = _udp_answer(kind, realm)
        tcp_answer = (lambda request: JUNK) if kind == "garbage" else answer
        await loop.create_datagram_endpoint(partial(_Udp, answer), local_addr=(address, KDC_PORT))
        servers.append(await asyncio.start_server(_tcp(kind, tcp_answer), address, KDC_PORT,
                                                  reuse_address=True))
        print(f"{kind} KDC on {address}:{KDC_PORT} (UDP and TCP)", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.fake_kdc")
    for kind in ("garbage", "truncated", "huge"):
        parser.add_argument(f"--{kind}", metavar="ADDR", action="append", default=[])
    parser.add_argument("--picky", metavar="ADDR=REALM", action="append", default=[])
    args = parser.parse_args(argv)
    behaviours = [(kind, address, "FAKE.EXAMPLE")
                  for kind in ("garbage", "truncated", "huge") for address in getattr(args, kind)]
    for item in args.picky:
        address, _, realm = item.partition("=")
        if not realm:
            parser.error(f"--picky {item}: give ADDR=REALM")
        behaviours.append(("picky", address, realm))
    if not behaviours:
        parser.error("give at least one behaviour")
    asyncio.run(serve(behaviours))


if __name__ == "__main__":
    main()
