"""AD and Kerberos checks on hand-made observations: each passes and fails where it should,
with its reason tag."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from amt_preflight import engine
from amt_preflight.checks import spec
from amt_preflight.config import AdConfig, SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Status
from amt_preflight.observations import Observations
from amt_preflight.observations.ad import (
    AdRole,
    AdServer,
    BindStage,
    RootDse,
    same_dn,
    tgs_principal,
)
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dhcp import DhcpAnswer, DhcpSurvey
from amt_preflight.observations.dns import DHCP_OPTION6, ResolverSet, ResolverTrust
from amt_preflight.probes import OncePerRun, SiteProbes
from amt_preflight.probes.dhcp_trust import option6_of, option6_trust
from amt_preflight.probes.dns import gather_site_resolvers
from amt_preflight.probes.ldap import password_names

from .observed import CLIENT_MAC, Observed, config, dhcp_answer, reasons, site, statuses, the

DC, DC2 = "10.250.0.20", "10.250.0.29"
REALM, OTHER = "CORP.EXAMPLE", "OTHER.EXAMPLE"
AD = """
sites:
  - name: hq
    resolvers: [10.250.0.1, 10.250.0.2]
    ad: {{domain: corp.example{extra}}}
"""
CREDENTIALS = (", bind_user: svc-amt@corp.example, bind_password_env: AMT_BIND_PASSWORD, "
               "amt_ou: 'OU=AMT,DC=corp,DC=example'")
SITE = site(AD.format(extra=CREDENTIALS))


def ad_site(extra: str = "") -> SiteConfig:
    return site(AD.format(extra=extra))


def run(check_id: str, observed: Observed, site_config: SiteConfig = SITE) -> list[Finding]:
    """The check's findings, each reason tag checked against its metadata."""
    findings = spec(check_id).judge(site_config, observed.view())
    for finding in findings:
        json.dumps(finding.evidence)  # evidence is plain JSON
    return findings


def kdcs(*servers: AdServer | str) -> Observed:
    return Observed().ad_servers(AdRole.KDC, *servers)


def healthy_kdc(observed: Observed, kdc: str = DC, realm: str = REALM, code: int = 25,
                offset: float = 0.2) -> Observed:
    for transport in ("udp", "tcp"):
        observed.kerberos(kdc, realm, transport, code=code, offset=offset)
    return observed


def healthy_dc(observed: Observed | None = None) -> Observed:
    o = (observed or Observed()).ad_servers(AdRole.DC, DC)
    return o.root_dse(DC).bind(DC)


# --- every AD check


@pytest.mark.parametrize("check_id", ["AD-KDC-ANSWERS", "AD-REALM-MATCH", "AD-CLOCK-SKEW",
                                      "AD-LDAP-ROOTDSE", "AD-LDAP-BIND", "AD-AMT-OU"])
def test_a_site_without_ad_is_skipped(check_id: str) -> None:
    bare = site("sites: [{name: hq, resolvers: [10.250.0.1]}]")
    assert statuses(run(check_id, Observed(), bare)) == {NO_TARGET: Status.SKIPPED}
    assert reasons(run(check_id, Observed(), bare)) == {NO_TARGET: "NOT_CONFIGURED"}


@pytest.mark.parametrize("check_id", ["AD-KDC-ANSWERS", "AD-REALM-MATCH", "AD-CLOCK-SKEW"])
def test_no_kdc_found_is_skipped_naming_the_srv_records(check_id: str) -> None:
    none = Observed().ad_servers(AdRole.KDC, source="SRV _kerberos._tcp.corp.example")
    [finding] = run(check_id, none)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "DNS-AD-SRV"


@pytest.mark.parametrize("check_id", ["AD-LDAP-ROOTDSE", "AD-LDAP-BIND", "AD-AMT-OU"])
def test_no_dc_found_is_skipped_naming_the_srv_records(check_id: str) -> None:
    none = Observed().ad_servers(AdRole.DC, source="SRV _ldap._tcp.dc._msdcs")
    [finding] = run(check_id, none)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "DNS-AD-SRV"


