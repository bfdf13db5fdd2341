"""The HTML report's handshake section: the timeline and the presented chain, readable and
escaped (a provisioning server chooses what its certificates and answers say)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from amt_preflight.model import Result, RunInfo, RunResult, Severity, SiteSummary, Status, Verdict
from amt_preflight.observations.handshake import ConnectBack, ConnectBackOutcome, HandshakeEvent
from amt_preflight.reports import html
from amt_preflight.reports.sections import handshake
from tests.test_checks_handshake import NOW, handshake_of, judge, observed, shook

from . import runs

pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
HOSTILE = '<script>alert("hs")</script><img src=x onerror=alert(1)>'


def run_of(*checks: str, connect_back: ConnectBack) -> RunResult:
    attempt = replace(handshake_of(connect_back), timeline=(
        HandshakeEvent(0.0, "PKI hello sent: 365 bytes in one write"),
        HandshakeEvent(12.5, f"connection from {HOSTILE}")))
    obs = observed(attempt)
    results = []
    for check in checks:
        for finding in judge(check, obs):
            results.append(runs.result(
                check, finding.target, finding.status, severity=finding.severity or Severity.HIGH,
                title=f"title of {check}", message=finding.message, evidence=finding.evidence,
                started=NOW.isoformat()))
    info = RunInfo("run-1", NOW.isoformat(), NOW.isoformat(), "host", "config.yaml")
    return RunResult(info, [SiteSummary("hq", ["corp.example"], Verdict.READY, {})], results)


def test_the_timeline_and_the_presented_chain_are_shown() -> None:
    text = html.render(run_of("HS-CONNECT-BACK", "HS-PRESENTED-CHAIN", connect_back=shook()))
    section = text[text.index('id="h-handshakes"'):]
    assert "PKI hello sent: 365 bytes in one write" in section
    assert "12.5" in section  # milliseconds from the start of the attempt
    assert "CN=provisionserver.corp.example" in section  # the presented leaf
    assert "CN=amt-preflight Lab Root CA" in section
    assert "CERT-DOMAIN-MATCH" in section  # each rule's verdict on the presented chain
    assert "414d5450464c" in section  # the synthetic device UUID


def test_everything_from_the_network_is_escaped() -> None:
    silent = ConnectBack(ConnectBackOutcome.NOT_TLS, HOSTILE, 3.0, received=HOSTILE,
                         detail=HOSTILE)
    text = html.render(run_of("HS-CONNECT-BACK", connect_back=silent))
    assert 'id="h-handshakes"' in text
    assert "<img src=x" not in text and '<script>alert("hs")' not in text
    assert "&lt;script&gt;alert(" in text  # shown, as text


def test_no_handshake_no_section() -> None:
    text = html.render(run_of("HS-PROVSERVER-TCP", connect_back=shook()))
    assert 'id="h-handshakes"' not in text


# --- the view-model (reports/sections/handshake.py) on hand-made results ------------------

ATTEMPT: dict[str, Any] = {
    "profile": "AMT 11", "provision_server": "provisionserver.corp.example",
    "address": "10.0.0.10", "hello_port": 9971, "listen": "10.0.0.5:16993",
    "endpoint_tls": {"versions": ["TLSv1.2"], "cipher_suites": ["AES128-GCM-SHA256"]},
    "hello": {"device_uuid": "414d", "version": 1, "kind": "PKI", "bytes": 365},
    "announced_hashes": [{"hash": "aa"}, {"hash": "bb"}],
    "hello_delivery": {"server_close": None},
    "connect_back": {"outcome": "handshake", "peer": "10.0.0.10:50000",
                     "hello_to_handshake_ms": 0.0, "protocol": "TLSv1.2",
                     "cipher": "AES128-GCM-SHA256",
                     "presented_chain": [{"subject": "CN=ps"}, {"subject": "CN=Root",
                                                                "self_issued": True}],
                     "certificates_not_shown": 1},
    "timeline": [{"at_ms": 0.0, "event": "hello sent"}, {"event": "closed"}],
    "likely_causes": ["the server refused the chain"],
}


def made(check: str, evidence: dict[str, Any], target: str = "corp.example") -> Result:
    return runs.result(check, target, Status.PASS, message=f"{check} said", evidence=evidence,
                       started=NOW.isoformat())


def test_build_reads_each_attempt_and_the_rules_on_its_chain() -> None:
    rules = [{"check": "CERT-DOMAIN-MATCH", "status": "pass", "message": "matches"}]
    view = handshake.build([
        made("HS-CONNECT-BACK", {"attempts": [ATTEMPT, {"profile": "AMT 16"}]}),
        made("HS-TLS-PSK", {"attempts": [{"profile": "AMT 11"}]}),
        made("HS-TLS-PSK", {"prerequisite": "HS-PROVSERVER-TCP"}),  # no attempts: not shown
        made("HS-PRESENTED-CHAIN", {"profiles": [
            {"profile": "AMT 11", "rules": rules}, {"profile": "AMT 16", "rules": []}]}),
        made("HS-PRESENTED-CHAIN", {"profiles": [{"profile": "AMT 11", "rules": rules}]},
             target="other.example"),
    ])
    pki_hello, psk = view.exchanges
    assert (pki_hello.kind, psk.kind) == ("PKI hello, mutual TLS", "PSK hello, TLS-PSK")
    first, second = pki_hello.attempts
    assert (first.title, first.hello_port, first.endpoint_versions) == (
        "AMT 11", "9971", ["TLSv1.2"])
    assert first.hello == handshake.Hello("1", "PKI", "365", 2, "")
    back = first.connect_back
    assert back is not None and back.hello_to_handshake_ms == "0.0" and back.server_offered == ""
    assert [c.subject for c in first.presented] == ["CN=ps", "CN=Root"]
    assert first.presented_not_shown == 1
    assert [(e.at_ms, e.event) for e in first.timeline] == [("0.0", "hello sent"),
                                                             ("", "closed")]
    assert first.rules == [[handshake.Rule("CERT-DOMAIN-MATCH", "pass",
                                                         "matches")]]
    assert first.likely_causes == ["the server refused the chain"]
    # no hello, no connect-back, no rules (its profile's chain had none)
    assert (second.hello, second.connect_back, second.rules) == (None, None, [])
    assert second.endpoint_versions is None
    assert psk.attempts[0].rules == []  # HS-PRESENTED-CHAIN judges the PKI hello only


def test_build_takes_any_evidence_without_raising() -> None:
    odd: list[Any] = [None, 5, "x", ["x"], {"a": 1}, True, [None, 3, {"profile": ["x"]}]]
    results = []
    for i, value in enumerate(odd):
        attempt = {key: value for key in ATTEMPT}
        results += [made("HS-CONNECT-BACK", {"attempts": [attempt, value]}, f"d{i}"),
                    made("HS-CONNECT-BACK", {"attempts": value}, f"e{i}"),
                    made("HS-PRESENTED-CHAIN", {"profiles": value}, f"d{i}"),
                    made("HS-PRESENTED-CHAIN", {"profiles": [{"profile": value,
                                                              "rules": [value]}]}, f"d{i}")]
    view = handshake.build(results)
    assert len(view.exchanges) == 2 * len(odd)
    assert view.exchanges[0].attempts[0].title == "Hello"  # no profile
    assert view.exchanges[8].attempts[0].title == "{'a': 1}"
    assert handshake.build([]).exchanges == []
