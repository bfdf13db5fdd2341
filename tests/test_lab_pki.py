"""Every CERT-* and CA-* check against the lab PKI, end to end through the command line: one
site per lab certificate, its CRLs from the lab CA's web server, OCSP from openssl ocsp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, network, pki

from .test_cli import CERT_AND_CA, run_cli, statuses, survey

pytestmark = pytest.mark.lab

NOT_LOADED = {c: "skipped" for c in CERT_AND_CA} | {"CERT-LOADABLE": "fail"}

# What differs from "every check passes", per lab certificate (lab/pki.py).
EXPECTED: dict[str, dict[str, str]] = {
    "good": {}, "oid-only": {}, "ou-only": {}, "wildcard": {},
    "no-usage": {"CERT-AMT-USAGE": "fail"},
    "no-server-auth": {"CERT-SERVER-AUTH": "fail"},
    "wrong-domain": {"CERT-DOMAIN-MATCH": "fail"},
    "branch": {"CERT-AMT-USAGE": "fail", "CERT-DOMAIN-MATCH": "fail"},
    "expired": {"CERT-VALIDITY": "fail", "CERT-EXPIRY-SOON": "skipped"},
    "not-yet-valid": {"CERT-VALIDITY": "fail", "CERT-EXPIRY-SOON": "skipped"},
    "expiring": {"CERT-EXPIRY-SOON": "fail"},
    "sha1": {"CERT-CRYPTO": "fail", "CERT-CHAIN-COMPLETE": "skipped"},
    "rsa1024": {"CERT-CRYPTO": "fail"},
    "ec-key": {"CERT-CRYPTO": "fail"},
    "missing-intermediate": {"CERT-CHAIN-COMPLETE": "fail"},
    "long-chain": {"CERT-CHAIN-LENGTH": "fail"},
    "revoked": {"CA-NOT-REVOKED": "fail"},
    "stale-crl": {"CA-CRL-FRESH": "fail"},
    "forged-crl": {"CA-CRL-FRESH": "fail"},
    "huge-crl": {"CA-CRL-FRESH": "error"},
    "aia-missing": {"CA-AIA-REACHABLE": "fail"},
    "aia-wrong": {"CA-AIA-REACHABLE": "fail"},
    "ocsp-stall": {"CA-OCSP-ANSWERS": "fail"},
    "inverted-dates": {"CERT-VALIDITY": "fail", "CERT-EXPIRY-SOON": "skipped",
                       "CERT-CHAIN-COMPLETE": "skipped"},
    "huge-subject": {"CERT-DOMAIN-MATCH": "fail"},
    # its caIssuers URL serves PKCS#7 "data": that URL fails, the revocation stays a fail
    "aia-pkcs7-junk": {"CA-AIA-REACHABLE": "fail", "CA-NOT-REVOKED": "fail"},
    "duplicate-extension": NOT_LOADED,
    "bad-extension": NOT_LOADED,
}
# Sites whose certificate file is one of the loadability cases: (certificate, outcome);
# @ stands for the lab's bundle folder.
FILES: dict[str, tuple[str, str]] = {
    "pfx": ("{file: @/good.pfx, password_file: @/lab.password}", "loaded"),
    "pfx-wrong-password": ("{file: @/good.pfx, password_file: @/wrong.password}",
                           "wrong-password"),
    "pfx-no-password": ("{file: @/good.pfx}", "no-password"),
    "pem-no-key": ("{file: @/good-chain.pem}", "no-key"),
    "pem-two-keys": ("{file: @/two-keys.pem}", "several-keys"),
    "pem-key-mismatch": ("{file: @/good-chain.pem, key_file: @/other-key.pem}", "key-mismatch"),
    "pem-encrypted-key": ("{file: @/good-chain.pem, key_file: @/good-key-encrypted.pem, "
                          "password_file: @/lab.password}", "loaded"),
    "garbage": ("{file: @/garbage.bin}", "garbage"),
}


def _site(name: str, certificate: str, extra: str = "") -> str:
    return (f"  - name: {name}\n    resolvers: [{network.ADDRESSES['dnsmasq']}]\n"
            f"    amt: {{generations: [11, 16], custom_root_hashes: [{pki.root_sha256()}]}}\n"
            f"{extra}    domains: [{{name: corp.example, certificate: {certificate}}}]\n")


@pytest.fixture(scope="module")
def surveyed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run over a site per lab certificate and per loadability case."""
    bundles = lab.workdir / network.PKI_DIR / "bundles"
    folder = tmp_path_factory.mktemp("pki-survey")
    sites = [_site(name, f"{{file: @/{name}.pem}}") for name in EXPECTED]
    sites += [_site(name, certificate) for name, (certificate, _) in FILES.items()]
    enterprise = "    ca: {enterprise: {host: ca01.corp.example, ports: [80, 135]}}\n"
    sites.append(_site("enterprise", "{file: @/good.pem}", enterprise))
    config = folder / "pki.yaml"
    config.write_text("defaults: {timeout: 1, retries: 1, deadline: 60}\nsites:\n"
                      + "".join(sites).replace("@/", f"{bundles}/"))
    code, document = survey(lab, config, "--check", "CERT-*", "--check", "CA-*")
    assert code == 2
    return document


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_lab_certificate(surveyed: dict[str, Any], name: str) -> None:
    got = statuses(surveyed, name)
    expected = {check: EXPECTED[name].get(check, "pass") for check in CERT_AND_CA}
    assert {check: got[(check, "corp.example")] for check in CERT_AND_CA} == expected


