"""HTTP probe: CRL and issuer downloads, OCSP requests, on a small HTTP/1.1 client.

Its own client on asyncio streams, not an HTTP library: CDP, AIA and OCSP are plain http://
by design, and what matters here is bounds a hostile server cannot stretch: a timeout per
attempt, an idle timeout while a body arrives, and a size cap on what is kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from amt_preflight import pki
from amt_preflight.model import TOOL_NAME, TOOL_VERSION
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import (
    CertificateBundle,
    CertificateFacts,
    HttpFetch,
    OcspFetch,
)
from amt_preflight.probes import certificate
from amt_preflight.probes.tcp import resolve
from amt_preflight.probes.wire import os_error

if TYPE_CHECKING:
    from amt_preflight.probes import SiteProbes


MAX_BODY = 10 * 2**20  # bytes kept of one body: a CRL larger than this is not judged
MAX_HEADER = 64 * 1024  # bytes of status line and headers
BODY_TIMEOUTS = 10  # a body may take this many timeouts in all (megabytes on a slow link)
OCSP_REQUEST = "application/ocsp-request"
USER_AGENT = f"{TOOL_NAME}/{TOOL_VERSION}"


@dataclass(frozen=True)
class _Reply:
    status: int
    content_type: str
    body: bytes
    truncated: bool
    detail: str = ""


def _request(method: str, url: str, body: bytes, content_type: str) -> tuple[str, int, bytes]:
    """(host, port, request bytes) for an http:// URL; ValueError when it cannot be sent."""
    problem = pki.url_problem(url)
    if problem:
        raise ValueError(problem)
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", f"User-Agent: {USER_AGENT}",
             "Accept: */*", "Connection: close"]
    if method == "POST":
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def _head(data: bytes) -> tuple[int, dict[str, str]]:
    """Status code and headers (names lower-cased) of a response head; ValueError if bad."""
    lines = data.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"not a header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
    return int(code), headers


async def _read(reader: asyncio.StreamReader, limit: int, timeout: float) -> bytes:
    """Up to `limit` bytes (b"" at the end of the stream), waiting at most `timeout`."""
    async with asyncio.timeout(timeout):
        return await reader.read(limit)


async def _body(
    reader: asyncio.StreamReader, headers: dict[str, str], timeout: float
) -> tuple[bytes, bool, str]:
    """(the body up to MAX_BODY bytes, whether there was more, a note saying how large it
    was announced or seen to be when there was)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return b"", True, (f"it announces {int(declared)} bytes (Content-Length), more than "
                           f"the {MAX_BODY} this tool reads; none was read")
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    wanted = int(declared) if declared.isdigit() and not chunked else None
    body = bytearray()
    async with asyncio.timeout(timeout * BODY_TIMEOUTS):
        if chunked:
            while True:
                async with asyncio.timeout(timeout):
                    size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    break
                if len(body) + size > MAX_BODY:
                    return bytes(body), True, (
                        f"after {len(body)} bytes it announces a chunk of {size} more, beyond "
                        f"the {MAX_BODY} this tool reads")
                async with asyncio.timeout(timeout):
                    body += (await reader.readexactly(size + 2))[:size]
        else:
            while wanted is None or len(body) < wanted:
                more = await _read(reader, min(65536, MAX_BODY + 1 - len(body)), timeout)
                if not more:
                    break
                body += more
                if len(body) > MAX_BODY:
                    return bytes(body[:MAX_BODY]), True, (
                        f"more than the {MAX_BODY} bytes this tool reads arrived "
                        f"({'no Content-Length' if wanted is None else f'{wanted} announced'}"
                        "); it stopped reading there")
    if wanted is not None and len(body) < wanted:
        raise asyncio.IncompleteReadError(bytes(body), wanted)
    return bytes(body), False, ""


async def _exchange(
    address: str, port: int, request: bytes, timeout: float
) -> tuple[Outcome, _Reply | str]:
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEADER)
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        status, headers = _head(head[:-4])
        body, truncated, note = await _body(reader, headers, timeout)
        return Outcome.ANSWER, _Reply(status, headers.get("content-type", ""), body, truncated,
                                      note)
    except TimeoutError:
        return Outcome.TIMEOUT, f"no complete answer in {timeout:g} s"
    except asyncio.IncompleteReadError as exc:
        return Outcome.MALFORMED, f"connection closed after {len(exc.partial)} bytes"
    except asyncio.LimitOverrunError:
        return Outcome.MALFORMED, f"status line and headers longer than {MAX_HEADER} bytes"
    except ValueError as exc:
        return Outcome.MALFORMED, str(exc)
    except OSError as exc:
        return Outcome.UNREACHABLE, os_error(exc)
    finally:
        if writer is not None:
            writer.close()


async def fetch(
    ctx: SiteProbes, url: str, method: str = "GET", body: bytes = b"", content_type: str = ""
) -> HttpFetch:
    """One HTTP exchange, retried after silence only; the same request goes out once a run."""
    key = ("http", method, url, body, ctx.resolvers.addresses)
    return await ctx.once.run(key, lambda: _fetch(ctx, url, method, body, content_type))


async def _fetch(
    ctx: SiteProbes, url: str, method: str, body: bytes, content_type: str
) -> HttpFetch:
    started, clock = time.time(), time.monotonic()
    try:
        host, port, request = _request(method, url, body, content_type)
    except ValueError as exc:
        return HttpFetch(url, method, Outcome.MALFORMED, started_at=started,
                         detail=f"cannot be requested: {exc}")
    address, resolution, failed = await resolve(ctx, host)
    if address is None:
        return HttpFetch(url, method, failed, started_at=started,
                         elapsed_ms=(time.monotonic() - clock) * 1000, detail=resolution)
    timeout = ctx.config.defaults.timeout
    (outcome, reply), count = await ctx.retried(
        f"{method} {url}", lambda: _exchange(address, port, request, timeout),
        lambda tried: tried[0])
    elapsed = (time.monotonic() - clock) * 1000
    if isinstance(reply, str):
        return HttpFetch(url, method, outcome, address=address, attempts=count,
                         started_at=started, elapsed_ms=elapsed, detail=f"{resolution}; {reply}")
    # A body over the cap: its size first, the words a report shows for a download too
    # large to judge (never "HTTP 200, 0 bytes")
    detail = f"{reply.detail} ({resolution})" if reply.detail else resolution
    return HttpFetch(url, method, outcome, reply.status, reply.content_type, reply.body,
                     reply.truncated, address, count, started, elapsed, detail)


# --- OCSP ------------------------------------------------------------------------------


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """A DER OCSP request for one certificate, CertID hashed with SHA-1 as RFC 6960 responders
    expect; without a nonce, so the same question is asked once a run."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


