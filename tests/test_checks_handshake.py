"""The handshake checks on hand-made observations: no network, no clock but the run's."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from cryptography import x509

from amt_preflight import pki
from amt_preflight.checks import catalogue, cert, handshake, spec
from amt_preflight.checks.chain import ChainUnderTest, presented_chain_under_test
from amt_preflight.config import SiteConfig
from amt_preflight.hello import Hello, synthetic_uuid
from amt_preflight.model import Finding, Status
from amt_preflight.observations import Observations
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import CertificateFacts, TcpConnect
from amt_preflight.observations.dhcp import Option15
from amt_preflight.observations.handshake import (
    AnnouncedHash,
    ConnectBack,
    ConnectBackOutcome,
    HandshakeAttempt,
    HandshakeEvent,
    HandshakeKind,
    Handshakes,
    HelloClose,
)
from lab import pki as lab_pki
from tests.observed import site

# The lab PKI's huge-subject certificate warns when it is made; not what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
NOW = datetime.now(UTC)
SERVER = "10.250.0.10"
LAB_ROOT = lab_pki.root_sha256()
SITE = f"""
sites:
  - name: hq
    resolvers: [10.250.0.1]
    amt: {{generations: [16], custom_root_hashes: [{LAB_ROOT}]}}
    handshake: {{connect_back_timeout: 5, psk: {{pid_env: AMT_PID, pps_env: AMT_PPS}}}}
    domains: [{{name: corp.example, provision_server: [{SERVER}]}}]
"""
PSK_SITE = SITE.replace("generations: [16]", "generations: [10, 16]")


@cache
def chain(bundle: str) -> tuple[CertificateFacts, ...]:
    pem = lab_pki.files(NOW)[f"bundles/{bundle}.pem"]
    return tuple(pki.facts(c) for c in x509.load_pem_x509_certificates(pem))


def announced() -> tuple[AnnouncedHash, ...]:
    return (AnnouncedHash("sha256", LAB_ROOT, "custom root (amt.custom_root_hashes[0])"),)


def handshake_of(connect_back: ConnectBack | None, *, kind: HandshakeKind = HandshakeKind.PKI,
                 delivered: Outcome = Outcome.ANSWER, close: HelloClose | None = HelloClose.CLEAN,
                 error: str = "", detail: str = "the server closed cleanly",
                 profile: str = "AMT 16") -> HandshakeAttempt:
    hello = (Hello.pki(synthetic_uuid("hq"), []) if kind is HandshakeKind.PKI
             else Hello.psk(synthetic_uuid("hq"), "LABP-1D01"))
    pki_kind = kind is HandshakeKind.PKI
    return HandshakeAttempt(
        "corp.example", kind, "ProvisionServer.corp.example" if pki_kind else SERVER, 9971,
        "0.0.0.0:16993", profile=profile if pki_kind else "TLS-PSK",
        tls_versions=("TLSv1.2",) if pki_kind else ("TLSv1",),
        cipher_suites=("AES128-GCM-SHA256",) if pki_kind else ("PSK",),
        address=SERVER, hello=tuple(hello.to_evidence().items()),
        announced=announced() if kind is HandshakeKind.PKI else (), delivered=delivered,
        close=close if delivered is Outcome.ANSWER else None, connect_back=connect_back,
        waited_s=5.0, timeline=(HandshakeEvent(0.0, "hello sent"),), error=error,
        detail=detail, started_at=NOW.timestamp() - 1, elapsed_ms=20.0)


def shook(bundle: str = "good", **more: Any) -> ConnectBack:
    presented = chain(bundle)
    return ConnectBack(ConnectBackOutcome.HANDSHAKE, f"{SERVER}:40000", 12.0, "TLSv1.2",
                       "AES128-GCM-SHA256", presented, len(presented), **more)


def observed(*attempts: HandshakeAttempt, tcp: Outcome = Outcome.ANSWER, address: str = SERVER,
             option15: str | None = None) -> Observations:
    obs = Observations()
    name = "ProvisionServer.corp.example"
    for host in (name, SERVER):
        obs.record(TcpConnect(host, 9971, tcp, address, 1, NOW.timestamp(), 1.0,
                              "connection accepted"), "hq")
    by_domain: dict[tuple[str, HandshakeKind], list[HandshakeAttempt]] = {}
    for attempt in attempts:
        by_domain.setdefault((attempt.domain, attempt.kind), []).append(attempt)
    for (domain, kind), made in by_domain.items():
        obs.record(Handshakes(domain, kind, tuple(made)), "hq")
    if option15 is not None:
        obs.record(Option15(option15, "10.250.0.1", "lab0"), "hq")
    return obs


def judge(check_id: str, obs: Observations, config: SiteConfig | None = None) -> list[Finding]:
    """The check's findings, its reason tags checked against its metadata."""
    findings = spec(check_id).judge(config or site(SITE), obs.site("hq", NOW))
    for finding in findings:
        json.dumps(finding.evidence)  # evidence is plain JSON
    return findings


