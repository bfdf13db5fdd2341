"""Kerberos probe: an AS-REQ without pre-authentication to a KDC over UDP or TCP port 88, and
its KRB-ERROR read: the error code, the realm and the KDC's clock.

Requests are built and replies parsed with the ASN.1 definitions of probes/krb5.py (imported
on first use, as every probe library is); they travel over our own asyncio exchanges, so
that garbage, a truncated or oversized TCP frame and an ICMP refusal each become an
observation, and no reply can hold the run longer than the timeout.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from amt_preflight.observations.ad import (
    AD_KDC_PRINCIPAL,
    KDC_ERR_C_PRINCIPAL_UNKNOWN,
    KDC_PORT,
    AdRole,
    KerberosQuestion,
    KerberosReply,
    tgs_principal,
)
from amt_preflight.observations.base import Outcome, Transport
from amt_preflight.probes.adservers import discover
from amt_preflight.probes.wire import excerpt, os_error

if TYPE_CHECKING:
    from amt_preflight.probes import SiteProbes

# Any reply above this is refused unread: a KRB-ERROR to this request is a few hundred bytes,
# and even an AS-REP with a huge PAC stays below Windows' MaxTokenSize ceiling of 65535.
MAX_REPLY = 65535
# Windows clients' end time: fixed, so that nothing in the request depends on this host's clock.
TILL = datetime(2037, 9, 13, 2, 48, 5, tzinfo=UTC)
ENCTYPES = (18, 17, 23)  # aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96, rc4-hmac
KDC_OPTIONS = frozenset({1, 8, 27})  # forwardable, renewable, renewable-ok, as kinit asks
KDC_OPTION_BITS = 32  # RFC 4120: KerberosFlags are at least 32 bits


def as_request(realm: str, principal: str, nonce: int) -> bytes:
    """An AS-REQ without pre-authentication for `principal`@`realm` and the realm's TGT."""
    from amt_preflight.probes import krb5

    name_type = krb5.NT_SRV_INST if "/" in principal else krb5.NT_PRINCIPAL
    body = krb5.KdcReqBody({
        "kdc-options": krb5.KDCOptions(tuple(int(b in KDC_OPTIONS)
                                             for b in range(KDC_OPTION_BITS))),
        "cname": krb5.PrincipalName({"name-type": name_type,
                                     "name-string": principal.split("/")}),
        "realm": realm,
        "sname": krb5.PrincipalName({"name-type": krb5.NT_SRV_INST,
                                     "name-string": ["krbtgt", realm]}),
        "till": TILL,
        "nonce": nonce,
        "etype": list(ENCTYPES),
    })
    request = krb5.AsReq({"pvno": 5, "msg-type": krb5.AS_REQ_TYPE, "req-body": body})
    return bytes(request.dump())


@dataclass(frozen=True)
class ParsedReply:
    message: str  # "KRB-ERROR" or "AS-REP"
    realm: str
    error_code: int | None = None
    error_name: str = ""
    e_text: str = ""
    kdc_time: float | None = None


def parse_reply(wire: bytes) -> ParsedReply:
    """What a KDC answered; ValueError, saying why, for anything that is no KDC reply."""
    from amt_preflight.probes import krb5

    try:
        response = krb5.KerberosResponse.load(wire, strict=True)
        kind = response.name
        fields: dict[str, Any] = response.native
    except Exception as exc:  # hostile bytes can make an ASN.1 parser raise anything
        raise ValueError(f"not a Kerberos reply ({type(exc).__name__})") from None
    if kind == "AS_REP" and fields.get("msg-type") == krb5.AS_REP_TYPE:
        return ParsedReply("AS-REP", str(fields.get("crealm") or ""))
    if kind != "KRB_ERROR" or fields.get("msg-type") != krb5.KRB_ERROR_TYPE:
        raise ValueError(f"a {kind} message does not answer an AS-REQ")
    code, stime, susec = fields.get("error-code"), fields.get("stime"), fields.get("susec")
    if not isinstance(code, int) or not isinstance(stime, datetime):
        raise ValueError("KRB-ERROR without an error code or server time")
    if not isinstance(susec, int) or not 0 <= susec <= 999_999:
        raise ValueError(f"KRB-ERROR with microseconds {susec!r} out of range")
    name = krb5.ERROR_NAMES.get(code, "unknown error")
    return ParsedReply("KRB-ERROR", str(fields.get("realm") or ""), code, name,
                       str(fields.get("e-text") or ""), stime.timestamp() + susec / 1e6)