@pytest.mark.parametrize("check_id", ["AD-KDC-ANSWERS", "AD-LDAP-ROOTDSE"])
def test_servers_not_found_before_the_deadline_is_an_error(check_id: str) -> None:
    assert statuses(run(check_id, Observed())) == {NO_TARGET: Status.ERROR}
    assert reasons(run(check_id, Observed())) == {NO_TARGET: "NOT_LOCATED"}


def test_a_configured_name_that_does_not_resolve_is_an_error() -> None:
    missing = AdServer("kdc9.corp.example", (), ("kdc9.corp.example",), "NXDOMAIN from 10.250.0.1")
    assert statuses(run("AD-KDC-ANSWERS", kdcs(missing))) == {
        "kdc9.corp.example": Status.ERROR}
    assert reasons(run("AD-KDC-ANSWERS", kdcs(missing))) == {"kdc9.corp.example": "NO_ADDRESS"}


# --- AD-KDC-ANSWERS


@pytest.mark.parametrize("code", [25, 6])  # PREAUTH_REQUIRED, C_PRINCIPAL_UNKNOWN
def test_kdc_answers_pass(code: int) -> None:
    findings = run("AD-KDC-ANSWERS", healthy_kdc(kdcs(DC), code=code))
    assert statuses(findings) == {DC: Status.PASS}
    assert len(findings[0].evidence["replies"]) == 2


def test_kdc_unreachable_over_udp_fails() -> None:
    o = healthy_kdc(kdcs(DC)).kerberos(DC, REALM, "udp", outcome=Outcome.UNREACHABLE)
    [finding] = run("AD-KDC-ANSWERS", o)
    assert (finding.status, finding.reason) == (Status.FAIL, "NO_ANSWER")
    assert next(r["outcome"] for r in finding.evidence["replies"]) == "unreachable"


def test_silent_kdc_fails() -> None:
    o = kdcs(DC).kerberos(DC, REALM, "udp", outcome=Outcome.TIMEOUT)
    o.kerberos(DC, REALM, "tcp", outcome=Outcome.TIMEOUT)
    assert the(run("AD-KDC-ANSWERS", o)) == (Status.FAIL, "NO_ANSWER")


def test_kdc_answering_wrong_realm_fails() -> None:
    o = healthy_kdc(kdcs(DC), code=68)
    assert the(run("AD-KDC-ANSWERS", o)) == (Status.FAIL, "NO_LOOKUP")


def test_garbage_from_a_kdc_is_an_error() -> None:
    o = kdcs(DC).kerberos(DC, REALM, "udp", outcome=Outcome.MALFORMED)
    o.kerberos(DC, REALM, "tcp", outcome=Outcome.MALFORMED)
    [finding] = run("AD-KDC-ANSWERS", o)
    assert (finding.status, finding.reason) == (Status.ERROR, "NOT_DECIDED")
    assert {r["outcome"] for r in finding.evidence["replies"]} == {"malformed"}


def test_each_kdc_is_its_own_target() -> None:
    o = healthy_kdc(kdcs(DC, DC2))
    o.kerberos(DC2, REALM, "udp", outcome=Outcome.TIMEOUT).kerberos(DC2, REALM, "tcp", code=6)
    assert statuses(run("AD-KDC-ANSWERS", o)) == {DC: Status.PASS, DC2: Status.FAIL}


def test_a_configured_name_fails_when_one_of_its_addresses_does() -> None:
    named = AdServer("kdc.corp.example", (DC, DC2), ("kdc.corp.example",))
    o = healthy_kdc(healthy_kdc(kdcs(named)), DC2)
    o.kerberos(DC2, REALM, "udp", outcome=Outcome.TIMEOUT)
    [finding] = run("AD-KDC-ANSWERS", o)
    assert (finding.target, finding.status) == ("kdc.corp.example", Status.FAIL)
    assert finding.reason == "NO_ANSWER"


# --- AD-REALM-MATCH


def test_realm_match_pass() -> None:
    assert statuses(run("AD-REALM-MATCH", healthy_kdc(kdcs(DC)))) == {DC: Status.PASS}


def test_realm_proven_by_the_tgs_principal_passes() -> None:
    """An MIT or Heimdal realm outside AD knows krbtgt/REALM, not AD's krbtgt account."""
    o = healthy_kdc(kdcs(DC), code=6).kerberos(DC, REALM, "udp", principal=tgs_principal(REALM))
    assert statuses(run("AD-REALM-MATCH", o)) == {DC: Status.PASS}


