"""Traps on regressions: which verdict changes send one (unit), and, end to end against the
lab's snmptrapd, that a trap arrives exactly when a run's verdict gets worse, over SNMPv2c
and SNMPv3, and that one that cannot be sent is a warning, not another exit code."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amt_preflight import notify
from amt_preflight.model import Result, RunInfo, RunResult, SiteSummary, Status, Verdict
from lab import Lab, snmp

from . import runs

REPO = Path(__file__).resolve().parent.parent
TRAP_WAIT = 10.0  # seconds at most for snmptrapd to log a trap that was sent


def result(site: str, check: str, status: Status) -> Result:
    return runs.result(check, status=status, site=site, title="t", message="m", remediation="",
                       started="2026-11-28T12:00:00Z")


def run(verdicts: dict[str, Verdict], failing: dict[str, list[str]] | None = None
        ) -> RunResult:
    failing = failing or {}
    results = [result(site, check, Status.FAIL) for site, checks in failing.items()
               for check in checks]
    results += [result(site, "DNS-RESOLVER-ANSWERS", Status.PASS) for site in verdicts]
    info = RunInfo("run-1", "2026-11-28T12:00:00Z", "2026-11-28T12:00:01Z", "h", "c.yaml")
    return RunResult(info, [SiteSummary(s, [], v, {}) for s, v in verdicts.items()], results)


def test_only_sites_that_got_worse_regress() -> None:
    before = run({"a": Verdict.READY, "b": Verdict.NOT_READY, "c": Verdict.AT_RISK,
                  "d": Verdict.UNKNOWN})
    after = run({"a": Verdict.AT_RISK, "b": Verdict.UNKNOWN, "c": Verdict.AT_RISK,
                 "d": Verdict.NOT_READY, "new": Verdict.NOT_READY},
                {"a": ["DNS-PROVSERVER-PTR"], "d": ["SNMP-IF-UP", "DNS-PROVSERVER-MATCH",
                                                     "SNMP-IF-UP"]})
    found = notify.regressions(before, after)
    assert [(r.site, r.old, r.new) for r in found] == [
        ("a", Verdict.READY, Verdict.AT_RISK), ("d", Verdict.UNKNOWN, Verdict.NOT_READY)]
    assert found[1].failing == ("SNMP-IF-UP", "DNS-PROVSERVER-MATCH")
    assert found[1].failing_results == 3
    assert notify.regressions(None, after) == []


def test_trap_names_site_verdicts_and_failing_ids() -> None:
    [regression] = notify.regressions(run({"hq": Verdict.READY}),
                                      run({"hq": Verdict.NOT_READY}, {"hq": ["SNMP-IF-UP"]}))
    values = dict(notify.trap_values(regression, "run-2"))
    assert values == {notify.SITE: "hq", notify.OLD_VERDICT: "ready",
                      notify.NEW_VERDICT: "not-ready", notify.FAILING_CHECKS: "SNMP-IF-UP",
                      notify.FAILING_COUNT: 1, notify.RUN_ID: "run-2"}


def test_a_long_list_of_failing_ids_is_cut_at_an_id() -> None:
    ids = [f"CHECK-NUMBER-{i:04d}" for i in range(200)]
    [regression] = notify.regressions(run({"hq": Verdict.READY}),
                                      run({"hq": Verdict.NOT_READY}, {"hq": ids}))
    text = dict(notify.trap_values(regression, "r"))[notify.FAILING_CHECKS]
    assert isinstance(text, str) and len(text) <= notify.FAILING_TEXT_LIMIT
    assert text.endswith(",...") and text.split(",")[-2] in ids


def test_the_mib_file_defines_the_oids_used() -> None:
    mib = (REPO / "contrib" / "AMT-PREFLIGHT-MIB.txt").read_text()
    assert "enterprises 32473" in mib
    for name in ("amtPreflightVerdictWorse", "amtPreflightSite", "amtPreflightOldVerdict",
                 "amtPreflightNewVerdict", "amtPreflightFailingChecks",
                 "amtPreflightFailingCount", "amtPreflightRunId"):
        assert name in mib, name


# --- end to end, against snmptrapd ----------------------------------------------------

SITE = """
history: {history}
defaults: {{timeout: 1, retries: 0}}
sites:
  - name: {site}
    resolvers: [10.250.0.1]
    domains:
      - {{name: corp.example, provision_server: [{address}]}}