def status(check_id: str, obs: Observations, config: SiteConfig | None = None) -> Status:
    (finding,) = judge(check_id, obs, config)
    assert finding.target == "corp.example"
    return finding.status


def verdict(check_id: str, obs: Observations, config: SiteConfig | None = None
            ) -> tuple[Status, str | None]:
    (finding,) = judge(check_id, obs, config)
    assert finding.target == "corp.example"
    return finding.status, finding.reason


def unfinished(kind: HandshakeKind = HandshakeKind.PKI) -> Observations:
    """The hellos of one kind planned for no profile at all."""
    obs = observed()
    obs.record(Handshakes("corp.example", kind, ()), "hq")
    return obs


# --- HS-PROVSERVER-TCP -----------------------------------------------------------------


def test_tcp_passes_when_the_hello_port_accepts() -> None:
    assert status("HS-PROVSERVER-TCP", observed()) is Status.PASS


def test_tcp_fails_when_the_hello_port_refuses_or_is_silent() -> None:
    for outcome in (Outcome.UNREACHABLE, Outcome.TIMEOUT):
        assert verdict("HS-PROVSERVER-TCP", observed(tcp=outcome)) == (Status.FAIL,
                                                                       "PORT_UNREACHABLE")


def test_tcp_is_skipped_when_the_name_does_not_resolve_and_errs_when_never_tried() -> None:
    unresolved = observed(tcp=Outcome.UNREACHABLE, address="")
    (finding,) = judge("HS-PROVSERVER-TCP", unresolved)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "DNS-PROVSERVER-A"
    assert verdict("HS-PROVSERVER-TCP", Observations()) == (Status.ERROR, "NOT_TRIED")


# --- HS-HELLO-SENT ---------------------------------------------------------------------


def test_hello_sent_passes_on_a_clean_close() -> None:
    (finding,) = judge("HS-HELLO-SENT", observed(handshake_of(shook())))
    assert finding.status is Status.PASS
    [attempt] = finding.evidence["attempts"]
    assert "connect_back" not in attempt and attempt["hello"]["version"] == 3
    assert attempt["profile"] == "AMT 16"


@pytest.mark.parametrize("close", [HelloClose.RESET, HelloClose.ANSWERED, HelloClose.HELD_OPEN])
def test_how_the_server_closed_is_evidence_not_a_failure(close: HelloClose) -> None:
    """A device never reads: a hello written whole on an accepted connection was sent."""
    obs = observed(handshake_of(shook(), close=close, detail="the server reset the connection"))
    (finding,) = judge("HS-HELLO-SENT", obs)
    assert finding.status is Status.PASS
    assert finding.evidence["attempts"][0]["hello_delivery"]["server_close"] == close.value
    assert status("HS-CONNECT-BACK", obs) is Status.PASS  # never hidden behind it


def test_hello_sent_fails_when_the_hello_cannot_be_delivered() -> None:
    obs = observed(handshake_of(None, delivered=Outcome.TIMEOUT, detail="no answer in 3 s"))
    assert verdict("HS-HELLO-SENT", obs) == (Status.FAIL, "NOT_DELIVERED")


