"""DHCP checks on hand-made observations: each passes and fails where it should, with its
reason tag."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from amt_preflight import engine
from amt_preflight.checks import dhcp as dhcp_checks
from amt_preflight.checks import spec
from amt_preflight.config import SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Severity, Status
from amt_preflight.observations.cert import CertificateBundle, LoadOutcome
from amt_preflight.pki import facts

from .observed import CORP, R1, R2, Observed, config, dhcp_answer, reasons, site, statuses, the

SITE_TEXT = """
sites:
  - name: hq
    interface: lab0
    resolvers: [10.250.0.1, 10.250.0.2]
    dhcp: {allowed_servers: [10.250.0.1]}
    domains:
      - {name: corp.example, provision_server: [10.250.0.10]}
"""
SITE = site(SITE_TEXT)
ROGUE = "10.250.0.66"
PS = "ProvisionServer.corp.example"
NEEDS_ROOT = "the DHCP probe needs root (CAP_NET_RAW) to send and receive raw DHCP packets"


def run(check_id: str, observed: Observed, site_config: SiteConfig = SITE) -> list[Finding]:
    """The check's findings, each reason tag checked against its metadata."""
    return spec(check_id).judge(site_config, observed.view())


def healthy(*more: Any) -> Observed:
    """dnsmasq-like: an OFFER to the DISCOVER and an ACK to the INFORM, both complete."""
    return Observed().dhcp(dhcp_answer(), dhcp_answer(message="ACK", answering="INFORM"),
                           *more, allowed=[R1])


def with_site(text: str) -> SiteConfig:
    return site("sites:\n  - name: hq\n    interface: lab0\n" + text)


PER_SERVER = ["DHCP-SERVER-ALLOWED", "DHCP-OPT15-PRESENT", "DHCP-OPT15-MATCH",
              "DHCP-OPT15-CLEAN", "DHCP-OPT6-DNS"]
PER_INTERFACE = ["DHCP-SERVER-ANSWERS", "DHCP-OPT81-ACCEPTED"]


# --- what every DHCP check does without a usable survey


@pytest.mark.parametrize("check_id", PER_INTERFACE + PER_SERVER)
def test_probe_without_root_is_an_error_saying_so(check_id: str) -> None:
    error = f"{NEEDS_ROOT} on lab0; run amt-preflight as root"
    [finding] = run(check_id, Observed().dhcp(error=error))
    assert (finding.status, finding.reason) == (Status.ERROR, "PROBE_FAILED")
    assert finding.evidence["error"] == error


@pytest.mark.parametrize("check_id", [*PER_INTERFACE, *PER_SERVER, "DHCP-OPT81-REGISTERS"])
def test_no_interface_configured_skips(check_id: str) -> None:
    no_interface = site("sites: [{name: hq, domains: [{name: corp.example}]}]")
    assert statuses(run(check_id, Observed(), no_interface)) == {NO_TARGET: Status.SKIPPED}
    assert reasons(run(check_id, Observed(), no_interface)) == {NO_TARGET: "NOT_CONFIGURED"}


@pytest.mark.parametrize("check_id", PER_INTERFACE + PER_SERVER)
def test_survey_cut_by_the_deadline_is_an_error(check_id: str) -> None:
    assert the(run(check_id, Observed())) == (Status.ERROR, "NOT_DECIDED")


@pytest.mark.parametrize("check_id", [*PER_SERVER, "DHCP-OPT81-ACCEPTED"])
def test_no_answer_skips_the_checks_of_answers(check_id: str) -> None:
    [finding] = run(check_id, Observed().dhcp())
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "DHCP-SERVER-ANSWERS"


# --- DHCP-SERVER-ANSWERS


def test_server_answers_pass_and_fail() -> None:
    assert statuses(run("DHCP-SERVER-ANSWERS", healthy())) == {"lab0": Status.PASS}
    [finding] = run("DHCP-SERVER-ANSWERS", Observed().dhcp())
    assert (finding.target, finding.status, finding.reason) == ("lab0", Status.FAIL, "NO_ANSWER")
    assert finding.evidence["sent"]  # what was sent is in the evidence


