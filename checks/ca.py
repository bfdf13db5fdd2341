"""CA reachability checks: CRLs, OCSP and issuer downloads of the provisioning certificate's
chain (per domain), and the enterprise CA host (per host).

The probes keep what the servers sent; the rules here parse it with cryptography and judge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from amt_preflight import pki
from amt_preflight.catalogue import CheckSpec, Need, check, not_configured, unjudged
from amt_preflight.checks.chain import NOT_READ, NOT_READ_MEANS, configured_chains
from amt_preflight.config import SiteConfig
from amt_preflight.model import Finding, Status, worst
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import Outcome, Timed, answers_timing, clipped, utc_text
from amt_preflight.observations.cert import (
    CertificateBundle,
    CertificateFacts,
    HttpFetch,
    LoadOutcome,
)

# cryptography is imported in the rules that parse downloads: a run whose checks read no
# certificate never imports it (DESIGN.md, "Performance").
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.x509 import ocsp

RFC5280 = "RFC 5280 §4.2.1.13 (CRL distribution points), §4.2.2.1 (authority information access)"
RFC6960 = "RFC 6960: OCSP"
OCSP_SKEW = timedelta(minutes=5)  # clock difference tolerated on an OCSP thisUpdate


@dataclass(frozen=True)
class Part:
    """The verdict on one URL (or one certificate) of a domain's chain."""

    status: Status
    text: str
    evidence: dict[str, Any]
    reason: str | None = None  # its reason tag; the first of the worst parts' is the finding's


def _combine(domain: str, parts: list[Part], nothing: tuple[str, str],
             probes: Iterable[Timed]) -> Finding:
    """One finding from the parts: the worst status, the messages and the reason tag of the
    worst parts, and when the probes it rests on ran. Without parts: skipped, `nothing`
    (why, its reason tag)."""
    if not parts:
        return Finding(domain, Status.SKIPPED, nothing[0], reason=nothing[1])
    status = worst(p.status for p in parts)  # the worst part decides
    worst_parts = [p for p in parts if p.status is status]
    shown = [p.text for p in worst_parts]
    more = f" (and {len(shown) - 3} more)" if len(shown) > 3 else ""
    started, duration = answers_timing(probes)
    return Finding(domain, status, "; ".join(shown[:3]) + more,
                   {"checked": [p.evidence for p in parts]}, started_at=started,
                   duration_ms=duration, reason=worst_parts[0].reason)


def _each_chain(
    site: SiteConfig, obs: SiteView, rule: Callable[[CertificateBundle], Finding]
) -> Iterator[Finding]:
    """rule(bundle) for every domain whose certificate file gave certificates."""
    for domain, chain in configured_chains(site, obs):
        if isinstance(chain, Finding):
            yield chain
            continue
        bundle = chain.bundle
        if not bundle.certificates or bundle.outcome in (
                LoadOutcome.BAD_CERTIFICATE, LoadOutcome.NO_CERTIFICATE):
            yield unjudged(domain, "CERT-LOADABLE", f"no certificate to follow in "
                           f"{bundle.source}")
        else:
            yield rule(bundle)


# The reason tags of a download (CRL, OCSP, caIssuers) that gave no whole 200 answer
FETCH_REASONS = {
    "NOT_FETCHED": "a URL was not fetched before the run's deadline",
    "TOO_LARGE": "a download too large to judge",
    "NO_ANSWER": "a URL that does not answer (refused, timeout, no address)",
    "HTTP_STATUS": "a URL that answers another HTTP status than 200",
    "MALFORMED_URL": "a URL that is not a well-formed http:// URL",
}


def _x509(cert: CertificateFacts) -> x509.Certificate:
    from cryptography import x509

    return x509.load_der_x509_certificate(cert.der)


def _issuer(cert: CertificateFacts, bundle: CertificateBundle,
            obs: SiteView) -> x509.Certificate | None:
    """The certificate that signed `cert`: in the file, else downloaded from caIssuers."""
    candidates = [_x509(c) for c in bundle.certificates]
    for url in pki.fetchable(cert.ca_issuer_urls):
        try:
            candidates += pki.load_certificates(obs.http_get(url).body)
        except pki.cert_errors():  # not a certificate: CA-AIA-REACHABLE says so
            continue
    return pki.issuer_among(_x509(cert), candidates)


