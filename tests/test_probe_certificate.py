"""The certificate probe on files: passwords from the environment or a file, key files,
unreadable and hostile input. No network."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from amt_preflight.config import Config, parse
from amt_preflight.observations import Observations
from amt_preflight.observations.cert import LoadOutcome
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.probes import OncePerRun, SiteProbes, certificate
from amt_preflight.probes.certificate import MAX_FILE, read_bundle
from lab import pki

from .certs import lab_files

# Old roots (serial 0) and hostile names (beyond the length limits) make cryptography warn;
# amt_preflight.pki silences that, pytest shows every warning again.
pytestmark = [pytest.mark.filterwarnings("ignore:Parsed a serial number"),
              pytest.mark.filterwarnings("ignore:Attribute's length")]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for name, data in lab_files().items():
        if name.startswith("bundles/"):
            (tmp_path / name.removeprefix("bundles/")).write_bytes(data)
    return tmp_path


def config(folder: Path, certificate_yaml: str) -> Config:
    text = ("sites: [{name: hq, domains: [{name: corp.example, certificate: "
            f"{certificate_yaml}}}]}}]")
    return parse(text, folder / "site.yaml")


def load(folder: Path, certificate_yaml: str) -> LoadOutcome:
    cfg = config(folder, certificate_yaml)
    ref = cfg.sites[0].domains[0].certificate
    assert ref is not None
    return certificate.load(cfg, "corp.example", ref).outcome


def test_password_file_relative_to_the_config(folder: Path) -> None:
    assert load(folder, "{file: good.pfx, password_file: lab.password}") is LoadOutcome.LOADED
    assert load(folder, "{file: good.pfx, password_file: wrong.password}") is (
        LoadOutcome.WRONG_PASSWORD)
    assert load(folder, "{file: good.pfx, password_file: nowhere.txt}") is LoadOutcome.NO_PASSWORD


def test_password_from_the_environment(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMTP_TEST_PFX", pki.PASSWORD)
    assert load(folder, "{file: good.pfx, password_env: AMTP_TEST_PFX}") is LoadOutcome.LOADED
    monkeypatch.delenv("AMTP_TEST_PFX")
    cfg = config(folder, "{file: good.pfx, password_env: AMTP_TEST_PFX}")
    ref = cfg.sites[0].domains[0].certificate
    assert ref is not None
    found = certificate.load(cfg, "corp.example", ref)
    assert found.outcome is LoadOutcome.NO_PASSWORD
    assert found.password_source == "environment variable AMTP_TEST_PFX (not set)"


def test_key_file_pem_and_der(folder: Path) -> None:
    assert load(folder, "{file: good-chain.pem, key_file: good-key.pem}") is LoadOutcome.LOADED
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((folder / "good-key.pem").read_bytes(), None)
    (folder / "good-key.der").write_bytes(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert load(folder, "{file: good-chain.pem, key_file: good-key.der}") is LoadOutcome.LOADED
    assert load(folder, "{file: good-chain.pem, key_file: garbage.bin}") is LoadOutcome.GARBAGE


def test_unreadable_files(folder: Path) -> None:
    assert load(folder, "{file: missing.pfx}") is LoadOutcome.UNREADABLE
    assert load(folder, "{file: good-chain.pem, key_file: missing.pem}") is (
        LoadOutcome.UNREADABLE)
    assert load(folder, "{file: .}") is LoadOutcome.UNREADABLE  # a folder
    (folder / "huge.pem").write_bytes(b"\x00" * (MAX_FILE + 1))
    assert load(folder, "{file: huge.pem}") is LoadOutcome.UNREADABLE


def test_der_certificate_without_key(folder: Path) -> None:
    (folder / "root.der").write_bytes(lab_files()["www/root.crt"])
    assert load(folder, "{file: root.der}") is LoadOutcome.NO_KEY


@pytest.mark.parametrize("name", ["good.pfx", "good.pem", "two-keys.pem", "huge-subject.pem"])
def test_mangled_files_never_raise(name: str) -> None:
    """Flipped, cut and spliced bytes: always an outcome, never a traceback."""
    original = lab_files()[f"bundles/{name}"]
    chaos = random.Random(name)
    for _ in range(150):
        data = bytearray(original)
        for _ in range(chaos.randint(1, 8)):
            data[chaos.randrange(len(data))] = chaos.randrange(256)
        cut = data[: chaos.randrange(1, len(data) + 1)]
        found = read_bundle("corp.example", name, bytes(cut), None, pki.PASSWORD.encode())
        assert isinstance(found.outcome, LoadOutcome)


def test_each_file_is_read_once_per_run(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(folder, "{file: good.pfx, password_file: lab.password}")
    reads: list[str] = []
    real = certificate.load

    def counted(*args: object) -> object:
        reads.append("read")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(certificate, "load", counted)

    async def both() -> None:
        ctx = SiteProbes(cfg, cfg.sites[0], Observations(), None,  # type: ignore[arg-type]
                         ResolverSet((), "config"), False, OncePerRun())
        await asyncio.gather(certificate.gather_certificates(ctx), certificate.site_bundles(ctx))
        assert ctx.observations.certificates[("hq", "corp.example")].outcome is (
            LoadOutcome.LOADED)

    asyncio.run(both())
    assert reads == ["read"]
