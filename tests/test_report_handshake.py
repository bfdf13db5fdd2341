"""The HTML report's handshake section: the timeline and the presented chain, readable and
escaped (a provisioning server chooses what its certificates and answers say)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from amt_preflight.model import (
    Result,
    RunInfo,
    RunResult,
    Severity,
    SiteSummary,
    Verdict,
    fingerprint,
)
from amt_preflight.observations.handshake import ConnectBack, ConnectBackOutcome, HandshakeEvent
from amt_preflight.reports import html
from tests.test_checks_handshake import NOW, handshake_of, judge, observed, shook

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
            results.append(Result(
                check, "hq", finding.target, finding.status, finding.severity or
                Severity.HIGH, f"title of {check}", finding.message, finding.evidence,
                "fix it", [], NOW.isoformat(), 1, fingerprint(check, "hq", finding.target)))
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