def test_no_hello_without_the_hello_port_or_an_endpoint() -> None:
    unsent = handshake_of(None, delivered=Outcome.NOT_OBSERVED, error="no hello sent: ...")
    (skipped,) = judge("HS-HELLO-SENT", observed(unsent, tcp=Outcome.UNREACHABLE))
    assert (skipped.status, skipped.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert skipped.evidence["prerequisite"] == "HS-PROVSERVER-TCP"
    endpoint = handshake_of(None, delivered=Outcome.NOT_OBSERVED, error=(
        "the synthetic AMT endpoint cannot listen on 0.0.0.0:16993: Address already in use"))
    assert verdict("HS-HELLO-SENT", observed(endpoint)) == (Status.ERROR, "NOT_SENT")
    # cut by the deadline
    assert verdict("HS-HELLO-SENT", observed()) == (Status.ERROR, "NOT_FINISHED")
    assert verdict("HS-HELLO-SENT", unfinished()) == (Status.SKIPPED, "NO_ATTEMPT")


# --- HS-CONNECT-BACK -------------------------------------------------------------------


def test_connect_back_passes_with_a_presented_chain_and_reports_the_time() -> None:
    (finding,) = judge("HS-CONNECT-BACK", observed(handshake_of(shook())))
    assert finding.status is Status.PASS
    [attempt] = finding.evidence["attempts"]
    assert attempt["connect_back"]["hello_to_handshake_ms"] == 12.0
    assert len(attempt["connect_back"]["presented_chain"]) == 3
    assert attempt["timeline"] == [{"at_ms": 0.0, "event": "hello sent"}]
    assert attempt["endpoint_tls"]["versions"] == ["TLSv1.2"]
    assert finding.reason is None


def test_every_profile_must_get_its_connect_back() -> None:
    two = site(SITE.replace("generations: [16]", "generations: [11, 16]"))
    refused = ConnectBack(ConnectBackOutcome.TLS_FAILED, f"{SERVER}:40000", 9.0,
                          offered="TLSv1.2 with TLS_RSA_WITH_AES_128_GCM_SHA256",
                          detail="unsupported protocol")
    obs = observed(handshake_of(refused, profile="AMT 11"), handshake_of(shook()))
    (finding,) = judge("HS-CONNECT-BACK", obs, two)
    assert (finding.status, finding.reason) == (Status.FAIL, "TLS_FAILED")
    assert [a["profile"] for a in finding.evidence["attempts"]] == ["AMT 11", "AMT 16"]
    assert finding.evidence["attempts"][0]["connect_back"]["server_offered"].startswith(
        "TLSv1.2")


def test_a_tls13_only_server_is_told_no_amt_speaks_it() -> None:
    refused = ConnectBack(ConnectBackOutcome.TLS_FAILED, f"{SERVER}:40000", 9.0,
                          offered="TLSv1.3 with TLS_AES_256_GCM_SHA384",
                          detail="unsupported protocol")
    (finding,) = judge("HS-CONNECT-BACK", observed(handshake_of(refused)))
    assert (finding.status, finding.reason) == (Status.FAIL, "TLS_FAILED")
    assert finding.evidence["attempts"][0]["connect_back"]["server_offered"].startswith("TLSv1.3")


def test_silence_after_the_hello_fails_with_the_likely_causes_in_order() -> None:
    silent = ConnectBack(ConnectBackOutcome.NO_CONNECTION, detail="nothing connected")
    (finding,) = judge("HS-CONNECT-BACK", observed(handshake_of(silent)))
    assert (finding.status, finding.reason) == (Status.FAIL, "NO_CONNECT_BACK")
    causes = finding.evidence["attempts"][0]["likely_causes"]
    assert causes[0].startswith("no certificate whose root is among the 1 announced hashes")
    assert causes[1].startswith("no certificate for corp.example")
    assert causes[2].startswith("the server cannot reach this host on port 16993")


@pytest.mark.parametrize(("outcome", "tag"), [(ConnectBackOutcome.NOT_TLS, "NOT_TLS"),
                                              (ConnectBackOutcome.TLS_FAILED, "TLS_FAILED"),
                                              (ConnectBackOutcome.STALLED, "TLS_STALLED")])
def test_a_connect_back_that_is_not_mutual_tls_fails(outcome: ConnectBackOutcome,
                                                     tag: str) -> None:
    answer = ConnectBack(outcome, f"{SERVER}:40000", 50.0, received="47 bytes 485454",
                         detail="peer did not return a certificate")
    assert verdict("HS-CONNECT-BACK", observed(handshake_of(answer))) == (Status.FAIL, tag)


def test_a_connect_back_without_a_chain_fails_and_unfinished_hellos_err() -> None:
    bare = ConnectBack(ConnectBackOutcome.HANDSHAKE, f"{SERVER}:40000", 12.0, "TLSv1.2",
                       "AES128-GCM-SHA256", detail="no client certificate")
    assert verdict("HS-CONNECT-BACK", observed(handshake_of(bare))) == (Status.FAIL, "NO_CHAIN")
    assert verdict("HS-CONNECT-BACK", observed()) == (Status.ERROR, "NOT_FINISHED")


def test_connect_back_is_skipped_when_the_hello_did_not_go_out() -> None:
    unsent = handshake_of(None, delivered=Outcome.UNREACHABLE, detail="refused")
    (finding,) = judge("HS-CONNECT-BACK", observed(unsent))
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "HS-HELLO-SENT"


# --- HS-PRESENTED-CHAIN ----------------------------------------------------------------


def test_the_good_chain_passes_every_cert_rule() -> None:
    (finding,) = judge("HS-PRESENTED-CHAIN", observed(handshake_of(shook("good"))))
    assert finding.status is Status.PASS, finding.message
    [presented] = finding.evidence["profiles"]
    judged = {r["check"] for r in presented["rules"]}
    expected = {spec.id for spec in catalogue() if spec.id.startswith("CERT-")}
    assert judged == expected - {"CERT-LOADABLE"}
    assert all(r["status"] == "pass" for r in presented["rules"])


@pytest.mark.parametrize(("bundle", "failing"), [
    ("no-usage", "CERT-AMT-USAGE"),
    ("wrong-domain", "CERT-DOMAIN-MATCH"),
    ("expired", "CERT-VALIDITY"),
    ("sha1", "CERT-CRYPTO"),
    ("long-chain", "CERT-CHAIN-LENGTH"),
])
def test_a_presented_chain_fails_the_rule_it_breaks(bundle: str, failing: str) -> None:
    (finding,) = judge("HS-PRESENTED-CHAIN", observed(handshake_of(shook(bundle))))
    assert (finding.status, finding.reason) == (Status.FAIL, "RULE_FAILS")
    [presented] = finding.evidence["profiles"]
    assert failing in {r["check"] for r in presented["rules"] if r["status"] == "fail"}


def test_a_root_the_hello_did_not_announce_fails_the_presented_chain() -> None:
    """The firmware trusts what its hello announced, whatever the site's lists say."""
    attempt = replace(handshake_of(shook("good")), announced=(
        AnnouncedHash("sha256", "ab" * 32, "Some CA (built-in list)"),))
    (finding,) = judge("HS-PRESENTED-CHAIN", observed(attempt))
    assert finding.status is Status.FAIL
    (trusted,) = [r for r in finding.evidence["profiles"][0]["rules"]
                  if r["check"] == "CERT-ROOT-TRUSTED"]
    assert (trusted["status"], trusted["reason"]) == ("fail", "ROOT_NOT_ANNOUNCED")


def test_no_chain_no_judgement() -> None:
    silent = ConnectBack(ConnectBackOutcome.NO_CONNECTION)
    for obs in (observed(handshake_of(silent)), observed()):
        (finding,) = judge("HS-PRESENTED-CHAIN", obs)
        assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
        assert finding.evidence["prerequisite"] == "HS-CONNECT-BACK"


def test_a_rule_that_cannot_judge_the_presented_chain_is_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def erring(under_test: ChainUnderTest) -> Finding:
        return Finding(under_test.domain, Status.ERROR, "cannot judge", reason="NOT_READ")

    monkeypatch.setattr(cert, "CHAIN_RULES", ((spec("CERT-CRYPTO"), erring),))
    assert verdict("HS-PRESENTED-CHAIN", observed(handshake_of(shook()))) == (Status.ERROR,
                                                                             "RULE_ERRS")


def test_the_presented_chain_is_one_typed_input_the_cert_rules_take() -> None:
    """No forged site: the rules read the chain, where it came from, the announced hashes."""
    attempt = handshake_of(shook())
    assert attempt.connect_back is not None
    presented = presented_chain_under_test(site(SITE), observed(attempt).site("hq", NOW),
                                           attempt, attempt.connect_back)
    assert presented.presented and presented.announced == announced()
    assert presented.fleet is None
    assert presented.bundle.source == f"chain presented by {SERVER}:40000 in the " \
                                      "connect-back (AMT 16)"
    assert (presented.match_domain, presented.match_source) == ("corp.example", "config")
    assert presented.generations == (16,) and presented.custom_root_hashes == (LAB_ROOT,)
    judged = handshake.judge_presented(presented)
    assert [spec.id for spec, _ in judged] == [spec.id for spec in cert.CHECKS[1:]]
    assert all(f.status is Status.PASS for _, f in judged)


def test_without_a_file_the_cert_checks_judge_the_presented_chain() -> None:
    """A domain without a certificate file: the chain presented in the connect-back stands
    in for it, its root judged against the site's lists (amt.custom_root_hashes here)."""
    obs = observed(handshake_of(shook()))
    assert verdict("CERT-LOADABLE", obs) == (Status.SKIPPED, "PRESENTED_CHAIN")
    (trusted,) = judge("CERT-ROOT-TRUSTED", obs)
    assert trusted.status is Status.PASS
    assert trusted.evidence["lists"] == "amt.generations"


# --- HS-TLS-PSK ------------------------------------------------------------------------


def psk(answer: ConnectBack | None, **more: Any) -> HandshakeAttempt:
    return handshake_of(answer, kind=HandshakeKind.PSK, **more)


def test_tls_psk_is_skipped_where_no_pair_is_configured() -> None:
    plain = site(PSK_SITE.replace(", psk: {pid_env: AMT_PID, pps_env: AMT_PPS}", ""))
    assert verdict("HS-TLS-PSK", observed(), plain) == (Status.SKIPPED, "NOT_CONFIGURED")


def test_tls_psk_is_not_applicable_without_a_generation_that_has_it() -> None:
    assert verdict("HS-TLS-PSK", observed(), site(SITE)) == (Status.SKIPPED,
                                                             "NO_PSK_GENERATION")


def test_tls_psk_goes_only_to_configured_addresses() -> None:
    unconfigured = site(PSK_SITE.replace(f", provision_server: [{SERVER}]", ""))
    assert verdict("HS-TLS-PSK", observed(), unconfigured) == (Status.SKIPPED,
                                                               "NOT_CONFIGURED")


def test_tls_psk_passes_when_the_psk_handshake_completes() -> None:
    answer = ConnectBack(ConnectBackOutcome.HANDSHAKE, f"{SERVER}:40001", 8.0, "TLSv1.2",
                         "PSK-AES128-CBC-SHA", psk_identity_matched=True)
    (finding,) = judge("HS-TLS-PSK", observed(psk(answer)), site(PSK_SITE))
    assert finding.status is Status.PASS
    assert "LABP1D01" not in json.dumps(finding.evidence) + finding.message


@pytest.mark.parametrize(("answer", "tag"), [
    (ConnectBack(ConnectBackOutcome.NO_CONNECTION), "NO_CONNECT_BACK"),
    (ConnectBack(ConnectBackOutcome.TLS_FAILED, f"{SERVER}:40001", 9.0,
                 detail="decryption failed or bad record mac", psk_identity_matched=True),
     "TLS_FAILED"),
    (ConnectBack(ConnectBackOutcome.TLS_FAILED, f"{SERVER}:40001", 9.0,
                 detail="unknown psk identity", psk_identity_matched=False), "WRONG_IDENTITY"),
    (ConnectBack(ConnectBackOutcome.NOT_TLS, f"{SERVER}:40001", 9.0), "NOT_TLS"),
    (ConnectBack(ConnectBackOutcome.STALLED, f"{SERVER}:40001", 9.0), "TLS_STALLED"),
])
def test_tls_psk_fails_without_a_psk_handshake(answer: ConnectBack, tag: str) -> None:
    assert verdict("HS-TLS-PSK", observed(psk(answer)), site(PSK_SITE)) == (Status.FAIL, tag)


def test_tls_psk_fails_when_the_hello_does_not_go_out() -> None:
    unsent = psk(None, delivered=Outcome.NOT_OBSERVED, error="no hello sent: port closed")
    assert verdict("HS-TLS-PSK", observed(unsent, tcp=Outcome.UNREACHABLE), site(PSK_SITE)) == (
        Status.FAIL, "PORT_UNREACHABLE")
    undelivered = psk(None, delivered=Outcome.TIMEOUT, detail="no answer in 3 s")
    assert verdict("HS-TLS-PSK", observed(undelivered), site(PSK_SITE)) == (Status.FAIL,
                                                                            "NOT_DELIVERED")


def test_tls_psk_errs_when_the_pair_cannot_be_read() -> None:
    unread = psk(None, delivered=Outcome.NOT_OBSERVED,
                 error="no hello sent: handshake.psk: pid_env: AMT_PID is not set")
    assert verdict("HS-TLS-PSK", observed(unread), site(PSK_SITE)) == (Status.ERROR, "NOT_SENT")
    assert verdict("HS-TLS-PSK", observed(), site(PSK_SITE)) == (Status.ERROR, "NOT_FINISHED")
    assert verdict("HS-TLS-PSK", unfinished(HandshakeKind.PSK), site(PSK_SITE)) == (
        Status.SKIPPED, "NO_ATTEMPT")


def test_every_handshake_check_but_tcp_is_intrusive() -> None:
    assert [spec.id for spec in handshake.CHECKS] == [
        "HS-PROVSERVER-TCP", "HS-HELLO-SENT", "HS-CONNECT-BACK", "HS-PRESENTED-CHAIN",
        "HS-TLS-PSK"]
    assert [spec.intrusive for spec in handshake.CHECKS] == [False, True, True, True, True]
