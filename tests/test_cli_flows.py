"""`amt-preflight run` against the lab as a new user tries it: a site with nothing decisive
configured is `unknown` and says what was not checked; a host-based site is judged on its
certificate and devices alone (no hello is sent); a site whose devices carry a PKI DNS
suffix set in MEBx matches the certificate by that suffix, and the wrong option 15 DHCP
hands out is a low finding there."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from amt_preflight.reports.json_report import schema
from lab import Lab, pki, provisioning_server

from .fleet import device, encode

pytestmark = [pytest.mark.lab, pytest.mark.filterwarnings("ignore:Attribute's length")]
REPO = Path(__file__).resolve().parents[1]
SITES = """
defaults: {{timeout: 1, retries: 0, deadline: 60}}
sites:
  - name: nothing
    resolvers: [10.250.0.1]
    domains: [{{name: corp.example}}]
  - name: host
    resolvers: [10.250.0.1]
    amt: {{flow: host-based, generations: [16], custom_root_hashes: [{root}],
           devices: [inventory/*.json]}}
    domains: [{{name: corp.example, certificate: {{file: corp.pem}}}}]
  - name: mebx
    interface: dm-wrong
    resolvers: [10.250.0.1]
    dhcp: {{allowed_servers: [10.250.13.1], window: 1}}
    amt: {{generations: [16], custom_root_hashes: [{root}], pki_dns_suffix: corp.example}}
    domains: [{{name: corp.example, provision_server: [10.250.0.10],
               certificate: {{file: corp.pem}}}}]
"""


@pytest.fixture(scope="module")
def surveyed(dhcp_lab: Lab, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[int, dict[str, Any], str]:
    folder = tmp_path_factory.mktemp("flows")
    (folder / "corp.pem").write_bytes(pki.files(datetime.now(UTC))["bundles/good.pem"])
    (folder / "inventory").mkdir()
    for doc in (device("pc-01"), device("pc-02")):
        (folder / "inventory" / f"{doc['hostnameOS']}.json").write_bytes(encode(doc))
    config = folder / "site.yaml"
    config.write_text(SITES.format(root=pki.root_sha256()))
    done = dhcp_lab.run_in_client(
        [sys.executable, "-m", "amt_preflight.cli", "run", "-c", str(config),
         "--format", "console,json", "-o", str(folder), "-v"],
        capture_output=True, text=True, timeout=180, cwd=REPO,
        env={**os.environ, **provisioning_server.ENVIRONMENT})
    assert done.returncode in (0, 1, 2, 3), done.stderr
    document = json.loads((folder / "amt-preflight.json").read_text())
    jsonschema.Draft202012Validator(schema()).validate(document)
    return done.returncode, document, done.stdout


def _site(document: dict[str, Any], name: str) -> dict[str, Any]:
    site: dict[str, Any] = next(s for s in document["sites"] if s["name"] == name)
    return site


def _results(document: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {f"{r['check']} {r['target']}": r for r in document["results"] if r["site"] == name}


def test_nothing_configured_is_unknown_never_ready_and_says_what_was_not_checked(
        surveyed: tuple[int, dict[str, Any], str]) -> None:
    code, document, console = surveyed
    site = _site(document, "nothing")
    assert site["verdict"] == "unknown"
    assert site["coverage_gaps"] == ["CERT-ROOT-TRUSTED", "CERT-DOMAIN-MATCH",
                                     "DNS-PROVSERVER-MATCH"]
    assert "not checked CERT-ROOT-TRUSTED" in console
    assert code == 3  # unknown: the worst verdict of the run


def test_a_host_based_site_is_judged_on_its_certificate_and_devices_alone(
        surveyed: tuple[int, dict[str, Any], str]) -> None:
    _, document, _ = surveyed
    site, results = _site(document, "host"), _results(document, "host")
    assert site["verdict"] == "ready" and site["coverage_gaps"] == []
    for check in ("HS-HELLO-SENT", "HS-CONNECT-BACK", "DNS-PROVSERVER-A",
                  "DNS-PROVSERVER-MATCH"):
        result = results[f"{check} corp.example"]
        assert result["status"] == "skipped"
        assert result["evidence"]["not_applicable"] == "amt.flow: host-based"
    assert {n["reason"] for n in site["not_run"] if n["check"].startswith("HS-")} == {
        "not applicable"}
    assert results["CERT-ROOT-TRUSTED corp.example"]["evidence"]["devices_holding"] == 2
    assert results["DEV-ROOT-ACTIVE pc-01"]["status"] == "pass"


def test_a_mebx_suffix_site_matches_by_it_and_lowers_option15(
        surveyed: tuple[int, dict[str, Any], str]) -> None:
    _, document, _ = surveyed
    results = _results(document, "mebx")
    match = results["CERT-DOMAIN-MATCH corp.example"]
    assert match["status"] == "pass"
    assert match["evidence"]["domain_source"] == "amt.pki_dns_suffix (set in MEBx)"
    option15 = results["DHCP-OPT15-MATCH 10.250.13.1"]  # wrong.example
    assert option15["status"] == "fail" and option15["severity"] == "low"
    assert _site(document, "mebx")["verdict"] == "at-risk"  # medium and low findings only
