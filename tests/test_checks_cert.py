"""CERT-* checks on hand-made observations: the lab PKI's certificates, read by the probe's
parser, judged at a fixed moment. Each check passes and fails where it should."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from amt_preflight import pki as facts_pki
from amt_preflight.checks.cert import domain_rule
from amt_preflight.checks.chain import domain_to_match
from amt_preflight.config import SiteConfig
from amt_preflight.model import Severity, Status
from amt_preflight.observations.cert import CertificateBundle, LoadOutcome
from amt_preflight.observations.dhcp import Option15
from lab import pki

from .certs import DOMAIN, NOW, ROOT, SITE, Seen, bundle, leaf_bundle, run, status, verdict
from .observed import config, site

MOZILLA = Path("/usr/share/ca-certificates/mozilla")
# Old roots (serial 0) and hostile names (beyond the length limits) make cryptography warn;
# amt_preflight.pki silences that, pytest shows every warning again.
pytestmark = [pytest.mark.filterwarnings("ignore:Parsed a serial number"),
              pytest.mark.filterwarnings("ignore:Attribute's length")]


def seen(name: str, **how: str) -> Seen:
    return Seen().certificate(bundle(name, **how))


def profile(name: str) -> Seen:
    return seen(f"{name}.pem")


# --- CERT-LOADABLE


def test_loadable_pfx_with_password_passes_and_carries_the_chain_summary() -> None:
    [finding] = run("CERT-LOADABLE", seen("good.pfx", password=pki.PASSWORD))
    assert finding.status is Status.PASS
    chain = finding.evidence["certificates"]
    assert [c["subject"].split(",")[0] for c in chain] == [
        "CN=provisionserver.corp.example", "CN=amt-preflight Lab Issuing CA",
        "CN=amt-preflight Lab Root CA"]
    assert chain[0]["san_dns"] == ["provisionserver.corp.example"]
    assert chain[2]["sha256"] == ROOT
    assert finding.evidence["leaf"] == 0 and finding.evidence["keys"] == ["RSA 2048"]


@pytest.mark.parametrize(("name", "how", "outcome"), [
    ("good.pfx", {"password": pki.WRONG_PASSWORD}, LoadOutcome.WRONG_PASSWORD),
    ("good.pfx", {}, LoadOutcome.NO_PASSWORD),
    ("good-chain.pem", {}, LoadOutcome.NO_KEY),
    ("two-keys.pem", {}, LoadOutcome.SEVERAL_KEYS),
    ("good-chain.pem", {"key": "other-key.pem"}, LoadOutcome.KEY_MISMATCH),
    ("garbage.bin", {}, LoadOutcome.GARBAGE),
    ("good-key.pem", {}, LoadOutcome.NO_CERTIFICATE),
    ("duplicate-extension.pem", {}, LoadOutcome.BAD_CERTIFICATE),
    ("bad-extension.pem", {}, LoadOutcome.BAD_CERTIFICATE),
    ("good-chain.pem", {"key": "good-key-encrypted.pem", "password": "nope"},
     LoadOutcome.WRONG_PASSWORD),
    ("good-chain.pem", {"key": "good-key-encrypted.pem"}, LoadOutcome.NO_PASSWORD),
])
def test_loadable_tells_each_failure_apart(name: str, how: dict[str, str],
                                           outcome: LoadOutcome) -> None:
    [finding] = run("CERT-LOADABLE", seen(name, **how))
    assert (finding.status, finding.reason) == (Status.FAIL, outcome.name)
    assert finding.evidence["outcome"] == outcome.value


def test_every_way_a_file_fails_to_load_has_its_declared_tag() -> None:
    from amt_preflight.checks import spec

    declared = set(spec("CERT-LOADABLE").reasons)
    assert {o.name for o in LoadOutcome if o is not LoadOutcome.LOADED} < declared


def test_loadable_unreadable_file_and_no_certificate_for_the_key() -> None:
    unreadable = CertificateBundle(DOMAIN, "corp.pem", LoadOutcome.UNREADABLE, "no such file")
    assert verdict("CERT-LOADABLE", Seen().certificate(unreadable)) == (Status.FAIL,
                                                                        "UNREADABLE")
    leafless = replace(bundle("good.pem"), leaf=None)
    assert verdict("CERT-LOADABLE", Seen().certificate(leafless)) == (Status.FAIL, "NO_LEAF")


def test_loadable_encrypted_pem_key_with_its_password_passes() -> None:
    found = seen("good-chain.pem", key="good-key-encrypted.pem", password=pki.PASSWORD)
    assert status("CERT-LOADABLE", found) is Status.PASS


def test_no_password_appears_in_any_evidence() -> None:
    for how in ({"password": pki.PASSWORD}, {"password": pki.WRONG_PASSWORD}):
        for check_id in ("CERT-LOADABLE", "CERT-CHAIN-COMPLETE", "CERT-ROOT-TRUSTED"):
            text = json.dumps([f.evidence for f in run(check_id, seen("good.pfx", **how))],
                              default=str)
            assert pki.PASSWORD not in text and pki.WRONG_PASSWORD not in text


CERT_IDS = ("CERT-LOADABLE", "CERT-AMT-USAGE", "CERT-SERVER-AUTH", "CERT-VALIDITY",
            "CERT-EXPIRY-SOON", "CERT-CHAIN-COMPLETE", "CERT-ROOT-TRUSTED",
            "CERT-DOMAIN-MATCH", "CERT-CRYPTO", "CERT-CHAIN-LENGTH")


@pytest.mark.parametrize("check_id", CERT_IDS)
def test_domain_without_certificate_is_skipped_and_unread_file_is_an_error(
        check_id: str) -> None:
    bare = site("sites: [{name: hq, domains: [{name: corp.example}]}]")
    assert verdict(check_id, Seen(), bare) == (Status.SKIPPED, "NOT_CONFIGURED")
    assert verdict(check_id, Seen()) == (Status.ERROR, "NOT_READ")


@pytest.mark.parametrize("check_id", CERT_IDS[1:])
def test_rules_skip_a_file_that_did_not_load(check_id: str) -> None:
    [finding] = run(check_id, seen("two-keys.pem"))
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "CERT-LOADABLE"


# --- CERT-AMT-USAGE and CERT-SERVER-AUTH


@pytest.mark.parametrize(("name", "expected"), [
    ("good", (Status.PASS, None)), ("oid-only", (Status.PASS, None)),
    ("ou-only", (Status.PASS, None)),
    ("no-usage", (Status.FAIL, "NO_AMT_USAGE")), ("branch", (Status.FAIL, "NO_AMT_USAGE")),
])
def test_amt_usage(name: str, expected: tuple[Status, str | None]) -> None:
    assert verdict("CERT-AMT-USAGE", profile(name)) == expected


@pytest.mark.parametrize("ou", ["intel(r) client setup certificate",
                                "Intel(R) Client Setup Certificate.",
                                " Intel(R) Client Setup Certificate"])
def test_amt_usage_ou_must_be_exact(ou: str) -> None:
    leaf = pki.Leaf("near-miss", ekus=(pki.SERVER_AUTH,), ou=ou)
    assert verdict("CERT-AMT-USAGE", Seen().certificate(leaf_bundle(leaf))) == (
        Status.FAIL, "NO_AMT_USAGE")


@pytest.mark.parametrize(("name", "expected"), [
    ("good", (Status.PASS, None)), ("no-usage", (Status.PASS, None)),
    ("no-server-auth", (Status.FAIL, "NO_SERVER_AUTH")),
])
def test_server_auth(name: str, expected: tuple[Status, str | None]) -> None:
    assert verdict("CERT-SERVER-AUTH", profile(name)) == expected


# --- CERT-VALIDITY and CERT-EXPIRY-SOON


@pytest.mark.parametrize(("name", "expected"), [
    ("good", (Status.PASS, None)), ("expired", (Status.FAIL, "EXPIRED")),
    ("not-yet-valid", (Status.FAIL, "NOT_YET_VALID")),
    ("inverted-dates", (Status.FAIL, "NOT_YET_VALID")), ("expiring", (Status.PASS, None)),
])
def test_validity(name: str, expected: tuple[Status, str | None]) -> None:
    assert verdict("CERT-VALIDITY", profile(name)) == expected


def test_expiry_within_seven_days_is_high() -> None:
    [finding] = run("CERT-EXPIRY-SOON", profile("expiring"))
    assert (finding.status, finding.reason) == (Status.FAIL, "EXPIRES_SOON")
    assert finding.severity is Severity.HIGH and finding.evidence["warn_days"] == 30


def test_expiry_within_the_warning_days_is_medium() -> None:
    leaf = pki.Leaf("twenty-days", valid_days=(-300, 20))
    [finding] = run("CERT-EXPIRY-SOON", Seen().certificate(leaf_bundle(leaf)))
    assert (finding.status, finding.reason) == (Status.FAIL, "EXPIRES_SOON")
    assert finding.severity is None


def test_expiry_follows_cert_warn_days() -> None:
    assert status("CERT-EXPIRY-SOON", profile("expiring"), warn_days=3) is Status.PASS
    assert status("CERT-EXPIRY-SOON", profile("good")) is Status.PASS
    assert status("CERT-EXPIRY-SOON", profile("good"), warn_days=400) is Status.FAIL


# --- CERT-CHAIN-COMPLETE


def test_chain_complete_names_the_path() -> None:
    [finding] = run("CERT-CHAIN-COMPLETE", profile("good"))
    assert finding.status is Status.PASS
    assert [p["sha256"] for p in finding.evidence["path"]][-1] == ROOT


def test_chain_in_another_order_still_builds() -> None:
    leaf = pki.BY_NAME["good"]
    found = leaf_bundle(leaf, "root", "issuing")
    [finding] = run("CERT-CHAIN-COMPLETE", Seen().certificate(found))
    assert finding.status is Status.PASS
    assert finding.evidence["file_order"] != [p["certificate"] for p in finding.evidence["path"]]


@pytest.mark.parametrize(("name", "expected"), [
    ("missing-intermediate", (Status.FAIL, "NO_VALID_PATH")),
    ("sha1", (Status.SKIPPED, "PREREQUISITE")),
    ("inverted-dates", (Status.SKIPPED, "PREREQUISITE")),
    ("long-chain", (Status.PASS, None)), ("ec-key", (Status.PASS, None)),
])
def test_chain_complete_cases(name: str, expected: tuple[Status, str | None]) -> None:
    assert verdict("CERT-CHAIN-COMPLETE", profile(name)) == expected


def test_chain_without_root_fails() -> None:
    found = leaf_bundle(pki.BY_NAME["good"], "issuing")
    assert verdict("CERT-CHAIN-COMPLETE", Seen().certificate(found)) == (Status.FAIL,
                                                                         "NO_ROOT_IN_FILE")


@pytest.mark.parametrize(("name", "prerequisite"), [("sha1", "CERT-CRYPTO"),
                                                    ("inverted-dates", "CERT-VALIDITY")])
def test_a_chain_the_verifier_cannot_judge_names_the_check_that_says_why(
        name: str, prerequisite: str) -> None:
    [finding] = run("CERT-CHAIN-COMPLETE", profile(name))
    assert finding.reason == "PREREQUISITE" and finding.evidence["prerequisite"] == prerequisite


# --- CERT-ROOT-TRUSTED


def test_root_trusted_by_custom_hash_names_the_entry() -> None:
    [finding] = run("CERT-ROOT-TRUSTED", profile("good"))
    assert finding.status is Status.PASS
    for generation in ("AMT 11", "AMT 16"):
        match = finding.evidence["matches"][generation]["match"]
        assert match["entry"] == "amt.custom_root_hashes[0]"


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA384()])
def test_root_trusted_by_sha1_or_sha384(algorithm: hashes.HashAlgorithm) -> None:
    value = pki.ca_certificates()["root"].fingerprint(algorithm).hex()
    other = site(f"sites: [{{name: hq, amt: {{custom_root_hashes: ['{value}']}}, "
                 "domains: [{name: corp.example, certificate: {file: x.pem}}]}]")
    assert status("CERT-ROOT-TRUSTED", profile("good"), other) is Status.PASS


def test_root_not_in_any_list_fails() -> None:
    plain = site("sites: [{name: hq, amt: {generations: [16]}, "
                 "domains: [{name: corp.example, certificate: {file: x.pem}}]}]")
    [finding] = run("CERT-ROOT-TRUSTED", profile("good"), plain)
    assert (finding.status, finding.reason) == (Status.FAIL, "ROOT_NOT_IN_LIST")
    assert isinstance(finding.evidence["matches"]["AMT 16"]["match"], str)  # "no match among"


def test_root_trusted_without_a_root_is_skipped() -> None:
    found = leaf_bundle(pki.BY_NAME["good"], "issuing")
    [finding] = run("CERT-ROOT-TRUSTED", Seen().certificate(found))
    assert (finding.status, finding.reason) == (Status.SKIPPED, "PREREQUISITE")
    assert finding.evidence["prerequisite"] == "CERT-CHAIN-COMPLETE"


def _evaluated(seen: Seen, *check_ids: str) -> dict[str, tuple[Status, str | None]]:
    """The checks as the engine runs them, prerequisites and all: check -> (status, tag)."""
    from amt_preflight import engine
    from amt_preflight.checks import spec

    cfg = config(f"""
