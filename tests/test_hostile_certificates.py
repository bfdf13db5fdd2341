"""Hostile certificates, CRL and issuer downloads, and certificate files: every exception
cryptography raises on them (pki.cert_errors(), not only ValueError) becomes a verdict with its
reason, never a crash or a wrong verdict. Also the PEM reader's cost and the size cap of an
HTTP body. No lab: hand-made observations and loopback servers only."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from amt_preflight import firmware, pki, tlsio
from amt_preflight.checks import ca as ca_checks
from amt_preflight.config import parse
from amt_preflight.model import Status
from amt_preflight.observations import Observations
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import CertificateBundle, HttpFetch, LoadOutcome
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.observations.handshake import ConnectBack, ConnectBackOutcome, HandshakeKind
from amt_preflight.probes import OncePerRun, SiteProbes, http
from amt_preflight.probes.certificate import read_bundle
from amt_preflight.probes.dns import DnsProbe
from amt_preflight.probes.handshake import HelloPlan, HelloQueue, Timeline, endpoint_identity
from amt_preflight.probes.observer import ProbeObserver
from lab import pki as lab_pki

from .certs import (
    Seen,
    bundle,
    healthy_downloads,
    lab_files,
    leaf_bundle,
    ocsp_answer,
    ok,
    run,
    status,
    www,
)
from .test_probe_handshake import HELLO, free_port, serving

pytestmark = [pytest.mark.filterwarnings("ignore:Parsed a serial number"),
              pytest.mark.filterwarnings("ignore:Attribute's length")]

HOST = "127.0.0.1"
AIA_JUNK = f"{lab_pki.PKI_URL}/{lab_pki.AIA_PKCS7_DATA}"


def bit_string_name(der: bytes, oid: bytes = bytes.fromhex("550403")) -> bytes:
    """The certificate with its first name attribute of this type (CN by default: the
    issuer's comes first) re-encoded as a BIT STRING of the same length, which OpenSSL
    accepts and cryptography refuses with TypeError (review M5, input A)."""
    at = der.index(b"\x06\x03" + oid + b"\x0c")
    tag = at + 5
    length = der[tag + 1]
    return der[:tag] + bytes([0x03, length, 0x00]) + der[tag + 3:]


def bad_version(der: bytes) -> bytes:
    """The certificate with version 0x19 (review M5, input B): x509.InvalidVersion."""
    at = der.index(bytes.fromhex("a003020102"))
    return der[:at + 4] + b"\x19" + der[at + 5:]


def good_der() -> bytes:
    return x509.load_pem_x509_certificate(lab_files()["bundles/good-chain.pem"]).public_bytes(
        serialization.Encoding.DER)


def pem(der: bytes) -> bytes:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


# --- one set of exceptions, caught everywhere ------------------------------------------


@pytest.mark.parametrize("data", [
    bit_string_name(good_der()), bad_version(good_der()), lab_pki.PKCS7_DATA,
    pem(bit_string_name(good_der())), pem(bad_version(good_der())),
], ids=["bit-string-name", "version-0x19", "pkcs7-data", "pem-bit-string", "pem-version"])
def test_loading_a_hostile_download_raises_value_error_only(data: bytes) -> None:
    with pytest.raises(ValueError):
        pki.load_certificates(data)


def test_a_download_of_thousands_of_certificates_is_refused_unparsed() -> None:
    issuing = x509.load_der_x509_certificate(lab_files()["www/issuing.crt"])
    one = issuing.public_bytes(serialization.Encoding.PEM)
    assert pki.load_certificates(one * pki.MAX_DOWNLOADED)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="more than"):
        pki.load_certificates(one * (10 * 2**20 // len(one)))  # the 10 MiB an HTTP body may be
    assert time.perf_counter() - started < 0.5


def test_a_bit_string_name_makes_facts_raise_a_cert_error_not_a_crash() -> None:
    cert = x509.load_der_x509_certificate(bit_string_name(good_der()))
    with pytest.raises(pki.cert_errors()) as raised:
        pki.facts(cert)
    assert isinstance(raised.value, TypeError)  # what a narrow `except ValueError` let out
    issuer = x509.load_der_x509_certificate(lab_files()["www/issuing.crt"])
    assert pki.signed_by(cert, issuer) is False and pki.issuer_among(cert, [issuer]) is None


@pytest.mark.parametrize(("data", "outcome", "words"), [
    (pem(bit_string_name(good_der())) + lab_files()["bundles/good-key.pem"],
     LoadOutcome.BAD_CERTIFICATE, "TypeError"),
    (pem(bad_version(good_der())), LoadOutcome.BAD_CERTIFICATE, "InvalidVersion"),
    (bad_version(good_der()), LoadOutcome.GARBAGE, "neither PEM, DER nor PKCS#12"),
    (bit_string_name(good_der()), LoadOutcome.BAD_CERTIFICATE, "does not parse"),
])
def test_a_hostile_certificate_file_is_a_bad_certificate_with_the_reason(
        data: bytes, outcome: LoadOutcome, words: str) -> None:
    found = read_bundle("corp.example", "hostile.pem", data, None, None)
    assert found.outcome is outcome and words in found.detail


def _with_unknown_key_algorithm(der: bytes) -> bytes:
    """rsaEncryption in the SubjectPublicKeyInfo replaced by an OID nobody knows."""
    rsa = bytes.fromhex("06092a864886f70d010101")
    assert der.count(rsa) == 1
    return der.replace(rsa, bytes.fromhex("06092a864886f70d010163"))


def test_key_matching_never_raises_on_a_certificate_whose_key_cannot_be_read() -> None:
    """The fuzzer's finding (review L11): the leaf's key is of an unknown algorithm, the
    private key cannot be compared with it, and the file is judged, not crashed on."""
    hostile = pem(_with_unknown_key_algorithm(good_der()))
    found = read_bundle("corp.example", "odd.pem", hostile + lab_files()["bundles/good-key.pem"],
                        None, None)
    assert found.outcome is LoadOutcome.KEY_MISMATCH
    assert found.certificates[0].key_type == "unknown"


# --- the CA checks and the OCSP probe on a caIssuers URL serving PKCS#7 junk --------------


def _revoked_with_junk_aia() -> Seen:
    """The lab's aia-pkcs7-junk certificate (revoked), its caIssuers URL answering the 13
    bytes of a PKCS#7 'data' ContentInfo, everything else as the lab serves it."""
    found = bundle("aia-pkcs7-junk.pem")
    leaf = found.leaf_certificate
    assert leaf is not None and leaf.ca_issuer_urls == (AIA_JUNK,)
    answer = ok(lab_pki.OCSP_URL, ocsp_answer(lab_pki.BY_NAME["aia-pkcs7-junk"], revoked=True),
                "POST")
    return (Seen().certificate(found).http(*healthy_downloads().values(),
                                           www(lab_pki.AIA_PKCS7_DATA))
            .ocsp(leaf.sha256, answer))


def test_a_pkcs7_caissuers_download_leaves_revoked_a_fail_not_an_error() -> None:
    seen = _revoked_with_junk_aia()
    [revoked] = run("CA-NOT-REVOKED", seen)
    assert (revoked.status, revoked.reason) == (Status.FAIL, "REVOKED")
    assert status("CA-CRL-FRESH", seen) is Status.PASS
    assert status("CA-OCSP-ANSWERS", seen) is Status.PASS
    [aia] = run("CA-AIA-REACHABLE", seen)
    assert (aia.status, aia.reason) == (Status.FAIL, "NOT_A_CERTIFICATE")
    [junk] = [p for p in aia.evidence["checked"] if p.get("url") == AIA_JUNK]
    assert junk["bytes"] == 13
    assert "UnsupportedAlgorithm" in junk["problem"]


def test_a_bit_string_issuer_certificate_at_caissuers_is_no_issuer() -> None:
    leaf = lab_pki.Leaf("aia-hostile", ca_issuers="issuing.crt")
    found = leaf_bundle(leaf, "root")  # the issuer is not in the file: caIssuers is asked
    hostile = bit_string_name(lab_files()["www/issuing.crt"])
    seen = Seen().certificate(found).http(*healthy_downloads().values()).http(
        ok(f"{lab_pki.PKI_URL}/issuing.crt", hostile))
    [aia] = run("CA-AIA-REACHABLE", seen)
    assert aia.status is Status.FAIL
    [crl] = run("CA-CRL-FRESH", seen)
    assert (crl.status, crl.reason) == (Status.ERROR, "ISSUER_UNKNOWN")  # cannot verify


def test_the_ocsp_probe_survives_a_pkcs7_caissuers_download(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """gather_ocsp downloads the issuer when the file lacks it: PKCS#7 junk there crashed
    the site's whole OCSP gathering (UnsupportedAlgorithm); now it is no issuer."""
    found = leaf_bundle(lab_pki.Leaf("junk-aia", ca_issuers=lab_pki.AIA_PKCS7_DATA), "root")
    facts = found.leaf_certificate
    assert facts is not None

    async def junk(ctx: object, url: str, *args: object) -> HttpFetch:
        return ok(url, lab_pki.PKCS7_DATA)

    monkeypatch.setattr(http, "fetch", junk)
    cert = x509.load_der_x509_certificate(facts.der)
    assert asyncio.run(http.issuer_of(None, cert, facts, found)) is None  # type: ignore[arg-type]


# --- a presented chain the synthetic endpoint cannot read -------------------------------


def test_a_connect_back_presenting_a_bit_string_name_is_reported_unreadable() -> None:
    """The provisioning server connects back with a client certificate whose CN is a BIT
    STRING: the handshake is recorded as it went (outcome HANDSHAKE), its chain as
    unreadable with the reason; before, the endpoint's handler died with a TypeError and the
    attempt waited for its timeout and said "nothing connected"."""
    key, certificate = endpoint_identity()
    hostile = bit_string_name(certificate.public_bytes(serialization.Encoding.DER))
    context = SSL.Context(SSL.TLS_METHOD)
    context.use_certificate(x509.load_der_x509_certificate(hostile))
    context.use_privatekey(key)
    tlsio.limit(context, ("TLSv1.2",), ("AES128-GCM-SHA256",))
    listen = free_port()

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()
        back_reader, back_writer = await asyncio.open_connection(HOST, listen)
        connection = SSL.Connection(context, None)
        connection.set_connect_state()
        try:
            await tlsio.handshake(connection, back_reader, back_writer)
            await asyncio.sleep(0.2)
        except (SSL.Error, OSError):
            pass
        back_writer.close()

    async def scenario() -> tuple[ConnectBack | None, float]:
        hello_server, port = await serving(server)
        async with hello_server:
            queue = HelloQueue(f"{HOST}:{listen}", timeout=1.0)
            plan = HelloPlan("corp.example", HandshakeKind.PKI, HOST, port, HELLO, 10.0, 0.0,
                             frozenset({HOST}), tls=firmware.TLS_FROM_15)
            started = time.monotonic()
            _, answer, _ = await queue.exchange(plan, Timeline(), asyncio.Semaphore(4))
        return answer, time.monotonic() - started

    answer, took = asyncio.run(scenario())
    assert answer is not None
    assert answer.outcome is ConnectBackOutcome.HANDSHAKE and answer.chain == ()
    problem = answer.chain_problem
    assert "unreadable" in problem and "TypeError" in problem, problem
    assert took < 5.0  # answered at once, not after the connect-back timeout


def test_described_names_the_unreadable_certificate() -> None:
    from amt_preflight.probes.handshake import _described

    readable = x509.load_der_x509_certificate(good_der())
    hostile = x509.load_der_x509_certificate(bit_string_name(good_der()))
    described, problem = _described([readable, hostile])
    assert len(described) == 1 and problem.startswith("certificate 2 of the chain is unreadable")


# --- the PEM reader's cost --------------------------------------------------------------


@pytest.mark.parametrize("line", [b"-----BEGIN CERTIFICATE-----\n", b"-----BEGIN A-----\n",
                                  b"-----BEGIN PRIVATE KEY-----\r\n-----END CERTIFICATE-----\n"])
def test_a_4_mib_pem_file_of_unterminated_blocks_reads_in_linear_time(line: bytes) -> None:
    """Review L11: the lazy BEGIN..END regex took 8.3 s for 200 KiB (about an hour for the
    4 MiB a file may have). One pass now: far below a second (measured: tens of ms)."""
    data = (line * (4 * 2**20 // len(line) + 1))[:4 * 2**20]
    started = time.perf_counter()
    found = read_bundle("corp.example", "blocks.pem", data, None, None)
    took = time.perf_counter() - started
    assert found.outcome is LoadOutcome.GARBAGE
    assert took < 1.0, f"{took:.2f} s for 4 MiB"


@pytest.mark.parametrize(("content", "outcome"), [
    ("bundles/good.pem", LoadOutcome.SEVERAL_KEYS),  # chain and key, again and again
    ("bundles/good-key.pem", LoadOutcome.SEVERAL_KEYS),  # 700 RSA keys took 30 s to check
    ("bundles/good-chain.pem", LoadOutcome.GARBAGE),  # 2,000 certificates
])
def test_a_4_mib_file_of_valid_blocks_is_refused_early(content: str,
                                                       outcome: LoadOutcome) -> None:
    block = lab_files()[content]
    data = (block * (4 * 2**20 // len(block)))[:4 * 2**20]
    started = time.perf_counter()
    found = read_bundle("corp.example", "many.pem", data, None, None)
    took = time.perf_counter() - started
    assert found.outcome is outcome and "more than" in found.detail
    assert took < 1.0, f"{took:.2f} s for 4 MiB"


def test_pem_blocks_are_found_after_an_unterminated_one() -> None:
    chain = lab_files()["bundles/good.pem"]
    data = b"-----BEGIN CERTIFICATE-----\nnever ends\n" + b"junk\n" * 1000 + chain
    found = read_bundle("corp.example", "mixed.pem", data, None, None)
    # the first BEGIN swallows everything up to the chain's first END, as PEM readers do
    assert found.outcome in (LoadOutcome.BAD_CERTIFICATE, LoadOutcome.LOADED)
    whole = read_bundle("corp.example", "good.pem", b"preamble\n" + chain, None, None)
    assert whole.outcome is LoadOutcome.LOADED and len(whole.certificates) == 3


# --- an HTTP body over the cap -----------------------------------------------------------


def _context(timeout: float = 2.0) -> SiteProbes:
    cfg = parse(f"defaults: {{timeout: {timeout}, retries: 0}}\nsites: [{{name: lab}}]",
                Path("/") / "lab.yaml")
    obs = Observations()
    dns = DnsProbe(obs, asyncio.Semaphore(4), timeout, 0, ProbeObserver())
    return SiteProbes(cfg, cfg.sites[0], obs, dns, ResolverSet((), "config"), False, OncePerRun())


async def _announces_huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n"
                 b"Content-Length: 67108864\r\n\r\n" + b"\x30\x82" + bytes(1000))
    await writer.drain()
    writer.close()


async def _streams_huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n\r\n")
    try:
        for _ in range(http.MAX_BODY // 65536 + 4):
            writer.write(bytes(65536))
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


@pytest.mark.parametrize(("handler", "said"), [
    (_announces_huge, "announces 67108864 bytes (Content-Length)"),
    (_streams_huge, f"more than the {http.MAX_BODY} bytes this tool reads arrived"),
], ids=["content-length", "streamed"])
def test_a_body_over_the_cap_is_reported_too_large_with_its_size(
        handler: object, said: str) -> None:
    async def scenario() -> HttpFetch:
        server = await asyncio.start_server(handler, HOST, 0)  # type: ignore[arg-type]
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await http.fetch(_context(), f"http://{HOST}:{port}/huge.crl")

    fetch = asyncio.run(scenario())
    assert fetch.truncated and fetch.status == 200 and said in fetch.detail
    part = ca_checks._unfetched(fetch)
    assert part is not None and (part.status, part.reason) == (Status.ERROR, "TOO_LARGE")
    assert said in part.text
    assert ", 0 bytes" not in part.text and "cut at" not in part.text


def test_a_truncated_fetch_without_detail_still_says_too_large() -> None:
    part = ca_checks._unfetched(HttpFetch(f"{lab_pki.PKI_URL}/issuing.crl", "GET",
                                          Outcome.ANSWER, 200, truncated=True))
    assert part is not None and (part.status, part.reason) == (Status.ERROR, "TOO_LARGE")


def test_no_certificate_bundle_has_facts_of_an_unreadable_certificate() -> None:
    """A bundle is all facts or a refusal: CA checks never see half-parsed certificates."""
    found = read_bundle("corp.example", "x.pem", pem(bit_string_name(good_der())), None, None)
    assert isinstance(found, CertificateBundle) and found.certificates == ()
