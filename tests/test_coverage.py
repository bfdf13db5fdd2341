"""Coverage gaps, what did not run, the activation flow and the MEBx suffix: `ready` means
what activation depends on was looked at (CHECKS.md, "Coverage gap", `amt.flow`,
`amt.pki_dns_suffix`). On hand-made observations, and in every format."""

from __future__ import annotations

import json

import jsonschema
import pytest

from amt_preflight import engine, reports
from amt_preflight.checks import catalogue
from amt_preflight.checks.cert import domain_rule
from amt_preflight.config import Config
from amt_preflight.model import NotRunReason, RunResult, Severity, SiteSummary, Status, Verdict
from amt_preflight.observations.dhcp import DhcpAnswer, DhcpSurvey, Option15
from amt_preflight.reports.json_report import schema

from . import runs
from .certs import NOW, bundle
from .observed import R1, R2, Observed, config

PS = "ProvisionServer.corp.example"
CERT_FILE = "{file: corp.pem}"


def site_text(certificate: bool = True, provision_server: bool = True, amt: str = "") -> str:
    domain = "{name: corp.example" + (", provision_server: [10.250.0.10]"
                                      if provision_server else "")
    domain += f", certificate: {CERT_FILE}}}" if certificate else "}"
    return (f"sites:\n  - name: hq\n    resolvers: [{R1}, {R2}]\n"
            f"    amt: {{custom_root_hashes: [{_lab_root()}]{amt}}}\n"
            f"    domains: [{domain}]\n")


def _lab_root() -> str:
    from lab import pki

    return pki.root_sha256()


def healthy() -> Observed:
    o = Observed()
    for r in (R1, R2):
        o.answer(r, PS, "A", ["10.250.0.10"]).answer(r, PS, "A", ["10.250.0.10"],
                                                     transport="tcp")
        o.answer(r, "10.0.250.10.in-addr.arpa", "PTR", ["provisionserver.corp.example."])
    o.obs.record(bundle("good.pem"), "hq")
    return o


def judged(cfg: Config, observed: Observed, patterns: tuple[str, ...] = ()
           ) -> tuple[SiteSummary, list[str]]:
    selected = engine.select_checks(cfg, list(patterns))
    summaries, results = engine.evaluate(cfg, cfg.sites, selected,
                                         engine.Gathered(observed.obs), False, NOW)
    return summaries[0], [f"{r.check}:{r.status.value}" for r in results]


def test_a_configured_site_is_ready_without_gaps() -> None:
    summary, _ = judged(config(site_text()), healthy(), ("CERT-*", "DNS-PROVSERVER-*"))
    assert summary.coverage_gaps == () and summary.verdict is Verdict.READY


def test_no_certificate_is_a_coverage_gap_and_unknown_never_ready() -> None:
    summary, _ = judged(config(site_text(certificate=False)), healthy(),
                        ("CERT-*", "DNS-PROVSERVER-*"))
    assert summary.coverage_gaps == ("CERT-ROOT-TRUSTED", "CERT-DOMAIN-MATCH")
    assert summary.verdict is Verdict.UNKNOWN
    reasons = {n.check: n.reason for n in summary.not_run}
    assert reasons["CERT-ROOT-TRUSTED"] is NotRunReason.NOT_CONFIGURED


def test_nothing_configured_at_all_names_every_required_check() -> None:
    summary, _ = judged(config(site_text(certificate=False, provision_server=False)),
                        healthy())
    assert summary.coverage_gaps == ("CERT-ROOT-TRUSTED", "CERT-DOMAIN-MATCH",
                                     "DNS-PROVSERVER-MATCH")
    assert summary.verdict is Verdict.UNKNOWN


def test_a_required_check_turned_off_is_no_gap_but_is_listed() -> None:
    cfg = config(site_text(certificate=False) + "checks: {disable: ['CERT-*']}\n")
    summary, _ = judged(cfg, healthy(), ())
    assert summary.coverage_gaps == ()
    disabled = {n.check for n in summary.not_run if n.reason is NotRunReason.DISABLED}
    assert {spec.id for spec in catalogue() if spec.id.startswith("CERT-")} <= disabled
    summary, _ = judged(config(site_text()), healthy(), ("DNS-*",))
    assert {n.reason for n in summary.not_run if n.check == "CERT-ROOT-TRUSTED"} == {
        NotRunReason.NOT_SELECTED}


def test_intrusive_checks_not_allowed_are_not_selected() -> None:
    summary, _ = judged(config(site_text()), healthy(), ("HS-*",))
    reasons = {n.check: n.reason for n in summary.not_run}
    assert reasons["HS-CONNECT-BACK"] is NotRunReason.NOT_SELECTED


