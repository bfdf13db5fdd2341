"""Certificates as the AMT firmware reads them: the facts a report shows, signatures, issuers,
and the built-in root hash lists.

Shared by the certificate and CA probes (which record facts) and the checks (which judge
them). Its functions import cryptography on first use: importing this module does not.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from amt_preflight.observations.cert import CertificateFacts

# cryptography is imported in the functions that use it (~45 ms): a run whose checks read no
# certificate never imports it (DESIGN.md, "Performance").
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

# The EKU that marks a certificate for AMT remote configuration, and the subject OU that
# does the same (AMT SDK, "Acquiring an Intel vPro certificate"); exact, case-sensitive.
AMT_SETUP_OID = "2.16.840.1.113741.1.2.3"
AMT_SETUP_OU = "Intel(R) Client Setup Certificate"
SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1"

# Hostile certificates carry names beyond RFC 5280's length limits; cryptography warns on
# stderr as it reads them. The facts show such names (clipped) in the evidence instead.
warnings.filterwarnings("ignore", "Attribute's length must be", UserWarning)
warnings.filterwarnings("ignore", "Parsed a serial number which wasn't positive")  # old roots

ROOT_HASHES_PATH = Path(__file__).with_name("data") / "amt-root-hashes.json"
HASH_NAMES = {40: "sha1", 64: "sha256", 96: "sha384"}  # hex length -> algorithm
HASH_ALGORITHMS = frozenset(HASH_NAMES.values())
MAX_URLS = 10  # of one kind (CRL, caIssuers, OCSP) per certificate
# Certificates read from one download (a caIssuers URL serves one, a PKCS#7 bundle a few):
# a 10 MiB body of PEM holds 7,000, each parsed again by every rule that looks for an issuer
MAX_DOWNLOADED = 64


@cache
def _signature_names() -> dict[x509.ObjectIdentifier, str]:
    from cryptography import x509
    from cryptography.x509.oid import SignatureAlgorithmOID

    return {oid: name.lower().replace("_", "-")
            for name, oid in vars(SignatureAlgorithmOID).items()
            if isinstance(oid, x509.ObjectIdentifier)}


@cache
def cert_errors() -> tuple[type[Exception], ...]:
    """Everything cryptography raises on hostile certificate, CRL or OCSP bytes. It parses
    fields lazily, so any access may raise, and not only ValueError: a name attribute of type
    BIT STRING raises TypeError, an unknown version InvalidVersion, a PKCS#7 blob of another
    type UnsupportedAlgorithm. Every place that touches untrusted certificate data catches
    this set."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    return (ValueError, TypeError, x509.InvalidVersion, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType, UnsupportedAlgorithm)


@cache
def _verify_errors() -> tuple[type[Exception], ...]:
    from cryptography.exceptions import InvalidSignature

    return (InvalidSignature, *cert_errors())


def parse_problem(exc: BaseException) -> str:
    """One of cert_errors() in words for the evidence: what cryptography said, with its type
    where the words alone do not tell it is a parse failure."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


def _attributes(name: x509.Name, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    return tuple(a.value if isinstance(a.value, str) else a.value.hex()
                 for a in name.get_attributes_for_oid(oid))


def _key(cert: x509.Certificate) -> tuple[str, int, str]:
    """(type, bits, description) of the certificate's public key."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    try:
        key = cert.public_key()
    except cert_errors() as exc:
        return "unknown", 0, f"unreadable key ({parse_problem(exc)})"
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, f"EC {key.curve.name}"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, f"DSA {key.key_size}"
    name = type(key).__name__.removeprefix("_").removesuffix("PublicKey")
    return name, 0, name


def signature_hash(cert: x509.Certificate) -> str | None:
    """The hash of the certificate's signature ("sha256", "sha1", "md5"), None for schemes
    without one (Ed25519), "unknown" for one cryptography does not know (MD2)."""
    try:
        algorithm = cert.signature_hash_algorithm
    except cert_errors():
        return "unknown"
    return algorithm.name if algorithm is not None else None


