"""Certificate probe: what each domain's configured certificate file holds.

No network, but an observation all the same: the file is read once a run, its password
(from the environment or a file, never the config) opens it, and the result is facts about
its certificates and keys. The password and the key material are not kept.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes as PrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12

from amt_preflight import pki
from amt_preflight.config import CertificateRef, Config
from amt_preflight.observations.cert import CertificateBundle, CertificateFacts, LoadOutcome
from amt_preflight.secrets import MAX_SECRET_FILE, read_small_file, strip_line_break

if TYPE_CHECKING:
    from amt_preflight.probes import SiteProbes

MAX_FILE = 4 * 2**20  # bytes: a provisioning bundle is a few kilobytes
# A bundle is a chain of a few certificates and one key. Parsing is bounded by these, not by
# the file's size alone: 4 MiB of PEM holds 2,000 certificates or 700 RSA keys, and each
# key costs milliseconds to check (700 took 30 s).
MAX_CERTIFICATES = 64
MAX_KEYS = 2  # parsed; a second one already makes the bundle several-keys
_CERTIFICATE_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY",
               b"DSA PRIVATE KEY"}
# The start of a block this probe reads; other blocks (parameters, requests) are skipped.
_PEM_BEGIN = re.compile(b"-----BEGIN (" + b"|".join(
    re.escape(label) for label in sorted(_CERTIFICATE_LABELS | _KEY_LABELS, key=len,
                                         reverse=True)) + rb")-----\r?\n")


class _Refused(Exception):
    """Reading stops: the file says no (bad password, garbage, ...)."""

    def __init__(self, outcome: LoadOutcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


def _looks_like_pkcs12(data: bytes) -> bool:
    """A DER SEQUENCE whose first element is INTEGER 3: the PFX version (RFC 7292)."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length_bytes = data[1] - 0x80 if data[1] & 0x80 else 0
    return data[2 + length_bytes:5 + length_bytes] == b"\x02\x01\x03"


def _key_description(key: PrivateKey) -> str:
    size = getattr(key, "key_size", None)
    curve = getattr(key, "curve", None)
    kind = type(key).__name__.removeprefix("_").removesuffix("PrivateKey")
    if curve is not None:
        return f"EC {curve.name}"
    return f"{kind} {size}" if size else kind


def _private_key(data: bytes, password: bytes | None, pem: bool) -> PrivateKey:
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        return load(data, password)
    except TypeError as exc:  # encrypted without a password, or a password for a plain key
        if password is None:
            raise _Refused(LoadOutcome.NO_PASSWORD, "the private key is encrypted and no "
                           "password is configured (password_env or password_file)") from exc
        return _private_key(data, None, pem)
    except ValueError as exc:
        if b"ENCRYPTED" in data or (password is not None and not pem):
            raise _Refused(LoadOutcome.WRONG_PASSWORD,
                           "the password does not open the private key") from exc
        raise _Refused(LoadOutcome.GARBAGE, "a private key that does not parse: "
                       f"{pki.parse_problem(exc)}") from exc
    except UnsupportedAlgorithm as exc:
        raise _Refused(LoadOutcome.GARBAGE, f"a private key of an unknown kind: {exc}") from exc
    except pki.cert_errors() as exc:
        raise _Refused(LoadOutcome.GARBAGE, "a private key that does not parse: "
                       f"{pki.parse_problem(exc)}") from exc


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _from_pkcs12(data: bytes, password: bytes | None) -> tuple[list[x509.Certificate],
                                                                list[PrivateKey]]:
    if password is not None and not _is_utf8(password) and _looks_like_pkcs12(data):
        # A PKCS#12 password is text (RFC 7292: a BMPString): these bytes open no file
        raise _Refused(LoadOutcome.WRONG_PASSWORD, "the password is not UTF-8 text, so it "
                       "cannot be a PKCS#12 password")
    try:
        loaded = pkcs12.load_pkcs12(data, password)
    except ValueError as exc:
        if not _looks_like_pkcs12(data):
            raise _Refused(LoadOutcome.GARBAGE, "neither PEM, DER nor PKCS#12") from exc
        if password is None:
            raise _Refused(LoadOutcome.NO_PASSWORD, "the PKCS#12 file is encrypted and no "
                           "password is configured (password_env or password_file)") from exc
        raise _Refused(LoadOutcome.WRONG_PASSWORD,
                       "the password does not open the PKCS#12 file (or it is corrupt)") from exc
    except UnsupportedAlgorithm as exc:
        raise _Refused(LoadOutcome.GARBAGE, f"PKCS#12 with an unknown algorithm: {exc}") from exc
    except pki.cert_errors() as exc:
        raise _Refused(LoadOutcome.GARBAGE, "PKCS#12 that does not parse: "
                       f"{pki.parse_problem(exc)}") from exc
    certs = ([loaded.cert.certificate] if loaded.cert else []) + [
        c.certificate for c in loaded.additional_certs]
    return certs, [loaded.key] if loaded.key is not None else []


