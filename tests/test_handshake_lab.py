"""The handshake against the lab's reference provisioning server: every HS-* check passes
where the server behaves and fails where it misbehaves, each way of misbehaving at its own
address (lab/provisioning_server.py). The synthetic AMT endpoint listens in the lab's client
namespace, where the survey runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from amt_preflight.hello import normal_pid, normal_pps
from amt_preflight.lab import Lab, network, provisioning_server
from amt_preflight.lab import pki as lab_pki

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("second", "silent", "slow", "garbage", "idle", "wrong-cert", "long-chain",
             "no-cert", "reset", "wrong-psk", "closed")
SITE = """
defaults: {{timeout: 1, retries: 0, deadline: 120}}
sites:
  - name: lab
    resolvers: [10.250.0.1]
    amt: {{generations: [16], custom_root_hashes: [{root}]}}
    handshake:
      connect_back_timeout: 2
      hello_spacing: {spacing}
      psk: {{pid_env: AMT_PID, pps_env: AMT_PPS}}
    domains: [{domains}]
"""


def survey(lab: Lab, tmp_path: Path, domains: list[str], *checks: str, spacing: float = 2.5,
           root: str | None = None) -> tuple[dict[tuple[str, str], str], list[dict[str, Any]],
                                             str]:
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(root=root or lab_pki.root_sha256(), spacing=spacing,
                                  domains=", ".join(f"{{name: {d}}}" for d in domains)))
    argv = [sys.executable, "-m", "amt_preflight.cli", "run", "-c", str(config),
            "--allow-intrusive", "--format", "console,json", "-o", str(tmp_path)]
    for check in checks or ("HS-*",):
        argv += ["--check", check]
    done = lab.run_in_client(argv, capture_output=True, text=True, timeout=180, cwd=REPO,
                             env={**os.environ, **provisioning_server.ENVIRONMENT})
    assert done.returncode in (0, 1, 2, 3), done.stderr
    results = json.loads((tmp_path / "amt-preflight.json").read_text())["results"]
    statuses = {(r["check"], r["target"]): r["status"] for r in results}
    return statuses, results, done.stdout + done.stderr


@pytest.fixture(scope="module")
def every_scenario(lab: Lab, tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[dict[tuple[str, str], str], list[dict[str, Any]], str]:
    """One survey of the healthy server and every misbehaving one, PKI and PSK hellos."""
    domains = ["corp.example", *(network.handshake_domain(s) for s in SCENARIOS)]
    return survey(lab, tmp_path_factory.mktemp("handshake"), domains)


def expect(statuses: dict[tuple[str, str], str], scenario: str, **checks: str) -> None:
    domain = "corp.example" if scenario == "corp" else network.handshake_domain(scenario)
    got = {check: statuses[(check, domain)] for check in checks}
    assert got == checks, scenario


def test_the_healthy_server_passes_every_check(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "corp", **{"HS-PROVSERVER-TCP": "pass", "HS-HELLO-SENT": "pass",
                                "HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "pass",
                                "HS-TLS-PSK": "pass"})
    back = next(r for r in results
                if r["check"] == "HS-CONNECT-BACK" and r["target"] == "corp.example")
    assert back["evidence"]["connect_back"]["peer"].startswith("10.250.0.10:")
    assert back["evidence"]["connect_back"]["chain_length"] == 3
    assert back["evidence"]["connect_back"]["hello_to_handshake_ms"] >= 0
    assert back["evidence"]["hello"]["device_uuid"].endswith("414d5450464c")
    events = [e["event"] for e in back["evidence"]["timeline"]]
    assert any(e.startswith("PKI hello sent") for e in events)
    assert any("handshake with 10.250.0.10" in e for e in events)


def test_two_domains_on_one_server_are_spaced_and_told_apart(every_scenario: Any) -> None:
    statuses, _, _ = every_scenario
    # Both hellos to 10.250.0.10 got their connect-back; the server has one certificate, for
    # corp.example, which it presents to the second domain too.
    expect(statuses, "second", **{"HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "fail",
                                  "HS-TLS-PSK": "pass"})


def test_without_spacing_the_server_ignores_the_second_hello(lab: Lab, tmp_path: Path) -> None:
    domains = ["corp.example", network.handshake_domain("second")]
    statuses, _, _ = survey(lab, tmp_path, domains, "HS-CONNECT-BACK", spacing=0)
    assert sorted(statuses[("HS-CONNECT-BACK", d)] for d in domains) == ["fail", "pass"]


def test_a_silent_server_fails_the_connect_back_with_the_causes(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "silent", **{"HS-HELLO-SENT": "pass", "HS-CONNECT-BACK": "fail",
                                  "HS-PRESENTED-CHAIN": "skipped", "HS-TLS-PSK": "fail"})
    silent = next(r for r in results if r["check"] == "HS-CONNECT-BACK"
                  and r["target"] == network.handshake_domain("silent"))
    assert len(silent["evidence"]["likely_causes"]) == 3


def test_an_unannounced_root_gets_no_connect_back(lab: Lab, tmp_path: Path) -> None:
    statuses, results, _ = survey(lab, tmp_path, ["corp.example"], "HS-HELLO-SENT",
                                  "HS-CONNECT-BACK", root="ab" * 32)
    assert statuses[("HS-HELLO-SENT", "corp.example")] == "pass"
    assert statuses[("HS-CONNECT-BACK", "corp.example")] == "fail"
    (result,) = [r for r in results if r["check"] == "HS-CONNECT-BACK"]
    assert result["evidence"]["likely_causes"][0].startswith("no certificate whose root")


def test_a_late_connect_back_is_not_credited_to_another_hello(every_scenario: Any) -> None:
    # The slow server answers 4 s after its hello, while the survey waits for other servers.
    statuses, _, _ = every_scenario
    expect(statuses, "slow", **{"HS-HELLO-SENT": "pass", "HS-CONNECT-BACK": "fail"})
    for scenario in ("garbage", "idle", "no-cert", "silent"):
        assert statuses[("HS-CONNECT-BACK", network.handshake_domain(scenario))] == "fail"


def test_hostile_connect_backs_end_in_a_bounded_fail(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "garbage", **{"HS-CONNECT-BACK": "fail", "HS-TLS-PSK": "fail"})
    expect(statuses, "idle", **{"HS-CONNECT-BACK": "fail", "HS-TLS-PSK": "fail"})
    expect(statuses, "no-cert", **{"HS-CONNECT-BACK": "fail", "HS-PRESENTED-CHAIN": "skipped"})
    outcomes = {r["target"]: r["evidence"]["connect_back"]["outcome"] for r in results
                if r["check"] == "HS-CONNECT-BACK" and "connect_back" in r["evidence"]}
    assert outcomes[network.handshake_domain("garbage")] == "not-tls"
    assert outcomes[network.handshake_domain("idle")] == "stalled"
    assert outcomes[network.handshake_domain("no-cert")] == "tls-failed"


def test_a_fifty_certificate_chain_is_captured_and_fails_the_rules(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "long-chain", **{"HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "fail"})
    chain = next(r for r in results if r["check"] == "HS-PRESENTED-CHAIN"
                 and r["target"] == network.handshake_domain("long-chain"))
    assert chain["evidence"]["chain_length"] == 50
    failed = {rule["check"] for rule in chain["evidence"]["rules"] if rule["status"] == "fail"}
    assert failed == {"CERT-CHAIN-LENGTH"}


def test_a_certificate_not_marked_for_amt_fails_the_presented_chain(every_scenario: Any
                                                                      ) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "wrong-cert", **{"HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "fail"})
    chain = next(r for r in results if r["check"] == "HS-PRESENTED-CHAIN"
                 and r["target"] == network.handshake_domain("wrong-cert"))
    failed = {rule["check"] for rule in chain["evidence"]["rules"] if rule["status"] == "fail"}
    assert "CERT-AMT-USAGE" in failed


def test_a_reset_hello_and_a_closed_port(every_scenario: Any) -> None:
    statuses, _, _ = every_scenario
    expect(statuses, "reset", **{"HS-PROVSERVER-TCP": "pass", "HS-HELLO-SENT": "fail",
                                 "HS-CONNECT-BACK": "skipped"})
    expect(statuses, "closed", **{"HS-PROVSERVER-TCP": "fail", "HS-HELLO-SENT": "skipped",
                                  "HS-TLS-PSK": "skipped"})


def test_a_wrong_pre_shared_key_fails_tls_psk(every_scenario: Any) -> None:
    statuses, _, _ = every_scenario
    expect(statuses, "wrong-psk", **{"HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "pass",
                                     "HS-TLS-PSK": "fail"})


def test_the_pid_and_pps_appear_in_no_output(every_scenario: Any) -> None:
    _, results, output = every_scenario
    written = json.dumps(results) + output
    pid, pps = provisioning_server.PID, provisioning_server.PPS
    for secret in (pid, pps, normal_pid(pid), normal_pps(pps)):
        assert secret not in written


def test_the_reference_server_logged_the_hellos(lab: Lab, every_scenario: Any) -> None:
    log = (lab.workdir / "logs" / "provisioning-server.log").read_text()
    assert "PKI hello, device" in log and "PSK hello, device" in log
    assert "handshake complete" in log

