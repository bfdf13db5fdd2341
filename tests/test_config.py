"""Config loading: the repository's config.yaml is valid and complete; every kind of
mistake stops with the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from amt_preflight.config import ConfigError, load, parse

REPO = Path(__file__).resolve().parent.parent


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text, Path("site.yaml"))
    return caught.value


def test_repository_config_loads_with_every_documented_key() -> None:
    config = load(REPO / "config.yaml")
    site = config.sites[0]
    assert site.ad is not None and site.ad.bind_password is not None
    assert site.snmp.devices and site.handshake.psk is not None
    assert site.ca.enterprise is not None and config.notify.snmp_trap is not None
    assert config.waivers and config.history is not None
    assert any(d.certificate for s in config.sites for d in s.domains)


def test_defaults_when_keys_are_absent() -> None:
    config = parse("sites: [{name: hq}]", Path("x.yaml"))
    d = config.defaults
    assert (d.timeout, d.retries, d.deadline, d.concurrency, d.allow_intrusive) == (
        3, 1, 300, 64, False)
    site = config.sites[0]
    assert site.dhcp.window == 5 and site.handshake.hello_port == 9971
    assert config.checks.cert_warn_days == 30


def test_domain_names_are_normalised() -> None:
    config = parse("sites: [{name: hq, domains: [{name: Corp.Example.}]}]", Path("x.yaml"))
    assert config.sites[0].domain_names == ["corp.example"]


@pytest.mark.parametrize(("text", "line", "key"), [
    ("sites:\n  - name: hq\n    resolverz: [10.250.0.1]\n", 3, "sites[0].resolverz"),
    ("sites:\n  - name: hq\n    domains:\n      - provision_server: [10.250.0.10]\n",
     4, "sites[0].domains[0].name"),
    ("defaults:\n  timeout: soon\nsites: [{name: hq}]\n", 2, "defaults.timeout"),
    ("defaults:\n  concurrency: 0\nsites: [{name: hq}]\n", 2, "defaults.concurrency"),
    ("sites:\n  - name: hq\n    resolvers: [10.250.0.1, not-an-ip]\n", 3, "sites[0].resolvers[1]"),
    ("sites:\n  - name: hq\n    domains:\n      - {name: 'bad domain'}\n", 4,
     "sites[0].domains[0].name"),
    ("sites:\n  - name: hq\n    ad:\n      domain: corp.example\n      bind_password: hunter2\n",
     5, "sites[0].ad.bind_password"),
    ("sites:\n  - name: hq\n    domains:\n      - name: corp.example\n        certificate:\n"
     "          file: c.pfx\n          password: secret\n", 7,
     "sites[0].domains[0].certificate.password"),
    ("sites:\n  - name: hq\n    snmp:\n      devices:\n        - {host: sw1, community: public}\n",
     5, "sites[0].snmp.devices[0].community"),
    ("sites: [{name: hq}]\nwaivers:\n  - check: X-Y\n    reason: r\n    expires: 2027-13-01\n",
     5, "waivers[0].expires"),
    ("sites: [{name: hq}]\nchecks:\n  severity: {DNS-PROVSERVER-A: urgent}\n", 3,
     "checks.severity.DNS-PROVSERVER-A"),
    ("sites: [{name: hq}]\nsites: [{name: b}]\n", 2, "sites"),
    ("sites: []\n", 1, "sites"),
    ("sites:\n  - name: hq\n  - name: hq\n", 3, "sites[1].name"),
    ("sites:\n  - name: hq\n    domains:\n      - name: a.example\n      - name: A.example.\n",
     5, "sites[0].domains[1].name"),
])
def test_mistakes_name_line_and_key(text: str, line: int, key: str) -> None:
    error = error_of(text)
    assert (error.path, error.line, error.key) == ("site.yaml", line, key)
    assert str(error).startswith(f"site.yaml:{line}: {key}: ")


def test_inline_secret_says_how_to_do_it() -> None:
    error = error_of("sites:\n  - name: hq\n    ad: {domain: c.example, bind_password: x}\n")
    assert "bind_password_env" in error.problem and "x" not in error.problem.split(":")[-1]


def test_yaml_syntax_error_names_the_line() -> None:
    error = error_of("sites:\n  - name: hq\n    domains: [\n")
    assert error.line is not None and "YAML" in error.problem


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "42\n"])
def test_documents_that_are_not_a_config(text: str) -> None:
    assert error_of(text).path == "site.yaml"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "nope.yaml")
    assert "no such file" in str(caught.value)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.yaml"
    path.parent.mkdir()
    path.write_text("history: h.sqlite\nsites: [{name: hq}]\n")
    config = load(path)
    assert config.history is not None
    assert config.resolve(config.history) == tmp_path / "sub" / "h.sqlite"
