"""LDAP probe: each DC's rootDSE read anonymously, and a bind as the provisioning service
account over StartTLS followed by a look at the AMT OU.

LDAP goes over asyncio sockets of this module's own, not through ldap3. ldap3 blocks, so it
ran in threads that the run's deadline cannot stop (and Python 3.11's asyncio.run waits for
them at exit); it reads whatever length a BER header announces; and its bind silently
re-opens a closed connection in plaintext. Here every exchange is a coroutine like any other
probe: bounded in time (the probe timeout for each step: connect, one request and all its
replies, the TLS handshake), in bytes (MAX_SESSION_BYTES for a whole session, refused as
soon as a header announces more), and cancelled with its socket closed when the run's
deadline ends it. No thread is involved (addresses are IP literals: no getaddrinfo). The few
messages needed are encoded and decoded below; the decoder walks the known structure one
level at a time, so hostile nesting or lengths cost nothing.

The password goes only where CHECKS.md (AD-LDAP-BIND) says (password_names): to a DC listed
in ad.kdcs or named inside the AD domain, never to one found through resolvers that a DHCP
server outside dhcp.allowed_servers (or any, with allowed_servers empty) handed out, only
inside a StartTLS session whose certificate verified (ad.tls_ca_file, else the system's
trust store) for that very name, and only while that session is still up. It is never kept
in an observation, a message or a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from amt_preflight.observations.ad import (
    LDAP_PORT,
    LDAP_VALUE_LIMIT,
    AdRole,
    AdServer,
    BindStage,
    LdapBind,
    RootDse,
    naming_context,
    same_dn,
)
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import ResolverSet, ResolverTrust, in_domain, normal_name
from amt_preflight.probes.adservers import discover, is_address
from amt_preflight.secrets import Secret, SecretError, read_secret_async

if TYPE_CHECKING:
    from amt_preflight.config import AdConfig
    from amt_preflight.probes import SiteProbes

T = TypeVar("T")
ROOT_DSE_ATTRIBUTES = (
    "defaultNamingContext", "dnsHostName", "ldapServiceName", "namingContexts", "currentTime",
)
MAX_VALUES = 20  # values kept of one attribute
MAX_ATTRIBUTES = 32  # attributes looked at in one entry
MAX_REPLIES = 16  # entries and references accepted before a request's final reply
# Bytes a DC may send in one session (a rootDSE or a bind with its OU read: a few KB).
MAX_SESSION_BYTES = 1024 * 1024
MAX_TLS_NAMES = 4  # names tried for one DC's certificate (one connection each)
STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
LDAP_VERSION = 3
# OpenSSL's verify codes for a certificate that verified but names someone else: the next
# acceptable name may be the one it carries.
_NAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH

# BER tags (RFC 4511): universal, and the protocolOp choices used here
INTEGER, OCTET_STRING, ENUMERATED, SEQUENCE, SET, BOOLEAN = 0x02, 0x04, 0x0A, 0x30, 0x31, 0x01
BIND_REQUEST, BIND_RESPONSE, UNBIND_REQUEST = 0x60, 0x61, 0x42
SEARCH_REQUEST, SEARCH_ENTRY, SEARCH_DONE, SEARCH_REFERENCE = 0x63, 0x64, 0x65, 0x73
EXTENDED_REQUEST, EXTENDED_RESPONSE = 0x77, 0x78
SIMPLE_AUTH, FILTER_PRESENT, EXTENDED_NAME = 0x80, 0x87, 0x80

RESULT_NAMES = {
    0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
    4: "sizeLimitExceeded", 7: "authMethodNotSupported", 8: "strongerAuthRequired",
    10: "referral", 11: "adminLimitExceeded", 12: "unavailableCriticalExtension",
    13: "confidentialityRequired", 14: "saslBindInProgress", 16: "noSuchAttribute",
    17: "undefinedAttributeType", 32: "noSuchObject", 34: "invalidDNSyntax",
    48: "inappropriateAuthentication", 49: "invalidCredentials", 50: "insufficientAccessRights",
    51: "busy", 52: "unavailable", 53: "unwillingToPerform", 80: "other",
}


class LdapError(Exception):
    """An exchange that did not end in a reply: what it says about the server."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class _NameMismatch(LdapError):
    """The certificate verified against the trust store, but for another name."""


