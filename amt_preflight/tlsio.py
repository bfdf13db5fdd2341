"""TLS with pyOpenSSL over asyncio streams, and the TLS-PSK that Python 3.11's ssl lacks.

pyOpenSSL rather than ssl: ssl shows only the leaf of what a peer presents (getpeercert),
pyOpenSSL the whole chain (get_peer_cert_chain); and ssl has no PSK before 3.13, while the
OpenSSL bindings under pyOpenSSL expose SSL_CTX_set_psk_{client,server}_callback.

A Connection here has memory BIOs: this module moves the bytes between them and a stream, so
every wait is an asyncio wait that a timeout or the run's deadline can end.

Shared by the synthetic AMT endpoint (probes/handshake.py) and the lab's reference
provisioning server (lab/provisioning_server.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from OpenSSL import SSL
from OpenSSL._util import ffi, lib

READ_SIZE = 16384
# The TLS-PSK cipher suites: TLS 1.2 and earlier (AMT's one-touch setup predates TLS 1.3).
PSK_CIPHERS = b"PSK"


async def _flush(connection: SSL.Connection, writer: asyncio.StreamWriter) -> None:
    """Send whatever the connection has written into its outgoing BIO."""
    while True:
        try:
            data = connection.bio_read(READ_SIZE)
        except SSL.WantReadError:
            break
        writer.write(data)
    await writer.drain()


async def handshake(connection: SSL.Connection, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, received: bytearray | None = None) -> None:
    """Complete the handshake; SSL.Error when TLS refuses, ConnectionError when the peer
    closes first. `received` collects the first bytes the peer sent (up to 64), so a caller
    can show what a peer that does not speak TLS said instead. Callers bound the time."""
    while not _step(connection):
        await _flush(connection, writer)
        data = await reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("the peer closed the connection during the handshake")
        if received is not None and len(received) < 64:
            received.extend(data[:64 - len(received)])
        connection.bio_write(data)
    await _flush(connection, writer)


def _step(connection: SSL.Connection) -> bool:
    """Advance the handshake with what has arrived: True once it is complete."""
    try:
        connection.do_handshake()
    except SSL.WantReadError:
        return False
    return True


async def close(connection: SSL.Connection, writer: asyncio.StreamWriter) -> None:
    """Send close_notify (best effort) and close the stream."""
    try:
        connection.shutdown()
        await _flush(connection, writer)
    except (SSL.Error, OSError):
        pass  # the peer may be gone already: the TCP close still ends it
    finally:
        writer.close()


def error_text(exc: BaseException) -> str:
    """An OpenSSL error as one line: "SSL routines: peer did not return a certificate"."""
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        reasons = [str(entry[2]) for entry in exc.args[0] if len(entry) == 3 and entry[2]]
        if reasons:
            return "; ".join(dict.fromkeys(reasons))
    return str(exc) or type(exc).__name__


# --- TLS-PSK ---------------------------------------------------------------------------


@dataclass
class PskServer:
    """A server context that accepts one PSK identity with its key. The cffi callback is kept
    here: OpenSSL holds only a C pointer to it, and a collected callback would crash."""

    identity: bytes = field(repr=False)  # the PID: a secret of the site too
    key: bytes = field(repr=False)
    context: SSL.Context = field(init=False)
    identities_seen: list[bytes] = field(default_factory=list, repr=False)
    _callback: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.context = SSL.Context(SSL.TLS_METHOD)
        self.context.set_max_proto_version(SSL.TLS1_2_VERSION)
        self.context.set_cipher_list(PSK_CIPHERS)

        def find_key(ssl: Any, identity: Any, psk: Any, max_length: int) -> int:
            seen = ffi.string(identity) if identity != ffi.NULL else b""
            self.identities_seen.append(seen)
            if seen != self.identity or len(self.key) > max_length:
                return 0  # OpenSSL then refuses the handshake (unknown PSK identity)
            ffi.memmove(psk, self.key, len(self.key))
            return len(self.key)

        self._callback = ffi.callback(
            "unsigned int(SSL *, const char *, unsigned char *, unsigned int)", find_key)
        lib.SSL_CTX_set_psk_server_callback(self.context._context, self._callback)


@dataclass
class PskClient:
    """A client context that offers one PSK identity with its key."""

    identity: bytes = field(repr=False)  # the PID: a secret of the site too
    key: bytes = field(repr=False)
    context: SSL.Context = field(init=False)
    _callback: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.context = SSL.Context(SSL.TLS_METHOD)
        self.context.set_max_proto_version(SSL.TLS1_2_VERSION)
        self.context.set_cipher_list(PSK_CIPHERS)

        def give_key(ssl: Any, hint: Any, identity: Any, max_identity: int, psk: Any,
                     max_psk: int) -> int:
            if len(self.identity) + 1 > max_identity or len(self.key) > max_psk:
                return 0
            ffi.memmove(identity, self.identity + b"\0", len(self.identity) + 1)
            ffi.memmove(psk, self.key, len(self.key))
            return len(self.key)

        self._callback = ffi.callback(
            "unsigned int(SSL *, const char *, char *, unsigned int, unsigned char *, "
            "unsigned int)", give_key)
        lib.SSL_CTX_set_psk_client_callback(self.context._context, self._callback)
