"""The lab's PKI: a root and an issuing CA, a provisioning certificate for every case the
CERT-* and CA-* checks tell apart, their CRLs, an OCSP index, and the bundles surveys read.

Made at every lab start, into the lab folder, because leaf validity is relative to now
(expired, expiring in 5 days, ...). The keys (pki-keys.pem), the CA certificates and every
serial number are fixed, so the root's hash never changes (config.yaml trusts it) and any
lab's CRLs and OCSP responder judge any lab's certificates alike.

    files(now) -> {relative path: bytes}   everything, in memory (unit tests use this)
    write(folder, now)                     everything, into a lab folder
    publish(folder, files)                 the demo's two certificate files (config.yaml)
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from lab.httpd import HUGE_CRL, STALL_PATH

# The huge-subject certificate exceeds the name length limits on purpose.
warnings.filterwarnings("ignore", "Attribute's length must be", UserWarning)

KEYS_PATH = Path(__file__).with_name("pki-keys.pem")
CA_HOST = "ca01.corp.example"  # the lab's CA web server (network.ADDRESSES["ca"])
OCSP_HOST = "ocsp.corp.example"  # the lab's OCSP responder (network.ADDRESSES["ocsp"])
OCSP_PORT = 2560
PKI_URL = f"http://{CA_HOST}/pki"
OCSP_URL = f"http://{OCSP_HOST}:{OCSP_PORT}/"
STALL_URL = f"http://{CA_HOST}{STALL_PATH}"  # the web server reads, never answers
# A caIssuers download that is no certificate: a PKCS#7 ContentInfo of type "data" (13
# bytes), which cryptography refuses with UnsupportedAlgorithm, not ValueError.
AIA_PKCS7_DATA = "data.p7c"
PKCS7_DATA = bytes.fromhex("300b06092a864886f70d010701")
PASSWORD = "lab-pfx-password"  # of the lab's PFX and encrypted key files (lab.password)
WRONG_PASSWORD = "not-the-password"
REPOSITORY = Path(__file__).resolve().parents[1]
PUBLISHED = REPOSITORY / "lab-pki"  # where config.yaml finds the demo's certificate files
# The demo's files: hq's corp.example certificate (PFX, good) and branch.example's (PEM
# chain and key apart, without the AMT OID or OU).
DEMO_FILES = {"corp.pfx": "good.pfx", "corp.pfx.password": "lab.password",
              "branch-chain.pem": "branch-chain.pem", "branch-key.pem": "branch-key.pem"}

AMT_SETUP_OID = x509.ObjectIdentifier("2.16.840.1.113741.1.2.3")
AMT_SETUP_OU = "Intel(R) Client Setup Certificate"
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CA_START = datetime(2025, 1, 1, tzinfo=UTC)
ROOT_END = datetime(2050, 1, 1, tzinfo=UTC)
ISSUING_END = datetime(2045, 1, 1, tzinfo=UTC)
FIRST_LEAF_SERIAL = 0x1000
EC_SECRET = 0x5EED_0F_1AB  # the EC leaf key is derived: a fixed scalar on P-256
_ROOT_NAME = "amt-preflight Lab Root CA"
_ISSUING_NAME = "amt-preflight Lab Issuing CA"


@dataclass(frozen=True)
class Leaf:
    """One provisioning certificate of the lab and what is wrong with it, if anything."""

    name: str
    cn: str = "provisionserver.corp.example"
    san: tuple[str, ...] | None = None  # None: the CN
    ekus: tuple[x509.ObjectIdentifier, ...] = (SERVER_AUTH, AMT_SETUP_OID)
    ou: str | None = None
    key: str = "leaf"  # "leaf", "weak" (RSA 1024), "ec"
    sha1: bool = False
    valid_days: tuple[float, float] = (-1, 365)  # notBefore, notAfter: days from now
    crl: str = "issuing.crl"  # under PKI_URL
    ca_issuers: str = "issuing.crt"
    ocsp: str = OCSP_URL
    revoked: bool = False
    chain: tuple[str, ...] = ("issuing", "root")  # what the bundle holds after the leaf
    tamper: str = ""  # "duplicate-extension", "bad-extension", "inverted-dates"
    huge_subject: bool = False


# Serial numbers follow this order: add new certificates at the end only.
LEAVES: tuple[Leaf, ...] = (
    Leaf("good", ou=AMT_SETUP_OU),
    Leaf("oid-only"),
    Leaf("ou-only", ekus=(SERVER_AUTH,), ou=AMT_SETUP_OU),
    Leaf("no-usage", ekus=(SERVER_AUTH,)),
    Leaf("no-server-auth", ekus=(AMT_SETUP_OID,)),
    Leaf("wrong-domain", cn="provisionserver.other.example"),
    Leaf("wildcard", cn="*.corp.example"),
    Leaf("expired", valid_days=(-400, -30)),
    Leaf("not-yet-valid", valid_days=(10, 400)),
    Leaf("expiring", valid_days=(-360, 5)),
    Leaf("sha1", sha1=True),
    Leaf("rsa1024", key="weak"),
    Leaf("ec-key", key="ec"),
    Leaf("missing-intermediate", chain=("root",)),
    Leaf("revoked", revoked=True),
    Leaf("stale-crl", crl="stale.crl"),
    Leaf("forged-crl", crl="forged.crl"),
    Leaf("huge-crl", crl=HUGE_CRL),
    Leaf("aia-missing", ca_issuers="missing.crt"),
    Leaf("aia-wrong", ca_issuers="root.crt"),
    Leaf("ocsp-stall", ocsp=STALL_URL),
    Leaf("long-chain", chain=("issuing", "root", "other-root", "other-sub")),
    Leaf("branch", cn="provisionserver.branch.example", ekus=(SERVER_AUTH,)),
    Leaf("duplicate-extension", tamper="duplicate-extension"),
    Leaf("bad-extension", tamper="bad-extension"),
    Leaf("inverted-dates", tamper="inverted-dates"),
    Leaf("huge-subject", huge_subject=True),
    # revoked, and its caIssuers URL serves PKCS#7 junk: still a revoked fail, never an error
    Leaf("aia-pkcs7-junk", ca_issuers=AIA_PKCS7_DATA, revoked=True),
)
BY_NAME = {leaf.name: leaf for leaf in LEAVES}


def serial(leaf: Leaf) -> int:
    """Fixed by the certificate's place in LEAVES; one made outside the list (for a test)
    gets a number no listed certificate has."""
    return FIRST_LEAF_SERIAL + LEAVES.index(leaf) if leaf in LEAVES else FIRST_LEAF_SERIAL - 1


@cache
def keys() -> dict[str, rsa.RSAPrivateKey]:
    """The lab's fixed RSA keys by name (root, issuing, leaf, other, weak)."""
    text = KEYS_PATH.read_bytes()
    found = {}
    for name, pem in re.findall(rb"^key: (\w+)\n(-----BEGIN PRIVATE KEY-----.+?-----END "
                                rb"PRIVATE KEY-----)", text, re.MULTILINE | re.DOTALL):
        key = serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        found[name.decode()] = key
    return found


