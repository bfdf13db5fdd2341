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
from lab import Lab, network, provisioning_server
from lab import pki as lab_pki

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("second", "silent", "slow", "garbage", "idle", "wrong-cert", "long-chain",
             "no-cert", "reset", "wrong-psk", "closed", "tls13-only", "tls12-only")
# Three device profiles: AMT 10 (SHA-1 list, TLS 1.0-1.1, TLS-PSK), AMT 11 (TLS 1.0-1.1)
# and AMT 16 (TLS 1.2 only): one hello and one connect-back each.
PROFILES = ["AMT 10", "AMT 11", "AMT 16"]
SITE = """
defaults: {{timeout: 1, retries: 0, deadline: 120}}
sites:
  - name: lab
    resolvers: [10.250.0.1]
    amt: {{generations: [10, 11, 16], custom_root_hashes: [{root}]}}
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
                                  domains=", ".join(f"{{name: {d}, provision_server: "
                                                    f"[{address(d)}]}}" for d in domains)))
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


def address(domain: str) -> str:
    way = domain.removesuffix(f".{network.HANDSHAKE_ZONE}")
    return network.ADDRESSES["provision_server"] if way == domain else \
        network.handshake_address(way)


def attempts(results: list[dict[str, Any]], check: str, scenario: str) -> list[dict[str, Any]]:
    domain = "corp.example" if scenario == "corp" else network.handshake_domain(scenario)
    (result,) = [r for r in results if r["check"] == check and r["target"] == domain]
    found: list[dict[str, Any]] = result["evidence"]["attempts"]
    return found


def expect(statuses: dict[tuple[str, str], str], scenario: str, **checks: str) -> None:
    domain = "corp.example" if scenario == "corp" else network.handshake_domain(scenario)
    got = {check: statuses[(check, domain)] for check in checks}
    assert got == checks, scenario


def test_the_healthy_server_passes_every_check(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "corp", **{"HS-PROVSERVER-TCP": "pass", "HS-HELLO-SENT": "pass",
                                "HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "pass",
                                "HS-TLS-PSK": "pass"})
    backs = attempts(results, "HS-CONNECT-BACK", "corp")
    assert [b["profile"] for b in backs] == PROFILES
    # A server speaking TLS 1.0-1.2 with RSA key exchange (as MeshCentral) suits them all
    assert [b["connect_back"]["protocol"] for b in backs] == ["TLSv1.1", "TLSv1.1", "TLSv1.2"]
    for back in backs:
        assert back["connect_back"]["peer"].startswith("10.250.0.10:")
        assert back["connect_back"]["chain_length"] == 3
        assert back["connect_back"]["hello_to_handshake_ms"] >= 0
        assert back["hello"]["device_uuid"].endswith("414d5450464c")
        events = [e["event"] for e in back["timeline"]]
        assert any(e.startswith("PKI hello sent") for e in events)
        assert any("handshake with 10.250.0.10" in e for e in events)
    announced = [len(b["announced_hashes"]) for b in backs]
    assert announced == [8 + 1, 19 + 1, 23 + 1]  # each profile's list and the custom root
    assert {h["type"] for h in backs[0]["announced_hashes"][:-1]} == {"sha1"}


def test_two_domains_on_one_server_are_spaced_and_told_apart(every_scenario: Any) -> None:
    statuses, _, _ = every_scenario
    # Both hellos to 10.250.0.10 got their connect-back; the server has one certificate, for
    # corp.example, which it presents to the second domain too.
    expect(statuses, "second", **{"HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "fail",
                                  "HS-TLS-PSK": "pass"})


def test_without_spacing_the_server_ignores_the_second_hello(lab: Lab, tmp_path: Path) -> None:
    domains = ["corp.example", network.handshake_domain("second")]
    statuses, results, _ = survey(lab, tmp_path, domains, "HS-CONNECT-BACK", spacing=0)
    assert "fail" in {statuses[("HS-CONNECT-BACK", d)] for d in domains}
    outcomes = [a["connect_back"]["outcome"] for r in results for a in r["evidence"]["attempts"]]
    assert outcomes[0] == "handshake" and "no-connection" in outcomes


def test_a_silent_server_fails_the_connect_back_with_the_causes(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "silent", **{"HS-HELLO-SENT": "pass", "HS-CONNECT-BACK": "fail",
                                  "HS-PRESENTED-CHAIN": "skipped", "HS-TLS-PSK": "fail"})
    for silent in attempts(results, "HS-CONNECT-BACK", "silent"):
        assert len(silent["likely_causes"]) == 3


def test_an_unannounced_root_gets_no_connect_back(lab: Lab, tmp_path: Path) -> None:
    statuses, results, _ = survey(lab, tmp_path, ["corp.example"], "HS-HELLO-SENT",
                                  "HS-CONNECT-BACK", root="ab" * 32)
    assert statuses[("HS-HELLO-SENT", "corp.example")] == "pass"
    assert statuses[("HS-CONNECT-BACK", "corp.example")] == "fail"
    (result,) = [r for r in results if r["check"] == "HS-CONNECT-BACK"]
    for attempt in result["evidence"]["attempts"]:
        assert attempt["likely_causes"][0].startswith("no certificate whose root")


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
    for scenario, outcome in (("garbage", "not-tls"), ("idle", "stalled"),
                              ("no-cert", "tls-failed")):
        found = {a["connect_back"]["outcome"]
                 for a in attempts(results, "HS-CONNECT-BACK", scenario)}
        assert found == {outcome}, scenario


def test_a_fifty_certificate_chain_is_captured_and_fails_the_rules(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "long-chain", **{"HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "fail"})
    chain = next(r for r in results if r["check"] == "HS-PRESENTED-CHAIN"
                 and r["target"] == network.handshake_domain("long-chain"))
    for presented in chain["evidence"]["profiles"]:
        assert presented["chain_length"] == 50
        failed = {rule["check"] for rule in presented["rules"] if rule["status"] == "fail"}
        assert failed == {"CERT-CHAIN-LENGTH"}


def test_a_certificate_not_marked_for_amt_fails_the_presented_chain(every_scenario: Any
                                                                      ) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "wrong-cert", **{"HS-CONNECT-BACK": "pass", "HS-PRESENTED-CHAIN": "fail"})
    chain = next(r for r in results if r["check"] == "HS-PRESENTED-CHAIN"
                 and r["target"] == network.handshake_domain("wrong-cert"))
    failed = {rule["check"] for p in chain["evidence"]["profiles"] for rule in p["rules"]
              if rule["status"] == "fail"}
    assert "CERT-AMT-USAGE" in failed


def test_a_reset_hello_and_a_closed_port(every_scenario: Any) -> None:
    statuses, _, _ = every_scenario
    # The hello went out whole: how the server closed (here a reset) is evidence only
    expect(statuses, "reset", **{"HS-PROVSERVER-TCP": "pass", "HS-HELLO-SENT": "pass",
                                 "HS-CONNECT-BACK": "fail"})
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



def test_a_tls13_only_server_fails_every_generation(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "tls13-only", **{"HS-HELLO-SENT": "pass", "HS-CONNECT-BACK": "fail",
                                      "HS-PRESENTED-CHAIN": "skipped"})
    found = attempts(results, "HS-CONNECT-BACK", "tls13-only")
    assert [a["connect_back"]["outcome"] for a in found] == ["tls-failed"] * 3
    assert all(a["connect_back"]["server_offered"].startswith("TLSv1.3 with") for a in found)
    (result,) = [r for r in results if r["check"] == "HS-CONNECT-BACK"
                 and r["target"] == network.handshake_domain("tls13-only")]
    assert result["reason"] == "TLS_FAILED"
    assert result["message"].count("no AMT release speaks TLS 1.3") == 3


def test_a_tls12_only_server_passes_16_and_fails_10_and_11(every_scenario: Any) -> None:
    statuses, results, _ = every_scenario
    expect(statuses, "tls12-only", **{"HS-CONNECT-BACK": "fail"})
    found = {a["profile"]: a["connect_back"]
             for a in attempts(results, "HS-CONNECT-BACK", "tls12-only")}
    assert found["AMT 16"]["outcome"] == "handshake" and found["AMT 16"]["protocol"] == "TLSv1.2"
    for old in ("AMT 10", "AMT 11"):
        assert found[old]["outcome"] == "tls-failed"
        assert found[old]["server_offered"].startswith("up to TLSv1.2")


def test_the_psk_endpoint_took_tls_1_0(every_scenario: Any) -> None:
    _, results, _ = every_scenario
    [psk] = attempts(results, "HS-TLS-PSK", "corp")
    assert psk["connect_back"]["protocol"] == "TLSv1"
    assert psk["address"] == network.ADDRESSES["provision_server"]
