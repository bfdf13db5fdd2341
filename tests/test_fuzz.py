"""Property tests of every decoder and loader that reads untrusted bytes or files (review
section 3.2): mutated valid inputs and random ones, with a fixed seed (derandomize) so a
run is reproducible, a bounded input size, and a deadline of one second per input.

The property: nothing escapes but the exceptions each entry point documents, and no single
input takes more than a second. Each test runs a bounded number of examples (a second or
two in all); FUZZ_EXAMPLES=N in the environment runs N per test instead, for a longer hunt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amt_preflight import history
from amt_preflight.config import ConfigError, parse
from amt_preflight.hello import HashType, Hello, HelloError, RootHash
from amt_preflight.model import Result, RunResult, Status
from amt_preflight.observations.ad import KerberosQuestion
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import CertificateBundle
from amt_preflight.observations.dhcp import DhcpAnswer, domain_of, option6_questions
from amt_preflight.observations.dns import DnsQuestion
from amt_preflight.probes import certificate, http
from amt_preflight.probes import dns as probe_dns
from amt_preflight.probes import kerberos as probe_kerberos
from amt_preflight.probes.certificate import read_bundle
from amt_preflight.probes.dhcp import Rejected, Transaction, decode_frame
from amt_preflight.reports import FORMATS, render
from amt_preflight.reports.json_report import ReportInputError
from amt_preflight.reports.json_report import load as load_report
from lab import hostile_dhcp as wire
from lab import pki as lab_pki
from lab.fake_kdc import JUNK, krb_error

from . import runs
from .certs import Seen, bundle, healthy_downloads, lab_files, ocsp_answer, ok, run, www
from .test_hostile_certificates import bad_version, bit_string_name

pytestmark = [pytest.mark.filterwarnings("ignore:Parsed a serial number"),
              pytest.mark.filterwarnings("ignore:Attribute's length")]

REPOSITORY = Path(__file__).resolve().parents[1]
MAX_INPUT = 4096  # bytes of one generated input: the deadline then bounds the cost per byte


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis settings for one target: a fixed seed, no example database, a generous
    deadline per input (a decoder that needs a second for 4 KiB is a finding)."""
    return settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", examples)),
        deadline=timedelta(seconds=1),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
    )