def _leaf_key(leaf: Leaf) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if leaf.key == "ec":
        return ec.derive_private_key(EC_SECRET, ec.SECP256R1())
    return keys()[leaf.key]


def _name(common_name: str, ou: str | None = None, huge: bool = False) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "amt-preflight lab")]
    if huge:  # far beyond any upper bound: what a report must still show sanely
        attributes += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"unit {i}",
                                          _validate=False) for i in range(500)]
        common_name = "x" * 65536
    if ou is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name, _validate=False))
    return x509.Name(attributes)


def _ca(name: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey,
        signer: rsa.RSAPrivateKey, number: int, end: datetime,
        links: str | None) -> x509.Certificate:
    """A CA certificate; `links` names the parent's files under PKI_URL (CRL, certificate)."""
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(number)
               .not_valid_before(CA_START).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                            False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if links is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signer.public_key()), critical=False)
        builder = _with_links(builder, f"{links}.crl", f"{links}.crt", None)
    return builder.sign(signer, hashes.SHA256())


def _with_links(builder: x509.CertificateBuilder, crl: str, ca_issuers: str,
                ocsp_url: str | None) -> x509.CertificateBuilder:
    crl_point = x509.DistributionPoint(
        [x509.UniformResourceIdentifier(f"{PKI_URL}/{crl}")], None, None, None)
    access = [x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                     x509.UniformResourceIdentifier(f"{PKI_URL}/{ca_issuers}"))]
    if ocsp_url is not None:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                             x509.UniformResourceIdentifier(ocsp_url)))
    return (builder.add_extension(x509.CRLDistributionPoints([crl_point]), critical=False)
            .add_extension(x509.AuthorityInformationAccess(access), critical=False))