def test_wrong_realm_configured_fails_naming_both_realms() -> None:
    wrong = ad_site(", realm: WRONG.EXAMPLE")
    o = healthy_kdc(kdcs(DC), realm="WRONG.EXAMPLE", code=6)
    o.kerberos(DC, "WRONG.EXAMPLE", "udp", code=6, principal=tgs_principal("WRONG.EXAMPLE"))
    o.kerberos(DC, REALM, "udp")
    [finding] = run("AD-REALM-MATCH", o, wrong)
    assert (finding.status, finding.reason) == (Status.FAIL, "REALM_MISMATCH")
    assert (finding.evidence["configured_realm"], finding.evidence["ad_realm"]) == (
        "WRONG.EXAMPLE", REALM)


def test_kdc_silent_for_the_configured_realm_but_serving_the_domains_fails() -> None:
    other = ad_site(f", realm: {OTHER}")
    o = kdcs(DC).kerberos(DC, OTHER, "udp", outcome=Outcome.TIMEOUT)
    o.kerberos(DC, OTHER, "tcp", outcome=Outcome.TIMEOUT).kerberos(DC, REALM, "udp")
    [finding] = run("AD-REALM-MATCH", o, other)
    assert (finding.status, finding.reason) == (Status.FAIL, "REALM_MISMATCH")
    assert finding.evidence["configured_realm"] == OTHER


def test_wrong_realm_error_fails() -> None:
    assert the(run("AD-REALM-MATCH", healthy_kdc(kdcs(DC), code=68))) == (
        Status.FAIL, "REALM_NOT_HELD")


def test_reply_in_another_realm_fails() -> None:
    o = kdcs(DC).kerberos(DC, REALM, "udp", reply_realm=OTHER)
    o.kerberos(DC, REALM, "tcp", reply_realm=OTHER)
    assert the(run("AD-REALM-MATCH", o)) == (Status.FAIL, "REALM_NOT_HELD")


def test_realm_match_with_no_answer_is_skipped() -> None:
    o = kdcs(DC).kerberos(DC, REALM, "udp", outcome=Outcome.MALFORMED)
    o.kerberos(DC, REALM, "tcp", outcome=Outcome.TIMEOUT)
    [finding] = run("AD-REALM-MATCH", o)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "AD-KDC-ANSWERS"


def test_realm_match_never_asked_is_an_error() -> None:
    assert the(run("AD-REALM-MATCH", kdcs(DC))) == (Status.ERROR, "NOT_DECIDED")


# --- AD-CLOCK-SKEW


def test_clock_within_skew_passes_and_reports_the_offset() -> None:
    [finding] = run("AD-CLOCK-SKEW", healthy_kdc(kdcs(DC), offset=12.0))
    assert finding.status is Status.PASS
    assert finding.evidence["offset_s"] == pytest.approx(12.0, abs=0.01)
    assert finding.evidence["max_skew_s"] == 300


@pytest.mark.parametrize("offset", [600.0, -400.0])
def test_clock_beyond_skew_fails(offset: float) -> None:
    [finding] = run("AD-CLOCK-SKEW", healthy_kdc(kdcs(DC), offset=offset))
    assert (finding.status, finding.reason) == (Status.FAIL, "CLOCK_SKEW")
    assert finding.evidence["offset_s"] == pytest.approx(offset, abs=0.01)


def test_clock_skew_limit_comes_from_the_config() -> None:
    lenient = ad_site(", max_skew: 900")
    assert statuses(run("AD-CLOCK-SKEW", healthy_kdc(kdcs(DC), offset=600.0), lenient)) == {
        DC: Status.PASS}


def test_clock_read_from_the_retry_in_the_domains_realm() -> None:
    other = ad_site(f", realm: {OTHER}")
    o = kdcs(DC).kerberos(DC, OTHER, "udp", outcome=Outcome.TIMEOUT)
    o.kerberos(DC, REALM, "udp", offset=700.0)
    assert statuses(run("AD-CLOCK-SKEW", o, other)) == {DC: Status.FAIL}