@dataclass(frozen=True)
class _Attempt:
    outcome: Outcome
    wire: bytes = b""
    detail: str = ""
    sent_at: float = 0.0
    rtt_ms: float = 0.0


class _UdpReply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.done: asyncio.Future[tuple[Outcome, bytes, str]] = (
            asyncio.get_running_loop().create_future())

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not self.done.done():
            self.done.set_result((Outcome.ANSWER, data, ""))

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_result((Outcome.UNREACHABLE, b"", os_error(exc)))


async def _udp_attempt(request: bytes, kdc: str, timeout: float) -> _Attempt:
    loop = asyncio.get_running_loop()
    try:  # a connected socket: the kernel drops datagrams from anyone but the KDC
        transport, protocol = await loop.create_datagram_endpoint(
            _UdpReply, remote_addr=(kdc, KDC_PORT))
    except OSError as exc:
        return _Attempt(Outcome.UNREACHABLE, detail=os_error(exc))
    try:
        sent_at, clock = time.time(), time.monotonic()
        transport.sendto(request)
        try:
            async with asyncio.timeout(timeout):
                outcome, wire, detail = await protocol.done
        except TimeoutError:
            return _Attempt(Outcome.TIMEOUT, detail=f"no reply in {timeout:g} s")
        return _Attempt(outcome, wire, detail, sent_at, (time.monotonic() - clock) * 1000)
    finally:
        transport.close()


async def _tcp_attempt(request: bytes, kdc: str, timeout: float) -> _Attempt:
    writer = None
    reading = "the 4-byte length prefix"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(kdc, KDC_PORT)
            sent_at, clock = time.time(), time.monotonic()
            writer.write(struct.pack("!I", len(request)) + request)
            await writer.drain()
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            if length & 0x8000_0000:
                return _Attempt(Outcome.MALFORMED, detail=f"length prefix {length:#010x} has "
                                "the reserved high bit set (RFC 4120, 7.2.2)")
            if not 0 < length <= MAX_REPLY:
                return _Attempt(Outcome.MALFORMED, detail=f"length prefix announces {length} "
                                f"bytes; a KDC reply has 1 to {MAX_REPLY}: not read")
            reading = f"a {length}-byte reply"
            wire = await reader.readexactly(length)
            return _Attempt(Outcome.ANSWER, wire, "", sent_at, (time.monotonic() - clock) * 1000)
    except TimeoutError:
        return _Attempt(Outcome.TIMEOUT, detail=f"no complete reply in {timeout:g} s")
    except asyncio.IncompleteReadError as exc:
        return _Attempt(Outcome.MALFORMED, detail=f"connection closed after {len(exc.partial)} "
                        f"bytes of {reading}")
    except OSError as exc:
        return _Attempt(Outcome.UNREACHABLE, detail=os_error(exc))
    finally:
        if writer is not None:
            writer.close()


def _reply(question: KerberosQuestion, attempt: _Attempt, attempts: int, started: float,
           elapsed_ms: float) -> KerberosReply:
    reply = KerberosReply(question, attempt.outcome, attempts=attempts, started_at=started,
                          elapsed_ms=elapsed_ms, detail=attempt.detail)
    if attempt.outcome is not Outcome.ANSWER:
        return reply
    try:
        parsed = parse_reply(attempt.wire)
    except ValueError as exc:
        return replace(reply, outcome=Outcome.MALFORMED,
                       detail=f"{exc}: {excerpt(attempt.wire)}")
    return replace(
        reply, message=parsed.message, error_code=parsed.error_code,
        error_name=parsed.error_name, realm=parsed.realm, e_text=parsed.e_text,
        kdc_time=parsed.kdc_time, sent_at=attempt.sent_at, rtt_ms=attempt.rtt_ms)