sites:
  - name: hq
    amt: {{generations: [11, 16], custom_root_hashes: [{ROOT}]}}
    domains: [{{name: corp.example, certificate: {{file: corp.pem}}}}]
""")
    _, results = engine.evaluate(cfg, cfg.sites, [spec(c) for c in check_ids],
                                 engine.Gathered(seen.obs), False, NOW)
    return {r.check: (r.status, r.reason) for r in results}


def test_root_trusted_rests_on_chain_complete_only_where_there_is_no_root() -> None:
    pair = ("CERT-CHAIN-COMPLETE", "CERT-ROOT-TRUSTED")
    # the intermediate is missing: no path, but the file's only root is judged
    missing = _evaluated(profile("missing-intermediate"), *pair)
    assert missing == {"CERT-CHAIN-COMPLETE": (Status.FAIL, "NO_VALID_PATH"),
                       "CERT-ROOT-TRUSTED": (Status.PASS, None)}
    rootless = Seen().certificate(leaf_bundle(pki.BY_NAME["good"], "issuing"))
    assert _evaluated(rootless, *pair) == {
        "CERT-CHAIN-COMPLETE": (Status.FAIL, "NO_ROOT_IN_FILE"),
        "CERT-ROOT-TRUSTED": (Status.SKIPPED, "PREREQUISITE")}


def test_chain_complete_rests_on_validity_only_where_no_moment_is_valid() -> None:
    pair = ("CERT-VALIDITY", "CERT-CHAIN-COMPLETE")
    assert _evaluated(profile("expired"), *pair) == {
        "CERT-VALIDITY": (Status.FAIL, "EXPIRED"), "CERT-CHAIN-COMPLETE": (Status.PASS, None)}
    assert _evaluated(profile("inverted-dates"), *pair) == {
        "CERT-VALIDITY": (Status.FAIL, "NOT_YET_VALID"),
        "CERT-CHAIN-COMPLETE": (Status.SKIPPED, "PREREQUISITE")}


def _real(label: str) -> x509.Certificate:
    path = MOZILLA / f"{label}.crt"
    if not path.exists():
        pytest.skip(f"{path} is not installed (Debian package ca-certificates)")
    return x509.load_pem_x509_certificate(path.read_bytes())


def _real_root(label: str) -> CertificateBundle:
    """A bundle that is only a real public root (leaf and root at once): enough for
    CERT-ROOT-TRUSTED, which judges the root."""
    facts = facts_pki.facts(_real(label))
    return CertificateBundle(DOMAIN, label, LoadOutcome.LOADED, certificates=(facts,),
                             leaf=0, keys=("RSA 2048",))


def _ending_at(label: str) -> CertificateBundle:
    """The lab's leaf and issuing CA with a real public root put at the end, as a chain
    that ends there looks to CERT-CRYPTO (which judges each certificate, not the path)."""
    lab = leaf_bundle(pki.BY_NAME["good"], "issuing")
    root = facts_pki.facts(_real(label))
    return replace(lab, certificates=(*lab.certificates, root))


def _generations(generations: str) -> SiteConfig:
    amt = f"{{generations: {generations}}}" if generations else "{}"
    return site(f"sites: [{{name: hq, amt: {amt}, "
                "domains: [{name: corp.example, certificate: {file: x.pem}}]}]")


@pytest.mark.parametrize(("label", "generations", "expected", "lacking"), [
    ("Go_Daddy_Class_2_CA", "[8, 11, 16]", Status.PASS, []),  # SHA-1 and SHA-256 lists
    ("DigiCert_Global_Root_G2", "[16]", Status.PASS, []),
    ("DigiCert_Global_Root_G2", "[14]", Status.PASS, []),  # Intel KB 000090051
    ("DigiCert_Global_Root_G2", "[11]", Status.FAIL, ["AMT 11"]),  # RPS #1108
    ("DigiCert_Global_Root_G2", "[12]", Status.FAIL, ["AMT 12"]),  # judged as 11.8
    ("DigiCert_Global_Root_G2", "[11, 16]", Status.FAIL, ["AMT 11"]),
    ("DigiCert_Global_Root_G2", "[8, 16]", Status.FAIL, ["AMT 8"]),
    ("DigiCert_Global_Root_G2", "", Status.FAIL, ["AMT 11-13"]),  # never a union
    ("DigiCert_Global_Root_G2", "[5]", Status.FAIL, ["AMT 5"]),  # judged as AMT 3.0
    ("Go_Daddy_Class_2_CA", "[5]", Status.PASS, []),
    ("Entrust_Root_Certification_Authority_-_G2", "[11, 16]", Status.PASS, []),
    ("Entrust_Root_Certification_Authority_-_G2", "", Status.PASS, []),
    ("Baltimore_CyberTrust_Root", "[11]", Status.PASS, []),
    ("GlobalSign_Root_CA_-_R3", "", Status.FAIL, ["AMT 11-13"]),
    ("Comodo_AAA_Services_root", "[3]", Status.PASS, []),
    ("Starfield_Class_2_CA", "[3]", Status.FAIL, ["AMT 3"]),  # AMT 3.0 lost Starfield
])
def test_builtin_lists_by_generation(label: str, generations: str, expected: Status,
                                     lacking: list[str]) -> None:
    [finding] = run("CERT-ROOT-TRUSTED", Seen().certificate(_real_root(label)),
                    _generations(generations))
    assert finding.status is expected
    missing = [g for g, m in finding.evidence["matches"].items() if "match" not in m
               or isinstance(m["match"], str)]
    assert missing == lacking
    assert finding.reason == ("ROOT_NOT_IN_LIST" if lacking else None)


def test_root_trusted_names_the_device_sample_it_rests_on() -> None:
    [finding] = run("CERT-ROOT-TRUSTED", Seen().certificate(
        _real_root("DigiCert_Global_Root_G2")), _generations("[16]"))
    matched = finding.evidence["matches"]["AMT 16"]
    assert matched["confidence"] == "device-sample"
    assert matched["match"]["ca"] == "DigiCert Global Root G2"
    assert "MeshCentral" in matched["source"]


def test_generation_without_a_known_list_says_which_list_stands_in() -> None:
    [finding] = run("CERT-ROOT-TRUSTED", Seen().certificate(
        _real_root("Go_Daddy_Class_2_CA")), _generations("[5, 12]"))
    assert finding.status is Status.PASS
    assert "none published" in finding.evidence["matches"]["AMT 5"]["note"]
    assert "AMT 12 and 13" in finding.evidence["matches"]["AMT 12"]["note"]


# --- CERT-DOMAIN-MATCH


@pytest.mark.parametrize(("domain", "name", "rule"), [
    ("corp.example", "provisionserver.corp.example", "a"),
    ("corp.example", "corp.example", "a"),
    ("Corp.Example.", "PROVISIONSERVER.corp.example.", "a"),
    ("corp.example", "*.corp.example", "a"),
    ("amt.corp.example", "*.corp.example", "b"),
    ("vpro.intel.com", "provisioning.intel.com", "c"),  # com: the last 2 labels
    ("x.example.co.uk", "ps.example.co.uk", "c"),  # uk: the last 3 labels
    ("corp.example", "provisionserver.corp.example..", None),  # only one dot is dropped
    ("amt.corp.example", "provisionserver.corp.example", None),
    ("corp.example", "provisionserver.xcorp.example", None),
    ("other.co.uk", "ps.example.co.uk", None),
    ("corp.example ", "provisionserver.corp.example", None),  # white space is not dropped
    ("sub.corp.local", "ps.corp.local", None),  # no TLD help for private suffixes
    ("amt.corp.example", "*.amt.corp.example", "a"),
])
def test_domain_rule(domain: str, name: str, rule: str | None) -> None:
    found = domain_rule(domain, name)
    assert (found[0] if found else None) == rule


def test_domain_match_uses_the_configured_domain_without_option15() -> None:
    assert domain_to_match(SITE, Seen().view(), DOMAIN) == (DOMAIN, "config")


@pytest.mark.parametrize(("option15", "expected"), [
    ("corp.example.", Status.PASS),  # one trailing dot is dropped, as the firmware does
    ("CORP.example", Status.PASS),
    ("branch.example", Status.FAIL),  # what the devices get, not what the config says
])
def test_domain_match_judges_the_option15_dhcp_hands_out(option15: str,
                                                         expected: Status) -> None:
    observed = profile("good")
    observed.obs.record(Option15(option15, "10.250.0.1", "lab0"), "hq")
    [finding] = run("CERT-DOMAIN-MATCH", observed)
    assert finding.status is expected
    assert finding.reason == (None if expected is Status.PASS else "DOMAIN_MISMATCH")
    assert finding.evidence["domain"] == option15
    assert finding.evidence["domain_source"].startswith("DHCP option 15 from 10.250.0.1")


@pytest.mark.parametrize(("name", "expected"), [
    ("good", Status.PASS), ("wildcard", Status.PASS), ("wrong-domain", Status.FAIL),
    ("huge-subject", Status.FAIL),
])
def test_domain_match(name: str, expected: Status) -> None:
    [finding] = run("CERT-DOMAIN-MATCH", profile(name))
    assert finding.status is expected
    assert finding.reason == (None if expected is Status.PASS else "DOMAIN_MISMATCH")
    assert finding.evidence["domain_source"] == "config"
    assert len(json.dumps(finding.evidence)) < 20_000  # a 64 KiB name is clipped


def test_domain_match_evidence_says_which_name_by_which_rule() -> None:
    [finding] = run("CERT-DOMAIN-MATCH", profile("wildcard"))
    assert finding.evidence["matched"] == "*.corp.example"
    assert finding.evidence["rule"].startswith("a:")


# --- CERT-CRYPTO and CERT-CHAIN-LENGTH


@pytest.mark.parametrize(("name", "expected"), [
    ("good", Status.PASS), ("sha1", Status.FAIL), ("rsa1024", Status.FAIL),
    ("ec-key", Status.FAIL),
])
def test_crypto(name: str, expected: Status) -> None:
    tag = None if expected is Status.PASS else "WEAK_CRYPTO"
    assert verdict("CERT-CRYPTO", profile(name)) == (expected, tag)


@pytest.mark.parametrize(("root", "generations", "expected", "refused_by"), [
    # SHA-1 self-signed roots: normal below ME 16, refused from 16 on (and by default)
    ("Comodo_AAA_Services_root", "[11]", Status.PASS, None),
    ("Comodo_AAA_Services_root", "[16]", Status.FAIL, "AMT 16"),
    ("Comodo_AAA_Services_root", "[11, 16]", Status.FAIL, "AMT 16"),
    ("Go_Daddy_Class_2_CA", "[8, 12]", Status.PASS, None),
    ("Starfield_Class_2_CA", "", Status.FAIL, "AMT 16 and later"),
    ("Go_Daddy_Root_Certificate_Authority_-_G2", "[11, 16]", Status.PASS, None),
    # EC roots pass where the firmware lists EC roots (the newer sample), not on AMT 11
    ("DigiCert_Global_Root_G3", "[16]", Status.PASS, None),
    ("GlobalSign_ECC_Root_CA_-_R5", "[14]", Status.PASS, None),
    ("DigiCert_Global_Root_G3", "[11]", Status.FAIL, "AMT 11"),
])
def test_crypto_per_generation_on_real_roots(root: str, generations: str, expected: Status,
                                             refused_by: str | None) -> None:
    [finding] = run("CERT-CRYPTO", Seen().certificate(_ending_at(root)),
                    _generations(generations))
    assert finding.status is expected, finding.message
    problems = [p for c in finding.evidence["chain"] for p in c["problems"]]
    assert [p["refused_by"] for p in problems] == ([refused_by] if refused_by else [])
    assert finding.reason == (None if expected is Status.PASS else "WEAK_CRYPTO")


def test_crypto_refuses_an_ec_leaf_for_every_generation() -> None:
    [finding] = run("CERT-CRYPTO", profile("ec-key"), _generations("[11, 16]"))
    leaf = finding.evidence["chain"][0]
    assert leaf["role"] == "leaf" and leaf["problems"][0]["refused_by"] == "AMT 11, 16"


def test_chain_length() -> None:
    assert status("CERT-CHAIN-LENGTH", profile("good")) is Status.PASS
    [finding] = run("CERT-CHAIN-LENGTH", profile("long-chain"))
    assert (finding.status, finding.reason) == (Status.FAIL, "CHAIN_TOO_LONG")
    assert len(finding.evidence["certificates"]) == 5


def test_every_rule_reads_the_run_clock() -> None:
    later = replace(Seen().certificate(bundle("good.pem")).view(), now=pki.ISSUING_END)
    from amt_preflight.checks import spec

    [finding] = spec("CERT-VALIDITY").judge(SITE, later)
    assert (finding.status, finding.reason) == (Status.FAIL, "EXPIRED")