def _unfetched(fetch: HttpFetch) -> Part | None:
    """The part for a download that gave no whole 200 answer; None when it did."""
    said = {"url": fetch.url, **fetch.to_evidence()}
    if fetch.outcome in (Outcome.DEADLINE, Outcome.NOT_OBSERVED):
        return Part(Status.ERROR, f"{fetch.url}: not fetched ({fetch.describe()})", said,
                    "NOT_FETCHED")
    if fetch.truncated:
        return Part(Status.ERROR, f"{fetch.url}: too large to judge: "
                    f"{clipped(fetch.detail, 300) or fetch.describe()}", said, "TOO_LARGE")
    if not fetch.outcome.answered:
        return Part(Status.FAIL, f"{fetch.url} does not answer: {fetch.describe()}", said,
                    "NO_ANSWER")
    if fetch.status != 200:
        return Part(Status.FAIL, f"{fetch.url}: HTTP {fetch.status}", said, "HTTP_STATUS")
    return None


def _malformed(certs: Iterable[CertificateFacts], urls_of: Callable[[CertificateFacts],
               tuple[str, ...]], kind: str) -> list[Part]:
    """A fail for every URL of this kind that is not a well-formed http:// URL: never left
    out in silence (CHECKS.md)."""
    return [Part(Status.FAIL, f"{kind} URL {clipped(u, 200)} of {c.label} is not a "
                 f"well-formed http:// URL: {problem}",
                 {"url": clipped(u), "certificate": c.label, "problem": problem},
                 "MALFORMED_URL")
            for c in certs for u in urls_of(c)[:pki.MAX_URLS] if (problem := pki.url_problem(u))]


# --- CRLs ------------------------------------------------------------------------------


# A CRL or OCSP response may parse only in part, and cryptography reads fields lazily: each
# is touched once, here, catching pki.cert_errors(), before a rule relies on it.


def _subject(cert: x509.Certificate) -> str:
    """The certificate's subject for a message, or why it cannot be shown."""
    try:
        return clipped(cert.subject.rfc4514_string())
    except pki.cert_errors() as exc:
        return f"(a subject that does not parse: {pki.parse_problem(exc)})"


def _crl(fetch: HttpFetch) -> x509.CertificateRevocationList | None:
    """The downloaded CRL, parsed whole; None when it is not one."""
    from cryptography import x509

    try:
        if b"-----BEGIN" in fetch.body:
            crl = x509.load_pem_x509_crl(fetch.body)
        else:
            crl = x509.load_der_x509_crl(fetch.body)
        _ = crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.extensions
        for entry in crl:
            _ = entry.serial_number, entry.revocation_date_utc
    except pki.cert_errors():
        return None
    return crl


def _ocsp_response(fetch: HttpFetch) -> ocsp.OCSPResponse | None:
    """The OCSP response, parsed whole; None when it is not one."""
    from cryptography.x509 import ocsp

    try:
        response = ocsp.load_der_ocsp_response(fetch.body)
        if response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL:
            _ = (response.certificate_status, response.this_update_utc, response.serial_number,
                 response.next_update_utc, response.produced_at_utc, response.responder_name,
                 response.responder_key_hash, response.certificates, response.extensions)
    except pki.cert_errors():
        return None
    return response