def test_server_answers_lists_every_server_in_evidence() -> None:
    [finding] = run("DHCP-SERVER-ANSWERS", healthy(dhcp_answer(ROGUE)))
    assert set(finding.evidence["servers"]) == {R1, ROGUE}


# --- DHCP-SERVER-ALLOWED


def test_each_server_is_reported_on_its_own_and_a_rogue_fails() -> None:
    findings = run("DHCP-SERVER-ALLOWED", healthy(dhcp_answer(ROGUE, option15=b"evil.example")))
    assert statuses(findings) == {R1: Status.PASS, ROGUE: Status.FAIL}
    assert reasons(findings) == {R1: None, ROGUE: "ROGUE_SERVER"}
    rogue = next(f for f in findings if f.target == ROGUE)
    answers = rogue.evidence["dhcp_server"]["answers"]
    assert answers[0]["source_mac"] and any(o["code"] == 15 for o in answers[0]["options"])


def test_a_rogue_claiming_an_allowed_server_identifier_fails_by_its_source() -> None:
    spoof = dhcp_answer(R1, source=ROGUE)
    findings = run("DHCP-SERVER-ALLOWED", Observed().dhcp(spoof, allowed=[R1]))
    assert reasons(findings) == {R1: "ROGUE_SERVER"}
    assert findings[0].evidence["dhcp_server"]["answers"][0]["source"] == ROGUE


def test_no_server_identifier_fails() -> None:
    findings = run("DHCP-SERVER-ALLOWED", Observed().dhcp(dhcp_answer(server_id=False)))
    assert statuses(findings) == {R1: Status.FAIL}
    assert reasons(findings) == {R1: "ROGUE_SERVER"}


def test_a_relayed_answer_is_judged_by_its_server_identifier() -> None:
    relayed = dhcp_answer(R1, source="10.250.0.254", giaddr="10.250.0.254")
    assert statuses(run("DHCP-SERVER-ALLOWED", Observed().dhcp(relayed))) == {R1: Status.PASS}


def test_no_allowed_servers_configured_skips_each_server() -> None:
    open_site = with_site("    domains: [{name: corp.example}]\n")
    findings = run("DHCP-SERVER-ALLOWED", healthy(dhcp_answer(ROGUE)), open_site)
    assert statuses(findings) == {R1: Status.SKIPPED, ROGUE: Status.SKIPPED}
    assert set(reasons(findings).values()) == {"NOT_CONFIGURED"}


# --- DHCP-OPT15-PRESENT


def test_option15_present_pass_and_fail_per_server() -> None:
    o = healthy(dhcp_answer(ROGUE, option15=None))
    assert statuses(run("DHCP-OPT15-PRESENT", o)) == {R1: Status.PASS, ROGUE: Status.FAIL}
    assert reasons(run("DHCP-OPT15-PRESENT", o)) == {R1: None, ROGUE: "OPT15_MISSING"}


def test_option15_missing_from_the_inform_answer_fails() -> None:
    o = Observed().dhcp(dhcp_answer(), dhcp_answer(message="ACK", answering="INFORM",
                                                   option15=None))
    assert the(run("DHCP-OPT15-PRESENT", o)) == (Status.FAIL, "OPT15_MISSING")


# --- DHCP-OPT15-MATCH


@pytest.mark.parametrize("value", [CORP, b"CORP.Example", b"corp.example."])
def test_option15_match_is_case_insensitive_and_drops_one_trailing_dot(value: bytes) -> None:
    o = Observed().dhcp(dhcp_answer(option15=value))
    assert statuses(run("DHCP-OPT15-MATCH", o)) == {R1: Status.PASS}


@pytest.mark.parametrize("value", [b"wrong.example", b"corp.example\x00", b"corp.example ",
                                   b"corp.example..", b"example"])