@cache
def ca_certificates() -> dict[str, x509.Certificate]:
    """The CA certificates: the same bytes on every start (fixed keys, dates and serials;
    PKCS#1 v1.5 signatures are deterministic)."""
    k = keys()
    root_name, issuing_name = _name(_ROOT_NAME), _name(_ISSUING_NAME)
    other_name = _name("amt-preflight Lab Unrelated Root")
    return {
        "root": _ca(root_name, root_name, k["root"], k["root"], 1, ROOT_END, None),
        "issuing": _ca(issuing_name, root_name, k["issuing"], k["root"], 2, ISSUING_END, "root"),
        "other-root": _ca(other_name, other_name, k["other"], k["other"], 3, ROOT_END, None),
        "other-sub": _ca(_name("amt-preflight Lab Unrelated Sub CA"), other_name, k["other"],
                         k["other"], 4, ISSUING_END, None),
    }


# --- DER surgery: what cryptography refuses to build (SHA-1, duplicated extensions, ...) ---

_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")
_SAN_OID = bytes.fromhex("0603551d11")
_IAN_OID = bytes.fromhex("0603551d12")  # issuerAltName: stands in for a second SAN


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _signed(tbs: bytes, key: rsa.RSAPrivateKey, sha1: bool) -> x509.Certificate:
    """A certificate from TBS bytes, signed with RSA and SHA-256 or SHA-1."""
    algorithm, digest = (_SHA1_RSA, hashes.SHA1()) if sha1 else (_SHA256_RSA, hashes.SHA256())
    tbs = tbs.replace(_SHA256_RSA, algorithm, 1)
    signature = key.sign(tbs, padding.PKCS1v15(), digest)
    return x509.load_der_x509_certificate(
        _der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature)))


def _tampered(cert: x509.Certificate, leaf: Leaf) -> bytes:
    tbs = cert.tbs_certificate_bytes
    if leaf.tamper in ("duplicate-extension", "bad-extension"):
        return tbs.replace(_IAN_OID, _SAN_OID, 1)
    if leaf.tamper == "inverted-dates":  # notAfter before notBefore
        start = cert.not_valid_before_utc.strftime("%y%m%d%H%M%SZ").encode()
        end = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ").encode()
        return tbs.replace(start, b"\x00" * len(start), 1).replace(end, start, 1).replace(
            b"\x00" * len(start), end, 1)
    return tbs


def leaf_certificate(leaf: Leaf, now: datetime) -> x509.Certificate:
    issuer = ca_certificates()["issuing"]
    key = _leaf_key(leaf)
    names = leaf.san if leaf.san is not None else (leaf.cn,)
    start, end = (now + timedelta(days=d) for d in leaf.valid_days)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(leaf.cn, leaf.ou, leaf.huge_subject))
               .issuer_name(issuer.subject).public_key(key.public_key())
               .serial_number(serial(leaf)).not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                            False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(list(leaf.ekus)), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   keys()["issuing"].public_key()), critical=False))
    if not leaf.huge_subject and leaf.tamper != "bad-extension":
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    if leaf.tamper == "duplicate-extension":
        san = x509.SubjectAlternativeName([x509.DNSName("second.corp.example")])
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.18"), san.public_bytes()),
            critical=False)
    elif leaf.tamper == "bad-extension":
        builder = builder.add_extension(  # a SAN whose value is no GeneralNames
            x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.18"), b"\x04\x02\xff\xff"),
            critical=False)
    builder = _with_links(builder, leaf.crl, leaf.ca_issuers, leaf.ocsp)
    cert = builder.sign(keys()["issuing"], hashes.SHA256())
    if leaf.sha1 or leaf.tamper:
        return _signed(_tampered(cert, leaf), keys()["issuing"], leaf.sha1)
    return cert


# --- CRLs and the OCSP index ----------------------------------------------------------


def _crl(issuer: x509.Certificate, key: rsa.RSAPrivateKey, revoked: list[int],
         this_update: datetime, next_update: datetime) -> bytes:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
               .last_update(this_update).next_update(next_update)
               .add_extension(x509.CRLNumber(1), critical=False))
    for number in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(number)
            .revocation_date(CA_START).build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _ocsp_index(leaves: dict[Leaf, x509.Certificate]) -> bytes:
    """openssl ca's index.txt: status, expiry, revocation date, serial, file, subject."""
    lines = []
    for leaf, cert in leaves.items():
        expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        revoked = CA_START.strftime("%y%m%d%H%M%SZ") if leaf.revoked else ""
        lines.append(f"{'R' if leaf.revoked else 'V'}\t{expiry}\t{revoked}\t"
                     f"{serial(leaf):04X}\tunknown\t/CN={leaf.name}")
    return ("\n".join(lines) + "\n").encode()