async def _exchange(ctx: SiteProbes, question: KerberosQuestion) -> KerberosReply:
    attempt_once = _udp_attempt if question.transport == "udp" else _tcp_attempt
    defaults = ctx.config.defaults
    what = f"AS-REQ {question.principal}@{question.realm} @{question.kdc}/{question.transport}"
    started, clock = time.time(), time.monotonic()

    async def fresh() -> _Attempt:
        # A fresh nonce every time: a KDC's replay cache answers a byte-identical request
        # with its cached reply, old server time and all.
        request = as_request(question.realm, question.principal, secrets.randbits(31))
        return await attempt_once(request, question.kdc, defaults.timeout)

    attempt, attempts = await ctx.retried(what, fresh, lambda tried: tried.outcome)
    reply = _reply(question, attempt, attempts, started, (time.monotonic() - clock) * 1000)
    ctx.record(reply)
    return reply


async def ask(ctx: SiteProbes, question: KerberosQuestion) -> KerberosReply:
    """The KDC's reply to one AS-REQ, asked at most once per run."""
    return await ctx.once.run(("kerberos", question), lambda: _exchange(ctx, question))


async def _holds(ctx: SiteProbes, replies: list[KerberosReply], realm: str) -> bool:
    """Whether the replies show the KDC holds `realm`. A KDC that does not know AD's
    `krbtgt` account there is asked once more for the realm's TGS principal, as MIT and
    Heimdal outside AD name it."""
    if any(r.proves(realm) for r in replies):
        return True
    unknown = [r for r in replies if r.krb_error and r.realm == realm
               and r.error_code == KDC_ERR_C_PRINCIPAL_UNKNOWN]
    if not unknown:
        return False
    kdc, transport = unknown[0].question.kdc, unknown[0].question.transport
    generic = await ask(ctx, KerberosQuestion(kdc, realm, tgs_principal(realm), transport))
    return generic.proves(realm)


async def survey_kdc(ctx: SiteProbes, kdc: str, realm: str, ad_realm: str) -> None:
    """AD-KDC-ANSWERS, AD-REALM-MATCH and AD-CLOCK-SKEW of one KDC address: the AS-REQ over
    UDP and TCP in the configured realm; where that does not show the KDC holds the realm,
    the same question once more in the AD domain's realm, to name the realm it serves."""
    replies = list(await asyncio.gather(
        *(ask(ctx, KerberosQuestion(kdc, realm, AD_KDC_PRINCIPAL, t)) for t in ("udp", "tcp"))))
    if await _holds(ctx, replies, realm) or ad_realm == realm:
        return
    answered: list[Transport] = [r.question.transport for r in replies if r.outcome.answered]
    transport = answered[0] if answered else "udp"
    other = await ask(ctx, KerberosQuestion(kdc, ad_realm, AD_KDC_PRINCIPAL, transport))
    await _holds(ctx, [other], ad_realm)


async def gather_kerberos(ctx: SiteProbes) -> None:
    """Every KDC of the site's AD domain, surveyed as soon as its address is known."""
    ad = ctx.site.ad
    if ad is None:
        return
    realm, ad_realm = ad.effective_realm, ad.domain.upper()
    surveys: list[asyncio.Task[None]] = []

    def found(address: str) -> None:
        surveys.append(ctx.once.run(("kdc", address, realm, ad_realm),
                                    lambda: survey_kdc(ctx, address, realm, ad_realm)))

    servers = await discover(ctx, AdRole.KDC, found)
    ctx.record(servers)
    await asyncio.gather(*surveys)