def test_option15_match_fails_on_another_name(value: bytes) -> None:
    o = Observed().dhcp(dhcp_answer(option15=value))
    assert the(run("DHCP-OPT15-MATCH", o)) == (Status.FAIL, "OPT15_NOT_SITE_DOMAIN")


def test_servers_that_disagree_both_fail() -> None:
    o = healthy(dhcp_answer(ROGUE, option15=b"branch.example"))
    two_domains = with_site("    domains: [{name: corp.example}, {name: branch.example}]\n")
    findings = run("DHCP-OPT15-MATCH", o, two_domains)
    assert statuses(findings) == {R1: Status.FAIL, ROGUE: Status.FAIL}
    assert set(reasons(findings).values()) == {"OPT15_SERVERS_DISAGREE"}


def test_a_wrong_domain_that_also_disagrees_is_tagged_by_the_worse() -> None:
    findings = run("DHCP-OPT15-MATCH", healthy(dhcp_answer(ROGUE, option15=b"evil.example")))
    assert reasons(findings) == {R1: "OPT15_SERVERS_DISAGREE", ROGUE: "OPT15_NOT_SITE_DOMAIN"}
    rogue = next(f for f in findings if f.target == ROGUE)
    assert rogue.evidence["reasons"] == ["OPT15_NOT_SITE_DOMAIN", "OPT15_SERVERS_DISAGREE"]


def test_without_a_domain_configured_only_agreement_is_judged() -> None:
    no_domain = with_site("    dhcp: {allowed_servers: [10.250.0.1]}\n")
    assert statuses(run("DHCP-OPT15-MATCH", healthy(), no_domain)) == {R1: Status.PASS}
    disagree = healthy(dhcp_answer(ROGUE, option15=b"other.example"))
    assert set(reasons(run("DHCP-OPT15-MATCH", disagree, no_domain)).values()) == {
        "OPT15_SERVERS_DISAGREE"}


def test_a_server_without_option15_is_skipped_for_match_and_clean() -> None:
    o = healthy(dhcp_answer(ROGUE, option15=None))
    for check_id in ("DHCP-OPT15-MATCH", "DHCP-OPT15-CLEAN"):
        rogue = next(f for f in run(check_id, o) if f.target == ROGUE)
        assert (rogue.status, rogue.reason) == (Status.SKIPPED, "PREREQUISITE")
        assert rogue.evidence["prerequisite"] == "DHCP-OPT15-PRESENT"


# --- DHCP-OPT15-CLEAN


def test_option15_clean_pass() -> None:
    [finding] = run("DHCP-OPT15-CLEAN", healthy())
    assert finding.status is Status.PASS and finding.evidence["option15"][0]["problems"] == []


@pytest.mark.parametrize(("value", "reason", "problem"), [
    (b"corp.example.", "OPT15_TRAILING_DOT", "trailing dot"),
    (b"corp.example ", "OPT15_WHITESPACE", "white space 0x20 at offset 12"),
    (b"corp\texample", "OPT15_WHITESPACE", "white space 0x09 at offset 4"),
    (b"corp.example\x00", "OPT15_NUL", "NUL at offset 12"),
    (b"corp.ex\x00ample", "OPT15_NUL", "NUL at offset 7"),
    (b"corp.ex\x1bample", "OPT15_NON_PRINTABLE", "non-printable byte 0x1b at offset 7"),
    (b"corp.ex\xe4mple", "OPT15_NON_PRINTABLE", "non-printable byte 0xe4 at offset 7"),
])
def test_option15_hidden_characters_fail_shown_as_hex(value: bytes, reason: str,
                                                      problem: str) -> None:
    [finding] = run("DHCP-OPT15-CLEAN", Observed().dhcp(dhcp_answer(option15=value)))
    assert (finding.status, finding.reason) == (Status.FAIL, reason)
    assert finding.evidence["reasons"] == [reason]
    [judged] = finding.evidence["option15"]
    assert problem in judged["problems"] and judged["hex"] == value.hex()


