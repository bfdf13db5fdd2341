"""Certificate and CA observations: the configured certificate files as read, and the HTTP
fetches (CRLs, issuers, OCSP) and TCP connections the CA and handshake checks rely on."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from amt_preflight.observations.base import Outcome, clipped, utc_text
from amt_preflight.observations.dns import normal_name
from amt_preflight.typed import record

# Where each is kept (Observations): by site first, since names in URLs and hosts resolve at
# the site's resolvers (and each site has its own certificate files)
CertificateKey = tuple[str, str]  # site, domain
HttpKey = tuple[str, str]  # site, URL
OcspKey = tuple[str, str, str]  # site, URL, SHA-256 of the certificate asked about
TcpKey = tuple[str, str, int]  # site, host, port


def certificate_key(site: str, domain: str) -> CertificateKey:
    return site, normal_name(domain)


def http_key(site: str, url: str) -> HttpKey:
    return site, url


def ocsp_key(site: str, url: str, certificate_sha256: str) -> OcspKey:
    return site, url, certificate_sha256


def tcp_key(site: str, host: str, port: int) -> TcpKey:
    return site, host, port


class LoadOutcome(StrEnum):
    """What reading a configured certificate file gave: each way of failing has its value."""

    LOADED = "loaded"  # certificates and exactly one private key, which belongs to one of them
    UNREADABLE = "unreadable"  # missing, no permission, a folder, or larger than a bundle can be
    GARBAGE = "garbage"  # neither PEM, DER nor PKCS#12
    NO_PASSWORD = "no-password"  # encrypted, and the configured password source gives none
    WRONG_PASSWORD = "wrong-password"
    NO_CERTIFICATE = "no-certificate"
    BAD_CERTIFICATE = "bad-certificate"  # a certificate whose fields or extensions do not parse
    NO_KEY = "no-key"
    SEVERAL_KEYS = "several-keys"
    KEY_MISMATCH = "key-mismatch"  # the private key belongs to no certificate of the file


@record
class CertificateFacts:
    """What one certificate says, as read from its DER."""

    der: bytes
    subject: str  # RFC 4514
    issuer: str
    serial: str  # hex
    not_before: datetime
    not_after: datetime
    sha1: str
    sha256: str
    sha384: str
    key_type: str  # "RSA", "EC", "Ed25519", ...
    key_bits: int
    key_detail: str  # "RSA 2048", "EC secp256r1"
    signature_algorithm: str  # "sha256WithRSAEncryption", or the OID when unknown
    signature_hash: str | None  # "sha256", "sha1", "md5"; None when there is none (Ed25519)
    self_issued: bool  # subject equals issuer: a root (or a self-signed leaf)
    is_ca: bool = False
    ekus: tuple[str, ...] = ()  # dotted OIDs; empty when the extension is absent
    organizational_units: tuple[str, ...] = ()  # of the subject
    common_names: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()  # SAN dNSName entries
    crl_urls: tuple[str, ...] = ()  # CRL distribution points (full names that are URIs)
    ca_issuer_urls: tuple[str, ...] = ()  # AIA caIssuers
    ocsp_urls: tuple[str, ...] = ()  # AIA OCSP
    problem: str = ""  # why its extensions could not be read (malformed, duplicated)

    @property
    def label(self) -> str:
        """How a message names this certificate: its first CN, else its subject."""
        return clipped(self.common_names[0] if self.common_names else self.subject, 80)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "subject": clipped(self.subject),
            "issuer": clipped(self.issuer),
            "serial": self.serial,
            "not_before": utc_text(self.not_before),
            "not_after": utc_text(self.not_after),
            "sha1": self.sha1,
            "sha256": self.sha256,
            "key": self.key_detail,
            "signature": self.signature_algorithm,
            "ca": self.is_ca,
            "self_issued": self.self_issued,
            "san_dns": [clipped(n) for n in self.dns_names[:20]],
            "eku": list(self.ekus[:20]),
        }
        for name, urls in (("crl", self.crl_urls), ("ca_issuers", self.ca_issuer_urls),
                           ("ocsp", self.ocsp_urls)):
            if urls:
                doc[name] = [clipped(u) for u in urls[:10]]
        if self.problem:
            doc["problem"] = clipped(self.problem)
        return doc


@record
class CertificateBundle:
    """A domain's provisioning certificate file (PKCS#12, or PEM/DER with a key file) as
    read: its certificates in file order and its private keys, described, never kept."""

    domain: str
    source: str  # the file (and key file) as configured
    outcome: LoadOutcome
    detail: str = ""
    format: str = ""  # "PKCS#12", "PEM", "DER"
    certificates: tuple[CertificateFacts, ...] = ()
    leaf: int | None = None  # index of the certificate the private key belongs to
    keys: tuple[str, ...] = ()  # each private key found, described: "RSA 2048"
    password_source: str = ""  # where the password came from (its name, never its value)
    read_at: float = 0.0

    STORE: ClassVar[str] = "certificates"  # kept in Observations.certificates
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> CertificateKey:
        return certificate_key(site, self.domain)

    @property
    def leaf_certificate(self) -> CertificateFacts | None:
        return self.certificates[self.leaf] if self.leaf is not None else None

    @property
    def issued(self) -> tuple[CertificateFacts, ...]:
        """The certificates a CA vouches for: the leaf and intermediates (not the roots)."""
        return tuple(c for c in self.certificates if not c.self_issued)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file": self.source,
            "outcome": self.outcome.value,
            "format": self.format,
            "keys": list(self.keys),
            "leaf": self.leaf,
            "certificates": [c.to_evidence() for c in self.certificates[:20]],
        }
        if len(self.certificates) > 20:
            doc["certificates_not_shown"] = len(self.certificates) - 20
        if self.password_source:
            doc["password_source"] = self.password_source
        if self.detail:
            doc["detail"] = clipped(self.detail, 1000)
        return doc


@record
class HttpFetch:
    """One HTTP exchange (a CRL or issuer download, an OCSP request), after every attempt."""

    url: str
    method: str = "GET"
    outcome: Outcome = Outcome.NOT_OBSERVED
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    truncated: bool = False  # the body is longer than the probe reads: `body` is its start
    address: str = ""  # where the request went (the URL's host, resolved)
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""  # how the host resolved, or why there is no answer

    @classmethod
    def not_observed(cls, url: str) -> HttpFetch:
        """A download no fetch was recorded for."""
        return cls(url, detail="never fetched")

    STORE: ClassVar[str] = "http"  # kept in Observations.http
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> HttpKey:
        """Where a download (GET) is kept (Observations.http); an OCSP request is kept as an
        OcspFetch."""
        return http_key(site, self.url)

    @property
    def ok(self) -> bool:
        """A whole 200 answer."""
        return self.outcome.answered and self.status == 200 and not self.truncated

    def describe(self) -> str:
        if self.outcome.answered:
            cut = f", cut at {len(self.body)} bytes" if self.truncated else ""
            return f"HTTP {self.status}, {len(self.body)} bytes{cut}"
        return self.outcome.value + (f" ({clipped(self.detail, 200)})" if self.detail else "")

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"url": clipped(self.url), "method": self.method,
                               "outcome": self.outcome.value}
        if self.address:
            doc["address"] = self.address
        if self.outcome.answered:
            doc.update(status=self.status, content_type=clipped(self.content_type, 100),
                       bytes=len(self.body), truncated=self.truncated)
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc["attempts"] = self.attempts
        doc["elapsed_ms"] = round(self.elapsed_ms, 1)
        return doc


@record
class OcspFetch:
    """An OCSP request (a POST) about one certificate, and what it got."""

    certificate_sha256: str  # the certificate asked about
    fetch: HttpFetch

    @classmethod
    def not_observed(cls, url: str, certificate_sha256: str) -> OcspFetch:
        return cls(certificate_sha256, HttpFetch(url, "POST", detail="never asked"))

    STORE: ClassVar[str] = "ocsp"  # kept in Observations.ocsp
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> OcspKey:
        return ocsp_key(site, self.fetch.url, self.certificate_sha256)


@record
class TcpConnect:
    """A TCP connection attempt to host:port (closed again at once)."""

    host: str
    port: int
    outcome: Outcome = Outcome.NOT_OBSERVED  # ANSWER: the connection was accepted
    address: str = ""
    attempts: int = 0
    started_at: float = 0.0
    elapsed_ms: float = 0.0
    detail: str = ""

    @classmethod
    def not_observed(cls, host: str, port: int) -> TcpConnect:
        return cls(host, port, detail="never tried")

    STORE: ClassVar[str] = "tcp"  # kept in Observations.tcp
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> TcpKey:
        return tcp_key(site, self.host, self.port)

    def to_evidence(self) -> dict[str, Any]:
        return {"port": self.port, "address": self.address,
                "outcome": "accepted" if self.outcome.answered else self.outcome.value,
                "detail": self.detail, "attempts": self.attempts,
                "elapsed_ms": round(self.elapsed_ms, 1)}
