"""Secrets from the environment or a file (amt_preflight.secrets), and the SNMP credentials
config.yaml accepts: errors name the variable, file or key, never a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from amt_preflight.config import ConfigError, SecretRef, parse
from amt_preflight.probes.snmp import credentials
from amt_preflight.secrets import SecretError, read_secret

from .observed import config


def test_environment_first_then_the_file_relative_to_the_config(tmp_path: Path) -> None:
    cfg = parse("sites: [{name: hq}]", tmp_path / "config.yaml")
    (tmp_path / "community.txt").write_text("from-the-file\n")
    ref = SecretRef(env="AMTP_TEST_SECRET", file=Path("community.txt"))
    assert read_secret(ref, cfg, "community", {}).value == "from-the-file"
    got = read_secret(ref, cfg, "community", {"AMTP_TEST_SECRET": "from-env"})
    assert (got.value, got.source) == ("from-env", "$AMTP_TEST_SECRET")
    assert "from-env" not in repr(got)


@pytest.mark.parametrize(("environ", "file_text", "named"), [
    ({}, None, "AMTP_TEST_SECRET is not set"),
    ({"AMTP_TEST_SECRET": ""}, None, "AMTP_TEST_SECRET is empty"),
    ({}, "", "is empty"),
    ({}, "\n", "is empty"),
])
def test_missing_or_empty_secrets_are_named(tmp_path: Path, environ: dict[str, str],
                                            file_text: str | None, named: str) -> None:
    cfg = parse("sites: [{name: hq}]", tmp_path / "config.yaml")
    file = None
    if file_text is not None:
        (tmp_path / "s.txt").write_text(file_text)
        file = Path("s.txt")
    ref = SecretRef(env=None if file else "AMTP_TEST_SECRET", file=file)
    with pytest.raises(SecretError, match=named):
        read_secret(ref, cfg, "community", environ)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    cfg = parse("sites: [{name: hq}]", tmp_path / "config.yaml")
    with pytest.raises(SecretError, match=r"no-such\.txt"):
        read_secret(SecretRef(file=Path("no-such.txt")), cfg, "auth_key", {})


DEVICE = "sites:\n  - name: hq\n    snmp:\n      devices:\n        - {{host: 10.250.0.40, {}}}\n"


@pytest.mark.parametrize("keys", [
    "interfaces: [lab0]",  # neither a community nor a user
    "community_env: C, user: amtmon, auth_protocol: SHA256, auth_key_env: A",  # both
    "community_env: C, auth_key_env: A",  # v2c with a key
    "user: amtmon",  # v3 without auth
    "user: amtmon, auth_protocol: SHA256, auth_key_env: A, priv_key_env: P",  # priv half-given
    "user: amtmon, auth_protocol: SHA1, auth_key_env: A",  # no such protocol
    "community: public",  # a secret in the file itself
])
def test_snmp_credentials_that_cannot_work_are_config_errors(keys: str) -> None:
    with pytest.raises(ConfigError, match=r"sites\[0\]\.snmp\.devices\[0\]"):
        config(DEVICE.format(keys))


def test_a_device_listed_twice_is_a_config_error() -> None:
    text = DEVICE.format("community_env: C") + "        - {host: 10.250.0.40, user: u, " \
        "auth_protocol: SHA, auth_key_env: A}\n"
    with pytest.raises(ConfigError, match="listed twice"):
        config(text)


def test_trap_engine_id_is_hex() -> None:
    base = "sites: [{name: hq}]\nnotify:\n  snmp_trap: {host: 10.250.0.42, community_env: C, "
    assert config(base + "engine_id: '0x80:00:1F:88:04'}").notify.snmp_trap is not None
    with pytest.raises(ConfigError, match="engine ID"):
        config(base + "engine_id: nothex}")


def test_short_usm_keys_are_refused_without_showing_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMTP_AUTH", "short")
    cfg = config(DEVICE.format("user: amtmon, auth_protocol: SHA256, auth_key_env: AMTP_AUTH"))
    with pytest.raises(SecretError, match=r"\$AMTP_AUTH is shorter") as failure:
        credentials(cfg.sites[0].snmp.devices[0], cfg)
    assert "short" not in str(failure.value).replace("shorter", "")


def test_credentials_describe_how_not_what(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMTP_AUTH", "auth-key-value-1")
    monkeypatch.setenv("AMTP_PRIV", "priv-key-value-2")
    cfg = config(DEVICE.format("user: amtmon, auth_protocol: SHA256, auth_key_env: AMTP_AUTH, "
                               "priv_protocol: AES, priv_key_env: AMTP_PRIV"))
    made = credentials(cfg.sites[0].snmp.devices[0], cfg)
    assert made.v3 and "authPriv" in made.security and "$AMTP_PRIV" in made.security
    assert "value" not in made.security
