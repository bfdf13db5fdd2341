"""The built-in root hash lists against the real roots in Debian's ca-certificates: every
listed root that Mozilla still ships has exactly the hashes the list says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from amt_preflight import pki

MOZILLA = Path("/usr/share/ca-certificates/mozilla")
# Old roots (serial 0) and hostile names (beyond the length limits) make cryptography warn;
# amt_preflight.pki silences that, pytest shows every warning again.
pytestmark = [pytest.mark.filterwarnings("ignore:Parsed a serial number"),
              pytest.mark.filterwarnings("ignore:Attribute's length")]
ALGORITHMS = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384()}
ROOTS: dict[str, dict[str, str]] = json.loads(pki.ROOT_HASHES_PATH.read_text())["roots"]
SHIPPED = {name: root for name, root in ROOTS.items() if "mozilla" in root}


def test_several_listed_roots_are_checked_against_debian() -> None:
    if not MOZILLA.is_dir():
        pytest.skip("Debian package ca-certificates is not installed")
    present = [n for n, r in SHIPPED.items() if (MOZILLA / f"{r['mozilla']}.crt").exists()]
    assert len(present) >= 5, present


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_listed_hashes_are_the_real_roots(name: str) -> None:
    path = MOZILLA / f"{SHIPPED[name]['mozilla']}.crt"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this ca-certificates")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    listed = {a: v for a, v in SHIPPED[name].items() if a in ALGORITHMS}
    assert listed
    assert {a: cert.fingerprint(ALGORITHMS[a]).hex() for a in listed} == listed


def test_every_list_entry_names_a_root_with_that_hash() -> None:
    lists = pki.builtin_root_hashes()
    assert [(lst.first, lst.last) for lst in lists] == [(2, 2), (3, 3), (7, 10), (11, None)]
    for listed in lists:
        for entry in listed.entries:
            assert len(entry.value) == {"sha1": 40, "sha256": 64, "sha384": 96}[entry.algorithm]
            assert entry.value == ROOTS[entry.ca][entry.algorithm]


def test_lists_by_generation() -> None:
    names = {g: {e.ca for lst in pki.builtin_root_hashes() if lst.covers(g)
                 for e in lst.entries} for g in (3, 8, 16)}
    assert "Starfield Class 2 CA" not in names[3]  # AMT 3.0 lost Starfield
    assert "DigiCert Global Root G2" in names[16] and "DigiCert Global Root G2" not in names[8]
