"""DNS checks on hand-made observations: each passes and fails where it should."""

from __future__ import annotations

from amt_preflight.checks import spec
from amt_preflight.model import NO_TARGET, Finding, Status
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import ProvisionResolvers

from .observed import R1, R2, Observed, reasons, site, statuses

SITE = site("""
sites:
  - name: hq
    resolvers: [10.250.0.1, 10.250.0.2]
    ad: {domain: corp.example}
    domains:
      - {name: corp.example, provision_server: [10.250.0.10]}
""")
PS = "ProvisionServer.corp.example"


def run(check_id: str, observed: Observed, site_config=SITE) -> list[Finding]:  # type: ignore[no-untyped-def]
    return list(spec(check_id).judge(site_config, observed.view()))


def healthy() -> Observed:
    o = Observed()
    for r in (R1, R2):
        o.answer(r, PS, "A", ["10.250.0.10"])
        o.answer(r, PS, "A", ["10.250.0.10"], transport="tcp")
        o.answer(r, "10.0.250.10.in-addr.arpa", "PTR", ["provisionserver.corp.example."])
    return o


# --- DNS-RESOLVER-ANSWERS


def test_resolver_answers_pass_with_any_rcode() -> None:
    o = healthy()
    o.answer(R2, PS, "A", rcode="NXDOMAIN")
    assert statuses(run("DNS-RESOLVER-ANSWERS", o)) == {R1: Status.PASS, R2: Status.PASS}


def test_resolver_silent_over_tcp_fails() -> None:
    o = healthy().silent(R2, PS, "A", transport="tcp")
    findings = run("DNS-RESOLVER-ANSWERS", o)
    assert statuses(findings) == {R1: Status.PASS, R2: Status.FAIL}
    assert reasons(findings) == {R1: None, R2: "RESOLVER_SILENT"}
    assert findings[1].evidence["answers"]  # says which transport said what


def test_resolver_garbage_fails_and_unrefused_unreachable_fails() -> None:
    o = healthy().silent(R1, PS, "A", outcome=Outcome.MALFORMED)
    o.silent(R2, PS, "A", outcome=Outcome.UNREACHABLE)
    assert statuses(run("DNS-RESOLVER-ANSWERS", o)) == {R1: Status.FAIL, R2: Status.FAIL}


def test_resolver_cut_by_deadline_is_an_error() -> None:
    o = healthy().silent(R1, PS, "A", outcome=Outcome.DEADLINE)
    assert statuses(run("DNS-RESOLVER-ANSWERS", o))[R1] is Status.ERROR
    assert reasons(run("DNS-RESOLVER-ANSWERS", o))[R1] == "NOT_DECIDED"


def test_no_resolver_at_all_is_an_error() -> None:
    o = Observed(resolvers=())
    assert statuses(run("DNS-RESOLVER-ANSWERS", o)) == {NO_TARGET: Status.ERROR}
    assert reasons(run("DNS-RESOLVER-ANSWERS", o)) == {NO_TARGET: "NO_RESOLVER"}


# --- DNS-PROVSERVER-A


def test_provserver_a_pass() -> None:
    assert statuses(run("DNS-PROVSERVER-A", healthy())) == {"corp.example": Status.PASS}


def test_provserver_a_nxdomain_at_one_resolver_fails_naming_it() -> None:
    o = healthy().answer(R2, PS, "A", rcode="NXDOMAIN")
    [finding] = run("DNS-PROVSERVER-A", o)
    assert (finding.status, finding.reason) == (Status.FAIL, "NO_RECORD")
    said = {a["resolver"]: a.get("rcode") for a in finding.evidence["answers"]}
    assert said[R2] == "NXDOMAIN"


def test_provserver_a_nodata_fails() -> None:
    o = healthy().answer(R1, PS, "A", []).answer(R2, PS, "A", [])
    assert statuses(run("DNS-PROVSERVER-A", o)) == {"corp.example": Status.FAIL}


def test_provserver_a_judges_only_answering_resolvers() -> None:
    o = healthy().silent(R2, PS, "A")
    assert statuses(run("DNS-PROVSERVER-A", o)) == {"corp.example": Status.PASS}


def test_provserver_a_no_resolver_answered_is_error() -> None:
    o = healthy().silent(R1, PS, "A").silent(R2, PS, "A")
    assert statuses(run("DNS-PROVSERVER-A", o)) == {"corp.example": Status.ERROR}
    assert reasons(run("DNS-PROVSERVER-A", o)) == {"corp.example": "NO_RESOLVER_ANSWERED"}


# --- DNS-PROVSERVER-MATCH


def test_match_pass() -> None:
    assert statuses(run("DNS-PROVSERVER-MATCH", healthy())) == {"corp.example": Status.PASS}


