"""The hello an AMT device sends its provisioning server, encoded and decoded (no network).

Layout (little-endian; Intel AMT SDK "Setup mode hello messages", MeshCentral
amtprovisioningserver.js parseHelloData):

    offset  type      field
    0       u16       admin credentials set (0 or 1)
    2       u16       interface version: 3 PKI, 2 PSK (removed in AMT 11)
    4       u32       retry count
    8       16 bytes  device UUID, GUID byte order
    version 3:
    24      u8        number of root hashes
    25      entries   type u8 (1 SHA-1, 2 SHA-256, 3 SHA-384), size u8, hash bytes
    version 2:
    24      8 bytes   PID (the provisioning ID of the pre-shared PID/PPS pair)
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

PKI_VERSION = 3
PSK_VERSION = 2
HEADER = struct.Struct("<HHI16s")  # admin credentials, version, retry count, UUID
MAX_HELLO = 16000  # bytes a provisioning server reads of one hello (MeshCentral)
MAX_HASHES = 255  # the count is one byte
PID_LENGTH = 8  # characters A-Z and 0-9; shown with a dash after the fourth
PPS_LENGTH = 32  # characters A-Z and 0-9; shown with a dash after every fourth
# The node field of every synthetic device UUID: the bytes spell "AMTPFL", so a provisioning
# server's log shows at a glance that the hello came from amt-preflight, not from a device.
SYNTHETIC_NODE = b"AMTPFL"


class HelloError(ValueError):
    """Bytes that are not a hello this module can read, and why."""


class HashType(IntEnum):
    SHA1 = 1
    SHA256 = 2
    SHA384 = 3

    @property
    def size(self) -> int:
        return _SIZES[self]

    @property
    def algorithm(self) -> str:
        """The name certificate fingerprints use: "sha1", "sha256", "sha384"."""
        return self.name.lower()

    @classmethod
    def of(cls, algorithm: str) -> HashType:
        return cls[algorithm.upper()]


_SIZES = {HashType.SHA1: 20, HashType.SHA256: 32, HashType.SHA384: 48}


@dataclass(frozen=True)
class RootHash:
    """One trusted root hash as a hello announces it."""

    kind: HashType
    digest: bytes

    def __post_init__(self) -> None:
        if len(self.digest) != self.kind.size:
            raise HelloError(f"a {self.kind.algorithm} hash has {self.kind.size} bytes, "
                             f"not {len(self.digest)}")

    @classmethod
    def from_hex(cls, algorithm: str, value: str) -> RootHash:
        return cls(HashType.of(algorithm), bytes.fromhex(value))

    @property
    def hex(self) -> str:
        return self.digest.hex()


@dataclass(frozen=True)
class Hello:
    """A hello: version 3 (PKI) announces root hashes, version 2 (PSK) carries a PID."""

    version: int
    device_uuid: uuid.UUID
    admin_credentials_set: bool = False
    retry_count: int = 0
    root_hashes: tuple[RootHash, ...] = ()
    pid: str = field(default="", repr=False)  # a secret of the site: never in a repr

    def __post_init__(self) -> None:
        if self.version == PKI_VERSION:
            if self.pid:
                raise HelloError("a version 3 hello carries no PID")
            if len(self.root_hashes) > MAX_HASHES:
                raise HelloError(f"{len(self.root_hashes)} root hashes: at most {MAX_HASHES}")
        elif self.version == PSK_VERSION:
            if self.root_hashes:
                raise HelloError("a version 2 hello carries no root hashes")
            if not re.fullmatch(f"[\\x21-\\x7e]{{{PID_LENGTH}}}", self.pid):
                raise HelloError(f"a PID is {PID_LENGTH} printable characters")
        else:
            raise HelloError(f"interface version {self.version}: only 2 (PSK) and 3 (PKI) exist")
        if not 0 <= self.retry_count <= 0xFFFFFFFF:
            raise HelloError(f"retry count {self.retry_count} does not fit in 32 bits")

    @classmethod
    def pki(cls, device_uuid: uuid.UUID, root_hashes: Iterable[RootHash],
            retry_count: int = 0, admin_credentials_set: bool = False) -> Hello:
        return cls(PKI_VERSION, device_uuid, admin_credentials_set, retry_count,
                   tuple(root_hashes))

    @classmethod
    def psk(cls, device_uuid: uuid.UUID, pid: str, retry_count: int = 0,
            admin_credentials_set: bool = False) -> Hello:
        return cls(PSK_VERSION, device_uuid, admin_credentials_set, retry_count,
                   pid=normal_pid(pid))

    def encode(self) -> bytes:
        header = HEADER.pack(int(self.admin_credentials_set), self.version, self.retry_count,
                             self.device_uuid.bytes_le)
        if self.version == PSK_VERSION:
            return header + self.pid.encode("ascii")
        entries = b"".join(bytes([h.kind, h.kind.size]) + h.digest for h in self.root_hashes)
        return header + bytes([len(self.root_hashes)]) + entries

    @classmethod
    def decode(cls, data: bytes) -> Hello:
        """The hello in `data`; HelloError says what is wrong. Bytes after the hello are an
        error too: a device sends one hello per connection."""
        if len(data) > MAX_HELLO:
            raise HelloError(f"{len(data)} bytes: longer than any hello ({MAX_HELLO})")
        if len(data) < HEADER.size:
            raise HelloError(f"{len(data)} bytes: shorter than the {HEADER.size}-byte header")
        admin, version, retries, raw_uuid = HEADER.unpack_from(data)
        if admin > 1:
            raise HelloError(f"admin credentials flag {admin}: only 0 or 1")
        device_uuid = uuid.UUID(bytes_le=raw_uuid)
        body = data[HEADER.size:]
        if version == PSK_VERSION:
            if len(body) != PID_LENGTH:
                raise HelloError(f"a version 2 hello ends with an {PID_LENGTH}-byte PID, "
                                 f"not {len(body)} bytes")
            try:
                pid = body.decode("ascii")
            except UnicodeDecodeError:
                raise HelloError("the PID is not ASCII") from None
            return cls(version, device_uuid, bool(admin), retries, pid=pid)
        if version != PKI_VERSION:
            raise HelloError(f"interface version {version}: only 2 (PSK) and 3 (PKI) exist")
        if not body:
            raise HelloError("the hash count is missing")
        count, position, hashes = body[0], 1, []
        for index in range(count):
            if position + 2 > len(body):
                raise HelloError(f"hash {index + 1} of {count} is missing")
            kind, size = body[position], body[position + 1]
            try:
                hash_type = HashType(kind)
            except ValueError:
                raise HelloError(f"hash {index + 1}: unknown type {kind}") from None
            if size != hash_type.size:
                raise HelloError(f"hash {index + 1}: a {hash_type.algorithm} hash has "
                                 f"{hash_type.size} bytes, the hello says {size}")
            digest = body[position + 2:position + 2 + size]
            if len(digest) != size:
                raise HelloError(f"hash {index + 1} of {count} is cut short")
            hashes.append(RootHash(hash_type, digest))
            position += 2 + size
        if position != len(body):
            raise HelloError(f"{len(body) - position} bytes after the last hash")
        return cls(version, device_uuid, bool(admin), retries, tuple(hashes))

    @property
    def kind(self) -> str:
        return "PKI" if self.version == PKI_VERSION else "PSK"

    def to_evidence(self) -> dict[str, Any]:
        """The hello as a report shows it: everything but the PID."""
        doc: dict[str, Any] = {
            "version": self.version,
            "kind": self.kind,
            "admin_credentials_set": self.admin_credentials_set,
            "retry_count": self.retry_count,
            "device_uuid": str(self.device_uuid),
            "bytes": len(self.encode()),
        }
        if self.version == PKI_VERSION:
            doc["root_hashes"] = [{"type": h.kind.algorithm, "hash": h.hex}
                                  for h in self.root_hashes]
        else:
            doc["pid"] = f"({PID_LENGTH} characters, not shown)"
        return doc


def synthetic_uuid(site: str) -> uuid.UUID:
    """The device UUID amt-preflight announces for a site: the same on every run, and marked
    as a test device (its last six bytes spell "AMTPFL"; RFC 9562 version 8, custom)."""
    digest = hashlib.sha256(f"amt-preflight synthetic AMT device\x00{site}".encode()).digest()
    raw = bytearray(digest[:10] + SYNTHETIC_NODE)
    raw[6] = 0x80 | (raw[6] & 0x0F)  # version 8
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 4122 variant
    return uuid.UUID(bytes=bytes(raw))


def is_synthetic(device_uuid: uuid.UUID) -> bool:
    return device_uuid.bytes.endswith(SYNTHETIC_NODE)


def _normal(value: str, length: int, what: str) -> str:
    text = value.strip().upper().replace("-", "")
    if not re.fullmatch(f"[A-Z0-9]{{{length}}}", text):
        raise HelloError(f"a {what} is {length} letters A-Z and digits, optionally with dashes "
                         "between groups of four")
    return text


def normal_pid(value: str) -> str:
    """A PID as the hello carries it: 8 characters, the dash of "ABCD-1234" dropped."""
    return _normal(value, PID_LENGTH, "PID")


def normal_pps(value: str) -> str:
    """A PPS as the TLS-PSK key: 32 characters, the dashes of "ABCD-EFGH-…" dropped."""
    return _normal(value, PPS_LENGTH, "PPS")