def test_host_based_flow_makes_hello_and_provision_server_not_applicable() -> None:
    cfg = config(site_text(provision_server=False, amt=", flow: host-based"))
    summary, results = judged(cfg, healthy())
    for check in ("HS-PROVSERVER-TCP", "HS-CONNECT-BACK", "DNS-PROVSERVER-A",
                  "DNS-PROVSERVER-MATCH"):
        assert f"{check}:skipped" in results
        assert {n.reason for n in summary.not_run if n.check == check} == {
            NotRunReason.NOT_APPLICABLE}
    assert "DNS-PROVSERVER-MATCH" not in summary.coverage_gaps
    assert summary.coverage_gaps == ()
    assert "CERT-ROOT-TRUSTED:pass" in results


def test_host_based_flow_sends_no_hello() -> None:
    cfg = config(site_text(amt=", flow: host-based"))
    [site] = cfg.sites
    applicable = [spec.id for spec in catalogue() if site.amt.flow in spec.flows]
    assert not [c for c in applicable if c.startswith(("HS-", "DNS-PROVSERVER-"))]


def _option15(value: bytes) -> Observed:
    o = healthy()
    answer = DhcpAnswer("DISCOVER", "OFFER", "10.250.0.1", "02:00:00:00:00:02", 1,
                        "10.250.0.150", "0.0.0.0",
                        ((53, b"\x02"), (15, value), (54, bytes([10, 250, 0, 1]))), 1.0)
    o.obs.record(DhcpSurvey("lab0", "02:00:00:00:00:01", 1.0, answers=(answer,),
                            started_at=NOW.timestamp(), elapsed_ms=10.0), "hq")
    o.obs.record(Option15(value.decode(), "10.250.0.1", "lab0"), "hq")
    return o


def test_pki_dns_suffix_is_the_domain_matched_and_lowers_option15_findings() -> None:
    plain = config(site_text().replace("    resolvers", "    interface: lab0\n    resolvers"))
    mebx = config(site_text(amt=", pki_dns_suffix: corp.example").replace(
        "    resolvers", "    interface: lab0\n    resolvers"))
    observed = _option15(b"corp.local")
    for cfg, match, severity in ((plain, "fail", Severity.HIGH), (mebx, "pass", Severity.LOW)):
        selected = engine.select_checks(cfg, ["CERT-DOMAIN-MATCH", "DHCP-OPT15-MATCH"])
        _, results = engine.evaluate(cfg, cfg.sites, selected,
                                     engine.Gathered(observed.obs), False, NOW)
        by = {r.check: r for r in results}
        assert by["CERT-DOMAIN-MATCH"].status.value == match
        assert by["DHCP-OPT15-MATCH"].status is Status.FAIL
        assert by["DHCP-OPT15-MATCH"].severity is severity
    assert by["CERT-DOMAIN-MATCH"].evidence["domain_source"].startswith("amt.pki_dns_suffix")


def test_a_config_severity_wins_over_a_rule_that_lowers() -> None:
    text = site_text(amt=", pki_dns_suffix: corp.example").replace(
        "    resolvers", "    interface: lab0\n    resolvers")
    cfg = config(text + "checks: {severity: {DHCP-OPT15-MATCH: critical}}\n")
    selected = engine.select_checks(cfg, ["DHCP-OPT15-MATCH"])
    _, results = engine.evaluate(cfg, cfg.sites, selected,
                                 engine.Gathered(_option15(b"corp.local").obs), False, NOW)
    assert results[0].severity is Severity.CRITICAL


@pytest.mark.parametrize("domain", ["com", "local", "example."])
def test_a_one_label_domain_matches_nothing(domain: str) -> None:
    assert domain_rule(domain, f"provisionserver.corp.{domain.rstrip('.')}") is None


def _gap_run() -> RunResult:
    cfg = config(site_text(certificate=False))
    summaries, results = engine.evaluate(cfg, cfg.sites, engine.select_checks(
        cfg, ["CERT-*", "DNS-PROVSERVER-*"]), engine.Gathered(healthy().obs), False, NOW)
    return RunResult(runs.info(started=NOW.isoformat(), host="host"), summaries, results)


@pytest.mark.parametrize("fmt", reports.FORMATS)
def test_every_format_says_what_was_not_checked(fmt: str) -> None:
    text = reports.render(fmt, _gap_run())
    assert ("CERT-ROOT-TRUSTED" in text and "not configured" in text) or fmt == "nagios"
    if fmt == "nagios":
        assert "NOT CHECKED CERT-ROOT-TRUSTED hq" in text and "not configured" in text
    if fmt == "json":
        document = json.loads(text)
        jsonschema.Draft202012Validator(schema()).validate(document)
        [site] = document["sites"]
        assert site["verdict"] == "unknown"
        assert site["coverage_gaps"] == ["CERT-ROOT-TRUSTED", "CERT-DOMAIN-MATCH"]
        assert {"check": "CERT-ROOT-TRUSTED", "reason": "not configured"}.items() <= next(
            n for n in site["not_run"] if n["check"] == "CERT-ROOT-TRUSTED").items()
        again = RunResult.from_json(document)
        assert again.sites[0].not_run == _gap_run().sites[0].not_run
