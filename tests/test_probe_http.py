"""The HTTP, OCSP and TCP probes: against the lab's CA web server and openssl's OCSP
responder, and against small misbehaving servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from amt_preflight.config import parse
from amt_preflight.observations import Observations
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import HttpFetch
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.probes import OncePerRun, SiteProbes, http, tcp
from amt_preflight.probes.dns import DnsProbe
from amt_preflight.probes.observer import ProbeObserver
from lab import Lab, network, pki

from .certs import lab_files

T = TypeVar("T")
CA = network.ADDRESSES["ca"]
NOBODY = network.ADDRESSES["provision_server"]  # nothing listens on its port 80


class Counter(ProbeObserver):
    def __init__(self) -> None:
        self.started: list[str] = []

    def probe_started(self, what: str) -> None:
        self.started.append(what)


def context(counter: Counter, timeout: float = 1.0, retries: int = 0,
            certificate_yaml: str = "") -> SiteProbes:
    domains = f", domains: [{{name: corp.example, certificate: {certificate_yaml}}}]" if (
        certificate_yaml) else ""
    cfg = parse(f"defaults: {{timeout: {timeout}, retries: {retries}}}\n"
                f"sites: [{{name: lab{domains}}}]", Path("/") / "lab.yaml")
    obs = Observations()
    dns = DnsProbe(obs, asyncio.Semaphore(16), timeout, retries, counter)
    resolvers = ResolverSet((network.ADDRESSES["dnsmasq"],), "config")
    return SiteProbes(cfg, cfg.sites[0], obs, dns, resolvers, False, OncePerRun())


def in_lab(lab: Lab, work: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await work()

    with lab.in_client():
        return asyncio.run(main())


def fetch(lab: Lab, url: str, timeout: float = 1.0, retries: int = 0) -> HttpFetch:
    return in_lab(lab, lambda: http.fetch(context(Counter(), timeout, retries), url))


# --- against the lab ---------------------------------------------------------------------


@pytest.mark.lab
def test_crl_downloads_by_name(lab: Lab) -> None:
    got = fetch(lab, f"{pki.PKI_URL}/issuing.crl")
    assert (got.outcome, got.status, got.address) == (Outcome.ANSWER, 200, CA)
    crl = x509.load_der_x509_crl(got.body)
    assert crl.get_revoked_certificate_by_serial_number(pki.serial(pki.BY_NAME["revoked"]))


@pytest.mark.lab
def test_missing_file_is_404(lab: Lab) -> None:
    got = fetch(lab, f"{pki.PKI_URL}/missing.crt")
    assert (got.outcome, got.status, got.ok) == (Outcome.ANSWER, 404, False)


@pytest.mark.lab
def test_huge_crl_is_cut_at_the_cap(lab: Lab) -> None:
    got = fetch(lab, f"{pki.PKI_URL}/{pki.HUGE_CRL}", timeout=3)
    assert got.outcome is Outcome.ANSWER and got.truncated
    assert len(got.body) == http.MAX_BODY


@pytest.mark.lab
def test_stalling_server_times_out_after_every_attempt(lab: Lab) -> None:
    got = fetch(lab, pki.STALL_URL, timeout=0.5, retries=1)
    assert (got.outcome, got.attempts) == (Outcome.TIMEOUT, 2)


@pytest.mark.lab
def test_unknown_name_and_refused_port(lab: Lab) -> None:
    assert fetch(lab, "http://nothing.corp.example/x.crl").outcome is Outcome.UNREACHABLE
    assert fetch(lab, f"http://{NOBODY}/x.crl").outcome is Outcome.UNREACHABLE


@pytest.mark.lab
@pytest.mark.parametrize(("name", "status"), [("good", ocsp.OCSPCertStatus.GOOD),
                                              ("revoked", ocsp.OCSPCertStatus.REVOKED)])
def test_openssl_ocsp_responder_answers(lab: Lab, name: str, status: ocsp.OCSPCertStatus
                                        ) -> None:
    issuing = pki.ca_certificates()["issuing"]
    cert = x509.load_pem_x509_certificate(lab_files()[f"bundles/{name}.pem"])
    body = http.ocsp_request(cert, issuing)
    got = in_lab(lab, lambda: http.fetch(context(Counter()), pki.OCSP_URL, "POST", body,
                                         http.OCSP_REQUEST))
    assert got.status == 200
    response = ocsp.load_der_ocsp_response(got.body)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is status


@pytest.mark.lab
def test_the_same_url_is_fetched_once(lab: Lab) -> None:
    counter = Counter()

    async def twice() -> list[HttpFetch]:
        ctx = context(counter)
        url = f"{pki.PKI_URL}/root.crl"
        return list(await asyncio.gather(http.fetch(ctx, url), http.fetch(ctx, url)))

    first, second = in_lab(lab, twice)
    assert first is second
    assert [w for w in counter.started if w.startswith("GET")] == [f"GET {pki.PKI_URL}/root.crl"]


@pytest.mark.lab
def test_ocsp_issuer_comes_from_aia_when_the_file_lacks_it(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "leaf.pem").write_bytes(lab_files()["bundles/missing-intermediate.pem"])
    counter = Counter()

    async def gather() -> SiteProbes:
        ctx = context(counter, certificate_yaml=f"{{file: {tmp_path / 'leaf.pem'}}}")
        await http.gather_ocsp(ctx)
        return ctx

    ctx = in_lab(lab, gather)
    [(key, answer)] = ctx.observations.ocsp.items()
    assert key[1] == pki.OCSP_URL and answer.fetch.status == 200
    assert key[2] == answer.certificate_sha256
    assert f"GET {pki.PKI_URL}/issuing.crt" in counter.started


@pytest.mark.lab
def test_tcp_to_the_enterprise_ca(lab: Lab) -> None:
    async def both() -> tuple[Outcome, Outcome]:
        ctx = context(Counter(), timeout=1)
        open_port = await tcp.connect(ctx, pki.CA_HOST, 80)
        closed = await tcp.connect(ctx, pki.CA_HOST, 135)
        return open_port.outcome, closed.outcome

    assert in_lab(lab, both) == (Outcome.ANSWER, Outcome.UNREACHABLE)


# --- against misbehaving servers on loopback ----------------------------------------------


def loopback(reply: bytes, hold: float = 0.0) -> HttpFetch:
    """What the probe makes of a server on 127.0.0.1 that sends `reply` to any request,
    then holds the connection `hold` seconds before closing it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            await asyncio.sleep(hold)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> HttpFetch:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await http.fetch(context(Counter(), timeout=0.5), f"http://127.0.0.1:{port}/x")
        finally:
            server.close()

    return asyncio.run(main())


