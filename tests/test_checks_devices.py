"""DEV-* checks on hand-made observations: device reports (rpc amtinfo -cert -json) read by
the probe's reader, judged against the lab PKI's certificates. Assertions are on statuses,
targets and reason tags."""

from __future__ import annotations

import json

import pytest

from amt_preflight.config import SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Status
from amt_preflight.observations.devices import DeviceInventory
from lab import pki

from .certs import NOW, ROOT, Seen, bundle, leaf_bundle, run
from .fleet import ADMIN, CLIENT, device, devices, inventory, with_fleet
from .observed import config, site

# The lab PKI's hostile certificates exceed the name length limits on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length")
DEV = ("DEV-ROOT-ACTIVE", "DEV-SUFFIX-MATCH", "DEV-CONTROL-MODE")
HQ = site("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json]}
    domains: [{name: corp.example, certificate: {file: corp.pem}}]
""")
# Two domains, each with its certificate: corp.example's names provisionserver.corp.example,
# branch.example's provisionserver.branch.example; both chain to the lab root.
TWO = site("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json]}
    domains:
      - {name: corp.example, certificate: {file: corp.pem}}
      - {name: branch.example, certificate: {file: branch.pem}}
""")


def corp() -> Seen:
    return Seen().certificate(bundle("good.pem"))


def two_domains() -> Seen:
    return corp().certificate(bundle("branch.pem", domain="branch.example"), "branch.example")


def judged(check_id: str, seen: Seen, fleet: DeviceInventory, config: SiteConfig = HQ
           ) -> dict[str, Finding]:
    """The check's findings by target."""
    found = run(check_id, with_fleet(seen, fleet), config)
    by_target = {f.target: f for f in found}
    assert len(by_target) == len(found), "one finding per target"
    return by_target


def reason(finding: Finding) -> str:
    assert "reason" not in finding.evidence  # the tag is the finding's, not evidence
    return str(finding.reason)


# --- DEV-ROOT-ACTIVE


def test_root_active_passes_naming_the_entry_and_the_domain() -> None:
    [found] = judged("DEV-ROOT-ACTIVE", corp(), devices(device("pc-01"))).values()
    assert found.target == "pc-01" and found.status is Status.PASS
    assert reason(found) == "ROOT_ACTIVE" and found.evidence["domain"] == "corp.example"
    assert found.evidence["matched"]["hash"] == ROOT
    assert found.evidence["certificate"] == "good.pem"


@pytest.mark.parametrize(("algorithm", "fingerprint"), [("SHA1", "sha1"), ("SHA384", "sha384")])
def test_root_active_takes_any_algorithm_the_device_reports(algorithm: str,
                                                            fingerprint: str) -> None:
    root = pki.ca_certificates()["root"]
    from cryptography.hazmat.primitives import hashes

    value = root.fingerprint({"sha1": hashes.SHA1(), "sha384": hashes.SHA384()}[fingerprint])
    fleet = devices(device("pc-01", root_hash=value.hex().upper(), algorithm=algorithm))
    [found] = judged("DEV-ROOT-ACTIVE", corp(), fleet).values()
    assert found.status is Status.PASS and found.evidence["matched"]["algorithm"] == fingerprint


def test_root_missing_and_root_inactive_fail_with_their_own_reasons() -> None:
    fleet = devices(device("gone", root="missing"), device("off", root="inactive"))
    found = judged("DEV-ROOT-ACTIVE", corp(), fleet)
    assert (found["gone"].status, reason(found["gone"])) == (Status.FAIL, "ROOT_NOT_LISTED")
    assert (found["off"].status, reason(found["off"])) == (Status.FAIL, "ROOT_INACTIVE")
    assert "Go Daddy Class 2 CA" in found["gone"].evidence["active_roots"]


