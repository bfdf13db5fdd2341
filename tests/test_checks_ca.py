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


@pytest.mark.parametrize(("fetch", "expected"), [
    (replace(www("stale.crl"), url=CRL), Status.FAIL),
    (replace(www("forged.crl"), url=CRL), Status.FAIL),  # not signed by the issuer
    (ok(CRL, b"<html>gateway error</html>"), Status.FAIL),
    (replace(www("issuing.crl"), status=404), Status.FAIL),
    (HttpFetch(CRL, outcome=Outcome.TIMEOUT, attempts=2, detail="no answer"), Status.FAIL),
    (HttpFetch(CRL, outcome=Outcome.UNREACHABLE, detail="ca01 does not resolve"), Status.FAIL),
    (replace(www("issuing.crl"), truncated=True), Status.ERROR),  # a CRL of many megabytes
    (HttpFetch(CRL, outcome=Outcome.DEADLINE), Status.ERROR),
])
def test_crl_fresh_failures(fetch: HttpFetch, expected: Status) -> None:
    assert status("CA-CRL-FRESH", healthy().http(fetch)) is expected


def test_crl_fresh_never_fetched_is_an_error() -> None:
    assert status("CA-CRL-FRESH", Seen().certificate(bundle("good.pem"))) is Status.ERROR


def test_crl_signature_needs_the_issuer_from_aia_when_the_file_lacks_it() -> None:
    found = bundle("missing-intermediate.pem")
    seen = Seen().certificate(found).http(www("issuing.crl"), www("root.crl"))
    assert status("CA-CRL-FRESH", seen) is Status.ERROR  # nobody to check the signature with
    seen.http(www("issuing.crt"))
    assert status("CA-CRL-FRESH", seen) is Status.PASS


def test_crl_without_distribution_points_is_skipped_and_ldap_only_fails() -> None:
    none = pki.Leaf("no-cdp", crl="x")
    found = leaf_bundle(none)
    leaf = found.leaf_certificate
    assert leaf is not None
    bare = replace(found, certificates=(replace(leaf, crl_urls=()),))
    assert status("CA-CRL-FRESH", Seen().certificate(bare)) is Status.SKIPPED
    ldap = replace(found, certificates=(replace(leaf, crl_urls=("ldap:///CN=CA,CN=CDP",)),))
    [finding] = run("CA-CRL-FRESH", Seen().certificate(ldap))
    assert finding.status is Status.FAIL and "ldap:///CN=CA,CN=CDP" in finding.message


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
    assert finding.status is Status.FAIL
    assert finding.evidence["checked"][-1]["url"] == url


def test_crl_and_ocsp_are_hygiene_not_blockers() -> None:
    from amt_preflight.checks import BY_ID

    assert {BY_ID[c].severity.value for c in ("CA-CRL-FRESH", "CA-OCSP-ANSWERS")} == {"medium"}


# --- CA-NOT-REVOKED


def test_not_revoked_passes() -> None:
    assert status("CA-NOT-REVOKED", healthy()) is Status.PASS


def test_revoked_on_the_crl_and_by_ocsp_fails() -> None:
    [finding] = run("CA-NOT-REVOKED", healthy("revoked", revoked=True))
    assert finding.status is Status.FAIL
    [leaf] = [c for c in finding.evidence["checked"] if c["serial"] == format(
        pki.serial(pki.BY_NAME["revoked"]), "x")]
    assert any("revoked" in s for s in leaf["sources"])


def test_revoked_by_ocsp_alone_fails() -> None:
    seen = healthy(revoked=True)  # the CRL does not list "good"; OCSP says revoked
    assert status("CA-NOT-REVOKED", seen) is Status.FAIL


def test_a_forged_crl_is_no_source() -> None:
    seen = healthy("revoked").http(replace(www("forged.crl"), url=CRL))
    seen.ocsp(leaf_of(bundle("revoked.pem")), HttpFetch(pki.OCSP_URL, "POST", Outcome.TIMEOUT))
    assert status("CA-NOT-REVOKED", seen) is Status.ERROR