def test_match_stray_address_fails() -> None:
    o = healthy().answer(R1, PS, "A", ["10.250.0.10", "10.250.0.66"])
    [finding] = run("DNS-PROVSERVER-MATCH", o)
    assert (finding.status, finding.reason) == (Status.FAIL, "STRAY_ADDRESS")
    assert finding.evidence["unexpected"] == {R1: ["10.250.0.66"]}


def test_match_wrong_address_fails() -> None:
    o = healthy().answer(R1, PS, "A", ["10.250.0.99"]).answer(R2, PS, "A", ["10.250.0.99"])
    assert statuses(run("DNS-PROVSERVER-MATCH", o)) == {"corp.example": Status.FAIL}


def test_a_stale_record_at_a_resolver_dhcp_hands_to_devices_fails_match() -> None:
    """The configured resolvers are right; the one devices get from option 6 is not."""
    o = healthy().answer("10.250.18.7", PS, "A", ["10.250.0.66"])
    o.obs.record(ProvisionResolvers((
        (R1, "site resolver (config)"), (R2, "site resolver (config)"),
        ("10.250.18.7", "DHCP option 6 from 10.250.18.1"))), "hq")
    [finding] = run("DNS-PROVSERVER-MATCH", o)
    assert finding.status is Status.FAIL
    assert finding.evidence["unexpected"] == {"10.250.18.7": ["10.250.0.66"]}
    assert finding.evidence["resolver_sources"]["10.250.18.7"].startswith("DHCP option 6")
    assert finding.reason == "STRAY_ADDRESS"
    assert run("DNS-PROVSERVER-CONSISTENT", o)[0].status is Status.FAIL


def test_match_without_configured_server_is_skipped() -> None:
    bare = site("sites: [{name: hq, resolvers: [10.250.0.1], domains: [{name: corp.example}]}]")
    assert statuses(run("DNS-PROVSERVER-MATCH", healthy(), bare)) == {
        "corp.example": Status.SKIPPED}
    assert reasons(run("DNS-PROVSERVER-MATCH", healthy(), bare)) == {
        "corp.example": "NOT_CONFIGURED"}


# --- DNS-PROVSERVER-CONSISTENT


def test_consistent_pass_ignores_order() -> None:
    o = healthy().answer(R1, PS, "A", ["10.250.0.10", "10.250.0.11"])
    o.answer(R2, PS, "A", ["10.250.0.11", "10.250.0.10"])
    assert statuses(run("DNS-PROVSERVER-CONSISTENT", o)) == {"corp.example": Status.PASS}


def test_consistent_split_brain_fails() -> None:
    o = healthy().answer(R2, PS, "A", ["10.250.0.11"])
    assert statuses(run("DNS-PROVSERVER-CONSISTENT", o)) == {"corp.example": Status.FAIL}
    assert reasons(run("DNS-PROVSERVER-CONSISTENT", o)) == {
        "corp.example": "RESOLVERS_DISAGREE"}


def test_consistent_stale_secondary_nxdomain_fails() -> None:
    o = healthy().answer(R2, PS, "A", rcode="NXDOMAIN")
    assert statuses(run("DNS-PROVSERVER-CONSISTENT", o)) == {"corp.example": Status.FAIL}


def test_consistent_single_resolver_is_skipped() -> None:
    one = site("sites: [{name: hq, resolvers: [10.250.0.1], domains: [{name: corp.example}]}]")
    o = Observed(resolvers=[R1]).answer(R1, PS, "A", ["10.250.0.10"])
    assert statuses(run("DNS-PROVSERVER-CONSISTENT", o, one)) == {
        "corp.example": Status.SKIPPED}
    assert reasons(run("DNS-PROVSERVER-CONSISTENT", o, one)) == {"corp.example": "ONE_RESOLVER"}


def test_consistent_with_one_answering_resolver_is_skipped() -> None:
    o = healthy().silent(R2, PS, "A")
    assert reasons(run("DNS-PROVSERVER-CONSISTENT", o)) == {"corp.example": "TOO_FEW_ANSWERED"}


# --- DNS-PROVSERVER-PTR


def test_ptr_pass() -> None:
    assert statuses(run("DNS-PROVSERVER-PTR", healthy())) == {"corp.example": Status.PASS}


def test_ptr_outside_domain_fails() -> None:
    o = healthy().answer(R2, "10.0.250.10.in-addr.arpa", "PTR", ["host.elsewhere.example."])
    assert statuses(run("DNS-PROVSERVER-PTR", o)) == {"corp.example": Status.FAIL}
    assert reasons(run("DNS-PROVSERVER-PTR", o)) == {"corp.example": "PTR_OUTSIDE_DOMAIN"}


def test_ptr_missing_fails() -> None:
    o = healthy().answer(R1, "10.0.250.10.in-addr.arpa", "PTR", rcode="NXDOMAIN")
    assert statuses(run("DNS-PROVSERVER-PTR", o)) == {"corp.example": Status.FAIL}