def test_clock_without_a_reply_is_skipped() -> None:
    o = kdcs(DC).kerberos(DC, REALM, "udp", outcome=Outcome.TIMEOUT)
    [finding] = run("AD-CLOCK-SKEW", o)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "AD-KDC-ANSWERS"


# --- AD-LDAP-ROOTDSE


def test_root_dse_pass() -> None:
    assert statuses(run("AD-LDAP-ROOTDSE", healthy_dc())) == {DC: Status.PASS}


def test_root_dse_of_another_domain_fails() -> None:
    o = healthy_dc().root_dse(DC, naming="DC=other,DC=example", host="dc01.other.example")
    [finding] = run("AD-LDAP-ROOTDSE", o)
    assert (finding.status, finding.reason) == (Status.FAIL, "OTHER_DOMAIN")
    assert finding.evidence["rootdse"][0]["defaultNamingContext"] == "DC=other,DC=example"


def test_root_dse_host_name_other_than_the_srv_target_fails() -> None:
    o = healthy_dc().root_dse(DC, host="dc07.corp.example")
    assert the(run("AD-LDAP-ROOTDSE", o)) == (Status.FAIL, "HOST_NAME_MISMATCH")


def test_root_dse_without_naming_context_fails() -> None:
    o = healthy_dc().root_dse(DC, naming="")
    assert the(run("AD-LDAP-ROOTDSE", o)) == (Status.FAIL, "NOT_A_DC")


def test_root_dse_of_a_configured_address_is_not_held_to_a_host_name() -> None:
    o = Observed().ad_servers(AdRole.DC, AdServer(DC, (DC,))).root_dse(DC, host="x.corp.example")
    assert statuses(run("AD-LDAP-ROOTDSE", o)) == {DC: Status.PASS}


@pytest.mark.parametrize(("outcome", "status", "reason"), [
    (Outcome.UNREACHABLE, Status.FAIL, "NO_ANSWER"), (Outcome.TIMEOUT, Status.FAIL, "NO_ANSWER"),
    (Outcome.MALFORMED, Status.ERROR, "NOT_DECIDED"),
    (Outcome.NOT_OBSERVED, Status.ERROR, "NOT_DECIDED"),
])
def test_root_dse_not_read(outcome: Outcome, status: Status, reason: str) -> None:
    o = healthy_dc().root_dse(DC, outcome=outcome, result="")
    assert the(run("AD-LDAP-ROOTDSE", o)) == (status, reason)


def test_root_dse_refused_fails() -> None:
    o = healthy_dc().root_dse(DC, result="insufficientAccessRights")
    assert the(run("AD-LDAP-ROOTDSE", o)) == (Status.FAIL, "READ_REFUSED")


# --- AD-LDAP-BIND


def test_bind_without_credentials_is_skipped_saying_why() -> None:
    [finding] = run("AD-LDAP-BIND", healthy_dc(), ad_site())
    assert (finding.status, finding.reason) == (Status.SKIPPED, "NOT_CONFIGURED")


def test_bind_pass() -> None:
    [finding] = run("AD-LDAP-BIND", healthy_dc())
    assert finding.status is Status.PASS
    assert finding.evidence["binds"][0]["password_source"] == "$AMT_BIND_PASSWORD"


def test_bind_refused_fails() -> None:
    o = healthy_dc().bind(DC, BindStage.BIND, result="invalidCredentials",
                          diagnostic="AcceptSecurityContext error, data 52e")
    [finding] = run("AD-LDAP-BIND", o)
    assert (finding.status, finding.reason) == (Status.FAIL, "BIND_REFUSED")
    assert finding.evidence["binds"][0]["result"] == "invalidCredentials"


def test_bind_password_missing_is_an_error_naming_the_variable() -> None:
    o = healthy_dc().bind(DC, BindStage.SECRET, outcome=Outcome.NOT_OBSERVED,
                          detail="bind_password_env: AMT_BIND_PASSWORD is not set")
    [finding] = run("AD-LDAP-BIND", o)
    assert (finding.status, finding.reason) == (Status.ERROR, "NO_PASSWORD")
    assert "AMT_BIND_PASSWORD" in finding.evidence["binds"][0]["detail"]  # the variable to set