def test_option15_with_several_problems_is_tagged_by_the_worst_and_lists_all() -> None:
    [finding] = run("DHCP-OPT15-CLEAN", Observed().dhcp(dhcp_answer(option15=b"corp .ex\x00.")))
    assert (finding.status, finding.reason) == (Status.FAIL, "OPT15_NUL")
    assert finding.evidence["reasons"] == ["OPT15_NUL", "OPT15_WHITESPACE", "OPT15_TRAILING_DOT"]


def test_option15_problem_is_low_while_a_mebx_suffix_is_set() -> None:
    mebx = with_site("    amt: {pki_dns_suffix: corp.example}\n"
                     "    domains: [{name: corp.example}]\n")
    [finding] = run("DHCP-OPT15-CLEAN", Observed().dhcp(dhcp_answer(option15=b"corp.example.")),
                    mebx)
    assert (finding.reason, finding.severity) == ("OPT15_TRAILING_DOT", Severity.LOW)


LOCAL_SITE = """    domains:
      - name: corp.local
        certificate: {file: certs/corp.pem}
"""


def _with_root(observed: Observed, root: Path, domain: str = "corp.local") -> Observed:
    """The domain's certificate file, as read: here only its root, which is what counts."""
    found = facts(x509.load_pem_x509_certificate(root.read_bytes()))
    observed.obs.record(CertificateBundle(
        domain, "certs/corp.pem", LoadOutcome.LOADED, certificates=(found,), leaf=0),
        observed.site_name)
    return observed


PUBLIC_ROOT = Path("/usr/share/ca-certificates/mozilla/DigiCert_Global_Root_G2.crt")


def test_private_suffix_with_a_public_ca_certificate_fails() -> None:
    if not PUBLIC_ROOT.exists():
        pytest.skip(f"{PUBLIC_ROOT} is not installed (Debian package ca-certificates)")
    o = _with_root(Observed().dhcp(dhcp_answer(option15=b"corp.local")), PUBLIC_ROOT)
    [finding] = run("DHCP-OPT15-CLEAN", o, with_site(LOCAL_SITE))
    assert (finding.status, finding.reason) == (Status.FAIL, "OPT15_PRIVATE_SUFFIX")
    assert finding.evidence["option15"][0]["private_suffix"]["judged"] is True


