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
DEVICE_PSK_SUITES = ("PSK-AES128-CBC-SHA",)  # TLS_PSK_WITH_AES_128_CBC_SHA
KEPT = 4096  # bytes of what a peer sent first, kept to say what it offered
PROTOCOLS = {"TLSv1": SSL.TLS1_VERSION, "TLSv1.1": SSL.TLS1_1_VERSION,
             "TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}
_WIRE_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
                  0x0304: "TLSv1.3"}
# IANA names of the suites a ClientHello commonly offers; others are shown as hex.
_SUITES = {
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA", 0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256", 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x008C: "TLS_PSK_WITH_AES_128_CBC_SHA", 0x008D: "TLS_PSK_WITH_AES_256_CBC_SHA",
    0x00A8: "TLS_PSK_WITH_AES_128_GCM_SHA256", 0x00A9: "TLS_PSK_WITH_AES_256_GCM_SHA384",
    0x00AE: "TLS_PSK_WITH_AES_128_CBC_SHA256", 0x00AF: "TLS_PSK_WITH_AES_256_CBC_SHA384",
}
_SIGNALS = {0x00FF, 0x5600}  # renegotiation info and fallback SCSVs: no cipher suites


def limit(context: SSL.Context, versions: tuple[str, ...], ciphers: tuple[str, ...]) -> None:
    """Let a context speak only these TLS versions (OpenSSL names, oldest first) and these
    cipher suites (OpenSSL names, TLS 1.2 and earlier). Security level 0: OpenSSL refuses
    TLS 1.0 and 1.1 and SHA-1 suites above it, and the firmware speaks them."""
    context.set_min_proto_version(PROTOCOLS[versions[0]])
    context.set_max_proto_version(PROTOCOLS[versions[-1]])
    context.set_cipher_list(":".join((*ciphers, "@SECLEVEL=0")).encode())


@dataclass(frozen=True)
class Offer:
    """What a TLS client offered in its ClientHello."""

    versions: tuple[str, ...]  # "TLSv1.2", ...: its supported_versions, else its highest
    cipher_suites: tuple[str, ...]  # IANA names, or 0x.... for one not in the table
    up_to: bool = False  # no supported_versions: `versions` is its highest, the lowest unknown

    def describe(self) -> str:
        suites = ", ".join(self.cipher_suites[:12])
        more = f" and {len(self.cipher_suites) - 12} more" if len(self.cipher_suites) > 12 else ""
        versions = "/".join(self.versions) or "no TLS version"
        return f"{'up to ' if self.up_to else ''}{versions} with {suites or 'no suite'}{more}"


def client_hello_offer(data: bytes) -> Offer | None:
    """The versions and suites of the ClientHello at the start of `data` (one TLS record),
    or None when it is not one. Hostile input is expected: every length is bounded."""
    if len(data) < 9 or data[0] != 0x16 or data[5] != 0x01:
        return None
    body = data[9:5 + int.from_bytes(data[3:5], "big")]
    if len(body) < 35:
        return None
    legacy = int.from_bytes(body[0:2], "big")
    at = 34 + 1 + body[34]  # version, random, session id
    count = int.from_bytes(body[at:at + 2], "big")
    codes = [int.from_bytes(body[i:i + 2], "big")
             for i in range(at + 2, min(at + 2 + count, len(body) - 1), 2)]
    suites = tuple(_SUITES.get(c, f"0x{c:04x}") for c in codes
                   if c not in _SIGNALS and (c & 0x0F0F) != 0x0A0A)  # GREASE values
    at += 2 + count
    at += 1 + (body[at] if at < len(body) else 0)  # compression methods
    versions: tuple[str, ...] = ()
    end = min(at + 2 + int.from_bytes(body[at:at + 2], "big"), len(body))
    at += 2
    while at + 4 <= end:
        kind, size = int.from_bytes(body[at:at + 2], "big"), int.from_bytes(body[at + 2:at + 4],
                                                                             "big")
        if kind == 0x002B and size >= 1:  # supported_versions
            listed = body[at + 5:at + 4 + size]
            versions = tuple(_WIRE_VERSIONS[v] for i in range(0, len(listed) - 1, 2)
                             if (v := int.from_bytes(listed[i:i + 2], "big")) in _WIRE_VERSIONS)
        at += 4 + size
    if not versions:  # no supported_versions: the legacy version is its highest
        return Offer((_WIRE_VERSIONS.get(legacy, f"0x{legacy:04x}"),), suites, up_to=True)
    return Offer(tuple(sorted(versions, key=list(_WIRE_VERSIONS.values()).index)), suites)


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
    closes first. `received` collects the first bytes the peer sent (up to KEPT), so a caller
    can show what a peer offered, or said instead of TLS. Callers bound the time."""
    while not _step(connection):
        await _flush(connection, writer)
        data = await reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("the peer closed the connection during the handshake")
        if received is not None and len(received) < KEPT:
            received.extend(data[:KEPT - len(received)])
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
        # As the devices speak it: TLS 1.0 with a plain PSK suite (AMT 10 and earlier,
        # AMT-FACTS.md); ECDHE-PSK and DHE-PSK suites are TLS 1.2-era, left out: conservative
        limit(self.context, ("TLSv1",), DEVICE_PSK_SUITES)

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
        limit(self.context, ("TLSv1", "TLSv1.1", "TLSv1.2"), (PSK_CIPHERS.decode(),))

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