def test_bind_over_untrusted_tls_is_an_error() -> None:
    o = healthy_dc().bind(DC, BindStage.STARTTLS, outcome=Outcome.MALFORMED,
                          detail="certificate verify failed")
    assert the(run("AD-LDAP-BIND", o)) == (Status.ERROR, "STARTTLS_FAILED")


def test_bind_withheld_from_a_dc_of_another_domain_is_skipped() -> None:
    o = healthy_dc().bind(DC, BindStage.WITHHELD, outcome=Outcome.NOT_OBSERVED,
                          detail="its rootDSE names DC=other,DC=example: the password was not sent")
    [finding] = run("AD-LDAP-BIND", o)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "AD-LDAP-ROOTDSE"


@pytest.mark.parametrize(("stage", "outcome", "status", "reason"), [
    (BindStage.CONNECT, Outcome.UNREACHABLE, Status.FAIL, "NO_CONNECTION"),
    (BindStage.CONNECT, Outcome.DEADLINE, Status.ERROR, "NOT_DECIDED"),
    (BindStage.BIND, Outcome.TIMEOUT, Status.FAIL, "NO_ANSWER"),
])
def test_bind_cut_short_by_the_network(stage: BindStage, outcome: Outcome, status: Status,
                                       reason: str) -> None:
    o = healthy_dc().bind(DC, stage, outcome=outcome)
    assert the(run("AD-LDAP-BIND", o)) == (status, reason)


def test_bind_not_tried_is_an_error() -> None:
    o = Observed().ad_servers(AdRole.DC, DC).root_dse(DC)
    assert the(run("AD-LDAP-BIND", o)) == (Status.ERROR, "NOT_TRIED")


# --- AD-AMT-OU


def test_amt_ou_pass() -> None:
    assert statuses(run("AD-AMT-OU", healthy_dc())) == {DC: Status.PASS}


def test_amt_ou_missing_fails_naming_the_deepest_entry() -> None:
    o = healthy_dc().bind(DC, ou_result="noSuchObject", ou_classes=(),
                          ou_matched="DC=corp,DC=example")
    [finding] = run("AD-AMT-OU", o)
    assert (finding.status, finding.reason) == (Status.FAIL, "OU_MISSING")
    assert finding.evidence["binds"][0]["ou"]["matched"] == "DC=corp,DC=example"


def test_amt_ou_unreadable_fails() -> None:
    o = healthy_dc().bind(DC, ou_result="insufficientAccessRights", ou_classes=())
    assert the(run("AD-AMT-OU", o)) == (Status.FAIL, "OU_UNREADABLE")


@pytest.mark.parametrize(("outcome", "status", "reason"), [
    (Outcome.TIMEOUT, Status.FAIL, "NO_ANSWER"), (Outcome.DEADLINE, Status.ERROR, "NOT_DECIDED")])
def test_amt_ou_read_without_an_answer(outcome: Outcome, status: Status, reason: str) -> None:
    o = healthy_dc().bind(DC, outcome=outcome, ou_result="", ou_classes=())
    assert the(run("AD-AMT-OU", o)) == (status, reason)


def test_amt_ou_not_tried_is_an_error() -> None:
    o = Observed().ad_servers(AdRole.DC, DC).root_dse(DC)
    assert the(run("AD-AMT-OU", o)) == (Status.ERROR, "NOT_TRIED")


def test_amt_ou_without_bind_is_skipped() -> None:
    o = healthy_dc().bind(DC, BindStage.BIND, result="invalidCredentials", ou_result="")
    [finding] = run("AD-AMT-OU", o)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "AD-LDAP-BIND"


@pytest.mark.parametrize("extra", [
    ", bind_user: svc-amt@corp.example, bind_password_env: AMT_BIND_PASSWORD",  # no OU
    ", amt_ou: 'OU=AMT,DC=corp,DC=example'",  # no credentials
])
def test_amt_ou_not_configured_is_skipped(extra: str) -> None:
    assert the(run("AD-AMT-OU", healthy_dc(), ad_site(extra))) == (
        Status.SKIPPED, "NOT_CONFIGURED")


# --- in the engine: one root cause shows once