def test_root_check_skips_when_the_certificate_did_not_load() -> None:
    fleet = devices(device("pc-01"))
    unread = judged("DEV-ROOT-ACTIVE", Seen(), fleet)["pc-01"]  # never read: CERT-LOADABLE errs
    assert unread.status is Status.SKIPPED and reason(unread) == "PREREQUISITE"
    assert unread.evidence["prerequisite"] == "CERT-LOADABLE"
    broken = Seen().certificate(bundle("two-keys.pem"))
    skipped = judged("DEV-ROOT-ACTIVE", broken, fleet)["pc-01"]
    assert skipped.status is Status.SKIPPED and skipped.evidence["prerequisite"] == "CERT-LOADABLE"
    bare = site("sites: [{name: hq, amt: {devices: [x.json]}, domains: [{name: corp.example}]}]")
    none = judged("DEV-ROOT-ACTIVE", Seen(), fleet, bare)["pc-01"]
    assert none.status is Status.SKIPPED and reason(none) == "PREREQUISITE"


def test_root_check_skips_without_a_root_naming_chain_complete() -> None:
    rootless = leaf_bundle(pki.BY_NAME["good"], "issuing")  # the chain stops below the root
    found = judged("DEV-ROOT-ACTIVE", Seen().certificate(rootless), devices(device()))["pc-01"]
    assert found.status is Status.SKIPPED and reason(found) == "PREREQUISITE"
    assert found.evidence["prerequisite"] == "CERT-CHAIN-COMPLETE"


# --- DEV-SUFFIX-MATCH


@pytest.mark.parametrize(("suffix", "suffix_os", "field"), [
    ("corp.example", "", "dnsSuffix"),
    (" corp.example. ", "other.example", "dnsSuffix"),  # white space and a trailing dot
    ("CORP.EXAMPLE", "", "dnsSuffix"),
    ("", "corp.example", "dnsSuffixOS"),  # no PKI DNS suffix: the OS's
    ("  ", "corp.example.", "dnsSuffixOS"),
])
def test_suffix_match_passes_naming_the_field(suffix: str, suffix_os: str, field: str) -> None:
    fleet = devices(device("pc-01", suffix=suffix, suffix_os=suffix_os))
    found = judged("DEV-SUFFIX-MATCH", corp(), fleet)["pc-01"]
    assert found.status is Status.PASS and reason(found) == "SUFFIX_MATCH"
    assert found.evidence["suffix_field"] == field
    assert found.evidence["domain"] == "corp.example"
    assert found.evidence["matched"] == "provisionserver.corp.example"


@pytest.mark.parametrize(("suffix", "suffix_os", "tag"), [
    ("", "", "SUFFIX_EMPTY"),
    (" . ", "\t", "SUFFIX_EMPTY"),
    ("corp.local", "corp.example", "SUFFIX_MISMATCH"),  # dnsSuffix set: the OS's is not used
    ("", "branch.example", "SUFFIX_MISMATCH"),
    ("example", "", "SUFFIX_ONE_LABEL"),
])
def test_suffix_match_fails(suffix: str, suffix_os: str, tag: str) -> None:
    fleet = devices(device("pc-01", suffix=suffix, suffix_os=suffix_os))
    found = judged("DEV-SUFFIX-MATCH", corp(), fleet)["pc-01"]
    assert found.status is Status.FAIL and reason(found) == tag
    assert found.evidence["domain"] == "corp.example"


def test_empty_suffix_fails_even_without_a_certificate() -> None:
    found = judged("DEV-SUFFIX-MATCH", Seen(), devices(device("pc-01", suffix="",
                                                              suffix_os="")))["pc-01"]
    assert found.status is Status.FAIL and reason(found) == "SUFFIX_EMPTY"


def test_suffix_skips_without_a_certificate() -> None:
    found = judged("DEV-SUFFIX-MATCH", Seen(), devices(device("pc-01")))["pc-01"]
    assert found.status is Status.SKIPPED and reason(found) == "PREREQUISITE"


# --- DEV-CONTROL-MODE