# Bytes that steer a DER/BER or TLV decoder somewhere: tags, long lengths, end markers.
_INTERESTING = [b"\x00", b"\xff", b"\x30\x82\xff\xff", b"\x02\x01", b"\x03\x02\x00",
                b"\x04\x84\xff\xff\xff\xff", b"\x06\x03\x55\x04\x03", b"\x0c\x00", b"\xa0\x03",
                b"\x80", b"\x81\xff", b"\xc0\x0c", b"\r\n", b"-----END CERTIFICATE-----\n"]


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes], limit: int = MAX_INPUT) -> bytes:
    """A seed with a few byte flips, cuts, insertions (random or interesting bytes) and
    duplicated blocks; sometimes random bytes instead."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=min(limit, 512)))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "dup", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(_INTERESTING) | st.binary(max_size=8))
        elif kind == "dup" and data:
            end = draw(st.integers(at, min(len(data), at + 64)))
            data[at:at] = data[at:end]
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data[:limit])


# --- DNS: amt_preflight/probes/dns.py -------------------------------------------------

QUERY = dns.message.make_query("provisionserver.corp.example", "A")
QUESTION = DnsQuestion("10.250.0.1", "provisionserver.corp.example", "A")


def _dns_reply(records: list[tuple[str, str, list[str]]], rcode: int = 0, tc: bool = False,
               authority: bool = False) -> bytes:
    response = dns.message.make_response(QUERY)
    response.set_rcode(rcode)
    if tc:
        response.flags |= dns.flags.TC
    for name, kind, values in records:
        rrset = response.find_rrset(response.answer, dns.name.from_text(name), 1,
                                    dns.rdatatype.from_text(kind), create=True)
        rrset.update(dns.rrset.from_text_list(name, 60, "IN", kind, values))
    if authority:
        response.authority.append(dns.rrset.from_text(
            "corp.example.", 60, "IN", "SOA", "ns.corp.example. h.corp.example. 1 2 3 4 5"))
    return response.to_wire()


@cache
def _dns_seeds() -> list[bytes]:
    name = "provisionserver.corp.example."
    return [
        _dns_reply([(name, "A", ["10.250.0.10", "10.250.0.11"])]),
        _dns_reply([(name, "CNAME", ["ps.corp.example."]),
                    ("ps.corp.example.", "A", ["10.250.0.12"])]),
        _dns_reply([], rcode=dns.rcode.NXDOMAIN, authority=True),
        _dns_reply([(name, "A", ["10.250.0.10"])], tc=True),
        _dns_reply([(name, "CNAME", [name])]),  # a loop
    ]


@fuzz(300)
@given(mutated(_dns_seeds()))
def test_dns_replies_decode_to_an_answer_or_malformed(data: bytes) -> None:
    outcome, response, detail = probe_dns._parse(QUERY, data)
    exchange = probe_dns.Exchange(outcome, response, 1, 0.0, 1.0, detail)
    answer = probe_dns._to_answer(QUESTION, exchange)
    assert answer.outcome in (Outcome.ANSWER, Outcome.MALFORMED)
    json.dumps(answer.to_evidence())
    answer.describe()


# --- DHCP: amt_preflight/probes/dhcp.py --------------------------------------------------

CLIENT = b"\x02\x11\x22\x33\x44\x55"
XID = 0x1234ABCD
OURS = {XID: Transaction(XID, CLIENT, "DISCOVER", sent_at=100.0)}


@cache
def _dhcp_seeds() -> list[bytes]:
    good = (wire.option(53, b"\x02") + wire.option(54, bytes([10, 250, 0, 1]))
            + wire.option(15, b"corp.example") + wire.option(6, bytes([10, 250, 0, 1]) * 3)
            + wire.option(81, b"\x05\x00\x00" + b"\x04amtp\x04corp\x07example\x00")
            + wire.option(51, b"\x00\x00\x0e\x10"))
    overload = wire.option(52, b"\x03") + wire.option(53, b"\x05")
    server = b"\x52\x54\x00\x00\x00\x01"
    return [wire.frame(server, "10.250.0.1", wire.bootp(2, XID, CLIENT, good + b"\xff",
                                                        "10.250.0.150")),
            wire.frame(server, "10.250.0.1", wire.bootp(2, XID, CLIENT, overload + b"\xff"))]


@fuzz(300)
@given(mutated(_dhcp_seeds()))
def test_dhcp_frames_decode_to_an_answer_a_rejection_or_nothing(data: bytes) -> None:
    found = decode_frame(data, OURS, now=100.25)
    assert found is None or isinstance(found, DhcpAnswer | Rejected)
    if isinstance(found, DhcpAnswer):
        json.dumps(found.to_evidence())
        _ = found.dns_servers, found.client_fqdn, found.server
        if found.domain_name is not None:
            domain_of(found.domain_name)
        option6_questions(found, ["corp.example"])


# --- Kerberos: amt_preflight/probes/kerberos.py ------------------------------------------

KDC_QUESTION = KerberosQuestion("10.250.0.20", "CORP.EXAMPLE", "krbtgt", "udp")


@cache
def _kerberos_seeds() -> list[bytes]:
    return [krb_error("CORP.EXAMPLE", 25, ["krbtgt"]), krb_error("OTHER.EXAMPLE", 6), JUNK,
            probe_kerberos.as_request("CORP.EXAMPLE", "krbtgt", 7)]


@fuzz(200)
@given(mutated(_kerberos_seeds()))
def test_kerberos_replies_decode_to_a_reply_or_malformed(data: bytes) -> None:
    attempt = probe_kerberos._Attempt(Outcome.ANSWER, data)
    reply = probe_kerberos._reply(KDC_QUESTION, attempt, 1, 0.0, 1.0)
    assert reply.outcome in (Outcome.ANSWER, Outcome.MALFORMED)
    json.dumps(reply.to_evidence())


# --- the hello: amt_preflight/hello.py ---------------------------------------------------


@cache
def _hello_seeds() -> list[bytes]:
    hashes = [RootHash(HashType.SHA256, bytes(range(32))), RootHash(HashType.SHA384, bytes(48))]
    return [Hello.pki(uuid.UUID(int=7), hashes, retry_count=3).encode(),
            Hello.psk(uuid.UUID(int=8), "ABCD1234").encode()]


@fuzz(300)
@given(mutated(_hello_seeds()))
def test_hellos_decode_or_raise_hello_error(data: bytes) -> None:
    try:
        hello = Hello.decode(data)
    except HelloError:
        return
    assert Hello.decode(hello.encode()) == hello
    json.dumps(hello.to_evidence())


# --- HTTP responses: amt_preflight/probes/http.py ----------------------------------------


class _Writer:
    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass


_HTTP_SEEDS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.0 404 Not Found\r\n\r\nnot found\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n",
]


@fuzz(300)
@given(mutated(_HTTP_SEEDS))
def test_http_responses_end_as_an_outcome(data: bytes) -> None:
    async def exchange() -> tuple[Outcome, object]:
        reader = asyncio.StreamReader(limit=http.MAX_HEADER)
        reader.feed_data(data)
        reader.feed_eof()

        async def connect(*args: object, **kwargs: object) -> tuple[asyncio.StreamReader,
                                                                    _Writer]:
            return reader, _Writer()

        with mock.patch.object(http.asyncio, "open_connection", connect):
            return await http._exchange("192.0.2.1", 80, b"GET / HTTP/1.1\r\n\r\n", 1.0)

    outcome, reply = asyncio.run(exchange())
    assert outcome in (Outcome.ANSWER, Outcome.MALFORMED, Outcome.TIMEOUT)
    assert isinstance(reply, http._Reply | str)


# --- OCSP responses and CRLs: checks/ca.py on the bytes a responder or CA sent ------------


@cache
def _good_bundle() -> CertificateBundle:
    return bundle("good.pem")


def _with_leaf() -> tuple[Seen, str]:
    found = _good_bundle()
    leaf = found.leaf_certificate
    assert leaf is not None
    return Seen().certificate(found).http(*healthy_downloads().values()), leaf.sha256


@cache
def _ocsp_seeds() -> list[bytes]:
    good = lab_pki.BY_NAME["good"]
    return [ocsp_answer(good), ocsp_answer(good, revoked=True),
            ocsp_answer(good, signer="other"), bytes.fromhex("30030a0101")]  # malformedRequest


CA_STATUSES = {Status.PASS, Status.FAIL, Status.ERROR}


@fuzz(200)
@given(mutated(_ocsp_seeds()))
def test_ocsp_responses_are_judged_never_crash(data: bytes) -> None:
    seen, leaf = _with_leaf()
    seen.ocsp(leaf, ok(lab_pki.OCSP_URL, data, "POST"))
    for check in ("CA-OCSP-ANSWERS", "CA-NOT-REVOKED"):
        [finding] = run(check, seen)
        assert finding.status in CA_STATUSES


@fuzz(200)
@given(mutated([lab_files()["www/issuing.crl"], lab_files()["www/root.crl"],
                bit_string_name(lab_files()["www/issuing.crl"])]))
def test_crls_are_judged_never_crash(data: bytes) -> None:
    seen, leaf = _with_leaf()
    seen.http(replace(www("issuing.crl"), body=data))
    seen.ocsp(leaf, ok(lab_pki.OCSP_URL, _ocsp_seeds()[0], "POST"))
    for check in ("CA-CRL-FRESH", "CA-NOT-REVOKED"):
        [finding] = run(check, seen)
        assert finding.status in CA_STATUSES


@fuzz(200)
@given(mutated([lab_files()["www/issuing.crt"], lab_files()["www/root.crt"],
                lab_pki.PKCS7_DATA, bit_string_name(lab_files()["www/issuing.crt"]),
                bad_version(lab_files()["www/issuing.crt"])]))
def test_issuer_downloads_are_judged_never_crash(data: bytes) -> None:
    seen, _ = _with_leaf()
    seen.http(replace(www("issuing.crt"), body=data))
    for check in ("CA-AIA-REACHABLE", "CA-CRL-FRESH"):
        [finding] = run(check, seen)
        assert finding.status in CA_STATUSES


# --- certificate files: probes/certificate.read_bundle, and its PEM reader ---------------


@cache
def _bundle_seeds() -> list[bytes]:
    files = lab_files()
    return [files["bundles/good.pem"], files["bundles/good.pfx"], files["www/root.crt"],
            files["bundles/good-key-encrypted.pem"], files["bundles/ec-key.pem"],
            bit_string_name(files["www/root.crt"]), bad_version(files["www/root.crt"])]


@fuzz(150)
@given(mutated(_bundle_seeds(), limit=16384))
def test_certificate_files_load_to_an_outcome(data: bytes) -> None:
    found = read_bundle("corp.example", "fuzz", data, None, lab_pki.PASSWORD.encode())
    assert isinstance(found, CertificateBundle)
    json.dumps(found.to_evidence())


_LABELS = ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE", "PRIVATE KEY",
           "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "A", "PKCS7", ""]


@st.composite
def pem_files(draw: st.DrawFn) -> bytes:
    """Files of PEM-looking blocks: real and junk bodies, matching, other and missing END
    lines, CRLF or LF, text between blocks."""
    bodies = [b"MIIB", b"", b"!!not base64!!\n", b"-----BEGIN CERTIFICATE-----\n"]
    chain = lab_files()["bundles/good.pem"]
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        label = draw(st.sampled_from(_LABELS)).encode()
        if draw(st.booleans()) and label in (b"CERTIFICATE", b"PRIVATE KEY"):
            blocks = [b for b in chain.split(b"\n-----END ") if label in b.split(b"\n", 1)[0]]
            body = blocks[0].split(b"\n", 1)[1] + b"\n" if blocks else b""
        else:
            body = draw(st.sampled_from(bodies) | st.binary(max_size=64))
        newline = draw(st.sampled_from([b"\n", b"\r\n", b""]))
        end = draw(st.sampled_from([label, b"OTHER", None]))
        parts.append(b"-----BEGIN " + label + b"-----" + newline + body
                     + (b"-----END " + end + b"-----\n" if end is not None else b""))
        if draw(st.booleans()):
            parts.append(draw(st.binary(max_size=32)))
    return b"".join(parts)


@fuzz(200)
@given(pem_files())
def test_pem_files_load_to_an_outcome_and_blocks_are_whole(data: bytes) -> None:
    for label, block in certificate._pem_blocks(data):
        assert block.startswith(b"-----BEGIN " + label + b"-----")
        assert block.endswith(b"-----END " + label + b"-----")
    found = read_bundle("corp.example", "fuzz.pem", data, None, None)
    assert isinstance(found, CertificateBundle)


# --- config.yaml: config.parse -------------------------------------------------------------

_KEYS = ["defaults", "sites", "checks", "waivers", "history", "notify", "name", "interface",
         "resolvers", "dhcp", "ad", "amt", "ca", "handshake", "snmp", "domains", "timeout",
         "retries", "deadline", "disable", "severity", "check", "site", "target", "reason",
         "expires", "certificate", "file", "password_env", "provision_server", "devices",
         "host", "community_env", "generations", "custom_root_hashes", "flow", "listen",
         "allowed_servers", "window", "domain", "kdcs", "enterprise", "ports", "password"]
_SCALARS = (st.none() | st.booleans() | st.integers(-10, 100_000) | st.floats(allow_nan=False)
            | st.sampled_from(["hq", "corp.example", "10.0.0.1", "CERT-*", "2027-01-31",
                               "DNS-PROVSERVER-PTR", "x" * 300, "", "eth0"])
            | st.text(max_size=20))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), inner,
                                         max_size=5), max_leaves=25)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        document = {"sites": [{"name": "hq", **draw(st.dictionaries(
            st.sampled_from(_KEYS), _VALUES, max_size=4))}]}
        document.update(draw(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=3)))
        return yaml.safe_dump(document, sort_keys=False)
    shipped = (REPOSITORY / "config.yaml").read_bytes()
    return draw(mutated([shipped], limit=len(shipped) + 64)).decode("utf-8", "replace")


@fuzz(80)
@given(config_texts())
def test_config_files_parse_or_raise_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse(text, REPOSITORY / "fuzz.yaml")


# --- saved runs: reports/json_report.load and every renderer; history rows ---------------


def _result(check: str, target: str, status: Status, evidence: dict[str, Any]) -> Result:
    return runs.result(check, target, status, title=f"title of {check}", message="message",
                       evidence=evidence, remediation="remediation", references=["RFC"],
                       started="2026-11-28T12:00:00+00:00", duration_ms=3)


@cache
def _run_document() -> dict[str, Any]:
    """A run whose results carry the evidence every report section reads."""
    cert = {"subject": "CN=a", "issuer": "CN=b", "san_dns": ["a"], "eku": ["1.2"], "sha1": "0"}
    answer = {"message": "OFFER", "options": [{"code": 6, "name": "dns", "value": ["10.0.0.1"],
                                                "hex": "0a000001"}], "problems": ["p"]}
    results = [
        _result("DHCP-SERVER-ANSWERS", "eth0", Status.PASS,
                {"servers": {"10.0.0.1": [answer]}, "sent": ["DISCOVER"], "ignored": {"x": 1},
                 "malformed": ["00"], "dropped": 2, "window_s": 5}),
        _result("DHCP-OPT15-MATCH", "10.0.0.1", Status.FAIL,
                {"dhcp_server": {"server": "10.0.0.1", "interface": "eth0", "answers": [answer]}}),
        _result("CERT-LOADABLE", "corp.example", Status.PASS,
                {"certificates": [cert], "keys": ["RSA 2048"], "leaf": 0,
                 "certificates_not_shown": 1}),
        _result("CERT-ROOT-TRUSTED", "corp.example", Status.PASS,
                {"matches": {"11": {"ca": "x", "entry": "y", "algorithm": "sha256", "hash": "0"}}}),
        _result("CERT-DOMAIN-MATCH", "corp.example", Status.PASS, {"names": ["a"]}),
        _result("HS-CONNECT-BACK", "corp.example", Status.FAIL, {"attempts": [
            {"profile": "AMT 16", "hello": {"version": 3}, "timeline": [{"at_ms": 1,
                                                                           "event": "x"}],
             "connect_back": {"outcome": "handshake", "presented_chain": [cert]},
             "endpoint_tls": {"versions": ["TLSv1.2"]}, "likely_causes": ["c"]}]}),
        _result("HS-PRESENTED-CHAIN", "corp.example", Status.PASS,
                {"profiles": [{"profile": "AMT 16", "rules": [{"check": "CERT-X",
                                                               "status": "pass"}]}]}),
        _result("AD-CLOCK-SKEW", "10.0.0.5", Status.PASS,
                {"kdc": {"host_names": ["dc1"]}, "readings": [{"reply_realm": "CORP"}],
                 "offset_s": 0.5}),
        _result("AD-LDAP-ROOTDSE", "10.0.0.5", Status.PASS,
                {"rootdse": [{"address": "10.0.0.5", "clock_offset_s": 1}]}),
        _result("DEV-ROOT-ACTIVE", "pc-1", Status.FAIL, {"reason": "root-inactive",
                                                          "domain": "corp.example"}),
    ]
    return runs.run_of(results, started="2026-11-28T12:00:00+00:00",
                       finished="2026-11-28T12:00:09+00:00", host="h",
                       config="config.yaml").to_json()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)


@st.composite
def odd_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The run with a few evidence values (at any depth) replaced by JSON of another shape."""
    document = json.loads(json.dumps(_run_document()))
    for _ in range(draw(st.integers(1, 4))):
        node: Any = draw(st.sampled_from(document["results"]))["evidence"]
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(st.sampled_from(list(node) if isinstance(node, dict)
                                       else range(len(node))))
            child = node[key]
            if not isinstance(child, dict | list) or not child:
                break
            node = child
        if isinstance(node, dict) and node:
            node[draw(st.sampled_from(list(node)))] = draw(_JSON)
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(_JSON)
    return document


