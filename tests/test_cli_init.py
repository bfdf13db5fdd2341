"""`amt-preflight init` on the lab network with nothing but the interface name, then `validate`
and `run` on the file it wrote: the first minutes of a real user, for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from lab import Lab, ad, network, pki

pytestmark = [pytest.mark.lab, pytest.mark.filterwarnings("ignore:Attribute's length")]
REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "amt_preflight.cli"]


def cli(lab: Lab, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return lab.run_in_client([*CLI, *args], capture_output=True, text=True, timeout=180,
                             cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_init_on_the_lab_then_run_on_what_it_wrote(lab: Lab, ad_lab: ad.Directory,
                                                   tmp_path: Path) -> None:
    (tmp_path / "corp.pem").write_bytes(pki.files(datetime.now(UTC))["bundles/good.pem"])
    done = cli(lab, "init", "--interface", "lab0", "--site", "lab", "-o", "site.yaml",
               "--certificate", "corp.pem", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "amt-preflight validate -c site.yaml && amt-preflight run -c site.yaml" in done.stderr
    text = (tmp_path / "site.yaml").read_text()
    [site] = yaml.safe_load(text)["sites"]
    main_dns = network.ADDRESSES["dnsmasq"]
    assert site["interface"] == "lab0"
    assert site["dhcp"]["allowed_servers"] == [main_dns]
    assert main_dns in site["resolvers"]
    [domain] = site["domains"]
    assert domain["name"] == "corp.example"
    assert domain["provision_server"] == [network.ADDRESSES["provision_server"]]
    assert domain["certificate"] == {"file": "corp.pem"}
    assert site["ad"]["domain"] == "corp.example" and site["ad"]["realm"] == "CORP.EXAMPLE"
    # every value says where it came from
    assert f"seen: option 15 from {main_dns}" in text
    assert "CONFIRM: seen answering" in text and "ProvisionServer.corp.example A at" in text
    assert "# certificate: corp.pem: root amt-preflight Lab Root CA" in text

    checked = cli(lab, "validate", "-c", "site.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    ran = cli(lab, "run", "-c", "site.yaml", "--format", "json", cwd=tmp_path)
    assert ran.returncode in (0, 1, 2, 3), ran.stderr
    document = json.loads(ran.stdout)
    statuses = {(r["check"], r["target"]): r["status"] for r in document["results"]}
    for check in ("DHCP-SERVER-ANSWERS", "DNS-PROVSERVER-A", "DNS-PROVSERVER-MATCH",
                  "CERT-DOMAIN-MATCH", "CERT-CHAIN-COMPLETE"):
        assert "pass" in {s for (c, _), s in statuses.items() if c == check}, check


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("""
sites:
  - name: hq
    interface: no-such-if0
    ad: {domain: corp.example, bind_user: svc@corp.example, bind_password_env: NOT_SET_X1}
    amt: {devices: [inventory/*.json]}
    domains:
      - {name: corp.example, certificate: {file: missing.pfx, password_file: missing.pw}}
""")
    done = subprocess.run([*CLI, "validate", "-c", str(config)], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env={**os.environ})
    assert done.returncode == 78
    out = done.stdout
    for key in ("sites[0].ad.bind_password", "sites[0].domains[0].certificate.password",
                "sites[0].domains[0].certificate.file", "sites[0].amt.devices[0]",
                "sites[0].interface"):
        assert key in out, key
    assert "NOT_SET_X1" in out  # the variable's name, never a value