@pytest.mark.parametrize(("mode", "status", "tag"), [
    ("pre-provisioning state", Status.PASS, "PRE_PROVISIONING"),
    (ADMIN, Status.SKIPPED, "ADMIN_CONTROL_MODE"),
    (CLIENT, Status.FAIL, "CLIENT_CONTROL_MODE"),
    ("unknown state", Status.ERROR, "UNKNOWN_CONTROL_MODE"),
])
def test_control_mode(mode: str, status: Status, tag: str) -> None:
    found = judged("DEV-CONTROL-MODE", corp(), devices(device("pc-01", mode=mode)))["pc-01"]
    assert found.status is status and reason(found) == tag
    assert found.evidence["domain"] == "corp.example"


# --- files that give no device, targets


def test_an_unreadable_file_is_an_error_of_every_check_and_the_others_are_judged() -> None:
    fleet = inventory(("inventory/pc-17.json", b'{"controlMode": "pre-prov'),
                      ("inventory/pc-18.json", device("pc-18")))
    for check_id in DEV:
        found = judged(check_id, corp(), fleet)
        assert found["pc-17.json"].status is Status.ERROR, check_id
        assert reason(found["pc-17.json"]) == "UNREADABLE_FILE"
        assert found["pc-17.json"].evidence["domain"] is None
        assert found["pc-18"].status is Status.PASS, check_id


def test_a_pattern_matching_nothing_and_files_never_read() -> None:
    from amt_preflight.observations.devices import DeviceFileProblem

    nothing = DeviceInventory(("inventory/*.json",), (), (DeviceFileProblem(
        "inventory/*.json", "no-match", "matches no file", pattern=True),))
    [found] = judged("DEV-ROOT-ACTIVE", corp(), nothing).values()
    assert found.target == "inventory/*.json" and found.status is Status.ERROR
    assert reason(found) == "NO_FILE_MATCHED"
    for check_id in DEV[1:]:
        [other] = judged(check_id, corp(), nothing).values()
        assert reason(other) == "NO_FILE_MATCHED"
    for check_id in DEV:
        [unread] = run(check_id, corp(), HQ)  # amt.devices set, nothing observed
        assert unread.target == NO_TARGET and unread.status is Status.ERROR
        assert reason(unread) == "NOT_READ"
    no_devices = site("sites: [{name: hq, domains: [{name: corp.example}]}]")
    assert run("DEV-CONTROL-MODE", corp(), no_devices) == []  # the engine says: no target


def test_target_is_the_host_name_else_the_uuid_else_the_file_and_repeats_are_told_apart(
) -> None:
    fleet = inventory(("a/one.json", device("", uuid="8c1f-uuid")),
                      ("a/two.json", device("", uuid="")),
                      ("a/three.json", device("twin")), ("b/four.json", device("twin")),
                      ("c/bad.json", b"x"), ("d/bad.json", b"y"))
    found = judged("DEV-CONTROL-MODE", corp(), fleet)
    assert set(found) == {"8c1f-uuid", "two.json", "twin", "twin (four.json)", "bad.json",
                          "d/bad.json"}


# --- which certificate a device is judged against


def test_two_domains_the_suffix_picks_the_domain() -> None:
    fleet = devices(device("in-branch", suffix="branch.example"),
                    device("deep", suffix="", suffix_os="lab.branch.example"),
                    device("in-corp", suffix="corp.example"))
    for check_id in ("DEV-ROOT-ACTIVE", "DEV-SUFFIX-MATCH", "DEV-CONTROL-MODE"):
        found = judged(check_id, two_domains(), fleet, TWO)
        assert found["in-branch"].evidence["domain"] == "branch.example", check_id
        assert found["deep"].evidence["domain"] == "branch.example", check_id
        assert found["in-corp"].evidence["domain"] == "corp.example", check_id
    suffix = judged("DEV-SUFFIX-MATCH", two_domains(), fleet, TWO)
    assert suffix["in-branch"].status is Status.PASS
    assert suffix["in-branch"].evidence["matched"] == "provisionserver.branch.example"