# --- files ---------------------------------------------------------------------------


def _pem(*items: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in items)


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: str | None = None
             ) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def _pfx(name: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
         cert: x509.Certificate, chain: list[x509.Certificate]) -> bytes:
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(2048).key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                  .hmac_hash(hashes.SHA256()).build(PASSWORD.encode()))
    return pkcs12.serialize_key_and_certificates(name.encode(), key, cert, chain, encryption)


def files(now: datetime) -> dict[str, bytes]:
    """Every file of the lab PKI by path relative to its folder:
    bundles/  <leaf>.pem (chain and key), good.pfx, and the loadability cases;
    www/      what the CA web server publishes under /pki/;
    ocsp/     the OCSP responder's CA, key and index."""
    cas, k = ca_certificates(), keys()
    issuing, root = cas["issuing"], cas["root"]
    leaves = {leaf: leaf_certificate(leaf, now) for leaf in LEAVES}
    out: dict[str, bytes] = {}
    for leaf, cert in leaves.items():
        chain = [cas[name] for name in leaf.chain]
        out[f"bundles/{leaf.name}.pem"] = _pem(cert, *chain) + _key_pem(_leaf_key(leaf))
    good = leaves[BY_NAME["good"]]
    good_key, other_key = _leaf_key(BY_NAME["good"]), k["other"]
    branch = leaves[BY_NAME["branch"]]
    out.update({
        "bundles/good.pfx": _pfx("good", good_key, good, [issuing, root]),
        "bundles/lab.password": f"{PASSWORD}\n".encode(),
        "bundles/wrong.password": f"{WRONG_PASSWORD}\n".encode(),
        "bundles/good-chain.pem": _pem(good, issuing, root),
        "bundles/good-key.pem": _key_pem(good_key),
        "bundles/good-key-encrypted.pem": _key_pem(good_key, PASSWORD),
        "bundles/other-key.pem": _key_pem(other_key),
        "bundles/two-keys.pem": _pem(good, issuing, root) + _key_pem(good_key)
        + _key_pem(other_key),
        "bundles/garbage.bin": bytes((i * 151 + 7) % 256 for i in range(3000)),
        "bundles/branch-chain.pem": _pem(branch, issuing, root),
        "bundles/branch-key.pem": _key_pem(_leaf_key(BY_NAME["branch"])),
        "www/root.crt": root.public_bytes(serialization.Encoding.DER),
        "www/issuing.crt": issuing.public_bytes(serialization.Encoding.DER),
        f"www/{AIA_PKCS7_DATA}": PKCS7_DATA,
        "www/root.crl": _crl(root, k["root"], [], now - timedelta(hours=1),
                             now + timedelta(days=7)),
        "www/issuing.crl": _crl(issuing, k["issuing"],
                                [serial(leaf) for leaf in LEAVES if leaf.revoked],
                                now - timedelta(hours=1), now + timedelta(days=7)),
        "www/stale.crl": _crl(issuing, k["issuing"], [], now - timedelta(days=30),
                              now - timedelta(days=1)),
        "www/forged.crl": _crl(issuing, other_key, [], now - timedelta(hours=1),
                               now + timedelta(days=7)),
        "ocsp/issuing.pem": _pem(issuing),
        "ocsp/issuing.key": _key_pem(k["issuing"]),
        "ocsp/index.txt": _ocsp_index(leaves),
        "ocsp/index.txt.attr": b"unique_subject = no\n",
    })
    return out


def _write_atomically(path: Path, data: bytes) -> None:
    """Write and rename: a reader (another lab's survey) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    partial.replace(path)


def write(folder: Path, now: datetime) -> dict[str, bytes]:
    """The lab PKI, into `folder`; returns what it wrote."""
    made = files(now)
    for relative, data in made.items():
        _write_atomically(folder / relative, data)
    return made


def publish(folder: Path, made: dict[str, bytes]) -> None:
    """The demo's certificate files, where config.yaml names them (lab-pki/ by default)."""
    for name, source in DEMO_FILES.items():
        _write_atomically(folder / name, made[f"bundles/{source}"])


def root_sha256() -> str:
    return ca_certificates()["root"].fingerprint(hashes.SHA256()).hex()
