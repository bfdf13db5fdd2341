"""`amt-preflight run` end to end with amt.devices: device files and a PEM certificate in a
folder, the DEV-* checks run as a user runs them (no network: nothing here needs the lab)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from amt_preflight.reports.json_report import schema
from lab import pki

from .fleet import CLIENT, device, encode

pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length")

REPO = Path(__file__).resolve().parent.parent


def test_run_judges_device_files_against_the_certificate(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "corp.pem").write_bytes(
        pki.files(datetime.now(UTC))["bundles/good.pem"])
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    for doc in (device("pc-01"), device("pc-02", root="missing"),
                device("pc-03", root="inactive"), device("pc-04", suffix="", suffix_os=""),
                device("pc-05", suffix="corp.local"), device("pc-06", mode=CLIENT)):
        (inventory / f"{doc['hostnameOS']}.json").write_bytes(encode(doc))
    (inventory / "fleet.json").write_bytes(encode([device("pc-07"), device("pc-08")]))
    (inventory / "pc-17.json").write_bytes(b"\xff\xfe garbage")
    config = tmp_path / "site.yaml"
    config.write_text("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json, extra/*.json]}
    domains: [{name: corp.example, certificate: {file: certs/corp.pem}}]
""")
    done = subprocess.run([sys.executable, "-m", "amt_preflight.cli", "run", "-c", str(config),
                           "--check", "DEV-*", "--format", "json"], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2, done.stderr  # critical fails: not-ready
    document = json.loads(done.stdout)
    jsonschema.Draft202012Validator(schema()).validate(document)
    got = {(r["check"], r["target"]): (r["status"], r.get("reason"))
           for r in document["results"]}
    for target in ("pc-01", "pc-07", "pc-08"):
        assert got[("DEV-ROOT-ACTIVE", target)] == ("pass", "ROOT_ACTIVE")
        assert got[("DEV-SUFFIX-MATCH", target)] == ("pass", "SUFFIX_MATCH")
        assert got[("DEV-CONTROL-MODE", target)] == ("pass", "PRE_PROVISIONING")
    assert got[("DEV-ROOT-ACTIVE", "pc-02")] == ("fail", "ROOT_NOT_LISTED")
    assert got[("DEV-ROOT-ACTIVE", "pc-03")] == ("fail", "ROOT_INACTIVE")
    assert got[("DEV-SUFFIX-MATCH", "pc-04")] == ("fail", "SUFFIX_EMPTY")
    assert got[("DEV-SUFFIX-MATCH", "pc-05")] == ("fail", "SUFFIX_MISMATCH")
    assert got[("DEV-CONTROL-MODE", "pc-06")] == ("fail", "CLIENT_CONTROL_MODE")
    for check in ("DEV-ROOT-ACTIVE", "DEV-SUFFIX-MATCH", "DEV-CONTROL-MODE"):
        assert got[(check, "pc-17.json")] == ("error", "UNREADABLE_FILE")
        assert got[(check, "extra/*.json")] == ("error", "NO_FILE_MATCHED")
    domains = {r["evidence"]["domain"] for r in document["results"]
               if r["target"].startswith("pc-0")}
    assert domains == {"corp.example"}