def facts(cert: x509.Certificate) -> CertificateFacts:
    """Everything a check or a PKI engineer needs from one certificate.

    Hostile input is expected: extensions that do not parse (malformed, duplicated) leave
    their fields empty and say why in `problem`. A subject, issuer or validity that does not
    parse raises one of cert_errors(): such a certificate has no facts.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

    key_type, key_bits, key_detail = _key(cert)
    values: dict[str, Any] = {}
    problem = ""
    try:
        extensions = cert.extensions
    except cert_errors() as exc:
        problem = f"extensions do not parse: {parse_problem(exc)}"
        extensions = x509.Extensions([])
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.ExtendedKeyUsage):
            values["ekus"] = tuple(oid.dotted_string for oid in value)
        elif isinstance(value, x509.SubjectAlternativeName):
            values["dns_names"] = tuple(value.get_values_for_type(x509.DNSName))
        elif isinstance(value, x509.BasicConstraints):
            values["is_ca"] = value.ca
        elif isinstance(value, x509.CRLDistributionPoints):
            values["crl_urls"] = tuple(
                name.value for point in value for name in point.full_name or ()
                if isinstance(name, x509.UniformResourceIdentifier))
        elif isinstance(value, x509.AuthorityInformationAccess):
            for method, key in ((AuthorityInformationAccessOID.CA_ISSUERS, "ca_issuer_urls"),
                                (AuthorityInformationAccessOID.OCSP, "ocsp_urls")):
                values[key] = tuple(
                    d.access_location.value for d in value if d.access_method == method
                    and isinstance(d.access_location, x509.UniformResourceIdentifier))
    subject = cert.subject
    return CertificateFacts(
        der=cert.public_bytes(serialization.Encoding.DER),
        subject=subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha1=cert.fingerprint(hashes.SHA1()).hex(),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        sha384=cert.fingerprint(hashes.SHA384()).hex(),
        key_type=key_type,
        key_bits=key_bits,
        key_detail=key_detail,
        signature_algorithm=_signature_names().get(
            cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string),
        signature_hash=signature_hash(cert),
        self_issued=subject == cert.issuer,
        organizational_units=_attributes(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        common_names=_attributes(subject, NameOID.COMMON_NAME),
        problem=problem,
        **values,
    )


def url_problem(url: str) -> str:
    """Why a CDP, AIA or OCSP URL is not fetched over HTTP; "" when it is. (LDAP and HTTPS
    distribution points are left to the clients that use them.)"""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return "it holds white space or control characters"
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return f"only http:// URLs are fetched, not {parts.scheme or 'a relative URL'}"
    try:
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        return str(exc)
    return "" if parts.hostname else "it names no host"


def fetchable(urls: tuple[str, ...]) -> list[str]:
    """The URLs of one kind in a certificate that the probes fetch: http:// ones, at most
    MAX_URLS (a hostile certificate may list thousands)."""
    return [u for u in urls[:MAX_URLS] if not url_problem(u)]


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates of a download or file: PEM, DER, or PKCS#7 certs-only (as some CAs
    publish their AIA), at most MAX_DOWNLOADED, each with a subject and issuer that parse.
    ValueError (never another of cert_errors()) when it is none of these."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs7

    if data.count(b"-----BEGIN") > MAX_DOWNLOADED:
        raise ValueError(f"more than {MAX_DOWNLOADED} PEM blocks")
    try:
        if b"-----BEGIN" in data:
            if b"-----BEGIN PKCS7-----" in data:
                certs = pkcs7.load_pem_pkcs7_certificates(data)
            else:
                certs = x509.load_pem_x509_certificates(data)
        else:
            try:
                certs = [x509.load_der_x509_certificate(data)]
            except cert_errors():
                certs = pkcs7.load_der_pkcs7_certificates(data)
        if len(certs) > MAX_DOWNLOADED:
            raise ValueError(f"{len(certs)} certificates: more than {MAX_DOWNLOADED}")
        for number, cert in enumerate(certs, 1):
            try:
                _ = cert.subject, cert.issuer  # parsed lazily: every later use may rely on them
            except cert_errors() as exc:
                raise ValueError(f"certificate {number}: {parse_problem(exc)}") from exc
    except cert_errors() as exc:
        if isinstance(exc, ValueError):
            raise
        raise ValueError(parse_problem(exc)) from exc
    return certs


def verifies(
    key: CertificatePublicKeyTypes, signature: bytes, data: bytes,
    hash_algorithm: hashes.HashAlgorithm | None,
    scheme: padding.PSS | padding.PKCS1v15 | ec.ECDSA | None = None,
) -> bool:
    """Whether `signature` over `data` verifies with `key`; SHA-1 and MD5 included (the
    firmware rules judge those, not this)."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

    try:
        if isinstance(key, rsa.RSAPublicKey) and hash_algorithm is not None:
            rsa_padding = scheme if isinstance(scheme, padding.PSS) else padding.PKCS1v15()
            key.verify(signature, data, rsa_padding, hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and hash_algorithm is not None:
            key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey) and hash_algorithm is not None:
            key.verify(signature, data, hash_algorithm)
        else:
            return False
    except _verify_errors():
        return False
    return True


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` issued `cert`: its name and its key's signature (False when either
    does not parse)."""
    try:
        if cert.issuer != issuer.subject:
            return False
        hash_algorithm = cert.signature_hash_algorithm
        scheme = cert.signature_algorithm_parameters
        key = issuer.public_key()
    except cert_errors():
        return False
    return verifies(key, cert.signature, cert.tbs_certificate_bytes, hash_algorithm, scheme)


def issuer_among(
    cert: x509.Certificate, candidates: list[x509.Certificate]
) -> x509.Certificate | None:
    """The candidate that signed `cert`."""
    return next((c for c in candidates if signed_by(cert, c)), None)


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        key = issuer.public_key()
        hash_algorithm = crl.signature_hash_algorithm
        scheme = crl.signature_algorithm_parameters
        if crl.issuer != issuer.subject:
            return False
    except cert_errors():
        return False
    return verifies(key, crl.signature, crl.tbs_certlist_bytes, hash_algorithm, scheme)


# --- built-in root hash lists (hint data: amt_preflight/data/amt-root-hashes.json) --------


@dataclass(frozen=True)
class KnownRoot:
    """A root some AMT firmware trusts by default, with every hash the sources give for it."""

    name: str
    hashes: dict[str, str]  # "sha1", "sha256", "sha384" -> lower-case hex
    key: str = ""  # "RSA 2048", "EC secp384r1"; "" when its certificate is not at hand
    mozilla: str = ""  # its file in Debian's ca-certificates, where it still ships

    def matches(self, cert: CertificateFacts) -> bool:
        return any(fingerprint_of(cert, a) == v for a, v in self.hashes.items())


@dataclass(frozen=True)
class RootHash:
    """One trusted root hash in a list: the CA it names and where the list comes from."""

    ca: str
    algorithm: str  # "sha1", "sha256", "sha384"
    value: str  # lower-case hex
    source: str  # "AMT 11.8.50 build 3425 (device sample): ...", "amt.custom_root_hashes[0]"


@dataclass(frozen=True)
class RootList:
    """A default root list of some AMT generations, and where it is known from."""

    id: str
    label: str
    first: int  # AMT major versions the list is known for, inclusive
    last: int | None  # None: every later version too
    algorithm: str  # the hash the firmware stores (and announces in its hello)
    confidence: str  # "seed", "sdk", "device-sample"
    source: str
    roots: tuple[KnownRoot, ...]

    def covers(self, generation: int) -> bool:
        return self.first <= generation and (self.last is None or generation <= self.last)

    @property
    def provenance(self) -> str:
        return f"{self.label}: {self.source}"

    @property
    def entries(self) -> tuple[RootHash, ...]:
        """The list as a device holds it: each root's hash in the list's algorithm."""
        return tuple(RootHash(r.name, self.algorithm, r.hashes[self.algorithm], self.label)
                     for r in self.roots)

    def find(self, cert: CertificateFacts) -> KnownRoot | None:
        return next((r for r in self.roots if r.matches(cert)), None)


@dataclass(frozen=True)
class ListChoice:
    """The list one AMT generation is judged against, and why when it is not its own."""

    generation: int
    root_list: RootList
    note: str  # "" when the list is known for this generation


@dataclass(frozen=True)
class ListGap:
    """Generations with no published list, and the list that stands in for theirs."""

    first: int
    last: int
    use: str  # the id of the list that stands in
    why: str


@cache
def _document() -> tuple[dict[str, KnownRoot], tuple[RootList, ...], tuple[ListGap, ...]]:
    document = json.loads(ROOT_HASHES_PATH.read_text(encoding="utf-8"))
    roots = {name: KnownRoot(name, {a: v for a, v in item.items() if a in HASH_ALGORITHMS},
                             item.get("key", ""), item.get("mozilla", ""))
             for name, item in document["roots"].items()}
    lists = tuple(RootList(item["id"], item["label"], item["first"], item.get("last"),
                           item["algorithm"], item["confidence"], item["source"],
                           tuple(roots[name] for name in item["roots"]))
                  for item in document["lists"])
    gaps = tuple(ListGap(g["first"], g["last"], g["use"], g["why"]) for g in document["gaps"])
    return roots, lists, gaps


def known_roots() -> dict[str, KnownRoot]:
    return _document()[0]


def builtin_root_lists() -> tuple[RootList, ...]:
    return _document()[1]


def list_gaps() -> tuple[ListGap, ...]:
    return _document()[2]


def list_for(generation: int) -> ListChoice:
    """The built-in list a device of this AMT generation is judged against: its own where one
    is known; else the nearest older known list (AMT-FACTS.md), never an empty one."""
    _, lists, gaps = _document()
    own = next((lst for lst in lists if lst.covers(generation)), None)
    if own is not None:
        return ListChoice(generation, own, "")
    gap = next((g for g in gaps if g.first <= generation <= g.last), None)
    if gap is not None:
        stand_in = next(lst for lst in lists if lst.id == gap.use)
        return ListChoice(generation, stand_in, f"AMT {generation}: {gap.why} "
                          f"({stand_in.label})")
    raise ValueError(f"AMT {generation}: remote configuration exists from AMT 2.2 on")


def is_builtin_root(cert: CertificateFacts) -> bool:
    """Whether the certificate is a root of some built-in list (a public CA's root)."""
    return any(root.matches(cert) for root in known_roots().values())


def custom_root_hashes(values: list[str]) -> tuple[RootHash, ...]:
    """amt.custom_root_hashes (already normalised by the config) as list entries."""
    return tuple(RootHash("custom root", HASH_NAMES[len(v)], v, f"amt.custom_root_hashes[{i}]")
                 for i, v in enumerate(values))


def fingerprint_of(cert: CertificateFacts, algorithm: str) -> str:
    return {"sha1": cert.sha1, "sha256": cert.sha256, "sha384": cert.sha384}[algorithm]
