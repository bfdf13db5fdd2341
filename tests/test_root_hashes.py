"""The built-in root hash lists against the real roots in Debian's ca-certificates: every
listed root that Mozilla still ships has exactly the hashes (and key) the data says; every
list has its provenance, and every generation from 2 on is judged against some list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from amt_preflight import firmware, pki
from amt_preflight.cli import main

MOZILLA = Path("/usr/share/ca-certificates/mozilla")
# Old roots (serial 0) make cryptography warn; amt_preflight.pki silences that, pytest shows
# every warning again.
pytestmark = [pytest.mark.filterwarnings("ignore:Parsed a serial number")]
ALGORITHMS = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384()}
DOCUMENT = json.loads(pki.ROOT_HASHES_PATH.read_text())
SHIPPED = {name: root for name, root in DOCUMENT["roots"].items() if "mozilla" in root}


def test_most_listed_roots_are_checked_against_debian() -> None:
    if not MOZILLA.is_dir():
        pytest.skip("Debian package ca-certificates is not installed")
    present = [n for n, r in SHIPPED.items() if (MOZILLA / f"{r['mozilla']}.crt").exists()]
    assert len(present) >= 15, present


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_listed_hashes_are_the_real_roots(name: str) -> None:
    path = MOZILLA / f"{SHIPPED[name]['mozilla']}.crt"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this ca-certificates")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    listed = SHIPPED[name]
    assert {a: cert.fingerprint(ALGORITHMS[a]).hex() for a in ALGORITHMS} == {
        a: listed[a] for a in ALGORITHMS}
    key = cert.public_key()
    assert listed["key"] == (f"RSA {key.key_size}" if isinstance(key, rsa.RSAPublicKey)
                             else f"EC {key.curve.name}" if isinstance(
                                 key, ec.EllipticCurvePublicKey) else "?")


def test_every_root_has_a_sha256_and_well_formed_hashes() -> None:
    for root in pki.known_roots().values():
        assert "sha256" in root.hashes, root.name
        for algorithm, value in root.hashes.items():
            assert len(value) == {"sha1": 40, "sha256": 64, "sha384": 96}[algorithm]
            assert value == value.lower() and int(value, 16) >= 0


def test_every_list_has_its_provenance_and_hashes_in_its_algorithm() -> None:
    lists = pki.builtin_root_lists()
    assert [(lst.id, lst.first, lst.last, len(lst.roots)) for lst in lists] == [
        ("amt-2", 2, 2, 5), ("amt-3", 3, 3, 4), ("amt-7-sdk", 7, 10, 8),
        ("amt-11.8.50", 11, 11, 19), ("newer-2021", 14, None, 23)]
    for listed in lists:
        assert listed.source and listed.confidence in {"seed", "sdk", "device-sample"}
        assert len(listed.entries) == len(set(e.value for e in listed.entries))


def test_every_generation_has_a_list_never_an_empty_one() -> None:
    for generation in range(2, 100):
        choice = pki.list_for(generation)
        assert choice.root_list.roots
        stated = choice.root_list.covers(generation)
        assert stated == (choice.note == ""), generation
    assert pki.list_for(5).root_list.id == "amt-3"
    assert pki.list_for(13).root_list.id == "amt-11.8.50"
    with pytest.raises(ValueError):
        pki.list_for(1)


def test_amt_11_lacks_the_newer_roots_and_14_has_them() -> None:
    def names(generation: int) -> set[str]:
        return {r.name for r in pki.list_for(generation).root_list.roots}

    newer = {"DigiCert Global Root G2", "DigiCert Global Root CA", "GlobalSign Root CA - R3"}
    assert not newer & names(11) and newer <= names(14)
    assert "Entrust Root Certification Authority - G2" in names(11) & names(16)
    assert "Starfield Class 2 CA" not in names(3)  # AMT 3.0 lost Starfield


@pytest.mark.parametrize(("generations", "labels"), [
    ([], ["AMT 11", "AMT 12-13", "AMT 14", "AMT 15 and later"]),
    ([11, 16], ["AMT 11", "AMT 16"]),
    ([15, 16, 17], ["AMT 15-17"]),
    ([8, 9], ["AMT 8-9"]),
])
def test_device_profiles(generations: list[int], labels: list[str]) -> None:
    found = firmware.profiles(generations)
    assert [p.label for p in found] == labels
    for profile in found:
        assert "TLSv1.3" not in profile.tls.versions
        announced = profile.announced(["ab" * 32])
        assert len(announced) == len(profile.roots.root_list.roots) + 1
        assert {h.algorithm for h in announced[:-1]} == {profile.hash_algorithm}


def test_profile_tls_and_psk_per_generation() -> None:
    [old, mid, new] = firmware.profiles([10, 12, 16])
    assert old.tls.versions == ("TLSv1", "TLSv1.1") and old.psk and old.hash_algorithm == "sha1"
    assert mid.tls.versions == ("TLSv1.1", "TLSv1.2") and not mid.psk
    assert new.tls.versions == ("TLSv1.2",) and new.refuses_weak_root_signature


def test_roots_command_marks_what_one_list_has_and_another_lacks(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["roots", "--generation", "11", "--generation", "16"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("DigiCert Global Root G2"))
    assert row.split()[-3:] == ["no", "yes", "no"]  # AMT 11, AMT 16, in every list
    assert "MeshCentral amthelloserver" in out and "Validator.test.ts" in out
    assert main(["roots"]) == 0
    out = capsys.readouterr().out
    assert "AMT 4-6" in out and "AMT 12-13" in out
    assert main(["roots", "--generation", "1"]) == 64