def _pem_blocks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(label, whole block) of every certificate and key block, in file order: one pass.

    Linear in the file's size, whatever it holds: a BEGIN line whose END never comes is
    remembered by label, so thousands of them cost one search each for their END, not one
    search through the rest of the file each (a lazy regex over BEGIN..END is quadratic).
    """
    unterminated: set[bytes] = set()  # labels with no END after some BEGIN: none later either
    position = 0
    while (begin := _PEM_BEGIN.search(data, position)) is not None:
        label = begin.group(1)
        position = begin.end()
        if label in unterminated:
            continue
        end_line = b"-----END " + label + b"-----"
        end = data.find(end_line, position)
        if end < 0:
            unterminated.add(label)
            continue
        position = end + len(end_line)
        yield label, data[begin.start():position]


def _from_pem(data: bytes, password: bytes | None) -> tuple[list[x509.Certificate],
                                                            list[PrivateKey]]:
    certs: list[x509.Certificate] = []
    keys: list[PrivateKey] = []
    for number, (label, block) in enumerate(_pem_blocks(data), 1):
        if label in _CERTIFICATE_LABELS:
            _bounded(len(certs) + 1)
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except pki.cert_errors() as exc:
                raise _Refused(LoadOutcome.BAD_CERTIFICATE, f"PEM block {number} is not a "
                               f"certificate: {pki.parse_problem(exc)}") from exc
        else:
            if len(keys) >= MAX_KEYS:
                raise _Refused(LoadOutcome.SEVERAL_KEYS, f"more than {MAX_KEYS} private keys: "
                               "a bundle holds one")
            keys.append(_private_key(block, password, pem=True))
    if not certs and not keys:
        raise _Refused(LoadOutcome.GARBAGE, "a PEM file without certificate or key blocks")
    return certs, keys


def _bounded(count: int) -> None:
    if count > MAX_CERTIFICATES:
        raise _Refused(LoadOutcome.GARBAGE, f"more than {MAX_CERTIFICATES} certificates: not a "
                       "provisioning bundle (a chain holds a few)")


def _parse(data: bytes, password: bytes | None) -> tuple[str, list[x509.Certificate],
                                                         list[PrivateKey]]:
    """(format, certificates in file order, private keys) of a certificate file."""
    if b"-----BEGIN " in data:
        return ("PEM", *_from_pem(data, password))
    try:
        return "DER", [x509.load_der_x509_certificate(data)], []
    except pki.cert_errors():
        return ("PKCS#12", *_from_pkcs12(data, password))


def _read(path: Path) -> bytes:
    """The file, if it is a regular file of at most MAX_FILE bytes (never blocks: a FIFO or
    a device in its place is refused unread)."""
    return read_small_file(path, MAX_FILE)


def _facts(certs: list[x509.Certificate]) -> tuple[CertificateFacts, ...]:
    described = []
    for number, cert in enumerate(certs, 1):
        try:
            described.append(pki.facts(cert))
        except pki.cert_errors() as exc:  # a name or a date that does not parse
            raise _Refused(LoadOutcome.BAD_CERTIFICATE, f"certificate {number} of the file "
                           f"does not parse: {pki.parse_problem(exc)}") from exc
    return tuple(described)


def read_bundle(
    domain: str, source: str, data: bytes, key_data: bytes | None, password: bytes | None,
    password_source: str = "",
) -> CertificateBundle:
    """Everything a certificate file (and its key file) holds, judged by no rule yet."""
    read_at = time.time()
    described: tuple[CertificateFacts, ...] = ()
    fmt = ""
    keys: list[PrivateKey] = []
    try:
        fmt, certs, keys = _parse(data, password)
        _bounded(len(certs))  # a PKCS#12 file may hold thousands too
        if key_data is not None:
            pem = b"-----BEGIN " in key_data
            keys += _from_pem(key_data, password)[1] if pem else [
                _private_key(key_data, password, pem=False)]
        described = _facts(certs)
        outcome, detail, leaf = _judge_keys(certs, keys, described)
    except _Refused as refused:
        outcome, detail, leaf = refused.outcome, refused.detail, None
    return CertificateBundle(domain, source, outcome, detail, fmt, described, leaf,
                             tuple(_key_description(k) for k in keys), password_source, read_at)


def _public_der(key: PrivateKey | x509.Certificate) -> bytes | None:
    """The SubjectPublicKeyInfo of a private key or a certificate; None when it has none that
    cryptography can write (an unknown algorithm, parameters that do not parse)."""
    try:
        return key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except pki.cert_errors():
        return None


def _judge_keys(
    certs: list[x509.Certificate], keys: list[PrivateKey], described: tuple[CertificateFacts, ...]
) -> tuple[LoadOutcome, str, int | None]:
    if not certs:
        return LoadOutcome.NO_CERTIFICATE, "the file holds no certificate", None
    broken = [f"{c.label}: {c.problem}" for c in described if c.problem]
    if broken:
        return LoadOutcome.BAD_CERTIFICATE, "; ".join(broken), None
    if not keys:
        return LoadOutcome.NO_KEY, "no private key in the file (nor a key_file)", None
    if len(keys) > 1:
        return LoadOutcome.SEVERAL_KEYS, f"{len(keys)} private keys: a bundle holds one", None
    public = _public_der(keys[0])
    if public is None:
        return LoadOutcome.GARBAGE, "the private key has no public key to compare", None
    for index, cert in enumerate(certs):
        if _public_der(cert) == public:  # a key cryptography cannot read matches nothing
            return LoadOutcome.LOADED, "", index
    return LoadOutcome.KEY_MISMATCH, "the private key belongs to none of the certificates", None


def _password(config: Config, ref: CertificateRef) -> tuple[bytes | None, str]:
    """The password and where it came from (a name to show, never the value, nor a byte of
    it: PKCS#12 and PEM passwords are bytes, taken as they are, never decoded, so no codec
    error can quote one)."""
    if ref.password_env:
        value = os.environb.get(os.fsencode(ref.password_env))
        where = f"environment variable {ref.password_env}"
        return (value, where) if value is not None else (None, f"{where} (not set)")
    if ref.password_file:
        path = config.resolve(ref.password_file)
        try:
            data = read_small_file(path, MAX_SECRET_FILE)
        except OSError as exc:
            return None, (f"file {ref.password_file} (unreadable: "
                          f"{exc.strerror or type(exc).__name__})")
        return strip_line_break(data), f"file {ref.password_file}"
    return None, ""


def load(config: Config, domain: str, ref: CertificateRef) -> CertificateBundle:
    source = str(ref.file) + (f" with key {ref.key_file}" if ref.key_file else "")
    password, password_source = _password(config, ref)
    try:
        data = _read(config.resolve(ref.file))
        key_data = _read(config.resolve(ref.key_file)) if ref.key_file else None
    except _Refused as refused:
        return CertificateBundle(domain, source, refused.outcome, refused.detail,
                                 password_source=password_source, read_at=time.time())
    except OSError as exc:
        return CertificateBundle(domain, source, LoadOutcome.UNREADABLE,
                                 f"{exc.filename}: {exc.strerror}",
                                 password_source=password_source, read_at=time.time())
    return read_bundle(domain, source, data, key_data, password, password_source)


async def site_bundles(ctx: SiteProbes) -> list[CertificateBundle]:
    """The certificate of every domain of the site that has one, each file read once a run
    (off the event loop: a PKCS#12 password costs key-derivation rounds)."""

    async def one(domain: str, ref: CertificateRef) -> CertificateBundle:
        bundle = await asyncio.to_thread(load, ctx.config, domain, ref)
        ctx.record(bundle)
        return bundle

    reads = [ctx.once.run(("certificate", ctx.site.name, d.name), partial(one, d.name, ref))
             for d in ctx.site.domains if (ref := d.certificate) is not None]
    return list(await asyncio.gather(*reads))


async def gather_certificates(ctx: SiteProbes) -> None:
    await site_bundles(ctx)