def _malformed(what: str) -> LdapError:
    return LdapError(Outcome.MALFORMED, what)


# --- BER: just what the messages below need (also the lab's fake DC: lab/fake_ldap.py) ---


def ber_tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def ber_integer(value: int, tag: int = INTEGER) -> bytes:
    """A non-negative INTEGER (or ENUMERATED)."""
    return ber_tlv(tag, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def ber_elements(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The elements side by side in `data`, one level only, as (tag, content); lazily, so a
    caller reads no further than it needs."""
    at = 0
    while at < len(data):
        if len(data) - at < 2:
            raise _malformed("a truncated BER element")
        tag, first = data[at], data[at + 1]
        if tag & 0x1F == 0x1F:
            raise _malformed(f"a multi-byte BER tag ({tag:#04x})")
        at += 2
        size = first
        if first & 0x80:
            count = first & 0x7F
            if not 1 <= count <= 4 or len(data) - at < count:
                raise _malformed(f"a BER length of {count} bytes inside a message")
            size = int.from_bytes(data[at:at + count], "big")
            at += count
        if size > len(data) - at:
            raise _malformed("a BER element longer than the message holding it")
        yield tag, data[at:at + size]
        at += size


def _parts(data: bytes, *tags: int) -> list[bytes]:
    """The contents of the first elements of `data`, which must carry these tags."""
    found = list(islice(ber_elements(data), len(tags)))
    if [tag for tag, _ in found] != list(tags):
        wanted = " ".join(f"{t:#04x}" for t in tags)
        seen = " ".join(f"{t:#04x}" for t, _ in found)
        raise _malformed(f"BER tags {seen or 'none'} where {wanted} belong")
    return [content for _, content in found]


def _int(content: bytes) -> int:
    if not 1 <= len(content) <= 4:
        raise _malformed(f"a {len(content)}-byte integer")
    return int.from_bytes(content, "big", signed=True)


def _text(value: bytes) -> str:
    """A value from the DC as text, clipped as it is read: it is untrusted."""
    return value[:4 * LDAP_VALUE_LIMIT].decode("utf-8", "replace")[:LDAP_VALUE_LIMIT]


@dataclass(frozen=True)
class LdapMessage:
    message_id: int
    op: int  # the protocolOp's tag: BIND_RESPONSE, SEARCH_ENTRY, ...
    body: bytes


def decode_message(content: bytes) -> LdapMessage:
    """An LDAPMessage from the content of its outer SEQUENCE."""
    elements = ber_elements(content)
    first, second = next(elements, None), next(elements, None)
    if first is None or second is None or first[0] != INTEGER:
        raise _malformed("an LDAP message without a message ID and an operation")
    return LdapMessage(_int(first[1]), second[0], second[1])


@dataclass(frozen=True)
class LdapResult:
    code: int
    matched: str
    diagnostic: str

    @property
    def description(self) -> str:
        return RESULT_NAMES.get(self.code, f"resultCode {self.code}")


def _result(body: bytes) -> LdapResult:
    code, matched, diagnostic = _parts(body, ENUMERATED, OCTET_STRING, OCTET_STRING)
    return LdapResult(_int(code), _text(matched), _text(diagnostic))


def decode_entry(body: bytes) -> dict[str, tuple[str, ...]]:
    """A searchResEntry's attributes (names lower-case), at most MAX_VALUES values each."""
    _, attributes = _parts(body, OCTET_STRING, SEQUENCE)
    found: dict[str, tuple[str, ...]] = {}
    for tag, attribute in islice(ber_elements(attributes), MAX_ATTRIBUTES):
        if tag != SEQUENCE:
            raise _malformed(f"an attribute with BER tag {tag:#04x}")
        name, values = _parts(attribute, OCTET_STRING, SET)
        found.setdefault(_text(name).lower(), tuple(
            _text(value) for _, value in islice(ber_elements(values), MAX_VALUES)))
    return found


def search_request(base: str, attributes: Sequence[str], time_limit: int) -> bytes:
    """A base-object search for (objectClass=*)."""
    return ber_tlv(SEARCH_REQUEST, b"".join((
        ber_tlv(OCTET_STRING, base.encode()),
        ber_integer(0, ENUMERATED),  # scope: baseObject
        ber_integer(0, ENUMERATED),  # derefAliases: never
        ber_integer(0),  # sizeLimit: none (one entry at most)
        ber_integer(time_limit),
        ber_tlv(BOOLEAN, b"\x00"),  # typesOnly: FALSE
        ber_tlv(FILTER_PRESENT, b"objectClass"),
        ber_tlv(SEQUENCE, b"".join(ber_tlv(OCTET_STRING, a.encode()) for a in attributes)),
    )))


def _size(count: int) -> str:
    return f"{count} bytes" if count < 10**15 else f"about 2^{count.bit_length() - 1} bytes"


class LdapSession:
    """One LDAP connection. Each step (a request and every reply to it, the TLS handshake)
    must end within `timeout`; the server may send MAX_SESSION_BYTES in all."""

    def __init__(self, address: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, timeout: float) -> None:
        self.address = address
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.received = 0
        self.next_id = 1
        self.verified_for = ""  # the name the certificate verified for, once TLS is up

    @classmethod
    async def open(cls, address: str, timeout: float) -> LdapSession:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(address, LDAP_PORT)
        except TimeoutError:
            raise LdapError(Outcome.TIMEOUT, f"no TCP connection to {address}:{LDAP_PORT} "
                            f"in {timeout:g} s") from None
        except OSError as exc:
            raise LdapError(Outcome.UNREACHABLE, f"TCP {address}:{LDAP_PORT}: "
                            f"{exc.strerror or exc}") from None
        return cls(address, reader, writer, timeout)

    def close(self) -> None:
        """Unbind (best effort) and drop the connection at once: nothing waits on a DC."""
        with contextlib.suppress(Exception):
            self.writer.write(self._message(ber_tlv(UNBIND_REQUEST, b"")))
        self.writer.transport.abort()

    def _message(self, op: bytes) -> bytes:
        message = ber_tlv(SEQUENCE, ber_integer(self.next_id) + op)
        self.next_id += 1
        return message

    async def _exactly(self, count: int) -> bytes:
        try:
            data = await self.reader.readexactly(count)
        except asyncio.IncompleteReadError as exc:
            self.received += len(exc.partial)
            raise _malformed(f"the server closed the connection {self.received} bytes into "
                             "the session, before a whole reply") from None
        self.received += count
        return data

    async def _read(self) -> LdapMessage:
        head = await self._exactly(2)
        if head[0] != SEQUENCE:
            raise _malformed(f"a reply that is no LDAP message (it starts {head.hex()})")
        size = head[1]
        if size & 0x80:
            count = size & 0x7F
            if count == 0:
                raise _malformed("an LDAP message of indefinite length")
            size = int.from_bytes(await self._exactly(count), "big")
        room = MAX_SESSION_BYTES - self.received
        if size > room:
            raise _malformed(f"the server announces an LDAP message of {_size(size)}; at most "
                             f"{MAX_SESSION_BYTES} bytes are read from a DC in one session")
        return decode_message(await self._exactly(size))

    async def exchange(self, op: bytes, final: int) -> tuple[LdapResult, list[LdapMessage]]:
        """Send one request; read its replies up to the one tagged `final`: that one's
        result, and the replies before it (search entries, references)."""
        message_id, before = self.next_id, self.received
        replies: list[LdapMessage] = []
        try:
            async with asyncio.timeout(self.timeout):
                self.writer.write(self._message(op))
                await self.writer.drain()
                while True:
                    reply = await self._read()
                    if reply.message_id == 0:  # a notice of disconnection
                        said = _result(reply.body)
                        raise _malformed(f"the server ended the session: {said.description}"
                                         + (f" ({said.diagnostic})" if said.diagnostic else ""))
                    if reply.message_id != message_id:
                        continue
                    if reply.op == final:
                        return _result(reply.body), replies
                    if len(replies) >= MAX_REPLIES:
                        raise _malformed(f"more than {MAX_REPLIES} replies to one request")
                    replies.append(reply)
        except TimeoutError:
            if self.received > before:
                raise _malformed(f"a reply began (at least {self.received - before} bytes) "
                                 f"but did not end within {self.timeout:g} s") from None
            raise LdapError(Outcome.TIMEOUT, f"no reply in {self.timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise _malformed(f"the connection broke: {exc.strerror or exc}") from None

    async def start_tls(self, context: ssl.SSLContext, name: str) -> None:
        """StartTLS, the certificate verified for `name` (a host name, or a configured IP)."""
        result, _ = await self.exchange(
            ber_tlv(EXTENDED_REQUEST, ber_tlv(EXTENDED_NAME, STARTTLS_OID)), EXTENDED_RESPONSE)
        if result.code != 0:
            raise LdapError(Outcome.ANSWER, f"StartTLS refused: {result.description}"
                            + (f" ({result.diagnostic})" if result.diagnostic else ""))
        try:
            async with asyncio.timeout(self.timeout):
                await self.writer.start_tls(context, server_hostname=name)
        except TimeoutError:
            raise LdapError(Outcome.TIMEOUT, f"no TLS handshake in {self.timeout:g} s") from None
        except ssl.SSLCertVerificationError as exc:
            text = (f"the certificate of {self.address} does not verify for {name}: "
                    f"{exc.verify_message or exc}")
            if exc.verify_code in _NAME_MISMATCH:
                raise _NameMismatch(Outcome.MALFORMED, text) from None
            raise _malformed(text) from None
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            raise _malformed(f"the TLS handshake failed: {exc}") from None
        self.verified_for = name

    def safe_for_password(self) -> str:
        """Why the password may not go now ("" when it may): checked right before the bind,
        so no path ever sends it over a connection that is not the verified TLS session."""
        ssl_object = self.writer.get_extra_info("ssl_object")
        if self.writer.is_closing() or self.reader.at_eof():
            return "the connection closed after StartTLS"
        if not isinstance(ssl_object, ssl.SSLObject) or not self.verified_for:
            return "TLS is not up"
        if not ssl_object.getpeercert():
            return "the certificate was not verified"
        return ""

    def tls_description(self) -> str:
        ssl_object = self.writer.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return ""
        cipher = ssl_object.cipher()
        subject: Any = (ssl_object.getpeercert() or {}).get("subject", ())  # RDNs of pairs
        common_name = next((str(pair[1]) for rdn in subject for pair in rdn
                            if pair[0] == "commonName"), "?")
        return (f"{ssl_object.version()} {cipher[0] if cipher else '?'}, certificate "
                f"CN={_text(common_name.encode())}, verified for {self.verified_for}")


def _generalized_time(text: str) -> float | None:
    """AD's currentTime ("20261128172832.0Z") as epoch seconds; None when it is not one."""
    try:
        moment = datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp()


async def read_root_dse(address: str, timeout: float) -> RootDse:
    """One anonymous read of the rootDSE."""
    sent_at, clock = time.time(), time.monotonic()
    session: LdapSession | None = None
    try:
        session = await LdapSession.open(address, timeout)
        sent_at, clock = time.time(), time.monotonic()
        request = search_request("", ROOT_DSE_ATTRIBUTES, math.ceil(timeout))
        result, replies = await session.exchange(request, SEARCH_DONE)
        rtt_ms = (time.monotonic() - clock) * 1000
        entries = [decode_entry(r.body) for r in replies if r.op == SEARCH_ENTRY][:1]
    except LdapError as exc:
        return RootDse(address, exc.outcome, detail=exc.detail)
    finally:
        if session is not None:
            session.close()
    found = entries[0] if entries else {}
    first = {name: next(iter(found.get(name.lower(), ())), "") for name in ROOT_DSE_ATTRIBUTES}
    return RootDse(
        address, Outcome.ANSWER, result=result.description,
        default_naming_context=first["defaultNamingContext"],
        dns_host_name=first["dnsHostName"], ldap_service_name=first["ldapServiceName"],
        naming_contexts=found.get("namingcontexts", ()),
        dc_time=_generalized_time(first["currentTime"]), sent_at=sent_at, rtt_ms=rtt_ms,
        detail="" if entries or result.code != 0 else "the search returned no entry",
    )


def _redacted(text: str, secret: Secret) -> str:
    """Whatever a server puts in a message, the password never reaches an observation."""
    return text.replace(secret.value, "********") if secret.value else text


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificates verified (CERT_REQUIRED, host name checked) against ad.tls_ca_file only,
    else the system's trust store (which honours SSL_CERT_FILE); TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def bind(address: str, names: Sequence[str], user: str, secret: Secret,
               amt_ou: str | None, ca_file: Path | None, timeout: float) -> LdapBind:
    """StartTLS with the certificate verified for one of `names` (tried in order, a fresh
    connection each, while the certificate names someone else), bind, and read the AMT OU.
    The password is sent only inside the verified session."""
    trust = f"ad.tls_ca_file {ca_file}" if ca_file else "the system trust store"
    result = LdapBind(address, user, BindStage.STARTTLS, password_source=secret.source,
                      trust=trust, ou=amt_ou or "")
    if not names:
        return replace(result, outcome=Outcome.NOT_OBSERVED,
                       detail="no name to verify the certificate for: the password was not sent")
    try:
        context = tls_context(ca_file)
    except (OSError, ssl.SSLError) as exc:
        return replace(result, outcome=Outcome.NOT_OBSERVED,
                       detail=f"cannot load the CA certificates of {trust}: {exc}")
    mismatches: list[str] = []
    for name in names[:MAX_TLS_NAMES]:
        session: LdapSession | None = None
        try:
            result = replace(result, stage=BindStage.CONNECT)
            session = await LdapSession.open(address, timeout)
            result = replace(result, stage=BindStage.STARTTLS)
            try:
                await session.start_tls(context, name)
            except _NameMismatch as exc:
                mismatches.append(exc.detail)
                continue
            result = replace(result, stage=BindStage.BIND, tls=session.tls_description())
            if problem := session.safe_for_password():
                return replace(result, stage=BindStage.STARTTLS, outcome=Outcome.MALFORMED,
                               detail=f"{problem}: the password was not sent")
            request = ber_tlv(BIND_REQUEST, ber_integer(LDAP_VERSION)
                              + ber_tlv(OCTET_STRING, user.encode())
                              + ber_tlv(SIMPLE_AUTH, secret.value.encode()))
            bound, _ = await session.exchange(request, BIND_RESPONSE)
            result = replace(result, outcome=Outcome.ANSWER, result=bound.description,
                             diagnostic=_redacted(bound.diagnostic, secret))
            if bound.code != 0:
                return result
            result = replace(result, stage=BindStage.BOUND)
            if amt_ou:
                request = search_request(amt_ou, ["objectClass"], math.ceil(timeout))
                found, replies = await session.exchange(request, SEARCH_DONE)
                entries = [decode_entry(r.body) for r in replies if r.op == SEARCH_ENTRY][:1]
                classes = entries[0].get("objectclass", ()) if entries else ()
                result = replace(result, ou_result=found.description, ou_classes=classes,
                                 ou_matched=found.matched)
            return result
        except LdapError as exc:
            return replace(result, outcome=exc.outcome, detail=_redacted(exc.detail, secret))
        finally:
            if session is not None:
                session.close()
    return replace(result, stage=BindStage.STARTTLS, outcome=Outcome.MALFORMED,
                   detail="; ".join(mismatches))


# --- which DC may get the password


def _untrusted(resolvers: ResolverSet, address: str) -> str:
    asked = ", ".join(resolvers.addresses) or "no resolver"
    if resolvers.trust is ResolverTrust.ROGUE:
        why = (f"resolvers ({asked}) that DHCP option 6 of a server outside "
               "dhcp.allowed_servers handed out (DHCP-SERVER-ALLOWED names it)")
    else:
        why = (f"resolvers ({asked}) from DHCP option 6 while dhcp.allowed_servers is empty, "
               "so any DHCP server may have chosen them")
    return (f"the password was not sent: {address} was found through {why}; set "
            "dhcp.allowed_servers (the site's real DHCP servers), or resolvers, or list the "
            "DCs by address in ad.kdcs")


def untrusted_source(ad: AdConfig, server: AdServer, address: str,
                     resolvers: ResolverSet) -> str:
    """Why no password may go to `address` whatever it shows ("" when nothing speaks against
    it yet): it was found through resolvers that a DHCP server outside dhcp.allowed_servers
    handed out, or any DHCP server while allowed_servers is empty. An address configured in
    ad.kdcs was found through nothing."""
    if server.target in ad.kdcs and is_address(server.target):
        return ""
    return "" if resolvers.trust is ResolverTrust.TRUSTED else _untrusted(resolvers, address)


def password_names(ad: AdConfig, server: AdServer, address: str, dse: RootDse,
                   resolvers: ResolverSet) -> tuple[tuple[str, ...], str]:
    """The names `address`'s certificate may be verified for before the password goes there,
    best first; or none, and why the password stays here (CHECKS.md, AD-LDAP-BIND): the
    name or address configured in ad.kdcs, the SRV targets and the rootDSE's dnsHostName
    inside the AD domain; never a bare IP that is not configured, never a DC from resolvers
    nobody vouches for (untrusted_source)."""
    if refused := untrusted_source(ad, server, address, resolvers):
        return (), refused
    names = [server.target] if server.target in ad.kdcs else []
    names += [n for n in server.host_names if in_domain(n, ad.domain) and not is_address(n)]
    host = dse.dns_host_name
    if host and in_domain(host, ad.domain) and not is_address(host):
        names.append(normal_name(host))
    if names:
        return tuple(dict.fromkeys(names)), ""
    said = ", ".join(dict.fromkeys([*server.host_names, *([host] if host else [])]))
    return (), (f"the password was not sent: {address} is named {said or 'nothing'}, nothing "
                f"inside the AD domain {ad.domain}, and ad.kdcs does not list it; list the DC "
                "in ad.kdcs if it is yours")


# --- gatherers


async def _limited(ctx: SiteProbes, what: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run LDAP work under the run's limit on probes in flight."""
    async with ctx.dns.limiter:
        ctx.dns.observer.probe_started(what)
        try:
            return await work()
        finally:
            ctx.dns.observer.probe_finished(what)


async def _root_dse(ctx: SiteProbes, address: str) -> RootDse:
    defaults = ctx.config.defaults
    started, clock = time.time(), time.monotonic()
    attempts = 0  # counted as they start: a deadline records how many ran

    async def read() -> RootDse:
        nonlocal attempts
        attempts += 1
        return await read_root_dse(address, defaults.timeout)

    try:
        dse, attempts = await ctx.retried(f"LDAP rootDSE @{address}", read,
                                          lambda tried: tried.outcome)
    except asyncio.CancelledError:  # the socket is closed already (LdapSession.close)
        ctx.record(RootDse(
            address, Outcome.DEADLINE, attempts=attempts, started_at=started,
            elapsed_ms=(time.monotonic() - clock) * 1000,
            detail="the run's deadline ended the read"))
        raise
    dse = replace(dse, attempts=attempts, started_at=started,
                  elapsed_ms=(time.monotonic() - clock) * 1000)
    ctx.record(dse)
    return dse


def root_dse(ctx: SiteProbes, address: str) -> asyncio.Task[RootDse]:
    """A DC's rootDSE, read at most once per run."""
    return ctx.once.run(("rootdse", address), lambda: _root_dse(ctx, address))


async def gather_root_dse(ctx: SiteProbes) -> None:
    """Every DC of the site's AD domain, read as soon as its address is known."""
    if ctx.site.ad is None:
        return
    reads: list[asyncio.Task[RootDse]] = []
    servers = await discover(ctx, AdRole.DC, lambda address: reads.append(root_dse(ctx, address)))
    ctx.record(servers)
    await asyncio.gather(*reads)


async def _bind_at(ctx: SiteProbes, ad: AdConfig, user: str, address: str, server: AdServer,
                   secret: Secret) -> LdapBind:
    """The bind at one DC, once nothing speaks against it; else the password stays."""
    def withheld(stage: BindStage, detail: str) -> LdapBind:
        return LdapBind(address, user, stage, password_source=secret.source, detail=detail)

    if refused := untrusted_source(ad, server, address, ctx.resolvers):
        return withheld(BindStage.UNSAFE, refused)  # not even waiting for the rootDSE
    expected = naming_context(ad.domain)
    dse = await root_dse(ctx, address)
    if not dse.outcome.answered or not same_dn(dse.default_naming_context, expected):
        named = dse.default_naming_context or "no naming context"
        said = (f"its rootDSE names {named}, not {expected}" if dse.outcome.answered
                else f"its rootDSE could not be read ({dse.outcome.value})")
        return withheld(BindStage.WITHHELD, f"{said}: the password was not sent")
    names, refused = password_names(ad, server, address, dse, ctx.resolvers)
    if refused:
        return withheld(BindStage.UNSAFE, refused)
    ca_file = ctx.config.resolve(ad.tls_ca_file) if ad.tls_ca_file else None
    started, clock = time.time(), time.monotonic()
    bound = await _limited(
        ctx, f"LDAP bind @{address}",
        lambda: bind(address, names, user, secret, ad.amt_ou, ca_file,
                     ctx.config.defaults.timeout))
    return replace(bound, started_at=started, elapsed_ms=(time.monotonic() - clock) * 1000)


async def gather_binds(ctx: SiteProbes) -> None:
    """With credentials configured: at every DC that may have the password (password_names)
    and whose rootDSE shows the AD domain, a bind as ad.bind_user, and the AMT OU read."""
    ad = ctx.site.ad
    if ad is None or ad.bind_user is None or ad.bind_password is None:
        return
    user = ad.bind_user
    try:
        secret: Secret | None = await read_secret_async(ad.bind_password, ctx.config,
                                                        "bind_password")
        problem = ""
    except SecretError as exc:
        secret, problem = None, str(exc)

    def found(address: str) -> None:
        if secret is not None:
            root_dse(ctx, address)  # each bind's gate, read as soon as the DC is known

    servers = await discover(ctx, AdRole.DC, found)
    ctx.record(servers)
    at: dict[str, AdServer] = {}  # each address once, with the first server naming it
    for server in servers.servers:
        for address in server.addresses:
            at.setdefault(address, server)

    async def one(address: str, server: AdServer) -> LdapBind:
        if secret is None:
            return LdapBind(address, user, BindStage.SECRET, detail=problem)
        return await _bind_at(ctx, ad, user, address, server, secret)

    for bind_at in await asyncio.gather(*(one(a, s) for a, s in at.items())):
        ctx.record(bind_at)  # kept by its DC address