def test_two_domains_a_foreign_suffix_tries_each_certificate() -> None:
    # Domains named unlike the certificates: the suffix lies in none of them, so each
    # certificate is tried and the first that the device accepts is used.
    config = site("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json]}
    domains:
      - {name: one.example, certificate: {file: corp.pem}}
      - {name: two.example, certificate: {file: wildcard.pem}}
""")
    seen = (Seen().certificate(bundle("good.pem", domain="one.example"), "one.example")
            .certificate(bundle("wildcard.pem", domain="two.example"), "two.example"))
    fleet = devices(device("sub", suffix="lab.corp.example"),  # only *.corp.example covers it
                    device("none", suffix="elsewhere.test"))
    found = judged("DEV-SUFFIX-MATCH", seen, fleet, config)
    assert found["sub"].status is Status.PASS and found["sub"].evidence["domain"] == "two.example"
    assert found["sub"].evidence["rule"].startswith("b:")
    assert found["none"].status is Status.FAIL and reason(found["none"]) == "SUFFIX_MISMATCH"
    assert found["none"].evidence["domain"] == "one.example"  # the first whose root it holds
    root = judged("DEV-ROOT-ACTIVE", seen, fleet, config)
    assert root["sub"].evidence["domain"] == "two.example"


def test_two_domains_without_any_certificate_skip_naming_none() -> None:
    config = site("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json]}
    domains: [{name: one.example}, {name: two.example}]
""")
    found = judged("DEV-ROOT-ACTIVE", Seen(), devices(device("pc", suffix="x.test")), config)
    assert found["pc"].status is Status.SKIPPED and found["pc"].evidence["domain"] is None
    assert reason(found["pc"]) == "PREREQUISITE"


# --- many devices


def test_a_big_array_file_is_judged_device_by_device() -> None:
    docs = [device(f"ws{n:05d}", root="inactive" if n % 100 == 0 else "active")
            for n in range(1_500)]
    docs[7] = {"controlMode": "pre-provisioning state"}  # no certificateHashes
    data = json.dumps(docs, separators=(",", ":")).encode()  # 7 MB, under the 8 MiB bound
    fleet = inventory(("inventory/fleet.json", data))
    assert len(fleet.reports) == 1_499 and [p.target for p in fleet.problems] == [
        "fleet.json[7]"]
    found = judged("DEV-ROOT-ACTIVE", corp(), fleet)
    assert len(found) == 1_500
    assert found["fleet.json[7]"].status is Status.ERROR
    tags = [reason(f) for f in found.values()]
    assert tags.count("ROOT_INACTIVE") == 15 and tags.count("ROOT_ACTIVE") == 1_484


# --- the lab's fleet (make demo)


def test_the_lab_fleet_gives_each_case_once_or_twice() -> None:
    from lab import devices as lab_devices

    fleet = inventory(*((f"lab-pki/devices/{name}", data)
                        for name, data in lab_devices.files(ROOT).items()))
    tags: dict[str, list[str]] = {}
    for check_id in DEV:
        for target, found in judged(check_id, corp(), fleet).items():
            if reason(found) not in ("ROOT_ACTIVE", "SUFFIX_MATCH", "PRE_PROVISIONING"):
                tags.setdefault(reason(found), []).append(target)
    assert {tag: sorted(set(targets)) for tag, targets in tags.items()} == {
        "ROOT_NOT_LISTED": ["hq-ws032", "hq-ws033"],
        "ROOT_INACTIVE": ["hq-ws034", "hq-ws035"],
        "SUFFIX_MISMATCH": ["hq-ws036", "hq-ws037"],
        "CLIENT_CONTROL_MODE": ["hq-ws038"],
        "ADMIN_CONTROL_MODE": ["hq-ws039"],
        "UNREADABLE_FILE": ["hq-ws040.json"],
    }


# --- CERT-ROOT-TRUSTED: with amt.devices the devices' own lists decide


def test_devices_holding_the_root_make_it_trusted_whatever_the_hint_lists_say() -> None:
    """The lab root is in no built-in list; every device reports it active (inserted)."""
    [finding] = run("CERT-ROOT-TRUSTED", with_fleet(corp(), devices(device("a"), device("b"))),
                    HQ)
    assert finding.status is Status.PASS
    assert finding.evidence["devices_holding"] == 2 and finding.evidence["devices_lacking"] == []
    assert "AMT 11-13" in finding.evidence["matches"]  # the hint lists, as context