notify:
  snmp_trap: {{host: 10.250.0.42, {security}}}
"""
V2C = "community_env: SNMP_TRAP_COMMUNITY"
V3 = (f"user: {snmp.TRAP_USER}, auth_protocol: SHA256, auth_key_env: TRAP_AUTH, "
      "priv_protocol: AES, priv_key_env: TRAP_PRIV")


class Nightly:
    """Runs of one site, its provisioning server right or wrong, as cron would run them."""

    def __init__(self, lab: Lab, tmp_path: Path, security: str) -> None:
        self.lab = lab
        self.site = f"trap-{secrets.token_hex(4)}"
        self.security = security
        self.config = tmp_path / "config.yaml"
        self.history = tmp_path / "history.sqlite"
        self.env = {**os.environ, **snmp.ENVIRONMENT, "TRAP_AUTH": snmp.TRAP_AUTH_KEY,
                    "TRAP_PRIV": snmp.TRAP_PRIV_KEY}

    def run(self, address: str) -> subprocess.CompletedProcess[str]:
        self.config.write_text(SITE.format(history=self.history, site=self.site,
                                           address=address, security=self.security))
        argv = [sys.executable, "-m", "amt_preflight.cli", "run", "-c", str(self.config),
                "--check", "DNS-PROVSERVER-*", "--format", "json"]
        return self.lab.run_in_client(argv, capture_output=True, text=True, env=self.env,
                                      timeout=120)

    def traps(self, expected: int) -> list[dict[str, str]]:
        """This site's traps, once `expected` have arrived (or after TRAP_WAIT seconds)."""
        deadline = time.monotonic() + TRAP_WAIT
        while True:
            mine = [t for t in snmp.received_traps(self.lab.workdir)
                    if t.get(notify.SITE) == f'STRING: "{self.site}"']
            if len(mine) >= expected or time.monotonic() > deadline:
                return mine
            time.sleep(0.05)


def text(value: str) -> str:
    return value.removeprefix("STRING: ").strip('"')


@pytest.mark.lab
@pytest.mark.parametrize("security", [V2C, V3], ids=["v2c", "v3"])
def test_a_trap_arrives_exactly_when_the_verdict_gets_worse(lab: Lab, tmp_path: Path,
                                                            security: str) -> None:
    nightly = Nightly(lab, tmp_path, security)
    for address, code in (("10.250.0.10", 0),  # first run: nothing to compare with
                          ("10.250.0.10", 0),  # same verdict
                          ("10.250.0.66", 2)):  # worse: ready -> not-ready
        done = nightly.run(address)
        assert done.returncode == code, done.stderr
        assert "warning" not in done.stderr
    # In order on one link, logged in order: had an earlier run sent one, it would be first.
    [trap] = nightly.traps(1)
    assert trap["1.3.6.1.6.3.1.1.4.1.0"] == f"OID: .{notify.VERDICT_WORSE}"
    assert (text(trap[notify.OLD_VERDICT]), text(trap[notify.NEW_VERDICT])) == (
        "ready", "not-ready")
    assert "DNS-PROVSERVER-MATCH" in text(trap[notify.FAILING_CHECKS]).split(",")
    for address, code in (("10.250.0.10", 0),  # better: no trap
                          ("10.250.0.66", 2)):  # worse again: the second trap
        assert nightly.run(address).returncode == code
    assert len(nightly.traps(2)) == 2


@pytest.mark.lab
def test_a_trap_that_cannot_be_sent_is_a_warning(lab: Lab, tmp_path: Path) -> None:
    nightly = Nightly(lab, tmp_path, V2C)
    assert nightly.run("10.250.0.10").returncode == 0
    del nightly.env["SNMP_TRAP_COMMUNITY"]
    done = nightly.run("10.250.0.66")
    assert done.returncode == 2  # the verdict's code, as without notify
    assert "warning" in done.stderr and "SNMP_TRAP_COMMUNITY" in done.stderr
