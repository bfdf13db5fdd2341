"""DHCP checks on hand-made observations: each passes and fails where it should."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from amt_preflight.checks import BY_ID
from amt_preflight.checks import dhcp as dhcp_checks
from amt_preflight.config import SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Status
from amt_preflight.observations.cert import CertificateBundle, LoadOutcome
from amt_preflight.pki import facts

from .observed import CORP, R1, R2, Observed, dhcp_answer, site

SITE = site("""
sites:
  - name: hq
    interface: lab0
    resolvers: [10.250.0.1, 10.250.0.2]
    dhcp: {allowed_servers: [10.250.0.1]}
    domains:
      - {name: corp.example, provision_server: [10.250.0.10]}
""")
ROGUE = "10.250.0.66"
PS = "ProvisionServer.corp.example"
NEEDS_ROOT = "the DHCP probe needs root (CAP_NET_RAW) to send and receive raw DHCP packets"


def run(check_id: str, observed: Observed, site_config: SiteConfig = SITE) -> list[Finding]:
    return list(BY_ID[check_id].function(site_config, observed.view()))


def statuses(findings: list[Finding]) -> dict[str, Status]:
    return {f.target: f.status for f in findings}


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
    o = Observed().dhcp(error=f"{NEEDS_ROOT} on lab0; run amt-preflight as root")
    [finding] = run(check_id, o)
    assert finding.status is Status.ERROR and "root" in finding.message


@pytest.mark.parametrize("check_id", [*PER_INTERFACE, *PER_SERVER, "DHCP-OPT81-REGISTERS"])
def test_no_interface_configured_skips(check_id: str) -> None:
    no_interface = site("sites: [{name: hq, domains: [{name: corp.example}]}]")
    assert statuses(run(check_id, Observed(), no_interface)) == {NO_TARGET: Status.SKIPPED}


@pytest.mark.parametrize("check_id", PER_INTERFACE + PER_SERVER)
def test_survey_cut_by_the_deadline_is_an_error(check_id: str) -> None:
    [finding] = run(check_id, Observed())
    assert finding.status is Status.ERROR


@pytest.mark.parametrize("check_id", [*PER_SERVER, "DHCP-OPT81-ACCEPTED"])
def test_no_answer_skips_the_checks_of_answers(check_id: str) -> None:
    [finding] = run(check_id, Observed().dhcp())
    assert finding.status is Status.SKIPPED and "DHCP-SERVER-ANSWERS" in finding.message


# --- DHCP-SERVER-ANSWERS


def test_server_answers_pass_and_fail() -> None:
    assert statuses(run("DHCP-SERVER-ANSWERS", healthy())) == {"lab0": Status.PASS}
    [finding] = run("DHCP-SERVER-ANSWERS", Observed().dhcp())
    assert (finding.target, finding.status) == ("lab0", Status.FAIL)
    assert finding.evidence["sent"]  # what was sent is in the evidence


def test_server_answers_lists_every_server_in_evidence() -> None:
    [finding] = run("DHCP-SERVER-ANSWERS", healthy(dhcp_answer(ROGUE)))
    assert set(finding.evidence["servers"]) == {R1, ROGUE}


# --- DHCP-SERVER-ALLOWED


def test_each_server_is_reported_on_its_own_and_a_rogue_fails() -> None:
    findings = run("DHCP-SERVER-ALLOWED", healthy(dhcp_answer(ROGUE, option15=b"evil.example")))
    assert statuses(findings) == {R1: Status.PASS, ROGUE: Status.FAIL}
    rogue = next(f for f in findings if f.target == ROGUE)
    answers = rogue.evidence["dhcp_server"]["answers"]
    assert answers[0]["source_mac"] and any(o["code"] == 15 for o in answers[0]["options"])


def test_a_rogue_claiming_an_allowed_server_identifier_fails_by_its_source() -> None:
    spoof = dhcp_answer(R1, source=ROGUE)
    findings = run("DHCP-SERVER-ALLOWED", Observed().dhcp(spoof, allowed=[R1]))
    assert statuses(findings) == {R1: Status.FAIL}
    assert ROGUE in findings[0].message


def test_no_server_identifier_fails() -> None:
    findings = run("DHCP-SERVER-ALLOWED", Observed().dhcp(dhcp_answer(server_id=False)))
    assert statuses(findings) == {R1: Status.FAIL}


def test_a_relayed_answer_is_judged_by_its_server_identifier() -> None:
    relayed = dhcp_answer(R1, source="10.250.0.254", giaddr="10.250.0.254")
    assert statuses(run("DHCP-SERVER-ALLOWED", Observed().dhcp(relayed))) == {R1: Status.PASS}


def test_no_allowed_servers_configured_skips_each_server() -> None:
    open_site = with_site("    domains: [{name: corp.example}]\n")
    findings = run("DHCP-SERVER-ALLOWED", healthy(dhcp_answer(ROGUE)), open_site)
    assert statuses(findings) == {R1: Status.SKIPPED, ROGUE: Status.SKIPPED}


# --- DHCP-OPT15-PRESENT


def test_option15_present_pass_and_fail_per_server() -> None:
    o = healthy(dhcp_answer(ROGUE, option15=None))
    assert statuses(run("DHCP-OPT15-PRESENT", o)) == {R1: Status.PASS, ROGUE: Status.FAIL}


def test_option15_missing_from_the_inform_answer_fails() -> None:
    o = Observed().dhcp(dhcp_answer(), dhcp_answer(message="ACK", answering="INFORM",
                                                   option15=None))
    [finding] = run("DHCP-OPT15-PRESENT", o)
    assert finding.status is Status.FAIL and "INFORM" in finding.message


# --- DHCP-OPT15-MATCH


@pytest.mark.parametrize("value", [CORP, b"CORP.Example", b"corp.example."])
def test_option15_match_is_case_insensitive_and_drops_one_trailing_dot(value: bytes) -> None:
    o = Observed().dhcp(dhcp_answer(option15=value))
    assert statuses(run("DHCP-OPT15-MATCH", o)) == {R1: Status.PASS}


@pytest.mark.parametrize("value", [b"wrong.example", b"corp.example\x00", b"corp.example ",
                                   b"corp.example..", b"example"])
def test_option15_match_fails_on_another_name(value: bytes) -> None:
    o = Observed().dhcp(dhcp_answer(option15=value))
    assert statuses(run("DHCP-OPT15-MATCH", o)) == {R1: Status.FAIL}


def test_servers_that_disagree_both_fail() -> None:
    o = healthy(dhcp_answer(ROGUE, option15=b"branch.example"))
    two_domains = with_site("    domains: [{name: corp.example}, {name: branch.example}]\n")
    findings = run("DHCP-OPT15-MATCH", o, two_domains)
    assert statuses(findings) == {R1: Status.FAIL, ROGUE: Status.FAIL}
    assert all("disagree" in f.message for f in findings)


def test_without_a_domain_configured_only_agreement_is_judged() -> None:
    no_domain = with_site("    dhcp: {allowed_servers: [10.250.0.1]}\n")
    assert statuses(run("DHCP-OPT15-MATCH", healthy(), no_domain)) == {R1: Status.PASS}
    disagree = healthy(dhcp_answer(ROGUE, option15=b"other.example"))
    assert set(statuses(run("DHCP-OPT15-MATCH", disagree, no_domain)).values()) == {
        Status.FAIL}


def test_a_server_without_option15_is_skipped_for_match_and_clean() -> None:
    o = healthy(dhcp_answer(ROGUE, option15=None))
    for check_id in ("DHCP-OPT15-MATCH", "DHCP-OPT15-CLEAN"):
        assert statuses(run(check_id, o))[ROGUE] is Status.SKIPPED


# --- DHCP-OPT15-CLEAN


def test_option15_clean_pass() -> None:
    [finding] = run("DHCP-OPT15-CLEAN", healthy())
    assert finding.status is Status.PASS and finding.evidence["option15"][0]["problems"] == []


@pytest.mark.parametrize(("value", "problem"), [
    (b"corp.example.", "trailing dot"),
    (b"corp.example ", "white space 0x20 at offset 12"),
    (b"corp\texample", "white space 0x09 at offset 4"),
    (b"corp.example\x00", "NUL at offset 12"),
    (b"corp.ex\x00ample", "NUL at offset 7"),
    (b"corp.ex\x1bample", "non-printable byte 0x1b at offset 7"),
    (b"corp.ex\xe4mple", "non-printable byte 0xe4 at offset 7"),
])
def test_option15_hidden_characters_fail_shown_as_hex(value: bytes, problem: str) -> None:
    [finding] = run("DHCP-OPT15-CLEAN", Observed().dhcp(dhcp_answer(option15=value)))
    assert finding.status is Status.FAIL
    [judged] = finding.evidence["option15"]
    assert problem in judged["problems"] and judged["hex"] == value.hex()


LOCAL_SITE = """    domains:
      - name: corp.local
        certificate: {file: certs/corp.pem}