def test_a_device_lacking_the_root_fails_root_trusted_naming_it() -> None:
    fleet = devices(device("a"), device("b", root="inactive"), device("c", root="missing"))
    [finding] = run("CERT-ROOT-TRUSTED", with_fleet(corp(), fleet), HQ)
    assert (finding.status, finding.reason) == (Status.FAIL, "ROOT_INACTIVE_ON_DEVICES")
    assert finding.evidence["devices_lacking"] == ["b", "c"]


def test_root_trusted_takes_each_domains_devices() -> None:
    fleet = devices(device("in-corp", suffix="corp.example"),
                    device("in-branch", suffix="branch.example", root="missing"))
    found = {f.target: f for f in run("CERT-ROOT-TRUSTED", with_fleet(two_domains(), fleet),
                                      TWO)}
    assert found["corp.example"].status is Status.PASS
    assert found["corp.example"].evidence["devices_holding"] == 1
    assert found["branch.example"].reason == "ROOT_INACTIVE_ON_DEVICES"
    assert found["branch.example"].evidence["devices_lacking"] == ["in-branch"]


def _evaluated(seen: Seen, fleet: DeviceInventory, *check_ids: str
               ) -> dict[tuple[str, str], tuple[Status, str | None]]:
    """The checks as the engine runs them, prerequisites and all."""
    from amt_preflight import engine
    from amt_preflight.checks import spec

    cfg = config("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json]}
    domains: [{name: corp.example, certificate: {file: corp.pem}}]
""")
    _, results = engine.evaluate(cfg, cfg.sites, [spec(c) for c in check_ids],
                                 engine.Gathered(with_fleet(seen, fleet).obs), False, NOW)
    return {(r.check, r.target): (r.status, r.reason) for r in results}


def test_devices_rest_on_their_domains_certificate_only_where_they_lack_it() -> None:
    fleet = devices(device("pc-01"), device("blank", suffix="", suffix_os=""))
    found = _evaluated(Seen().certificate(bundle("two-keys.pem")), fleet, "CERT-LOADABLE",
                       *DEV)
    assert found[("CERT-LOADABLE", "corp.example")] == (Status.FAIL, "SEVERAL_KEYS")
    assert found[("DEV-ROOT-ACTIVE", "pc-01")] == (Status.SKIPPED, "PREREQUISITE")
    assert found[("DEV-SUFFIX-MATCH", "pc-01")] == (Status.SKIPPED, "PREREQUISITE")
    # an empty suffix fails whatever the certificate; the control mode needs none
    assert found[("DEV-SUFFIX-MATCH", "blank")] == (Status.FAIL, "SUFFIX_EMPTY")
    assert found[("DEV-CONTROL-MODE", "pc-01")] == (Status.PASS, "PRE_PROVISIONING")


def test_devices_rest_on_chain_complete_only_where_there_is_no_root() -> None:
    rootless = Seen().certificate(leaf_bundle(pki.BY_NAME["good"], "issuing"))
    found = _evaluated(rootless, devices(device("pc-01")), "CERT-CHAIN-COMPLETE",
                       "DEV-ROOT-ACTIVE", "DEV-SUFFIX-MATCH")
    assert found[("CERT-CHAIN-COMPLETE", "corp.example")] == (Status.FAIL, "NO_ROOT_IN_FILE")
    assert found[("DEV-ROOT-ACTIVE", "pc-01")] == (Status.SKIPPED, "PREREQUISITE")
    assert found[("DEV-SUFFIX-MATCH", "pc-01")] == (Status.PASS, "SUFFIX_MATCH")


def test_without_device_reports_the_hint_lists_decide() -> None:
    plain = site("sites: [{name: hq, domains: [{name: corp.example, certificate: "
                 "{file: corp.pem}}]}]")
    [finding] = run("CERT-ROOT-TRUSTED", corp(), plain)
    assert finding.status is Status.FAIL and "devices_holding" not in finding.evidence