def test_a_dc_of_another_domain_skips_bind_and_ou() -> None:
    cfg = config(AD.format(extra=CREDENTIALS))
    o = healthy_dc().root_dse(DC, naming="DC=other,DC=example")
    o.bind(DC, BindStage.WITHHELD, outcome=Outcome.NOT_OBSERVED, detail="not sent")
    specs = [spec(i) for i in ("AD-LDAP-ROOTDSE", "AD-LDAP-BIND", "AD-AMT-OU")]
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    _, results = engine.evaluate(cfg, cfg.sites, specs, engine.Gathered(o.obs), False, now)
    assert [(r.check, r.status, r.reason) for r in results] == [
        ("AD-LDAP-ROOTDSE", Status.FAIL, "OTHER_DOMAIN"),
        ("AD-LDAP-BIND", Status.SKIPPED, "PREREQUISITE"),
        ("AD-AMT-OU", Status.SKIPPED, "PREREQUISITE")]
    assert [r.evidence["prerequisite"] for r in results[1:]] == [
        "AD-LDAP-ROOTDSE", "AD-LDAP-BIND"]


def evaluate(o: Observed, checks: tuple[str, ...], extra: str = CREDENTIALS
             ) -> dict[tuple[str, str], tuple[Status, str | None]]:
    cfg = config(AD.format(extra=extra))
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    _, results = engine.evaluate(cfg, cfg.sites, [spec(i) for i in checks],
                                 engine.Gathered(o.obs), False, now)
    return {(r.check, r.target): (r.status, r.reason) for r in results}


KERBEROS_CHECKS = ("AD-KDC-ANSWERS", "AD-REALM-MATCH", "AD-CLOCK-SKEW")


def test_a_kdc_silent_over_udp_is_still_judged_for_its_realm_and_clock() -> None:
    """Only what the checks could not judge rests on AD-KDC-ANSWERS: a KDC that answers over
    TCP alone shows its realm and clock there."""
    o = healthy_kdc(kdcs(DC, DC2), offset=900.0).kerberos(DC, REALM, "udp",
                                                         outcome=Outcome.UNREACHABLE)
    for transport in ("udp", "tcp"):
        o.kerberos(DC2, REALM, transport, outcome=Outcome.TIMEOUT)
    assert evaluate(o, KERBEROS_CHECKS) == {
        ("AD-KDC-ANSWERS", DC): (Status.FAIL, "NO_ANSWER"),
        ("AD-KDC-ANSWERS", DC2): (Status.FAIL, "NO_ANSWER"),
        ("AD-REALM-MATCH", DC): (Status.PASS, None),
        ("AD-REALM-MATCH", DC2): (Status.SKIPPED, "PREREQUISITE"),
        ("AD-CLOCK-SKEW", DC): (Status.FAIL, "CLOCK_SKEW"),
        ("AD-CLOCK-SKEW", DC2): (Status.SKIPPED, "PREREQUISITE"),
    }


def test_no_kdc_in_the_srv_records_shows_once_as_dns_ad_srv() -> None:
    o = Observed().ad_servers(AdRole.KDC, source="SRV _kerberos._tcp.corp.example")
    for prefix in ("_ldap._tcp.dc._msdcs", "_kerberos._tcp", "_kerberos._udp", "_kpasswd._tcp"):
        for resolver in ("10.250.0.1", "10.250.0.2"):
            o.answer(resolver, f"{prefix}.corp.example", "SRV", rcode="NXDOMAIN")
    got = evaluate(o, ("DNS-AD-SRV", *KERBEROS_CHECKS))
    assert got.pop(("DNS-AD-SRV", "corp.example")) == (Status.FAIL, "SRV_MISSING")
    assert got == {(c, NO_TARGET): (Status.SKIPPED, "PREREQUISITE") for c in KERBEROS_CHECKS}


# --- AD-LDAP-BIND: where the password may go (CHECKS.md), on hand-made observations

ROGUE = "10.250.0.66"
ALLOWED = "10.250.0.1"
SRV_DC = AdServer(DC, (DC,), ("dc01.corp.example",))  # found through the _ldap SRV record
DSE = RootDse(DC, Outcome.ANSWER, result="success", default_naming_context="DC=corp,DC=example",
              dns_host_name="dc01.corp.example")