@fuzz(25)
@given(odd_documents() | st.builds(lambda b: {"raw": b}, mutated(
    [json.dumps(_run_document()).encode()], limit=20000)))
def test_saved_runs_render_in_every_format_or_are_refused(document: dict[str, Any]) -> None:
    text = (document["raw"].decode("utf-8", "replace") if "raw" in document
            else json.dumps(document))
    try:
        loaded = load_report(text if text.lstrip().startswith("{") else "{" + text)
    except ReportInputError:
        return
    for fmt in FORMATS:
        assert isinstance(render(fmt, loaded), str)


@fuzz(30)
@given(odd_documents() | st.builds(lambda b: {"raw": b}, mutated(
    [json.dumps(_run_document()).encode()], limit=20000)))
def test_history_rows_load_or_raise_history_error(document: dict[str, Any]) -> None:
    """A history database whose stored document was damaged (or written by another
    version) gives HistoryError, never a traceback (review L9: rows were loaded unchecked)."""
    import tempfile

    text = (document["raw"].decode("utf-8", "replace") if "raw" in document
            else json.dumps(document))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.sqlite"
        good = RunResult.from_json(_run_document())
        history.store(path, good)
        with sqlite3.connect(path) as db:
            db.execute("UPDATE runs SET document = ?", (text,))
        try:
            history.load(path, "run-1")
            history.previous_site_results(path, ["hq"], "2099-01-01T00:00:00+00:00")
        except history.HistoryError:
            pass
        assert history.runs(path)


def test_the_seeds_are_valid_inputs() -> None:
    """Mutations start from inputs that reach the deep paths of each decoder."""
    assert all(probe_dns._parse(QUERY, s)[0] is Outcome.ANSWER for s in _dns_seeds())
    assert isinstance(decode_frame(_dhcp_seeds()[0], OURS, 100.25), DhcpAnswer)
    assert probe_kerberos.parse_reply(_kerberos_seeds()[0]).message == "KRB-ERROR"
    assert all(Hello.decode(s) for s in _hello_seeds())
    assert read_bundle("d", "s", _bundle_seeds()[0], None, None).certificates
    assert load_report(json.dumps(_run_document())).results
