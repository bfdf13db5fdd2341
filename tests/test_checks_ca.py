"""CA-* checks on hand-made observations: the lab CA's real CRLs, certificates and OCSP
answers (made in memory), and the ways a download goes wrong."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from amt_preflight.model import NO_TARGET, Status
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import CertificateBundle, HttpFetch
from lab import pki

from .certs import (
    CRL,
    ISSUING_CRT,
    NOW,
    ROOT_CRL,
    ROOT_CRT,
    Seen,
    bundle,
    healthy_downloads,
    lab_files,
    leaf_bundle,
    ocsp_answer,
    ok,
    run,
    status,
    verdict,
    www,
)
from .observed import site


def leaf_of(found: CertificateBundle) -> str:
    leaf = found.leaf_certificate
    assert leaf is not None
    return leaf.sha256


def healthy(name: str = "good", revoked: bool = False) -> Seen:
    """A bundle of the lab with every download and OCSP answer as the lab serves them."""
    found = bundle(f"{name}.pem")
    seen = Seen().certificate(found).http(*healthy_downloads().values())
    answer = ok(pki.OCSP_URL, ocsp_answer(pki.BY_NAME[name], revoked=revoked), "POST")
    return seen.ocsp(leaf_of(found), answer)


# --- CA-CRL-FRESH


def test_crl_fresh_passes_for_the_leaf_and_the_intermediate() -> None:
    [finding] = run("CA-CRL-FRESH", healthy())
    assert finding.status is Status.PASS
    assert {c["url"] for c in finding.evidence["checked"]} == {CRL, ROOT_CRL}
    assert (finding.started_at, finding.duration_ms) == (NOW, 1)  # when the downloads ran


@pytest.mark.parametrize(("fetch", "expected", "tag"), [
    (replace(www("stale.crl"), url=CRL), Status.FAIL, "STALE"),
    (replace(www("forged.crl"), url=CRL), Status.FAIL, "BAD_SIGNATURE"),  # not the issuer's
    (ok(CRL, b"<html>gateway error</html>"), Status.FAIL, "NOT_A_CRL"),
    (replace(www("issuing.crl"), status=404), Status.FAIL, "HTTP_STATUS"),
    (HttpFetch(CRL, outcome=Outcome.TIMEOUT, attempts=2, detail="no answer"), Status.FAIL,
     "NO_ANSWER"),
    (HttpFetch(CRL, outcome=Outcome.UNREACHABLE, detail="ca01 does not resolve"), Status.FAIL,
     "NO_ANSWER"),
    # a CRL of many megabytes
    (replace(www("issuing.crl"), truncated=True), Status.ERROR, "TOO_LARGE"),
    (HttpFetch(CRL, outcome=Outcome.DEADLINE), Status.ERROR, "NOT_FETCHED"),
])
def test_crl_fresh_failures(fetch: HttpFetch, expected: Status, tag: str) -> None:
    assert verdict("CA-CRL-FRESH", healthy().http(fetch)) == (expected, tag)


def test_crl_fresh_never_fetched_is_an_error() -> None:
    assert verdict("CA-CRL-FRESH", Seen().certificate(bundle("good.pem"))) == (
        Status.ERROR, "NOT_FETCHED")


def test_crl_signature_needs_the_issuer_from_aia_when_the_file_lacks_it() -> None:
    found = bundle("missing-intermediate.pem")
    seen = Seen().certificate(found).http(www("issuing.crl"), www("root.crl"))
    # nobody to check the signature with
    assert verdict("CA-CRL-FRESH", seen) == (Status.ERROR, "ISSUER_UNKNOWN")
    seen.http(www("issuing.crt"))
    assert verdict("CA-CRL-FRESH", seen) == (Status.PASS, None)


def test_crl_without_distribution_points_is_skipped_and_ldap_only_fails() -> None:
    none = pki.Leaf("no-cdp", crl="x")
    found = leaf_bundle(none)
    leaf = found.leaf_certificate
    assert leaf is not None
    bare = replace(found, certificates=(replace(leaf, crl_urls=()),))
    assert verdict("CA-CRL-FRESH", Seen().certificate(bare)) == (Status.SKIPPED, "NO_CRL_URL")
    ldap = replace(found, certificates=(replace(leaf, crl_urls=("ldap:///CN=CA,CN=CDP",)),))
    [finding] = run("CA-CRL-FRESH", Seen().certificate(ldap))
    assert (finding.status, finding.reason) == (Status.FAIL, "MALFORMED_URL")
    assert finding.evidence["checked"][-1]["url"] == "ldap:///CN=CA,CN=CDP"


@pytest.mark.parametrize(("field", "check"), [
    ("crl_urls", "CA-CRL-FRESH"), ("ocsp_urls", "CA-OCSP-ANSWERS"),
    ("ca_issuer_urls", "CA-AIA-REACHABLE")])
@pytest.mark.parametrize("url", ["http://ca 01/x.crl", "http://ca01:99999/x", "http:///x",
                                 "ca01.corp.example/x.crt"])
def test_a_url_that_is_not_well_formed_http_is_a_fail_naming_it(field: str, check: str,
                                                                 url: str) -> None:
    found = leaf_bundle(pki.Leaf("odd-urls", crl="x"))
    leaf = found.leaf_certificate
    assert leaf is not None
    odd = replace(found, certificates=(replace(leaf, **{field: (url,)}),))
    [finding] = run(check, Seen().certificate(odd))
    assert (finding.status, finding.reason) == (Status.FAIL, "MALFORMED_URL")
    assert finding.evidence["checked"][-1]["url"] == url


def test_crl_and_ocsp_are_hygiene_not_blockers() -> None:
    from amt_preflight.checks import spec

    assert {spec(c).severity.value for c in ("CA-CRL-FRESH", "CA-OCSP-ANSWERS")} == {"medium"}


# --- CA-NOT-REVOKED


def test_not_revoked_passes() -> None:
    assert status("CA-NOT-REVOKED", healthy()) is Status.PASS


def test_not_revoked_without_crl_or_ocsp_url_is_skipped() -> None:
    found = leaf_bundle(pki.Leaf("no-urls", crl="x"))
    leaf = found.leaf_certificate
    assert leaf is not None
    bare = replace(found, certificates=(replace(leaf, crl_urls=(), ocsp_urls=()),))
    assert verdict("CA-NOT-REVOKED", Seen().certificate(bare)) == (
        Status.SKIPPED, "NO_REVOCATION_URL")


def test_revoked_on_the_crl_and_by_ocsp_fails() -> None:
    [finding] = run("CA-NOT-REVOKED", healthy("revoked", revoked=True))
    assert (finding.status, finding.reason) == (Status.FAIL, "REVOKED")
    [leaf] = [c for c in finding.evidence["checked"] if c["serial"] == format(
        pki.serial(pki.BY_NAME["revoked"]), "x")]
    assert any("revoked" in s for s in leaf["sources"])


def test_revoked_by_ocsp_alone_fails() -> None:
    seen = healthy(revoked=True)  # the CRL does not list "good"; OCSP says revoked
    assert verdict("CA-NOT-REVOKED", seen) == (Status.FAIL, "REVOKED")


def test_a_forged_crl_is_no_source() -> None:
    seen = healthy("revoked").http(replace(www("forged.crl"), url=CRL))
    seen.ocsp(leaf_of(bundle("revoked.pem")), HttpFetch(pki.OCSP_URL, "POST", Outcome.TIMEOUT))
    assert verdict("CA-NOT-REVOKED", seen) == (Status.ERROR, "UNDECIDED")


# --- CA-OCSP-ANSWERS


def test_ocsp_answers_pass_even_when_revoked() -> None:
    assert status("CA-OCSP-ANSWERS", healthy()) is Status.PASS
    assert status("CA-OCSP-ANSWERS", healthy("revoked", revoked=True)) is Status.PASS


def _ocsp(body: bytes) -> Seen:
    found = bundle("good.pem")
    return healthy().ocsp(leaf_of(found), ok(pki.OCSP_URL, body, "POST"))


GOOD = pki.BY_NAME["good"]


@pytest.mark.parametrize(("body", "tag"), [
    (ocsp_answer(GOOD, signer="other"), "BAD_SIGNATURE"),  # not signed by the CA
    (ocsp_answer(GOOD, next_update=NOW - timedelta(minutes=5)), "STALE"),
    (ocsp_answer(GOOD, about=pki.BY_NAME["oid-only"]), "WRONG_SERIAL"),  # another certificate
    (bytes.fromhex("30030a0106"), "OCSP_UNSUCCESSFUL"),  # "unauthorized"
    (b"not DER", "NOT_AN_OCSP_RESPONSE"),
])
def test_ocsp_answer_problems(body: bytes, tag: str) -> None:
    assert verdict("CA-OCSP-ANSWERS", _ocsp(body)) == (Status.FAIL, tag)


def test_an_ocsp_answer_from_the_future_fails() -> None:
    earlier = NOW - timedelta(hours=1)  # the answer's thisUpdate is a minute before NOW
    assert verdict("CA-OCSP-ANSWERS", healthy(), now=earlier) == (Status.FAIL, "FROM_THE_FUTURE")


def test_stalling_responder_fails_and_one_not_asked_is_an_error() -> None:
    found = bundle("good.pem")
    stalled = HttpFetch(pki.OCSP_URL, "POST", Outcome.TIMEOUT, attempts=2, detail="stalled")
    assert verdict("CA-OCSP-ANSWERS", healthy().ocsp(leaf_of(found), stalled)) == (
        Status.FAIL, "NO_ANSWER")
    unasked = HttpFetch(pki.OCSP_URL, "POST", Outcome.NOT_OBSERVED, detail="no issuer")
    assert verdict("CA-OCSP-ANSWERS", healthy().ocsp(leaf_of(found), unasked)) == (
        Status.ERROR, "NOT_FETCHED")


def test_no_ocsp_url_is_skipped() -> None:
    found = bundle("good.pem")
    leaf = found.leaf_certificate
    assert leaf is not None
    bare = replace(found, certificates=(replace(leaf, ocsp_urls=()), *found.certificates[1:]))
    assert verdict("CA-OCSP-ANSWERS", Seen().certificate(bare)) == (Status.SKIPPED,
                                                                    "NO_OCSP_URL")


# --- CA-AIA-REACHABLE


def test_aia_passes() -> None:
    assert status("CA-AIA-REACHABLE", healthy()) is Status.PASS


@pytest.mark.parametrize(("fetch", "tag"), [
    # serves a certificate that is not the issuer
    (replace(www("root.crt"), url=ISSUING_CRT), "NOT_THE_ISSUER"),
    (replace(www("issuing.crt"), status=404), "HTTP_STATUS"),
    (ok(ISSUING_CRT, b"\x00\x01garbage"), "NOT_A_CERTIFICATE"),
    (HttpFetch(ISSUING_CRT, outcome=Outcome.UNREACHABLE, detail="Connection refused"),
     "NO_ANSWER"),
])
def test_aia_failures(fetch: HttpFetch, tag: str) -> None:
    assert verdict("CA-AIA-REACHABLE", healthy().http(fetch)) == (Status.FAIL, tag)


def test_aia_without_a_ca_issuers_url_is_skipped() -> None:
    found = leaf_bundle(pki.Leaf("no-aia", crl="x"))
    leaf = found.leaf_certificate
    assert leaf is not None
    bare = replace(found, certificates=(replace(leaf, ca_issuer_urls=()),))
    assert verdict("CA-AIA-REACHABLE", Seen().certificate(bare)) == (Status.SKIPPED,
                                                                     "NO_AIA_URL")


def test_aia_accepts_pem() -> None:
    pem = ok(ROOT_CRT, lab_files()["ocsp/issuing.pem"])  # the issuing CA, PEM, at root.crt
    seen = healthy().http(replace(pem, url=ISSUING_CRT))
    assert status("CA-AIA-REACHABLE", seen) is Status.PASS


# --- CA-ENTERPRISE-REACHABLE

HOST = "ca01.corp.example"


def test_enterprise_reachable() -> None:
    seen = Seen().tcp(HOST, 80, Outcome.ANSWER).tcp(HOST, 135, Outcome.ANSWER)
    [finding] = run("CA-ENTERPRISE-REACHABLE", seen)
    assert (finding.target, finding.status) == (HOST, Status.PASS)


def test_enterprise_port_refused_fails_and_untried_is_an_error() -> None:
    seen = Seen().tcp(HOST, 80, Outcome.ANSWER).tcp(HOST, 135, Outcome.UNREACHABLE, "refused")
    assert verdict("CA-ENTERPRISE-REACHABLE", seen) == (Status.FAIL, "PORT_UNREACHABLE")
    assert verdict("CA-ENTERPRISE-REACHABLE", Seen().tcp(HOST, 80, Outcome.ANSWER)) == (
        Status.ERROR, "NOT_TRIED")


def test_enterprise_not_configured_is_skipped() -> None:
    bare = site("sites: [{name: hq}]")
    assert [(f.target, f.status, f.reason)
            for f in run("CA-ENTERPRISE-REACHABLE", Seen(), bare)] == [
        (NO_TARGET, Status.SKIPPED, "NOT_CONFIGURED")]


CHAIN_CHECKS = ("CA-CRL-FRESH", "CA-NOT-REVOKED", "CA-OCSP-ANSWERS", "CA-AIA-REACHABLE")


def test_ca_checks_follow_no_chain_when_the_file_holds_none() -> None:
    garbage = Seen().certificate(bundle("garbage.bin"))
    for check_id in CHAIN_CHECKS:
        [finding] = run(check_id, garbage)
        assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
        assert finding.evidence["prerequisite"] == "CERT-LOADABLE"


@pytest.mark.parametrize("check_id", CHAIN_CHECKS)
def test_ca_checks_err_on_a_file_never_read_and_skip_without_a_certificate(
        check_id: str) -> None:
    assert verdict(check_id, Seen()) == (Status.ERROR, "NOT_READ")
    bare = site("sites: [{name: hq, domains: [{name: corp.example}]}]")
    assert verdict(check_id, Seen(), bare) == (Status.SKIPPED, "NOT_CONFIGURED")


@pytest.mark.parametrize("kind", ["crl", "ocsp"])
def test_mangled_crls_and_ocsp_answers_never_crash_a_check(kind: str) -> None:
    """cryptography parses lazily: a field broken deep inside must still end as a result."""
    chaos = random.Random(kind)
    original = www("issuing.crl").body if kind == "crl" else ocsp_answer(GOOD)
    sha256 = leaf_of(bundle("good.pem"))
    seen = healthy()
    for _ in range(150):
        data = bytearray(original)
        for _ in range(chaos.randint(1, 4)):
            data[chaos.randrange(len(data))] = chaos.randrange(256)
        if kind == "crl":
            seen.http(replace(www("issuing.crl"), body=bytes(data)))
        else:
            seen.ocsp(sha256, ok(pki.OCSP_URL, bytes(data), "POST"))
        for check_id in ("CA-CRL-FRESH", "CA-NOT-REVOKED", "CA-OCSP-ANSWERS"):
            assert status(check_id, seen) in (Status.PASS, Status.FAIL, Status.ERROR)


def test_enterprise_without_a_port_is_skipped() -> None:
    portless = site("sites: [{name: hq, ca: {enterprise: {host: ca01.corp.example, ports: []}}}]")
    assert verdict("CA-ENTERPRISE-REACHABLE", Seen(), portless) == (Status.SKIPPED, "NO_PORT")
