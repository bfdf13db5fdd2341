"""Hand-made certificate and CA observations for the unit tests: the lab PKI's certificates,
made in memory at a fixed moment, read by the certificate probe's own parser."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization

from amt_preflight.config import ChecksConfig, SiteConfig
from amt_preflight.model import Finding, Status
from amt_preflight.observations import Observations, SiteView
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import CertificateBundle, HttpFetch, OcspFetch, TcpConnect
from amt_preflight.probes.certificate import read_bundle
from lab import pki

from .observed import site

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DOMAIN = "corp.example"
ROOT = pki.root_sha256()
SITE = site(f"""
sites:
  - name: hq
    resolvers: [10.250.0.1]
    amt: {{generations: [11, 16], custom_root_hashes: [{ROOT}]}}
    ca: {{enterprise: {{host: ca01.corp.example, ports: [80, 135]}}}}
    domains:
      - {{name: corp.example, certificate: {{file: corp.pem}}}}
""")
CRL = f"{pki.PKI_URL}/issuing.crl"
ROOT_CRL = f"{pki.PKI_URL}/root.crl"
ISSUING_CRT = f"{pki.PKI_URL}/issuing.crt"
ROOT_CRT = f"{pki.PKI_URL}/root.crt"


@cache
def lab_files() -> dict[str, bytes]:
    return pki.files(NOW)


def bundle(name: str, key: str | None = None, password: str | None = None,
           domain: str = DOMAIN) -> CertificateBundle:
    """The bundle file `name` of the lab (bundles/NAME), read as the probe reads it."""
    files = lab_files()
    key_data = files[f"bundles/{key}"] if key else None
    return read_bundle(domain, name, files[f"bundles/{name}"], key_data,
                       password.encode() if password is not None else None)


def leaf_bundle(leaf: pki.Leaf, *chain: str) -> CertificateBundle:
    """A bundle of a certificate made for one test (PEM: leaf, chain, key)."""
    cas = pki.ca_certificates()
    cert = pki.leaf_certificate(leaf, NOW)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM)
                   for c in [cert, *(cas[n] for n in chain or leaf.chain)])
    key = lab_files()["bundles/good-key.pem"] if leaf.key == "leaf" else None
    return read_bundle(DOMAIN, leaf.name, pem + (key or b""), None, None)


def ok(url: str, body: bytes, method: str = "GET") -> HttpFetch:
    return HttpFetch(url, method, Outcome.ANSWER, 200, "application/octet-stream", body,
                     address="10.250.0.31", attempts=1, started_at=NOW.timestamp(),
                     elapsed_ms=1.0)


def www(name: str) -> HttpFetch:
    """The lab CA web server's answer for /pki/NAME."""
    return ok(f"{pki.PKI_URL}/{name}", lab_files()[f"www/{name}"])


def healthy_downloads() -> dict[str, HttpFetch]:
    return {f.url: f for f in (www("issuing.crl"), www("root.crl"), www("issuing.crt"),
                               www("root.crt"))}


class Seen:
    """Builds the observations of one site: certificate bundles, downloads, OCSP, TCP."""

    def __init__(self, site_name: str = "hq") -> None:
        self.obs = Observations()
        self.site_name = site_name

    def certificate(self, found: CertificateBundle, domain: str = DOMAIN) -> Seen:
        self.obs.record(replace(found, domain=domain), self.site_name)
        return self

    def http(self, *fetches: HttpFetch) -> Seen:
        for fetch in fetches:
            self.obs.record(fetch, self.site_name)
        return self

    def ocsp(self, certificate_sha256: str, fetch: HttpFetch) -> Seen:
        self.obs.record(OcspFetch(certificate_sha256, fetch), self.site_name)
        return self

    def tcp(self, host: str, port: int, outcome: Outcome, detail: str = "") -> Seen:
        self.obs.record(TcpConnect(host, port, outcome, "10.250.0.31", 1, NOW.timestamp(), 1.0,
                                   detail), self.site_name)
        return self

    def view(self, warn_days: int = 30, now: datetime = NOW) -> SiteView:
        return self.obs.site(self.site_name, now, ChecksConfig(cert_warn_days=warn_days))


def run(check_id: str, seen: Seen, site_config: SiteConfig = SITE, **view: Any) -> list[Finding]:
    """The check's findings, its reason tags checked against its metadata (judge)."""
    from amt_preflight.checks import spec

    return spec(check_id).judge(site_config, seen.view(**view))


def status(check_id: str, seen: Seen, site_config: SiteConfig = SITE, **view: Any) -> Status:
    [finding] = run(check_id, seen, site_config, **view)
    return finding.status


def verdict(check_id: str, seen: Seen, site_config: SiteConfig = SITE, **view: Any
            ) -> tuple[Status, str | None]:
    """The status and reason tag of the check's one finding."""
    [finding] = run(check_id, seen, site_config, **view)
    return finding.status, finding.reason


def ocsp_answer(
    leaf: pki.Leaf, revoked: bool = False, signer: str = "issuing",
    next_update: datetime | None = None, about: pki.Leaf | None = None,
) -> bytes:
    """A DER OCSP response from the issuing CA about `leaf` (or, lying, about another); a
    signer other than "issuing" answers as the lab's unrelated root, which may not."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    issuing = pki.ca_certificates()["issuing"]
    cert = pki.leaf_certificate(about or leaf, NOW)
    status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert, issuing, hashes.SHA1(), status, NOW - timedelta(minutes=1),
        next_update if next_update is not None else NOW + timedelta(hours=1),
        pki.CA_START if revoked else None,
        x509.ReasonFlags.key_compromise if revoked else None,
    ).responder_id(ocsp.OCSPResponderEncoding.NAME,
                   issuing if signer == "issuing" else pki.ca_certificates()["other-root"])
    response = builder.sign(pki.keys()[signer], hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)