@pytest.mark.parametrize("name", list(FILES))
def test_each_loadability_case(surveyed: dict[str, Any], name: str) -> None:
    [loadable] = [r for r in surveyed["results"]
                  if r["site"] == name and r["check"] == "CERT-LOADABLE"]
    outcome = FILES[name][1]
    assert loadable["evidence"]["outcome"] == outcome
    assert loadable["status"] == ("pass" if outcome == "loaded" else "fail")


def test_expiring_within_a_week_is_high(surveyed: dict[str, Any]) -> None:
    [result] = [r for r in surveyed["results"]
                if r["site"] == "expiring" and r["check"] == "CERT-EXPIRY-SOON"]
    assert result["severity"] == "high"


def test_enterprise_ca_ports(surveyed: dict[str, Any]) -> None:
    got = statuses(surveyed, "enterprise")
    assert got[("CA-ENTERPRISE-REACHABLE", "ca01.corp.example")] == "fail"  # 135 is closed
    [result] = [r for r in surveyed["results"]
                if r["site"] == "enterprise" and r["check"] == "CA-ENTERPRISE-REACHABLE"]
    assert [p["outcome"] for p in result["evidence"]["checked"]] == ["accepted", "unreachable"]
    assert statuses(surveyed, "good")[("CA-ENTERPRISE-REACHABLE", "-")] == "skipped"


def _result(surveyed: dict[str, Any], site: str, check: str) -> dict[str, Any]:
    [result] = [r for r in surveyed["results"] if r["site"] == site and r["check"] == check]
    return result


def _message(surveyed: dict[str, Any], site: str, check: str) -> str:
    return str(_result(surveyed, site, check)["message"])


def test_a_crl_over_the_cap_is_too_large_with_its_size(surveyed: dict[str, Any]) -> None:
    assert _result(surveyed, "huge-crl", "CA-CRL-FRESH")["reason"] == "TOO_LARGE"
    said = _message(surveyed, "huge-crl", "CA-CRL-FRESH")
    assert f"{pki.HUGE_CRL}: too large to judge: more than the 10485760 bytes" in said
    assert ", 0 bytes" not in said and "cut at" not in said


def test_pkcs7_junk_at_caissuers_fails_that_url_only(surveyed: dict[str, Any]) -> None:
    said = _message(surveyed, "aia-pkcs7-junk", "CA-AIA-REACHABLE")
    assert f"{pki.AIA_PKCS7_DATA}: not a certificate (13 bytes)" in said
    assert _result(surveyed, "aia-pkcs7-junk", "CA-AIA-REACHABLE")["reason"] == "NOT_A_CERTIFICATE"
    assert _result(surveyed, "aia-pkcs7-junk", "CA-NOT-REVOKED")["reason"] == "REVOKED"


def test_no_password_anywhere_in_the_output(surveyed: dict[str, Any]) -> None:
    text = json.dumps(surveyed)
    assert pki.PASSWORD not in text and pki.WRONG_PASSWORD not in text


def test_hostile_servers_end_as_errors_at_the_deadline(lab: Lab, tmp_path: Path) -> None:
    bundles = lab.workdir / network.PKI_DIR / "bundles"
    config = tmp_path / "slow.yaml"
    config.write_text("defaults: {timeout: 5, retries: 1, deadline: 1}\nsites:\n"
                      + _site("stall", f"{{file: {bundles}/ocsp-stall.pem}}"))
    code, document = survey(lab, config, "--check", "CA-OCSP-ANSWERS", "--check",
                            "CERT-LOADABLE")
    got = statuses(document, "stall")
    assert got[("CA-OCSP-ANSWERS", "corp.example")] == "error" and code == 3


def test_demo_certificates_are_published_where_the_config_names_them(lab: Lab) -> None:
    for name in pki.DEMO_FILES:
        assert (pki.PUBLISHED / name).is_file(), name
    # and the lab fleet's device reports (config.yaml: amt.devices)
    assert len(list((pki.PUBLISHED / "devices").glob("hq-ws*.json"))) == 40
    config_text = (pki.REPOSITORY / "config.yaml").read_text()
    assert pki.root_sha256() in config_text  # the demo trusts the lab root by its hash


def test_html_report_shows_the_certificates(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli(["run", "-c", str(pki.REPOSITORY / "config.yaml"), "--check", "CERT-*",
                    "--format", "html", "-o", str(out)], lab)
    assert done.returncode == 2, done.stderr
    html = (out / "amt-preflight.html").read_text()
    assert "provisionserver.branch.example" in html and pki.root_sha256() in html
    assert "amt.custom_root_hashes[0]" in html
