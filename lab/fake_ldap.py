"""Misbehaving LDAP servers for the lab, each behaviour on its own address, all in one process:

    python -m lab.fake_ldap --huge 10.250.0.33 --drip 10.250.0.34 \\
        --dc 10.250.0.35 --domain outside-srv.example --host dc.attacker.example \\
        --cert dc.pem --key dc-key.pem --record received.jsonl

huge   reads one request, then announces a 1 GiB LDAP message and drips it, a byte a second
drip   reads one request, then announces a 200-byte message and drips it, a byte a second
dc     a "DC" that says it serves --domain and is named --host: answers the anonymous rootDSE
       read, StartTLS (with --cert and --key), any simple bind (success, whatever the
       password) and base searches; every message it receives (decrypted, after StartTLS) is
       appended to --record as one JSON line, so a test can tell what a client sent it

Every behaviour serves TCP port 389 and runs until SIGTERM; a connection is dropped after
HOLD_SECONDS, so none is held forever.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from amt_preflight.probes.ldap import (
    BIND_REQUEST,
    BIND_RESPONSE,
    ENUMERATED,
    EXTENDED_REQUEST,
    EXTENDED_RESPONSE,
    OCTET_STRING,
    SEARCH_DONE,
    SEARCH_ENTRY,
    SEARCH_REQUEST,
    SEQUENCE,
    SET,
    STARTTLS_OID,
    UNBIND_REQUEST,
    ber_elements,
    ber_integer,
    ber_tlv,
    decode_message,
)

LDAP_PORT = 389
HOLD_SECONDS = 60.0
DRIP_SECONDS = 1.0
MAX_REQUEST = 64 * 1024  # bytes of one request read; a client's are far smaller
HUGE_HEADER = b"\x30\x84\x40\x00\x00\x00"  # a SEQUENCE announcing 2^30 bytes (1 GiB)
DRIP_HEADER = b"\x30\x81\xc8"  # a SEQUENCE announcing 200 bytes
EXTENDED_RESPONSE_NAME = 0x8A

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One whole LDAPMessage as sent (tag, length and content)."""
    head = await reader.readexactly(2)
    size, length = head[1], b""
    if size & 0x80:
        length = await reader.readexactly(size & 0x7F)
        size = int.from_bytes(length, "big")
    if head[0] != SEQUENCE or size > MAX_REQUEST:
        raise ConnectionError(f"not an LDAP request: {head.hex()} {length.hex()}")
    return head + length + await reader.readexactly(size)


def _content(message: bytes) -> bytes:
    """The content of a whole element."""
    size = message[1]
    return message[2 + (size & 0x7F if size & 0x80 else 0):]


def _result(tag: int, code: int = 0, extra: bytes = b"") -> bytes:
    return ber_tlv(tag, ber_integer(code, ENUMERATED) + ber_tlv(OCTET_STRING, b"")
                   + ber_tlv(OCTET_STRING, b"") + extra)


def _entry(dn: str, attributes: dict[str, list[str]]) -> bytes:
    return ber_tlv(SEARCH_ENTRY, ber_tlv(OCTET_STRING, dn.encode()) + ber_tlv(SEQUENCE, b"".join(
        ber_tlv(SEQUENCE, ber_tlv(OCTET_STRING, name.encode()) + ber_tlv(
            SET, b"".join(ber_tlv(OCTET_STRING, v.encode()) for v in values)))
        for name, values in attributes.items())))


def _reply(message_id: int, op: bytes) -> bytes:
    return ber_tlv(SEQUENCE, ber_integer(message_id) + op)


def dripping(header: bytes) -> Handler:
    """Reads one request, sends `header`, then a byte every DRIP_SECONDS."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HOLD_SECONDS):
                await read_request(reader)
                writer.write(header)
                while True:
                    await writer.drain()
                    await asyncio.sleep(DRIP_SECONDS)
                    writer.write(b"\x04")
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return handle


class FakeDc:
    """A DC outside its own domain: it shows `domain` in its rootDSE, is named `host`, and
    takes any bind; what it receives goes to `record`."""

    def __init__(self, domain: str, host: str, tls: ssl.SSLContext, record: Path) -> None:
        self.naming_context = ",".join(f"DC={label}" for label in domain.split("."))
        self.host = host
        self.tls = tls
        self.record = record

    def _note(self, message: bytes, tls: bool, op: int) -> None:
        with self.record.open("a") as out:
            out.write(json.dumps({"tls": tls, "op": f"{op:#04x}", "message": message.hex()})
                      + "\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = False
        try:
            async with asyncio.timeout(HOLD_SECONDS):
                while True:
                    message = await read_request(reader)
                    request = decode_message(_content(message))
                    self._note(message, tls, request.op)
                    answer = self._answer(request.op, request.body)
                    if answer is None:
                        return
                    for op in answer:
                        writer.write(_reply(request.message_id, op))
                    await writer.drain()
                    if request.op == EXTENDED_REQUEST and not tls:
                        await writer.start_tls(self.tls)
                        tls = True
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def _answer(self, op: int, body: bytes) -> list[bytes] | None:
        if op == SEARCH_REQUEST:
            base = next(ber_elements(body))[1].decode()
            attributes = ({"defaultNamingContext": [self.naming_context],
                           "dnsHostName": [self.host], "namingContexts": [self.naming_context]}
                          if base == "" else {"objectClass": ["top", "organizationalUnit"]})
            return [_entry(base, attributes), _result(SEARCH_DONE)]
        if op == EXTENDED_REQUEST:
            return [_result(EXTENDED_RESPONSE, extra=ber_tlv(EXTENDED_RESPONSE_NAME,
                                                            STARTTLS_OID))]
        if op == BIND_REQUEST:
            return [_result(BIND_RESPONSE)]
        if op == UNBIND_REQUEST:
            return None
        return [_result(op + 1, code=53)]  # unwillingToPerform, for anything else


async def serve(handlers: list[tuple[str, str, Handler]]) -> None:
    """(kind, address, handler) for each address to serve."""
    servers = []
    for kind, address, handler in handlers:
        servers.append(await asyncio.start_server(handler, address, LDAP_PORT,
                                                  reuse_address=True))
        print(f"{kind} LDAP server on {address}:{LDAP_PORT}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.fake_ldap")
    parser.add_argument("--huge", metavar="ADDR", action="append", default=[])
    parser.add_argument("--drip", metavar="ADDR", action="append", default=[])
    parser.add_argument("--dc", metavar="ADDR", action="append", default=[])
    parser.add_argument("--domain", help="the AD domain the fake DC claims")
    parser.add_argument("--host", help="the fake DC's name (its certificate's)")
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--record", type=Path)
    args = parser.parse_args(argv)
    handlers = [("huge", a, dripping(HUGE_HEADER)) for a in args.huge]
    handlers += [("drip", a, dripping(DRIP_HEADER)) for a in args.drip]
    if args.dc:
        if not (args.domain and args.host and args.cert and args.key and args.record):
            parser.error("--dc needs --domain, --host, --cert, --key and --record")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        dc = FakeDc(args.domain, args.host, context, args.record)
        handlers += [("dc", a, dc.handle) for a in args.dc]
    if not handlers:
        parser.error("give at least one behaviour")
    asyncio.run(serve(handlers))


if __name__ == "__main__":
    main()