def test_chunked_body() -> None:
    got = loopback(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n")
    assert (got.status, got.body) == (200, b"abcdefg")


def test_body_read_to_the_end_without_length() -> None:
    got = loopback(b"HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n\r\n" + b"x" * 5000)
    assert (got.status, len(got.body), got.content_type) == (200, 5000, "application/pkix-crl")


@pytest.mark.parametrize(("reply", "outcome"), [
    (b"SSH-2.0-OpenSSH\r\n\r\n", Outcome.MALFORMED),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", Outcome.MALFORMED),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Junk: " + b"a" * 70000 + b"\r\n\r\n", Outcome.MALFORMED),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Outcome.MALFORMED),
])
def test_broken_answers(reply: bytes, outcome: Outcome) -> None:
    assert loopback(reply).outcome is outcome


def test_declared_size_over_the_cap_is_not_read() -> None:
    got = loopback(f"HTTP/1.1 200 OK\r\nContent-Length: {http.MAX_BODY + 1}\r\n\r\n".encode(),
                   hold=5)
    assert got.truncated and got.body == b""


def test_body_that_stalls_times_out() -> None:
    got = loopback(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart", hold=5)
    assert got.outcome is Outcome.TIMEOUT


@pytest.mark.parametrize("url", ["ldap:///CN=CDP", "https://ca01.corp.example/x.crl",
                                 "http://ca01.corp.example/a b", "http:///nohost",
                                 "http://ca01.corp.example:99999/x"])
def test_urls_that_are_not_requested(url: str) -> None:
    async def main() -> HttpFetch:
        return await http.fetch(context(Counter()), url)

    assert asyncio.run(main()).outcome is Outcome.MALFORMED