# --- CA-OCSP-ANSWERS


def test_ocsp_answers_pass_even_when_revoked() -> None:
    assert status("CA-OCSP-ANSWERS", healthy()) is Status.PASS
    assert status("CA-OCSP-ANSWERS", healthy("revoked", revoked=True)) is Status.PASS


def _ocsp(body: bytes) -> Seen:
    found = bundle("good.pem")
    return healthy().ocsp(leaf_of(found), ok(pki.OCSP_URL, body, "POST"))


GOOD = pki.BY_NAME["good"]


@pytest.mark.parametrize(("body", "expected"), [
    (ocsp_answer(GOOD, signer="other"), Status.FAIL),  # not signed by the CA
    (ocsp_answer(GOOD, next_update=NOW - timedelta(minutes=5)), Status.FAIL),  # stale
    (ocsp_answer(GOOD, about=pki.BY_NAME["oid-only"]), Status.FAIL),  # another certificate
    (bytes.fromhex("30030a0106"), Status.FAIL),  # "unauthorized"
    (b"not DER", Status.FAIL),
])
def test_ocsp_answer_problems(body: bytes, expected: Status) -> None:
    assert status("CA-OCSP-ANSWERS", _ocsp(body)) is expected


def test_stalling_responder_fails_and_one_not_asked_is_an_error() -> None:
    found = bundle("good.pem")
    stalled = HttpFetch(pki.OCSP_URL, "POST", Outcome.TIMEOUT, attempts=2, detail="stalled")
    assert status("CA-OCSP-ANSWERS", healthy().ocsp(leaf_of(found), stalled)) is Status.FAIL
    unasked = HttpFetch(pki.OCSP_URL, "POST", Outcome.NOT_OBSERVED, detail="no issuer")
    assert status("CA-OCSP-ANSWERS", healthy().ocsp(leaf_of(found), unasked)) is Status.ERROR


def test_no_ocsp_url_is_skipped() -> None:
    found = bundle("good.pem")
    leaf = found.leaf_certificate
    assert leaf is not None
    bare = replace(found, certificates=(replace(leaf, ocsp_urls=()), *found.certificates[1:]))
    assert status("CA-OCSP-ANSWERS", Seen().certificate(bare)) is Status.SKIPPED


# --- CA-AIA-REACHABLE


def test_aia_passes() -> None:
    assert status("CA-AIA-REACHABLE", healthy()) is Status.PASS


@pytest.mark.parametrize("fetch", [
    replace(www("root.crt"), url=ISSUING_CRT),  # serves a certificate that is not the issuer
    replace(www("issuing.crt"), status=404),
    ok(ISSUING_CRT, b"\x00\x01garbage"),
    HttpFetch(ISSUING_CRT, outcome=Outcome.UNREACHABLE, detail="Connection refused"),
])
def test_aia_failures(fetch: HttpFetch) -> None:
    assert status("CA-AIA-REACHABLE", healthy().http(fetch)) is Status.FAIL


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
    assert status("CA-ENTERPRISE-REACHABLE", seen) is Status.FAIL
    assert status("CA-ENTERPRISE-REACHABLE", Seen().tcp(HOST, 80, Outcome.ANSWER)) is (
        Status.ERROR)


def test_enterprise_not_configured_is_skipped() -> None:
    bare = site("sites: [{name: hq}]")
    assert [(f.target, f.status) for f in run("CA-ENTERPRISE-REACHABLE", Seen(), bare)] == [
        (NO_TARGET, Status.SKIPPED)]


def test_ca_checks_follow_no_chain_when_the_file_holds_none() -> None:
    garbage = Seen().certificate(bundle("garbage.bin"))
    for check_id in ("CA-CRL-FRESH", "CA-NOT-REVOKED", "CA-OCSP-ANSWERS", "CA-AIA-REACHABLE"):
        assert status(check_id, garbage) is Status.SKIPPED


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
