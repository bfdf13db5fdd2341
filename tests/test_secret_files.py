"""Secret and certificate files that are not what they should be (a FIFO, a device, too
large), and passwords that are not UTF-8: refused at once, and not one byte of a secret in
any evidence, message or crash text (review L4, L11). No network."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from amt_preflight.config import Config, SecretRef, parse
from amt_preflight.observations.cert import LoadOutcome
from amt_preflight.probes import certificate
from amt_preflight.secrets import (
    MAX_SECRET_FILE,
    SecretError,
    read_secret,
    read_secret_async,
    read_small_file,
)
from lab import pki

from .certs import lab_files

pytestmark = [pytest.mark.timeout(20),  # a blocking open would hang: fail instead
              pytest.mark.filterwarnings("ignore:Parsed a serial number")]

SECRET = b"Sup3r\xffSecret"  # not UTF-8: the 0xff at offset 5 leaked before
LEAKS = ("Sup3r", "Secret", "\\xff", "\\udcff", "position 5", "0xff")


def config(folder: Path, certificate_yaml: str = "{file: cert.pem}") -> Config:
    return parse("sites: [{name: hq, domains: [{name: corp.example, certificate: "
                 f"{certificate_yaml}}}]}}]", folder / "site.yaml")


def load(cfg: Config) -> certificate.CertificateBundle:
    ref = cfg.sites[0].domains[0].certificate
    assert ref is not None
    return certificate.load(cfg, "corp.example", ref)


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)  # nobody ever writes: an open for reading blocks forever
    return path


def test_a_fifo_is_refused_unopened(fifo: Path) -> None:
    with pytest.raises(OSError, match="a FIFO, not a regular file"):
        read_small_file(fifo, 100)


def test_a_device_and_a_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="a device"):
        read_small_file(Path("/dev/zero"), 100)
    with pytest.raises(OSError, match="a folder"):
        read_small_file(tmp_path, 100)


def test_a_file_over_the_bound_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        read_small_file(big, 100)
    assert read_small_file(big, 101) == b"x" * 101


def test_a_secret_file_that_is_a_fifo_or_device_is_a_secret_error(fifo: Path) -> None:
    cfg = config(fifo.parent)
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a device")):
        with pytest.raises(SecretError, match=kind):
            read_secret(SecretRef(file=path), cfg, "community")
    huge = fifo.parent / "huge.txt"
    huge.write_bytes(b"x" * (MAX_SECRET_FILE + 1))
    with pytest.raises(SecretError, match="larger than"):
        read_secret(SecretRef(file=huge), cfg, "community")


def test_secrets_read_off_the_event_loop(tmp_path: Path) -> None:
    (tmp_path / "community.txt").write_text("public-ish\n")
    cfg = config(tmp_path)
    secret = asyncio.run(read_secret_async(SecretRef(file=Path("community.txt")), cfg,
                                           "community"))
    assert (secret.value, secret.source) == ("public-ish", "file community.txt")


def test_a_secret_from_the_environment_that_is_not_utf8_is_refused_unquoted(
        tmp_path: Path) -> None:
    value = SECRET.decode("utf-8", "surrogateescape")  # as os.environ holds such bytes
    with pytest.raises(SecretError) as refused:
        read_secret(SecretRef(env="SNMP_COMMUNITY"), config(tmp_path), "community",
                    {"SNMP_COMMUNITY": value})
    assert "not UTF-8" in str(refused.value)
    assert not any(leak in str(refused.value) for leak in LEAKS)


@pytest.mark.parametrize("name", ["pipe", "zero"])
def test_a_certificate_file_that_is_a_fifo_or_device_is_unreadable(fifo: Path,
                                                                   name: str) -> None:
    target = fifo if name == "pipe" else Path("/dev/zero")
    found = load(config(fifo.parent, f"{{file: {target}}}"))
    assert found.outcome is LoadOutcome.UNREADABLE and "not a regular file" in found.detail
    found = load(config(fifo.parent, f"{{file: {target}, key_file: {target}}}"))
    assert found.outcome is LoadOutcome.UNREADABLE


def test_a_password_file_that_is_a_fifo_reads_nothing(fifo: Path) -> None:
    (fifo.parent / "good.pfx").write_bytes(lab_files()["bundles/good.pfx"])
    found = load(config(fifo.parent, f"{{file: good.pfx, password_file: {fifo}}}"))
    assert found.outcome is LoadOutcome.NO_PASSWORD
    assert "a FIFO" in found.password_source


def _encrypted_key(password: bytes) -> bytes:
    """The lab's good key, PEM-encrypted with these bytes (OpenSSL takes any bytes)."""
    key = serialization.load_pem_private_key(lab_files()["bundles/good-key.pem"], None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password))


def _no_leak(bundle: certificate.CertificateBundle) -> None:
    shown = "\n".join((json.dumps(bundle.to_evidence(), ensure_ascii=False), bundle.detail,
                       bundle.password_source))
    assert not any(leak in shown for leak in LEAKS), shown


@pytest.mark.parametrize("where", ["env", "file"])
def test_a_password_that_is_not_utf8_opens_a_pem_key_and_leaks_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    (tmp_path / "chain.pem").write_bytes(lab_files()["bundles/good-chain.pem"])
    (tmp_path / "key.pem").write_bytes(_encrypted_key(SECRET))
    (tmp_path / "good.pfx").write_bytes(lab_files()["bundles/good.pfx"])
    if where == "env":
        monkeypatch.setitem(os.environb, b"AMTP_ODD_PASSWORD", SECRET)
        password = "password_env: AMTP_ODD_PASSWORD"
    else:
        (tmp_path / "odd.password").write_bytes(SECRET + b"\n")
        password = "password_file: odd.password"
    found = load(config(tmp_path, f"{{file: chain.pem, key_file: key.pem, {password}}}"))
    assert found.outcome is LoadOutcome.LOADED, found.detail
    _no_leak(found)
    # a PKCS#12 password is text: these bytes cannot open one, and say so without a byte
    found = load(config(tmp_path, f"{{file: good.pfx, {password}}}"))
    assert found.outcome is LoadOutcome.WRONG_PASSWORD and "not UTF-8" in found.detail
    _no_leak(found)
    # a wrong PEM password of the same kind: refused, quoted nowhere either
    (tmp_path / "key.pem").write_bytes(_encrypted_key(b"other"))
    found = load(config(tmp_path, f"{{file: chain.pem, key_file: key.pem, {password}}}"))
    assert found.outcome is LoadOutcome.WRONG_PASSWORD
    _no_leak(found)


def test_the_lab_pfx_still_opens_with_its_password_file(tmp_path: Path) -> None:
    (tmp_path / "good.pfx").write_bytes(lab_files()["bundles/good.pfx"])
    (tmp_path / "lab.password").write_text(pki.PASSWORD + "\r\n")
    found = load(config(tmp_path, "{file: good.pfx, password_file: lab.password}"))
    assert found.outcome is LoadOutcome.LOADED