def test_ptr_unanswered_is_error() -> None:
    o = healthy().silent(R1, "10.0.250.10.in-addr.arpa", "PTR")
    o.silent(R2, "10.0.250.10.in-addr.arpa", "PTR")
    assert statuses(run("DNS-PROVSERVER-PTR", o)) == {"corp.example": Status.ERROR}
    assert reasons(run("DNS-PROVSERVER-PTR", o)) == {"corp.example": "NO_RESOLVER_ANSWERED"}


def test_ptr_without_an_address_waits_for_provserver_a() -> None:
    o = Observed().answer(R1, PS, "A", rcode="NXDOMAIN").answer(R2, PS, "A", rcode="NXDOMAIN")
    [finding] = run("DNS-PROVSERVER-PTR", o)
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "DNS-PROVSERVER-A"


# --- DNS-AD-SRV

SRV = {
    "_ldap._tcp.dc._msdcs.corp.example": "0 100 389 dc01.corp.example.",
    "_kerberos._tcp.corp.example": "0 100 88 dc01.corp.example.",
    "_kerberos._udp.corp.example": "0 100 88 dc01.corp.example.",
    "_kpasswd._tcp.corp.example": "0 100 464 dc01.corp.example.",
}


def ad_healthy() -> Observed:
    o = Observed()
    for r in (R1, R2):
        for name, value in SRV.items():
            o.answer(r, name, "SRV", [value])
        o.answer(r, "dc01.corp.example", "A", ["10.250.0.20"])
    return o


def test_ad_srv_pass() -> None:
    assert statuses(run("DNS-AD-SRV", ad_healthy())) == {"corp.example": Status.PASS}


def test_ad_srv_missing_record_fails() -> None:
    o = ad_healthy().answer(R2, "_kpasswd._tcp.corp.example", "SRV", rcode="NXDOMAIN")
    [finding] = run("DNS-AD-SRV", o)
    assert (finding.status, finding.reason) == (Status.FAIL, "SRV_MISSING")


def test_ad_srv_target_without_address_fails() -> None:
    o = ad_healthy().answer(R1, "dc01.corp.example", "A", rcode="NXDOMAIN")
    assert statuses(run("DNS-AD-SRV", o)) == {"corp.example": Status.FAIL}


def test_ad_srv_dot_target_fails() -> None:
    o = ad_healthy().answer(R1, "_kerberos._udp.corp.example", "SRV", ["0 0 0 ."])
    assert statuses(run("DNS-AD-SRV", o)) == {"corp.example": Status.FAIL}


def test_ad_srv_without_ad_is_skipped() -> None:
    bare = site("sites: [{name: hq, resolvers: [10.250.0.1]}]")
    assert reasons(run("DNS-AD-SRV", ad_healthy(), bare)) == {NO_TARGET: "NOT_CONFIGURED"}


def test_ad_srv_partly_unanswered_is_an_error() -> None:
    o = ad_healthy().silent(R2, "_kpasswd._tcp.corp.example", "SRV")
    [finding] = run("DNS-AD-SRV", o)
    assert (finding.status, finding.reason) == (Status.ERROR, "PARTLY_ANSWERED")


# --- DNS-DYNUPDATE-OPEN


def test_dynupdate_refused_passes() -> None:
    o = Observed().update("corp.example", "REFUSED")
    assert statuses(run("DNS-DYNUPDATE-OPEN", o)) == {"corp.example": Status.PASS}


def test_dynupdate_accepted_fails() -> None:
    o = Observed().update("corp.example", "NOERROR")
    [finding] = run("DNS-DYNUPDATE-OPEN", o)
    assert finding.status is Status.FAIL and finding.evidence["cleanup"] == "deleted"
    assert finding.reason == "UPDATE_ACCEPTED"


def test_dynupdate_silent_server_is_error() -> None:
    o = Observed().update("corp.example", None, outcome=Outcome.TIMEOUT)
    assert reasons(run("DNS-DYNUPDATE-OPEN", o)) == {"corp.example": "UPDATE_UNANSWERED"}
    assert reasons(run("DNS-DYNUPDATE-OPEN", Observed())) == {"corp.example": "NOT_TRIED"}


def test_dynupdate_reports_each_zone_once() -> None:
    two = site("""
sites:
  - name: hq
    resolvers: [10.250.0.1]
    domains: [{name: a.corp.example}, {name: b.corp.example}]
""")
    o = Observed().update("a.corp.example", "REFUSED", zone="corp.example")
    o.update("b.corp.example", "REFUSED", zone="corp.example")
    assert [f.target for f in run("DNS-DYNUPDATE-OPEN", o, two)] == ["corp.example"]
