"""The hello codec: bytes as the Intel SDK and MeshCentral lay them out, both ways, and every
way a hello can be malformed."""

from __future__ import annotations

import struct
import uuid

import pytest

from amt_preflight.hello import (
    MAX_HELLO,
    HashType,
    Hello,
    HelloError,
    RootHash,
    is_synthetic,
    normal_pid,
    normal_pps,
    synthetic_uuid,
)

DEVICE = uuid.UUID("d2ffc23e-9dd1-412d-860a-54b2039b72ff")
GO_DADDY = "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4"
VERISIGN_G3 = "132d0d45534b6997cdb2d5c339e25576609b5cc6"
SHA384 = "ab" * 48
# The start of a real hello from MeshCentral's source (admin credentials set, version 3,
# retry 1, GUID, 24 hashes; the first two of them): the layout we must produce and read.
MESH_HEAD = "01000300010000003ec2ffd2d19d2d41860a54b2039b72ff"


def test_a_pki_hello_is_laid_out_as_the_sdk_says() -> None:
    hello = Hello.pki(DEVICE, [RootHash.from_hex("sha256", GO_DADDY),
                               RootHash.from_hex("sha1", VERISIGN_G3)],
                      retry_count=1, admin_credentials_set=True)
    wire = hello.encode()
    assert wire[:24].hex() == MESH_HEAD  # GUID in GUID byte order, as the device sends it
    assert wire[24] == 2
    assert wire[25:27] == bytes([HashType.SHA256, 32]) and wire[27:59].hex() == GO_DADDY
    assert wire[59:61] == bytes([HashType.SHA1, 20]) and wire[61:].hex() == VERISIGN_G3
    assert len(wire) == 24 + 1 + 34 + 22


def test_decode_reads_what_encode_wrote() -> None:
    hashes = [RootHash.from_hex("sha256", GO_DADDY), RootHash.from_hex("sha1", VERISIGN_G3),
              RootHash.from_hex("sha384", SHA384)]
    hello = Hello.pki(DEVICE, hashes, retry_count=14)
    assert Hello.decode(hello.encode()) == hello
    psk = Hello.psk(DEVICE, "ABCD-1234", retry_count=3)
    assert Hello.decode(psk.encode()) == psk


def test_a_psk_hello_carries_the_pid_and_nothing_else() -> None:
    wire = Hello.psk(DEVICE, "abcd-1234").encode()
    assert struct.unpack_from("<HHI", wire) == (0, 2, 0)
    assert wire[24:] == b"ABCD1234" and len(wire) == 32


def test_a_hello_with_no_hashes_is_still_a_hello() -> None:
    assert Hello.decode(Hello.pki(DEVICE, []).encode()).root_hashes == ()


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "shorter than"),
    (bytes.fromhex(MESH_HEAD)[:20], "shorter than"),
    (bytes.fromhex(MESH_HEAD), "hash count is missing"),
    (bytes.fromhex("0200" + MESH_HEAD[4:]) + b"\x00", "admin credentials flag"),
    (bytes.fromhex("01000400" + MESH_HEAD[8:]) + b"\x00", "interface version 4"),
    (bytes.fromhex(MESH_HEAD) + b"\x02" + bytes([2, 32]) + bytes(32), "hash 2 of 2 is missing"),
    (bytes.fromhex(MESH_HEAD) + b"\x01" + bytes([2, 32]) + bytes(10), "cut short"),
    (bytes.fromhex(MESH_HEAD) + b"\x01" + bytes([2, 20]) + bytes(20), "sha256 hash has 32"),
    (bytes.fromhex(MESH_HEAD) + b"\x01" + bytes([9, 20]) + bytes(20), "unknown type 9"),
    (bytes.fromhex(MESH_HEAD) + b"\x00" + b"junk", "after the last hash"),
    (bytes.fromhex("00000200" + MESH_HEAD[8:]) + b"ABC", "8-byte PID"),
    (bytes.fromhex("00000200" + MESH_HEAD[8:]) + b"ABCD\xff234", "not ASCII"),
    (bytes.fromhex(MESH_HEAD) + bytes(MAX_HELLO), "longer than any hello"),
])
def test_malformed_hellos_are_refused_with_the_reason(data: bytes, problem: str) -> None:
    with pytest.raises(HelloError, match=problem):
        Hello.decode(data)


def test_a_hello_that_cannot_exist_is_not_built() -> None:
    with pytest.raises(HelloError):
        Hello.pki(DEVICE, [RootHash.from_hex("sha1", VERISIGN_G3)] * 256)
    with pytest.raises(HelloError):
        RootHash(HashType.SHA256, bytes(20))
    with pytest.raises(HelloError):
        Hello(2, DEVICE, root_hashes=(RootHash.from_hex("sha1", VERISIGN_G3),), pid="ABCD1234")
    with pytest.raises(HelloError):
        Hello.pki(DEVICE, [], retry_count=-1)


def test_pid_and_pps_are_normalised_and_checked() -> None:
    assert normal_pid(" abcd-1234 ") == "ABCD1234"
    assert normal_pps("LABP-PSK1-2345-6789-ABCD-EFGH-JKLM-NPQR") == \
        "LABPPSK123456789ABCDEFGHJKLMNPQR"
    for bad in ("ABC-123", "ABCD-12345", "ABCD_1234", "ÄBCD1234"):
        with pytest.raises(HelloError):
            normal_pid(bad)
    with pytest.raises(HelloError):
        normal_pps("TOO-SHORT")


def test_the_pid_is_in_no_repr_and_no_evidence() -> None:
    hello = Hello.psk(DEVICE, "SECR-ET12")
    assert "SECRET12" not in repr(hello)
    assert "SECRET12" not in str(hello.to_evidence())
    assert hello.to_evidence()["kind"] == "PSK"


def test_the_synthetic_uuid_is_stable_per_site_and_recognisable() -> None:
    hq, branch = synthetic_uuid("hq"), synthetic_uuid("branch")
    assert hq == synthetic_uuid("hq") and hq != branch
    assert is_synthetic(hq) and is_synthetic(branch) and not is_synthetic(DEVICE)
    assert str(hq).endswith("414d5450464c")  # "AMTPFL"
    assert hq.version == 8 and hq.variant == uuid.RFC_4122
    # What a server's log shows (MeshCentral's guidToStr) is the same UUID.
    wire = Hello.pki(hq, []).encode()
    assert uuid.UUID(bytes_le=wire[8:24]) == hq