def _crl_part(cert: CertificateFacts, url: str, bundle: CertificateBundle,
              obs: SiteView) -> tuple[Part, x509.CertificateRevocationList | None]:
    """CA-CRL-FRESH's verdict on one distribution point, and the CRL when it is the
    issuer's (signature verified), for CA-NOT-REVOKED."""
    fetch = obs.http_get(url)
    failed = _unfetched(fetch)
    if failed is not None:
        return failed, None
    evidence: dict[str, Any] = {"certificate": cert.label, **fetch.to_evidence()}
    crl = _crl(fetch)
    if crl is None:
        return Part(Status.FAIL, f"{url}: not a CRL ({len(fetch.body)} bytes)", evidence,
                    "NOT_A_CRL"), None
    issuer = _issuer(cert, bundle, obs)
    evidence.update(crl_issuer=clipped(crl.issuer.rfc4514_string()),
                    this_update=utc_text(crl.last_update_utc), revoked=len(crl))
    if crl.next_update_utc is not None:
        evidence["next_update"] = utc_text(crl.next_update_utc)
    if issuer is None:
        return Part(Status.ERROR, f"{url}: cannot check its signature: the issuer of "
                    f"{cert.label} is neither in the file nor at its caIssuers URL",
                    evidence, "ISSUER_UNKNOWN"), None
    if not pki.crl_signed_by(crl, issuer):
        return Part(Status.FAIL, f"{url}: not signed by {_subject(issuer)}", evidence,
                    "BAD_SIGNATURE"), None
    if crl.next_update_utc is None:
        return Part(Status.FAIL, f"{url}: the CRL has no nextUpdate", evidence,
                    "NO_NEXT_UPDATE"), crl
    if crl.next_update_utc <= obs.now:
        return Part(Status.FAIL, f"{url}: stale, its nextUpdate "
                    f"{utc_text(crl.next_update_utc)} has passed", evidence, "STALE"), crl
    return Part(Status.PASS, f"{url}: fresh until {utc_text(crl.next_update_utc)}",
                evidence), crl


def _crl_fetches(bundle: CertificateBundle, obs: SiteView) -> list[HttpFetch]:
    return [obs.http_get(u) for c in bundle.issued for u in pki.fetchable(c.crl_urls)]


def _ocsp_fetches(bundle: CertificateBundle, obs: SiteView) -> list[HttpFetch]:
    return [obs.ocsp(u, c.sha256) for c in bundle.issued for u in pki.fetchable(c.ocsp_urls)]


def _crl_parts(bundle: CertificateBundle, obs: SiteView) -> list[Part]:
    parts = []
    for cert in bundle.issued:
        parts += [_crl_part(cert, url, bundle, obs)[0] for url in pki.fetchable(cert.crl_urls)]
    return parts