"""


def _with_root(observed: Observed, root: Path, domain: str = "corp.local") -> Observed:
    """The domain's certificate file, as read: here only its root, which is what counts."""
    found = facts(x509.load_pem_x509_certificate(root.read_bytes()))
    observed.obs.certificates[(observed.site_name, domain)] = CertificateBundle(
        domain, "certs/corp.pem", LoadOutcome.LOADED, certificates=(found,), leaf=0)
    return observed


PUBLIC_ROOT = Path("/usr/share/ca-certificates/mozilla/DigiCert_Global_Root_G2.crt")


def test_private_suffix_with_a_public_ca_certificate_fails() -> None:
    if not PUBLIC_ROOT.exists():
        pytest.skip(f"{PUBLIC_ROOT} is not installed (Debian package ca-certificates)")
    o = _with_root(Observed().dhcp(dhcp_answer(option15=b"corp.local")), PUBLIC_ROOT)
    [finding] = run("DHCP-OPT15-CLEAN", o, with_site(LOCAL_SITE))
    assert finding.status is Status.FAIL and ".local" in finding.message
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
    assert statuses(run("DHCP-OPT6-DNS", o)) == {R1: Status.FAIL}
    o.silent(R2, PS, "A")
    assert statuses(run("DHCP-OPT6-DNS", o)) == {R1: Status.FAIL}


