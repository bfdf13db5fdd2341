"""The certificates section: per site and domain, the chain as the file holds it, the root
hash entry it matched, the names the domain matched, and every CERT-/CA- verdict on it: what
a PKI engineer needs to fix the bundle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amt_preflight.model import NO_TARGET, Result, Status

from .common import Count, as_list, as_map, by_target, count, maps, text, texts, truthy_text

AREAS = ("CERT-", "CA-")  # the checks whose verdicts a certificate's table lists
# Extended key usages by name: those AMT provisioning cares about.
USAGES: Mapping[str, str] = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "2.16.840.1.113741.1.2.3": "AMT setup",
}


class Loadable:
    """Evidence of CERT-LOADABLE, written by checks/cert.py (loadable, _finding):
    `CertificateBundle.to_evidence()` of amt_preflight/observations/cert.py."""

    CHECK = "CERT-LOADABLE"
    FILE = "file"
    FORMAT = "format"  # "PKCS#12", "PEM", "DER"
    KEYS = "keys"  # each private key found, described
    PASSWORD_SOURCE = "password_source"
    LEAF = "leaf"  # index in `certificates` of the one the private key belongs to
    CERTIFICATES = "certificates"  # each of CertificateKeys, in file order
    NOT_SHOWN = "certificates_not_shown"


class CertificateKeys:
    """One certificate: `CertificateFacts.to_evidence()` of amt_preflight/observations/cert.py,
    in CERT-LOADABLE's `certificates` and in a handshake's presented chain."""

    SUBJECT = "subject"
    ISSUER = "issuer"
    SERIAL = "serial"
    NOT_BEFORE = "not_before"
    NOT_AFTER = "not_after"
    SHA1 = "sha1"
    SHA256 = "sha256"
    KEY = "key"
    SIGNATURE = "signature"
    CA = "ca"
    SELF_ISSUED = "self_issued"
    SAN_DNS = "san_dns"
    EKU = "eku"
    PROBLEM = "problem"


class RootTrusted:
    """Evidence of CERT-ROOT-TRUSTED, written by checks/cert.py (root_trusted, _judge_lists,
    _judge_announced, _hit)."""

    CHECK = "CERT-ROOT-TRUSTED"
    # generation (or "hello") -> the list judged with its MATCH; a chain presented in a
    # handshake, and runs saved before the lists were named, have the match itself
    MATCHES = "matches"
    MATCH = "match"  # the entry matched (the keys below), or why none: text
    CA = "ca"
    ENTRY = "entry"
    ALGORITHM = "algorithm"
    HASH = "hash"


class DomainMatch:
    """Evidence of CERT-DOMAIN-MATCH, written by checks/cert.py (domain_match)."""

    CHECK = "CERT-DOMAIN-MATCH"
    NAMES = "names"  # the certificate's names
    DOMAIN_SOURCE = "domain_source"  # where the domain to match came from


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    sha1: str
    sha256: str
    key: str
    signature: str
    ca: bool
    self_issued: bool
    san_dns: Sequence[str]
    usages: Sequence[str]  # its extended key usages, by name where USAGES has one
    problem: str  # "": none


def certificate(doc: Mapping[str, Any]) -> Certificate:
    """A certificate's evidence (CertificateKeys) as shown."""
    def get(key: str) -> str:
        return text(doc.get(key))

    k = CertificateKeys
    return Certificate(
        get(k.SUBJECT), get(k.ISSUER), get(k.SERIAL), get(k.NOT_BEFORE), get(k.NOT_AFTER),
        get(k.SHA1), get(k.SHA256), get(k.KEY), get(k.SIGNATURE), bool(doc.get(k.CA)),
        bool(doc.get(k.SELF_ISSUED)), texts(doc.get(k.SAN_DNS)),
        [USAGES.get(oid, oid) if isinstance(oid, str) else text(oid)
         for oid in as_list(doc.get(k.EKU))],
        truthy_text(doc.get(k.PROBLEM)))


@dataclass(frozen=True)
class RootMatch:
    """The hash list entry the root matched for one AMT generation, or why none."""

    generation: str
    listed: bool  # False: `detail` says why no entry matched
    ca: str = ""
    entry: str = ""
    algorithm: str = ""
    hash: str = ""
    detail: str = ""


@dataclass(frozen=True)
class CertificateCheck:
    """One CERT-/CA- verdict on a domain's certificate."""

    check: str
    status: Status
    message: str
    matches: Sequence[RootMatch] = ()  # CERT-ROOT-TRUSTED
    names: Sequence[str] = ()  # CERT-DOMAIN-MATCH
    domain_source: str = ""


@dataclass(frozen=True)
class CertificateFile:
    """A domain's certificate file as CERT-LOADABLE read it, and every verdict on it."""

    site: str
    domain: str
    file: str
    status: Status
    message: str
    format: str  # "": not known
    keys: Sequence[str]  # the private keys found
    password_source: str  # "": none
    chain: Sequence[Certificate]  # in file order
    leaf: int | None  # the index in `chain` of the leaf (its private key is in the file)
    not_shown: Count | None  # how many more certificates the file holds
    checks: Sequence[CertificateCheck]


@dataclass(frozen=True)
class CertificatesView:
    files: Sequence[CertificateFile]


def _match(generation: object, judged: object) -> RootMatch:
    hit = judged.get(RootTrusted.MATCH, judged) if isinstance(judged, Mapping) else judged
    if not isinstance(hit, Mapping):
        return RootMatch(text(generation), False, detail=text(hit))
    k = RootTrusted
    return RootMatch(text(generation), True, text(hit.get(k.CA)), text(hit.get(k.ENTRY)),
                     text(hit.get(k.ALGORITHM)), text(hit.get(k.HASH)))


def verdict(r: Result) -> CertificateCheck:
    if r.check == RootTrusted.CHECK:
        return CertificateCheck(r.check, r.status, r.message, [
            _match(g, hit) for g, hit in as_map(r.evidence.get(RootTrusted.MATCHES)).items()])
    if r.check == DomainMatch.CHECK:
        return CertificateCheck(r.check, r.status, r.message,
                                names=texts(r.evidence.get(DomainMatch.NAMES)),
                                domain_source=text(r.evidence.get(DomainMatch.DOMAIN_SOURCE)))
    return CertificateCheck(r.check, r.status, r.message)


def build(results: Sequence[Result]) -> CertificatesView:
    """Each certificate file CERT-LOADABLE judged, in run order."""
    index = by_target(results)
    files = []
    for load in results:
        if load.check != Loadable.CHECK or load.target == NO_TARGET:
            continue
        ev = load.evidence
        leaf = ev.get(Loadable.LEAF)
        files.append(CertificateFile(
            site=load.site, domain=load.target, file=text(ev.get(Loadable.FILE)),
            status=load.status, message=load.message,
            format=truthy_text(ev.get(Loadable.FORMAT)), keys=texts(ev.get(Loadable.KEYS)),
            password_source=truthy_text(ev.get(Loadable.PASSWORD_SOURCE)),
            chain=[certificate(c) for c in maps(ev.get(Loadable.CERTIFICATES))],
            leaf=leaf if isinstance(leaf, int) and not isinstance(leaf, bool) else None,
            not_shown=count(ev.get(Loadable.NOT_SHOWN)),
            checks=[verdict(r) for r in index.get((load.site, load.target), [])
                    if r.check.startswith(AREAS)],
        ))
    return CertificatesView(files)
