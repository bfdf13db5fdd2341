"""The lab CA's web server: CRLs and CA certificates, and the misbehaviour a survey must survive.

    python -m lab.httpd --listen 10.250.0.31:80 --root DIR

GET /pki/NAME serves DIR/NAME (404 when there is none), and two paths misbehave:
  /pki/huge.crl  streams junk without a Content-Length, HUGE_CRL_BYTES in all (a CRL of
                 many megabytes);
  /stall         reads the request and never answers (an OCSP responder that stalls).
Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

HUGE_CRL = "huge.crl"
HUGE_CRL_BYTES = 64 * 2**20
STALL_PATH = "/stall"
HOLD_SECONDS = 120.0  # a stalled connection is closed after this, so none is held forever
MAX_REQUEST = 64 * 1024
CONTENT_TYPES = {".crl": "application/pkix-crl", ".crt": "application/pkix-cert",
                 ".p7c": "application/pkcs7-mime"}
CHUNK = b"\x30\x82" + bytes(65534)  # looks like the start of a DER CRL, then zeros


def _head(status: str, content_type: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _stream_huge(writer: asyncio.StreamWriter) -> None:
    writer.write(_head("200 OK", CONTENT_TYPES[".crl"], None))
    sent = 0
    while sent < HUGE_CRL_BYTES:
        writer.write(CHUNK)
        await writer.drain()  # the client stops reading at its cap: that ends this
        sent += len(CHUNK)


def _file(root: Path, path: str) -> Path | None:
    name = path.removeprefix("/pki/")
    if name == path or "/" in name or name.startswith("."):
        return None
    found = root / name
    return found if found.is_file() else None


async def handle(root: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(HOLD_SECONDS):
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if path == STALL_PATH:
                await reader.read()  # until the client gives up and closes
            elif path == f"/pki/{HUGE_CRL}":
                await _stream_huge(writer)
            elif method == "GET" and (found := _file(root, path)) is not None:
                body = found.read_bytes()
                writer.write(_head("200 OK", CONTENT_TYPES.get(found.suffix,
                                   "application/octet-stream"), len(body)) + body)
            else:
                writer.write(_head("404 Not Found", "text/plain", 10) + b"not found\n")
            await writer.drain()
    except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int, root: Path) -> None:
    server = await asyncio.start_server(lambda r, w: handle(root, r, w), host, port,
                                        reuse_address=True, limit=MAX_REQUEST)
    print(f"lab CA web server on {host}:{port}, files from {root}", flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.httpd")
    parser.add_argument("--listen", required=True, metavar="ADDR:PORT")
    parser.add_argument("--root", required=True, type=Path)
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host, int(port), args.root))


if __name__ == "__main__":
    main()