def test_no_option6_fails() -> None:
    o = Observed().dhcp(dhcp_answer(option6=()))
    assert statuses(run("DHCP-OPT6-DNS", o)) == {R1: Status.FAIL}


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


def test_option81_judged_on_the_allowed_servers_only() -> None:
    o = healthy(dhcp_answer(ROGUE, option81=None))
    assert statuses(run("DHCP-OPT81-ACCEPTED", o)) == {"lab0": Status.PASS}


# --- DHCP-OPT81-REGISTERS


def test_option81_registers_pass() -> None:
    [finding] = run("DHCP-OPT81-REGISTERS", Observed().registration())
    assert (finding.target, finding.status) == ("lab0", Status.PASS)
    assert finding.evidence["released"] is True


@pytest.mark.parametrize(("fields", "status"), [
    ({"a_seen": (), "ptr_seen": (), "a_after_ms": None, "ptr_after_ms": None}, Status.FAIL),
    ({"ptr_seen": (), "ptr_after_ms": None}, Status.FAIL),
    ({"address": "", "no_lease": "no OFFER from an allowed server within 5 s"}, Status.FAIL),
    ({"address": "", "error": NEEDS_ROOT}, Status.ERROR),
    ({"released": False}, Status.ERROR),
])
def test_option81_registers_fails_or_errors(fields: dict[str, Any], status: Status) -> None:
    [finding] = run("DHCP-OPT81-REGISTERS", Observed().registration(**fields))
    assert finding.status is status


def test_option81_registration_cut_by_the_deadline_is_an_error() -> None:
    [finding] = run("DHCP-OPT81-REGISTERS", Observed())
    assert finding.status is Status.ERROR


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