@check(
    id="CA-CRL-FRESH",
    title="CRLs download, are signed by their CA and are fresh",
    severity="medium",
    needs=[Need.CERT_FILES, Need.CA_CRL, Need.CA_AIA],
    requires=["CERT-LOADABLE"],
    passes_when=(
        "every CRL distribution point of the leaf and intermediates downloads, parses, is "
        "signed by the issuer and its nextUpdate is in the future. The firmware does not "
        "fetch CRLs during setup: this is the CA's health, for the servers and consoles that "
        "do. A URL that is not a well-formed http:// URL is a fail naming it (the same for "
        "OCSP and caIssuers URLs)"
    ),
    remediation=(
        "Publish a current CRL at every http:// distribution point named in the certificates "
        "(check the CA's CRL publication schedule and the web server that serves it)."
    ),
    references=[RFC5280],
    reasons={NOT_READ: NOT_READ_MEANS, **FETCH_REASONS,
             "NO_CRL_URL": "no CRL distribution point in the leaf or intermediates",
             "NOT_A_CRL": "a download that is not a CRL",
             "ISSUER_UNKNOWN": "the CRL's issuer is neither in the file nor at its caIssuers "
                               "URL: its signature cannot be checked",
             "BAD_SIGNATURE": "a CRL not signed by the certificate's issuer",
             "NO_NEXT_UPDATE": "a CRL without nextUpdate",
             "STALE": "a CRL whose nextUpdate has passed"},
)
def crl_fresh(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    def rule(bundle: CertificateBundle) -> Finding:
        parts = _crl_parts(bundle, obs) + _malformed(bundle.issued, lambda c: c.crl_urls,
                                                     "CRL distribution point")
        return _combine(bundle.domain, parts, ("no CRL distribution point in the leaf or "
                        "intermediates", "NO_CRL_URL"), _crl_fetches(bundle, obs))

    return _each_chain(site, obs, rule)


# --- OCSP ------------------------------------------------------------------------------


def _key_hash(cert: x509.Certificate) -> bytes:
    from cryptography import x509

    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _signs(candidate: x509.Certificate, response: ocsp.OCSPResponse,
           issuer: x509.Certificate) -> bool:
    """Whether `candidate` signed the response and may: the issuer itself, or a responder
    certificate the issuer issued for OCSP signing (RFC 6960 §4.2.2.2)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if response.responder_name is not None and candidate.subject != response.responder_name:
        return False
    if (response.responder_key_hash is not None
            and _key_hash(candidate) != response.responder_key_hash):
        return False
    if candidate != issuer:
        try:
            usage = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            return False
        if (ExtendedKeyUsageOID.OCSP_SIGNING not in usage.value
                or not pki.signed_by(candidate, issuer)):
            return False
    return pki.verifies(candidate.public_key(), response.signature, response.tbs_response_bytes,
                        response.signature_hash_algorithm)


def _ocsp_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate | None:
    for candidate in [issuer, *response.certificates]:
        try:
            if _signs(candidate, response, issuer):
                return candidate
        except pki.cert_errors():  # a certificate in the response that does not parse signs nothing
            continue
    return None


def _ocsp_part(cert: CertificateFacts, url: str, bundle: CertificateBundle,
               obs: SiteView) -> tuple[Part, str | None]:
    """CA-OCSP-ANSWERS's verdict on one responder about one certificate, and the status it
    vouches for ("good", "revoked", "unknown") when the answer is signed and fresh."""
    from cryptography.x509 import ocsp

    fetch = obs.ocsp(url, cert.sha256)
    failed = _unfetched(fetch)
    if failed is not None:
        return failed, None
    evidence: dict[str, Any] = {"certificate": cert.label, "serial": cert.serial,
                                **fetch.to_evidence()}
    response = _ocsp_response(fetch)
    if response is None:
        return Part(Status.FAIL, f"{url}: not an OCSP response", evidence,
                    "NOT_AN_OCSP_RESPONSE"), None
    evidence["response_status"] = response.response_status.name.lower()
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Part(Status.FAIL, f"{url} answers {response.response_status.name.lower()}",
                    evidence, "OCSP_UNSUCCESSFUL"), None
    status = response.certificate_status.name.lower()
    evidence.update(certificate_status=status, this_update=utc_text(response.this_update_utc),
                    produced_at=utc_text(response.produced_at_utc))
    if response.next_update_utc is not None:
        evidence["next_update"] = utc_text(response.next_update_utc)
    if format(response.serial_number, "x") != cert.serial:
        return Part(Status.FAIL, f"{url} answers about serial "
                    f"{format(response.serial_number, 'x')}, not {cert.serial}", evidence,
                    "WRONG_SERIAL"), None
    issuer = _issuer(cert, bundle, obs)
    signer = _ocsp_signer(response, issuer) if issuer is not None else None
    if signer is None:
        return Part(Status.FAIL, f"{url}: the response is not signed by the issuer of "
                    f"{cert.label} or a responder it authorised", evidence,
                    "BAD_SIGNATURE"), None
    evidence["signed_by"] = _subject(signer)
    if response.this_update_utc > obs.now + OCSP_SKEW:
        return Part(Status.FAIL, f"{url}: thisUpdate {utc_text(response.this_update_utc)} is "
                    "in the future", evidence, "FROM_THE_FUTURE"), None
    if response.next_update_utc is not None and response.next_update_utc <= obs.now:
        return Part(Status.FAIL, f"{url}: stale, nextUpdate "
                    f"{utc_text(response.next_update_utc)} has passed", evidence,
                    "STALE"), None
    return Part(Status.PASS, f"{url}: {cert.label} is {status} (signed, fresh)",
                evidence), status


@check(
    id="CA-OCSP-ANSWERS",
    title="OCSP responders answer with signed, fresh responses",
    severity="medium",
    needs=[Need.CERT_FILES, Need.CA_OCSP, Need.CA_AIA],
    requires=["CERT-LOADABLE"],
    passes_when="every OCSP URL answers a signed, fresh response (skipped where none is listed)",
    remediation=(
        "Make the OCSP responder named in the certificates reachable over HTTP and keep its "
        "signing certificate and revocation data current."
    ),
    references=[RFC6960],
    reasons={NOT_READ: NOT_READ_MEANS, **FETCH_REASONS,
             "NO_OCSP_URL": "no OCSP URL in the leaf or intermediates",
             "NOT_AN_OCSP_RESPONSE": "an answer that is not an OCSP response",
             "OCSP_UNSUCCESSFUL": "a responder that answers another status than successful",
             "WRONG_SERIAL": "a response about another serial number",
             "BAD_SIGNATURE": "a response not signed by the issuer or a responder it "
                              "authorised",
             "FROM_THE_FUTURE": "a response whose thisUpdate is in the future",
             "STALE": "a response whose nextUpdate has passed"},
)
def ocsp_answers(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    def rule(bundle: CertificateBundle) -> Finding:
        parts = [_ocsp_part(cert, url, bundle, obs)[0] for cert in bundle.issued
                 for url in pki.fetchable(cert.ocsp_urls)]
        parts += _malformed(bundle.issued, lambda c: c.ocsp_urls, "OCSP")
        return _combine(bundle.domain, parts, ("no OCSP URL in the leaf or intermediates",
                        "NO_OCSP_URL"), _ocsp_fetches(bundle, obs))

    return _each_chain(site, obs, rule)


# --- revocation ------------------------------------------------------------------------


def _revocation(cert: CertificateFacts, bundle: CertificateBundle, obs: SiteView) -> Part | None:
    """Whether the issuer's CRLs or OCSP call `cert` revoked; None when it names neither."""
    said: list[str] = []
    decided, revoked = False, []
    serial = int(cert.serial, 16)
    for url in pki.fetchable(cert.crl_urls):
        crl = _crl_part(cert, url, bundle, obs)[1]
        if crl is None:
            said.append(f"CRL {url}: unusable")
            continue
        decided = True
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        if entry is not None:
            revoked.append(f"on the CRL at {url} since {utc_text(entry.revocation_date_utc)}")
        said.append(f"CRL {url}: {'revoked' if entry is not None else 'not listed'}")
    for url in pki.fetchable(cert.ocsp_urls):
        status = _ocsp_part(cert, url, bundle, obs)[1]
        said.append(f"OCSP {url}: {status or 'no usable answer'}")
        decided = decided or status in ("good", "revoked")
        if status == "revoked":
            revoked.append(f"revoked according to OCSP at {url}")
    if not said:
        return None
    evidence = {"certificate": cert.label, "serial": cert.serial, "sources": said}
    if revoked:
        return Part(Status.FAIL, f"{cert.label} is {'; '.join(revoked)}", evidence, "REVOKED")
    if not decided:
        return Part(Status.ERROR, f"{cert.label}: no CRL or OCSP answer could be used",
                    evidence, "UNDECIDED")
    return Part(Status.PASS, f"{cert.label} is not revoked", evidence)


@check(
    id="CA-NOT-REVOKED",
    title="No certificate of the chain is revoked",
    severity="critical",
    needs=[Need.CERT_FILES, Need.CA_CRL, Need.CA_OCSP, Need.CA_AIA],
    requires=["CERT-LOADABLE"],
    passes_when=(
        "no certificate of the chain is on its issuer's CRL or reported revoked by OCSP"
    ),
    remediation="Replace the revoked certificate: issue a new one and deploy the new bundle.",
    references=[RFC5280, RFC6960],
    reasons={NOT_READ: NOT_READ_MEANS,
             "NO_REVOCATION_URL": "no CRL or OCSP URL in the leaf or intermediates",
             "REVOKED": "a certificate of the chain is on its issuer's CRL or revoked by OCSP",
             "UNDECIDED": "no CRL or OCSP answer about a certificate could be used"},
)
def not_revoked(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    def rule(bundle: CertificateBundle) -> Finding:
        parts = [p for c in bundle.issued if (p := _revocation(c, bundle, obs)) is not None]
        return _combine(bundle.domain, parts, ("no CRL or OCSP URL in the leaf or "
                        "intermediates", "NO_REVOCATION_URL"),
                        [*_crl_fetches(bundle, obs), *_ocsp_fetches(bundle, obs)])

    return _each_chain(site, obs, rule)


# --- AIA -------------------------------------------------------------------------------


def _aia_part(cert: CertificateFacts, url: str, obs: SiteView) -> Part:
    fetch = obs.http_get(url)
    failed = _unfetched(fetch)
    if failed is not None:
        return failed
    evidence: dict[str, Any] = {"certificate": cert.label, **fetch.to_evidence()}
    try:
        downloaded = pki.load_certificates(fetch.body)
    except pki.cert_errors() as exc:
        evidence["problem"] = clipped(pki.parse_problem(exc), 300)
        return Part(Status.FAIL, f"{url}: not a certificate ({len(fetch.body)} bytes)",
                    evidence, "NOT_A_CERTIFICATE")
    evidence["downloaded"] = [_subject(c) for c in downloaded[:5]]
    issuer = pki.issuer_among(_x509(cert), downloaded)
    if issuer is None:
        return Part(Status.FAIL, f"{url}: what it serves did not issue {cert.label}", evidence,
                    "NOT_THE_ISSUER")
    return Part(Status.PASS, f"{url}: the issuer of {cert.label}", evidence)


@check(
    id="CA-AIA-REACHABLE",
    title="Issuer certificates download from their AIA URLs",
    severity="medium",
    needs=[Need.CERT_FILES, Need.CA_AIA],
    requires=["CERT-LOADABLE"],
    passes_when="every caIssuers URL downloads the issuer certificate",
    remediation=(
        "Publish each CA certificate at the caIssuers URL its subordinates name; clients "
        "that lack an intermediate fetch it from there."
    ),
    references=[RFC5280],
    reasons={NOT_READ: NOT_READ_MEANS, **FETCH_REASONS,
             "NO_AIA_URL": "no caIssuers URL in the leaf or intermediates",
             "NOT_A_CERTIFICATE": "a download that is not a certificate",
             "NOT_THE_ISSUER": "a download that did not issue the certificate naming it"},
)
def aia_reachable(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    def rule(bundle: CertificateBundle) -> Finding:
        parts = [_aia_part(cert, url, obs) for cert in bundle.issued
                 for url in pki.fetchable(cert.ca_issuer_urls)]
        parts += _malformed(bundle.issued, lambda c: c.ca_issuer_urls, "caIssuers")
        return _combine(bundle.domain, parts, ("no caIssuers URL in the leaf or "
                        "intermediates", "NO_AIA_URL"),
                        [obs.http_get(u) for c in bundle.issued
                         for u in pki.fetchable(c.ca_issuer_urls)])

    return _each_chain(site, obs, rule)


# --- the enterprise CA -----------------------------------------------------------------


@check(
    id="CA-ENTERPRISE-REACHABLE",
    title="Enterprise CA accepts connections",
    severity="medium",
    needs=[Need.CA_ENTERPRISE],
    passes_when="the configured enterprise CA host accepts TCP on its configured ports",
    remediation=(
        "Open the path from the provisioning network to the CA: RPC endpoint mapper (135) "
        "and dynamic RPC for a Microsoft CA, 80/443 for its web enrolment, CRL and AIA."
    ),
    references=["Microsoft: AD CS firewall rules (TCP 135, 49152-65535, 80, 443)"],
    reasons={"NOT_TRIED": "a port was not tried before the run's deadline",
             "PORT_UNREACHABLE": "a port refused, timed out or was unreachable",
             "NO_PORT": "ca.enterprise names no port"},
)
def enterprise_reachable(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    enterprise = site.ca.enterprise
    if enterprise is None:
        yield not_configured("no enterprise CA configured (ca.enterprise)")
        return
    host = enterprise.host
    tried = [obs.tcp(host, port) for port in enterprise.ports]
    parts = []
    for attempt in tried:
        where = f"{host}:{attempt.port}"
        if attempt.outcome.answered:
            parts.append(Part(Status.PASS, f"{where} accepts", attempt.to_evidence()))
        elif attempt.outcome in (Outcome.DEADLINE, Outcome.NOT_OBSERVED):
            parts.append(Part(Status.ERROR, f"{where}: not tried ({attempt.detail})",
                              attempt.to_evidence(), "NOT_TRIED"))
        else:
            parts.append(Part(Status.FAIL, f"{where}: {attempt.outcome.value} "
                              f"({attempt.detail})", attempt.to_evidence(), "PORT_UNREACHABLE"))
    yield _combine(host, parts, ("no port configured", "NO_PORT"), tried)


CHECKS: tuple[CheckSpec, ...] = (
    crl_fresh,
    not_revoked,
    ocsp_answers,
    aia_reachable,
    enterprise_reachable,
)