CONFIGURED = ResolverSet((ALLOWED,), "config")


def ad_config(extra: str = "") -> AdConfig:
    found = ad_site(CREDENTIALS + extra).ad
    assert found is not None
    return found


def dhcp_resolvers(allowed: list[str], *answers: DhcpAnswer) -> ResolverSet:
    """The site's resolvers as Need.SITE_RESOLVERS takes them from DHCP option 6."""
    survey = DhcpSurvey("lab0", CLIENT_MAC, 5.0, answers=answers)
    return ResolverSet(option6_of(survey, allowed), DHCP_OPTION6, option6_trust(survey, allowed))


def names(server: AdServer = SRV_DC, dse: RootDse = DSE, resolvers: ResolverSet = CONFIGURED,
          extra: str = "") -> tuple[tuple[str, ...], str]:
    return password_names(ad_config(extra), server, server.addresses[0], dse, resolvers)


def test_an_srv_target_inside_the_domain_gets_the_password() -> None:
    assert names() == (("dc01.corp.example",), "")


def test_option6_of_an_allowed_server_is_trusted() -> None:
    resolvers = dhcp_resolvers([ALLOWED], dhcp_answer(ROGUE, option6=[ROGUE]),
                               dhcp_answer(ALLOWED, option6=[ALLOWED]))
    assert (resolvers.addresses, resolvers.trust) == ((ALLOWED,), ResolverTrust.TRUSTED)
    assert names(resolvers=resolvers) == (("dc01.corp.example",), "")


def test_no_password_via_resolvers_only_a_rogue_dhcp_server_handed_out() -> None:
    """trusted_answers() falls back to the rogue's answer when no allowed server answered:
    its resolvers are used for DNS, but the password goes nowhere they point."""
    resolvers = dhcp_resolvers([ALLOWED], dhcp_answer(ROGUE, option6=[ROGUE]))
    assert (resolvers.addresses, resolvers.trust) == ((ROGUE,), ResolverTrust.ROGUE)
    sent_to, why = names(resolvers=resolvers)
    assert sent_to == ()
    assert all(key in why for key in ("DHCP-SERVER-ALLOWED", "dhcp.allowed_servers",
                                      "resolvers", "ad.kdcs"))


def test_no_password_via_dhcp_resolvers_while_allowed_servers_is_empty() -> None:
    resolvers = dhcp_resolvers([], dhcp_answer(ALLOWED, option6=[ALLOWED]))
    assert resolvers.trust is ResolverTrust.UNCHECKED
    sent_to, why = names(resolvers=resolvers)
    assert sent_to == () and "dhcp.allowed_servers is empty" in why


def test_no_password_to_an_srv_target_outside_the_domain() -> None:
    """The H1 lure: the rootDSE shows the domain, the name is the attacker's own."""
    lure = AdServer(DC, (DC,), ("dc.attacker.example",))
    dse = RootDse(DC, Outcome.ANSWER, result="success",
                  default_naming_context="DC=corp,DC=example", dns_host_name="dc.attacker.example")
    sent_to, why = names(lure, dse)
    assert sent_to == () and "dc.attacker.example" in why and "ad.kdcs" in why


def test_a_dns_host_name_outside_the_domain_is_no_name_to_verify() -> None:
    dse = RootDse(DC, Outcome.ANSWER, default_naming_context="DC=corp,DC=example",
                  dns_host_name="dc.attacker.example")
    assert names(dse=dse) == (("dc01.corp.example",), "")


@pytest.mark.parametrize("host_names", [(), (DC,), ("10.250.0.99",)])
def test_no_password_to_a_bare_address_that_is_not_configured(
    host_names: tuple[str, ...]
) -> None:
    """An SRV target that is an address (or none) names nothing the certificate could be
    verified for: the address itself is used only when ad.kdcs lists it."""
    bare = AdServer(DC, (DC,), host_names)
    sent_to, why = names(bare, RootDse(DC, Outcome.ANSWER))
    assert sent_to == () and "ad.kdcs" in why