async def issuer_of(
    ctx: SiteProbes, cert: x509.Certificate, facts: CertificateFacts,
    bundle: CertificateBundle,
) -> x509.Certificate | None:
    """The certificate that signed `cert`: from the file, else from its caIssuers URLs. A
    download that is not a certificate (a hostile or broken CA) is no issuer, never a crash:
    CA-AIA-REACHABLE judges it."""
    in_file = pki.issuer_among(cert, [x509.load_der_x509_certificate(c.der)
                                      for c in bundle.certificates])
    if in_file is not None:
        return in_file
    for url in pki.fetchable(facts.ca_issuer_urls):
        download = await fetch(ctx, url)
        try:
            found = pki.issuer_among(cert, pki.load_certificates(download.body))
        except pki.cert_errors():
            continue
        if download.ok and found is not None:
            return found
    return None


# --- What to fetch: one gatherer per Need (see catalogue.Need) ---------------------------


async def _record(ctx: SiteProbes, url: str, method: str, probe: Awaitable[HttpFetch],
                  ocsp_about: str | None = None) -> None:
    """Keep what `probe` fetched (an OCSP answer about the certificate whose SHA-256 is
    `ocsp_about`); what the run's deadline cut short is kept as such."""
    def record(fetched: HttpFetch) -> None:
        ctx.record(fetched if ocsp_about is None else OcspFetch(ocsp_about, fetched))

    try:
        record(await probe)
    except asyncio.CancelledError:
        record(HttpFetch(url, method, Outcome.DEADLINE, detail="the run's deadline ended it"))
        raise


async def _downloads(ctx: SiteProbes, urls_of: Callable[[CertificateFacts], tuple[str, ...]]
                     ) -> None:
    """GET every fetchable URL of one kind (CRL, caIssuers) in the leaf and intermediates of
    every domain's certificate."""
    bundles = await certificate.site_bundles(ctx)
    urls = {u for bundle in bundles for cert in bundle.issued for u in pki.fetchable(urls_of(cert))}
    await asyncio.gather(*(_record(ctx, u, "GET", fetch(ctx, u)) for u in sorted(urls)))


async def gather_crls(ctx: SiteProbes) -> None:
    await _downloads(ctx, lambda cert: cert.crl_urls)


async def gather_aia(ctx: SiteProbes) -> None:
    await _downloads(ctx, lambda cert: cert.ca_issuer_urls)


async def gather_ocsp(ctx: SiteProbes) -> None:
    """Every OCSP URL of the leaf and intermediates, asked about its certificate; the
    issuer it needs comes from the file or, as soon as it is downloaded, from caIssuers."""
    bundles = await certificate.site_bundles(ctx)

    async def one(bundle: CertificateBundle, facts: CertificateFacts) -> None:
        cert = x509.load_der_x509_certificate(facts.der)
        urls = pki.fetchable(facts.ocsp_urls)
        issuer = await issuer_of(ctx, cert, facts, bundle) if urls else None
        for url in urls:
            if issuer is None:
                ctx.record(OcspFetch(facts.sha256, HttpFetch(
                    url, "POST", Outcome.NOT_OBSERVED, detail="not asked: the issuer "
                    "certificate is neither in the file nor at a caIssuers URL")))
                continue
            await _record(ctx, url, "POST",
                          fetch(ctx, url, "POST", ocsp_request(cert, issuer), OCSP_REQUEST),
                          ocsp_about=facts.sha256)

    await asyncio.gather(*(one(b, c) for b in bundles for c in b.issued))