def test_private_suffix_with_a_private_root_is_fine(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from lab import pki as lab_pki

    root = tmp_path / "root.pem"
    root.write_bytes(lab_pki.ca_certificates()["root"].public_bytes(Encoding.PEM))
    o = _with_root(Observed().dhcp(dhcp_answer(option15=b"corp.local")), root)
    [finding] = run("DHCP-OPT15-CLEAN", o, with_site(LOCAL_SITE))
    assert finding.status is Status.PASS
    assert finding.evidence["option15"][0]["private_suffix"]["public_ca_certificate"] is False


def test_private_suffix_with_an_unreadable_certificate_is_not_judged() -> None:
    o = Observed().dhcp(dhcp_answer(option15=b"corp.local"))
    [finding] = run("DHCP-OPT15-CLEAN", o, with_site(LOCAL_SITE))
    assert finding.status is Status.PASS
    rule = finding.evidence["option15"][0]["private_suffix"]
    assert rule["judged"] is False and rule["public_ca_certificate"] is None


def test_private_suffix_without_a_certificate_is_not_a_problem() -> None:
    o = Observed().dhcp(dhcp_answer(option15=b"corp.local"))
    [finding] = run("DHCP-OPT15-CLEAN", o, with_site("    domains: [{name: corp.local}]\n"))
    assert finding.status is Status.PASS
    assert finding.evidence["option15"][0]["private_suffix"]["public_ca_certificate"] is False


# --- DHCP-OPT6-DNS


def test_option6_servers_resolve_provision_server_in_option15() -> None:
    o = healthy().answer(R1, PS, "A", ["10.250.0.10"])
    [finding] = run("DHCP-OPT6-DNS", o)
    assert finding.status is Status.PASS and finding.evidence["option6"] == [R1]


def test_option6_server_that_does_not_resolve_fails() -> None:
    o = Observed().dhcp(dhcp_answer(option6=(R1, R2))).answer(R1, PS, "A", ["10.250.0.10"])
    o.answer(R2, PS, "A", rcode="NXDOMAIN")
    assert the(run("DHCP-OPT6-DNS", o)) == (Status.FAIL, "OPT6_NO_ADDRESS")
    o.silent(R2, PS, "A")
    assert the(run("DHCP-OPT6-DNS", o)) == (Status.FAIL, "OPT6_NO_ADDRESS")


def test_no_option6_fails() -> None:
    o = Observed().dhcp(dhcp_answer(option6=()))
    assert the(run("DHCP-OPT6-DNS", o)) == (Status.FAIL, "OPT6_MISSING")


def test_option6_without_a_name_to_ask_is_skipped() -> None:
    no_domain = with_site("    dhcp: {allowed_servers: [10.250.0.1]}\n")
    o = Observed().dhcp(dhcp_answer(option15=None))
    assert the(run("DHCP-OPT6-DNS", o, no_domain)) == (Status.SKIPPED, "NO_NAME_TO_ASK")


def test_option6_asks_for_the_domain_that_server_hands_out() -> None:
    o = Observed().dhcp(dhcp_answer(option15=b"branch.example"))
    o.answer(R1, "ProvisionServer.branch.example", "A", ["10.250.0.99"])
    assert statuses(run("DHCP-OPT6-DNS", o)) == {R1: Status.PASS}


# --- DHCP-OPT81-ACCEPTED


def test_option81_accepted_when_the_server_says_it_updates() -> None:
    assert statuses(run("DHCP-OPT81-ACCEPTED", healthy())) == {"lab0": Status.PASS}


@pytest.mark.parametrize("option81", [None, b"\x0e\x00\x00", b"\x04\x00\x00", b"\x01"])
def test_option81_refused_missing_or_malformed_fails(option81: bytes | None) -> None:
    o = Observed().dhcp(dhcp_answer(option81=option81))
    assert statuses(run("DHCP-OPT81-ACCEPTED", o)) == {"lab0": Status.FAIL}
    assert reasons(run("DHCP-OPT81-ACCEPTED", o)) == {"lab0": "NOT_UPDATING"}


def test_option81_judged_on_the_allowed_servers_only() -> None:
    o = healthy(dhcp_answer(ROGUE, option81=None))
    assert statuses(run("DHCP-OPT81-ACCEPTED", o)) == {"lab0": Status.PASS}


@pytest.mark.parametrize("answers", [
    (dhcp_answer(ROGUE),),  # an OFFER, but from a server that is not allowed
    (dhcp_answer(message="ACK", answering="INFORM"),),  # no OFFER at all
])
def test_option81_without_an_offer_to_judge_is_skipped(answers: tuple[Any, ...]) -> None:
    o = Observed().dhcp(*answers)
    assert the(run("DHCP-OPT81-ACCEPTED", o)) == (Status.SKIPPED, "NO_OFFER")


# --- DHCP-OPT81-REGISTERS


def test_option81_registers_pass() -> None:
    [finding] = run("DHCP-OPT81-REGISTERS", Observed().registration())
    assert (finding.target, finding.status) == ("lab0", Status.PASS)
    assert finding.evidence["released"] is True


@pytest.mark.parametrize(("fields", "status", "reason"), [
    ({"a_seen": (), "ptr_seen": (), "a_after_ms": None, "ptr_after_ms": None}, Status.FAIL,
     "NOT_REGISTERED"),
    ({"ptr_seen": (), "ptr_after_ms": None}, Status.FAIL, "NO_PTR"),
    ({"address": "", "no_lease": "no OFFER from an allowed server within 5 s"}, Status.FAIL,
     "NO_LEASE"),
    ({"address": "", "error": NEEDS_ROOT}, Status.ERROR, "PROBE_FAILED"),
    ({"released": False}, Status.ERROR, "NOT_RELEASED"),
])
def test_option81_registers_fails_or_errors(fields: dict[str, Any], status: Status,
                                            reason: str) -> None:
    [finding] = run("DHCP-OPT81-REGISTERS", Observed().registration(**fields))
    assert (finding.status, finding.reason) == (status, reason)


def test_option81_registration_cut_by_the_deadline_is_an_error() -> None:
    assert the(run("DHCP-OPT81-REGISTERS", Observed())) == (Status.ERROR, "NOT_TRIED")


# --- in the engine: one root cause shows once, and only once


def evaluate(o: Observed, checks: tuple[str, ...]
             ) -> dict[tuple[str, str], tuple[Status, str | None]]:
    cfg = config(SITE_TEXT)
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    _, results = engine.evaluate(cfg, cfg.sites, [spec(i) for i in checks],
                                 engine.Gathered(o.obs), False, now)
    return {(r.check, r.target): (r.status, r.reason) for r in results}


def test_no_answer_shows_as_dhcp_server_answers_for_the_interface() -> None:
    got = evaluate(Observed().dhcp(), ("DHCP-SERVER-ANSWERS", "DHCP-OPT15-PRESENT",
                                       "DHCP-OPT81-ACCEPTED"))
    assert got == {("DHCP-SERVER-ANSWERS", "lab0"): (Status.FAIL, "NO_ANSWER"),
                   ("DHCP-OPT15-PRESENT", NO_TARGET): (Status.SKIPPED, "PREREQUISITE"),
                   ("DHCP-OPT81-ACCEPTED", "lab0"): (Status.SKIPPED, "PREREQUISITE")}


def test_option15_given_in_one_answer_is_judged_though_another_lacks_it() -> None:
    o = Observed().dhcp(dhcp_answer(option15=b"corp.example."),
                        dhcp_answer(message="ACK", answering="INFORM", option15=None))
    got = evaluate(o, ("DHCP-OPT15-PRESENT", "DHCP-OPT15-MATCH", "DHCP-OPT15-CLEAN"))
    assert got == {("DHCP-OPT15-PRESENT", R1): (Status.FAIL, "OPT15_MISSING"),
                   ("DHCP-OPT15-MATCH", R1): (Status.PASS, None),
                   ("DHCP-OPT15-CLEAN", R1): (Status.FAIL, "OPT15_TRAILING_DOT")}


def test_a_server_without_option15_shows_once_as_dhcp_opt15_present() -> None:
    got = evaluate(Observed().dhcp(dhcp_answer(option15=None)),
                   ("DHCP-OPT15-PRESENT", "DHCP-OPT15-MATCH", "DHCP-OPT15-CLEAN"))
    assert got == {("DHCP-OPT15-PRESENT", R1): (Status.FAIL, "OPT15_MISSING"),
                   ("DHCP-OPT15-MATCH", R1): (Status.SKIPPED, "PREREQUISITE"),
                   ("DHCP-OPT15-CLEAN", R1): (Status.SKIPPED, "PREREQUISITE")}


# --- the sub-rules as functions


def test_hygiene_names_every_problem() -> None:
    assert dhcp_checks.hygiene(b"corp.example") == []
    assert dhcp_checks.hygiene(b" a\x00.") == [
        "trailing dot", "white space 0x20 at offset 0", "NUL at offset 2"]


def test_option15_value_reaches_other_checks_with_its_server() -> None:
    """What CERT-DOMAIN-MATCH and the handshake read: from an allowed server first."""
    rogue_first = Observed().dhcp(dhcp_answer(ROGUE, option15=b"evil.example"), dhcp_answer(),
                                  allowed=[R1])
    option15 = rogue_first.view().option15
    assert (option15.value, option15.server, option15.interface) == ("corp.example", R1, "lab0")
    assert Observed().dhcp(dhcp_answer(option15=None)).view().option15 is None