@pytest.mark.parametrize("trust", list(ResolverTrust))
def test_an_address_configured_in_kdcs_gets_the_password_whatever_the_resolvers(
    trust: ResolverTrust
) -> None:
    configured = AdServer(DC, (DC,))
    resolvers = ResolverSet((ROGUE,), DHCP_OPTION6, trust)
    assert names(configured, DSE, resolvers, f", kdcs: [{DC}]") == (
        (DC, "dc01.corp.example"), "")


def test_a_name_configured_in_kdcs_is_verified_even_outside_the_domain() -> None:
    """A configured name is the user's own choice; found through DHCP-given resolvers, its
    address is not."""
    named = AdServer("dc9.branch.example", (DC,), ("dc9.branch.example",))
    extra = ", kdcs: [dc9.branch.example]"
    assert names(named, RootDse(DC, Outcome.ANSWER), extra=extra) == (
        ("dc9.branch.example",), "")
    rogue = ResolverSet((ROGUE,), DHCP_OPTION6, ResolverTrust.ROGUE)
    assert names(named, RootDse(DC, Outcome.ANSWER), rogue, extra)[0] == ()


def test_bind_withheld_as_unsafe_is_an_error_naming_the_key_to_set() -> None:
    _, why = names(resolvers=dhcp_resolvers([], dhcp_answer(option6=[ALLOWED])))
    o = healthy_dc().bind(DC, BindStage.UNSAFE, outcome=Outcome.NOT_OBSERVED, detail=why)
    [finding] = run("AD-LDAP-BIND", o)
    assert (finding.status, finding.reason) == (Status.ERROR, "UNSAFE_TO_SEND")
    assert "dhcp.allowed_servers" in finding.evidence["binds"][0]["detail"]  # the key to set
    assert the(run("AD-AMT-OU", o)) == (Status.SKIPPED, "PREREQUISITE")


class Surveyed:
    """A stand-in DHCP probe whose survey got these answers."""

    def __init__(self, *answers: DhcpAnswer) -> None:
        self.answers = answers

    async def survey(self, interface: str, window: float) -> DhcpSurvey:
        return DhcpSurvey(interface, CLIENT_MAC, window, answers=self.answers)


@pytest.mark.parametrize(("dhcp", "answers", "resolvers", "trust"), [
    ("", [(ALLOWED, ALLOWED)], "", ResolverTrust.UNCHECKED),
    (f"allowed_servers: [{ALLOWED}]", [(ROGUE, ROGUE)], "", ResolverTrust.ROGUE),
    (f"allowed_servers: [{ALLOWED}]", [(ROGUE, ROGUE), (ALLOWED, ALLOWED)], "",
     ResolverTrust.TRUSTED),
    ("", [(ROGUE, ROGUE)], f"resolvers: [{ALLOWED}]", ResolverTrust.TRUSTED),
])
def test_resolver_discovery_records_whom_the_sites_resolvers_came_from(
    dhcp: str, answers: list[tuple[str, str]], resolvers: str, trust: ResolverTrust,
    tmp_path: Path
) -> None:
    text = f"""
sites:
  - name: hq
    interface: lab0
    {resolvers}
    dhcp: {{{dhcp}}}
    ad: {{domain: corp.example}}
"""
    stand_in = Surveyed(*(dhcp_answer(server, option6=[dns]) for server, dns in answers))
    ctx = SiteProbes(cast(Any, None), site(text), Observations(), cast(Any, None),
                     ResolverSet((), "not known yet"), False, OncePerRun(),
                     cast(Any, stand_in), tmp_path / "resolv.conf")
    asyncio.run(gather_site_resolvers(ctx))
    assert ctx.observations.resolvers["hq"].trust is trust


# --- same_dn: untrusted text from a DC, compared in linear time


@pytest.mark.parametrize(("a", "b", "same"), [
    ("DC=corp,DC=example", "dc=CORP,dc=Example", True),
    (" DC = corp ,\tDC=example ", "DC=corp,DC=example", True),
    ("DC=corp,DC=example,", "DC=corp,DC=example", False),
    ("DC=co rp,DC=example", "DC=corp,DC=example", False),
    ("DC=corp" + " " * 1_000_000 + "x", "DC=corp,DC=example", False),  # was minutes
])
def test_same_dn(a: str, b: str, same: bool) -> None:
    assert same_dn(a, b) is same

