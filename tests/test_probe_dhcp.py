"""The DHCP probe and checks against real servers in the lab: dnsmasq and Kea, each healthy,
without option 15, with a wrong one, with a trailing dot, with a hidden character; a rogue
server beside a good one; a segment with no server; a server that ping-checks before it
offers; a hostile server. Every DHCP check passes and fails where it should against both."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from amt_preflight import engine
from amt_preflight.model import RunResult
from amt_preflight.observations.dhcp import DhcpAnswer
from amt_preflight.probes import dhcp as probe_dhcp
from lab import Lab, netns
from lab import dhcp as lab_dhcp
from lab.state import STATE_FILE, LabState

from .observed import config

pytestmark = pytest.mark.lab

ANSWERS, ALLOWED = "DHCP-SERVER-ANSWERS", "DHCP-SERVER-ALLOWED"
PRESENT, MATCH, CLEAN = "DHCP-OPT15-PRESENT", "DHCP-OPT15-MATCH", "DHCP-OPT15-CLEAN"
OPT6, ACCEPTED, REGISTERS = "DHCP-OPT6-DNS", "DHCP-OPT81-ACCEPTED", "DHCP-OPT81-REGISTERS"
PER_INTERFACE = (ANSWERS, ACCEPTED, REGISTERS)
EVERY = dict.fromkeys((ANSWERS, ALLOWED, PRESENT, MATCH, CLEAN, OPT6, ACCEPTED), "pass")


def site(name: str, interface: str, allowed: str, domain: str = "corp.example",
         window: float = 1, resolvers: str = "[10.250.0.1]", **dhcp: Any) -> str:
    """A site in config.yaml; resolvers="" takes them from option 6."""
    extra = "".join(f", {key}: {value}" for key, value in dhcp.items())
    listed = f"    resolvers: {resolvers}\n" if resolvers else ""
    return (f"  - name: {name}\n    interface: {interface}\n{listed}"
            f"    dhcp: {{allowed_servers: [{allowed}], window: {window}{extra}}}\n"
            f"    domains: [{{name: {domain}, provision_server: [10.250.0.10]}}]\n")


def survey(lab: Lab, sites: str, checks: list[str], intrusive: bool = False) -> RunResult:
    """A whole run in this process, inside the client namespace, as `amt-preflight run`."""
    cfg = config("defaults: {timeout: 1, retries: 0, deadline: 60}\nsites:\n" + sites)
    with lab.in_client():
        return engine.run(cfg, engine.RunOptions(checks=checks, allow_intrusive=intrusive))


def statuses(run: RunResult, site_name: str) -> dict[tuple[str, str], str]:
    return {(r.check, r.target): r.status.value for r in run.results if r.site == site_name}


def expected(segment: str, verdicts: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Per check, the status for the segment's one server (or its interface)."""
    [server] = lab_dhcp.segment(segment).servers
    address = lab_dhcp.segment(segment).address(server.host)
    return {(check, segment if check in PER_INTERFACE else address): status
            for check, status in verdicts.items()}


# One scenario per segment (site domain corp.example): (segment, what each check says).
SCENARIOS = [
    ("dm-ok", EVERY),
    ("kea-ok", EVERY),
    # No option 15: OPT6 asks for the configured domain instead.
    ("dm-no15", {**EVERY, PRESENT: "fail", MATCH: "skipped", CLEAN: "skipped"}),
    # Kea here answers option 81 with N set (ddns-send-updates off).
    ("kea-no15", {**EVERY, PRESENT: "fail", MATCH: "skipped", CLEAN: "skipped",
                  ACCEPTED: "fail"}),
    # wrong.example has no ProvisionServer anywhere.
    ("dm-wrong", {**EVERY, MATCH: "fail", OPT6: "fail"}),
    ("kea-wrong", {**EVERY, MATCH: "fail", OPT6: "fail"}),
    # A trailing dot names the same domain (MATCH), but is not clean.
    ("dm-dot", {**EVERY, CLEAN: "fail"}),
    ("kea-dot", {**EVERY, CLEAN: "fail"}),
    # An ESC (dnsmasq cannot send a NUL) and a NUL: another name, not clean.
    ("dm-ctrl", {**EVERY, MATCH: "fail", CLEAN: "fail"}),
    ("kea-nul", {**EVERY, MATCH: "fail", CLEAN: "fail"}),
]
ROGUE_SEGMENT = "dm-rogue"  # dnsmasq .1 hands out branch.example, Kea .2 rogue.example
DNSMASQ_ROGUE, KEA_ROGUE = "10.250.16.1", "10.250.16.2"


@pytest.fixture(scope="module")
def surveyed(dhcp_lab: Lab) -> RunResult:
    """Every scenario at once, in one run: each segment its own site."""
    sites = "".join(
        site(segment, segment, lab_dhcp.segment(segment).address(1)) for segment, _ in SCENARIOS)
    sites += site("rogue-kea", ROGUE_SEGMENT, DNSMASQ_ROGUE, "branch.example")
    sites += site("rogue-dnsmasq", ROGUE_SEGMENT, KEA_ROGUE, "branch.example")
    sites += site("none", "dhcp-none", "10.250.30.1")
    return survey(dhcp_lab, sites, ["DHCP-*"])


@pytest.mark.parametrize(("segment", "verdicts"), SCENARIOS, ids=[s for s, _ in SCENARIOS])
def test_scenario(surveyed: RunResult, segment: str, verdicts: Mapping[str, str]) -> None:
    got = statuses(surveyed, segment)
    want = expected(segment, verdicts)
    assert {k: got.get(k) for k in want} == want
    assert got[(REGISTERS, "-")] == "skipped"  # intrusive: not allowed in this run


def test_a_rogue_kea_beside_dnsmasq_is_reported_on_its_own(surveyed: RunResult) -> None:
    got = statuses(surveyed, "rogue-kea")
    assert got[(ALLOWED, DNSMASQ_ROGUE)] == "pass" and got[(ALLOWED, KEA_ROGUE)] == "fail"
    assert got[(MATCH, DNSMASQ_ROGUE)] == got[(MATCH, KEA_ROGUE)] == "fail"  # they disagree
    assert got[(OPT6, DNSMASQ_ROGUE)] == "pass" and got[(OPT6, KEA_ROGUE)] == "fail"
    assert got[(ACCEPTED, ROGUE_SEGMENT)] == "pass"  # judged on the allowed server only
    rogue = next(r for r in surveyed.results
                 if (r.site, r.check, r.target) == ("rogue-kea", ALLOWED, KEA_ROGUE))
    [offer, *_] = rogue.evidence["dhcp_server"]["answers"]
    option15 = next(o for o in offer["options"] if o["code"] == 15)
    assert option15["value"] == "rogue.example" and offer["source_mac"]


def test_a_rogue_dnsmasq_beside_kea_is_reported_on_its_own(surveyed: RunResult) -> None:
    got = statuses(surveyed, "rogue-dnsmasq")
    assert got[(ALLOWED, DNSMASQ_ROGUE)] == "fail" and got[(ALLOWED, KEA_ROGUE)] == "pass"


def test_a_stale_resolver_handed_to_devices_makes_the_site_not_ready(dhcp_lab: Lab) -> None:
    """The configured resolver is right; DHCP hands devices a second one whose
    ProvisionServer record is stale: the devices would send their hellos there."""
    run = survey(dhcp_lab, site("stale", "dm-stale", "10.250.18.1"),
                 ["DNS-PROVSERVER-*", "DHCP-OPT6-DNS"])
    got = statuses(run, "stale")
    assert got[("DNS-PROVSERVER-MATCH", "corp.example")] == "fail"
    assert got[("DNS-PROVSERVER-CONSISTENT", "corp.example")] == "fail"
    [match] = [r for r in run.results if r.check == "DNS-PROVSERVER-MATCH"]
    assert match.evidence["unexpected"] == {"10.250.0.7": ["10.250.0.66"]}
    assert match.evidence["resolver_sources"] == {
        "10.250.0.1": "site resolver (config); DHCP option 6 from 10.250.18.1",
        "10.250.0.7": "DHCP option 6 from 10.250.18.1"}
    assert [s.verdict.value for s in run.sites] == ["not-ready"]


def test_no_server_at_all(surveyed: RunResult) -> None:
    got = statuses(surveyed, "none")
    assert got[(ANSWERS, "dhcp-none")] == "fail"
    assert {got[(c, "-")] for c in (ALLOWED, PRESENT, MATCH, CLEAN, OPT6)} == {"skipped"}
    assert got[(ACCEPTED, "dhcp-none")] == "skipped"


def test_a_nul_in_option15_is_shown_in_hex(surveyed: RunResult) -> None:
    result = next(r for r in surveyed.results if (r.site, r.check) == ("kea-nul", CLEAN))
    [judged] = result.evidence["option15"]
    assert judged["hex"] == b"corp.ex\x00ample".hex() and "NUL at offset 7" in judged["problems"]


# --- option 81, end to end (intrusive) ---------------------------------------------------


def dnsmasq_leases(lab: Lab) -> str:
    return (lab.workdir / "dhcp-dnsmasq" / "leases").read_text()


def kea_lease_rows(lab: Lab) -> list[list[str]]:
    """Kea's memfile: a row per change of a lease, appended (a header row first)."""
    lines = (lab.workdir / "kea" / "leases4.csv").read_text().splitlines()
    return [line.split(",") for line in lines[1:] if line]


def live_leases(rows: list[list[str]]) -> list[str]:
    """The lease table those rows make: the last row per address, while its valid lifetime
    is not 0 (a released lease is written again with 0)."""
    last = {row[0]: row for row in rows}
    return sorted(",".join(row) for row in last.values() if row[3] != "0")


def test_option81_registers_at_dnsmasq_and_the_lease_goes_back(dhcp_lab: Lab) -> None:
    before = dnsmasq_leases(dhcp_lab)
    run = survey(dhcp_lab, site("dm", "dm-ok", "10.250.11.1", resolvers="", register_wait=5),
                 [REGISTERS, ACCEPTED], intrusive=True)
    [result] = [r for r in run.results if r.check == REGISTERS]
    assert result.status.value == "pass", result.message
    evidence = result.evidence
    assert evidence["released"] and evidence["cleanup"] == "A record gone after the RELEASE"
    # Found at the resolver of option 6 (no resolvers configured): the server's own DNS.
    assert evidence["fqdn"].endswith(".corp.example") and evidence["a_seen_at"] == [
        "10.250.11.1"]
    assert dnsmasq_leases(dhcp_lab) == before  # the lease table is as it was


def test_option81_registers_nothing_at_dnsmasq_without_a_domain_for_the_subnet(
    dhcp_lab: Lab,
) -> None:
    """dm-no15's dnsmasq has no domain for its subnet: the lease's name stays unqualified,
    so no FQDN shows in DNS."""
    before = dnsmasq_leases(dhcp_lab)
    run = survey(dhcp_lab, site("dm", "dm-no15", "10.250.12.1", resolvers="",
                                register_wait=1.5), [REGISTERS], intrusive=True)
    assert statuses(run, "dm") == {(REGISTERS, "dm-no15"): "fail"}
    assert run.results[0].evidence["released"] and dnsmasq_leases(dhcp_lab) == before


def test_option81_accepted_by_kea_registers_nothing_without_a_dns_updater(
    dhcp_lab: Lab,
) -> None:
    """Kea says it will update DNS (S set) but no kea-dhcp-ddns runs: REGISTERS tells."""
    before = kea_lease_rows(dhcp_lab)
    run = survey(dhcp_lab, site("kea", "kea-ok", "10.250.21.1", register_wait=1.5),
                 [REGISTERS, ACCEPTED], intrusive=True)
    got = statuses(run, "kea")
    assert got == {(ACCEPTED, "kea-ok"): "pass", (REGISTERS, "kea-ok"): "fail"}
    [result] = [r for r in run.results if r.check == REGISTERS]
    assert result.evidence["released"] and result.evidence["a_seen_at"] == []
    after = kea_lease_rows(dhcp_lab)
    leased = [row for row in after[len(before):] if row[0] == result.evidence["leased_address"]]
    assert [row[3] != "0" for row in leased] == [True, False]  # leased, then released
    assert live_leases(after) == live_leases(before)


def test_a_lease_cut_by_the_run_deadline_still_goes_back(dhcp_lab: Lab) -> None:
    """Kea never registers the name, so the wait outlives the deadline: the RELEASE is sent
    all the same, and Kea's lease table is as it was."""
    before = kea_lease_rows(dhcp_lab)
    text = site("kea", "kea-ok", "10.250.21.1", register_wait=30)
    cfg = config("defaults: {deadline: 1.5}\nsites:\n" + text)
    with dhcp_lab.in_client():
        run = engine.run(cfg, engine.RunOptions(checks=[REGISTERS], allow_intrusive=True))
    assert [r.status.value for r in run.results] == ["error"]
    after = kea_lease_rows(dhcp_lab)
    assert [row[3] != "0" for row in after[len(before):]] == [True, False]  # leased, released
    assert live_leases(after) == live_leases(before)


def test_option81_with_no_server_has_no_lease(dhcp_lab: Lab) -> None:
    run = survey(dhcp_lab, site("none", "dhcp-none", "10.250.30.1"), [REGISTERS],
                 intrusive=True)
    assert statuses(run, "none") == {(REGISTERS, "dhcp-none"): "fail"}


# --- the default window, hostile answers, no root ----------------------------------------


def test_the_default_window_waits_for_a_server_that_ping_checks(dhcp_lab: Lab) -> None:
    """dnsmasq pings an address before offering it: its OFFER comes about 3 s late. The
    default window (5 s) sees it; this dnsmasq also leaves DNS updates to the client."""
    text = site("slow", "dm-slow", "10.250.17.1").replace(", window: 1", "")
    run = survey(dhcp_lab, text, [ANSWERS, ACCEPTED])
    got = statuses(run, "slow")
    assert got == {(ANSWERS, "dm-slow"): "pass", (ACCEPTED, "dm-slow"): "fail"}
    [answers] = [r for r in run.results if r.check == ANSWERS]
    print(f"survey of dm-slow with the default window: {answers.duration_ms} ms; "
          f"the OFFER came after {answers.evidence['servers']['10.250.17.1'][0]['after_ms']} ms")


def test_hostile_answers_are_ignored_counted_or_decoded_never_fatal(dhcp_lab: Lab) -> None:
    segment = "dhcp-hostile"
    stop = threading.Event()
    with dhcp_lab.in_client():
        found = probe_dhcp.survey_interface(segment, probe_dhcp.client_mac(b"t", segment),
                                            "amtp-test", 1.0, stop)
    assert found.error == ""
    ignored = dict(found.ignored)
    assert ignored["another transaction (xid)"] >= 1
    assert ignored["another client's hardware address (chaddr)"] >= 1
    assert any(m.startswith("truncated: 120 bytes") for m in found.malformed)
    assert len(found.answers) == probe_dhcp.MAX_ANSWERS and found.dropped > 0
    problems = [p for a in found.answers for p in a.problems]
    assert any("overruns the packet" in p for p in problems)
    assert any(a.domain_name == b"hostile.example" and not a.problems for a in found.answers)
    # The checks judge it like any server and none of them breaks on it.
    run = survey(dhcp_lab, site("hostile", segment, "10.250.31.1"), ["DHCP-*"])
    got = statuses(run, "hostile")
    assert "error" not in got.values()
    assert got[(ANSWERS, segment)] == "pass" and got[(PRESENT, "10.250.31.1")] == "fail"


def test_a_survey_cut_by_the_run_deadline_is_an_error(dhcp_lab: Lab) -> None:
    """The deadline stops the survey's thread: the window does not outlive the run."""
    cfg = config("defaults: {deadline: 0.5}\nsites:\n" + site("dm", "dm-ok", "10.250.11.1",
                                                                window=30))
    with dhcp_lab.in_client():
        run = engine.run(cfg, engine.RunOptions(checks=[ANSWERS, MATCH]))
    assert {(r.check, r.status.value) for r in run.results} == {
        (ANSWERS, "error"), (MATCH, "error")}
    assert "deadline" in run.results[0].message


def test_an_interface_that_does_not_exist_is_an_error(dhcp_lab: Lab) -> None:
    run = survey(dhcp_lab, site("nowhere", "nope0", "10.250.0.1"), [ANSWERS, ALLOWED])
    [answers, allowed] = run.results
    assert answers.status.value == allowed.status.value == "error"
    assert "no interface named nope0" in answers.message


def test_without_root_dhcp_checks_are_errors_and_the_rest_goes_on(dhcp_lab: Lab) -> None:
    folder = Path(tempfile.mkdtemp(prefix="amtp-noroot-"))
    try:
        folder.chmod(0o755)
        path = folder / "site.yaml"
        path.write_text("sites:\n" + site("hq", "dm-ok", "10.250.11.1"))
        path.chmod(0o644)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        done = dhcp_lab.run_in_client(
            [*nobody, sys.executable, "-m", "amt_preflight.cli", "run", "-c", str(path),
             "--format", "json", "--check", "DHCP-*", "--check", "DNS-RESOLVER-ANSWERS"],
            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    document = json.loads(done.stdout)
    got = {(r["check"], r["target"]): r for r in document["results"]}
    answers = got[(ANSWERS, "dm-ok")]
    assert answers["status"] == "error" and "root" in answers["message"], done.stderr
    assert {r["status"] for k, r in got.items() if k[0].startswith("DHCP-")} <= {
        "error", "skipped"}
    assert got[("DNS-RESOLVER-ANSWERS", "10.250.0.1")]["status"] == "pass"


# --- the lab's DHCP segments themselves ----------------------------------------------------


def test_a_lab_with_dhcp_scenarios_stops_leaving_nothing(dhcp_lab: Lab) -> None:
    extra = Lab.start()
    try:
        lab_dhcp.start(extra)
        state = LabState.load(extra.workdir / STATE_FILE)
        assert len(state.namespaces) == 6 and all(s.is_alive() for s in state.servers)
    finally:
        extra.stop()
    assert not any(netns.exists(name) for name in state.namespaces)
    assert not any(server.is_alive() for server in state.servers)
    assert netns.exists(dhcp_lab.namespace("k"))  # the session's lab is untouched


def test_lab0_gets_dhcp_from_the_labs_dnsmasq(lab: Lab) -> None:
    with lab.in_client():
        found = probe_dhcp.survey_interface("lab0", probe_dhcp.client_mac(b"t", "lab0"),
                                            "amtp-test", 0.5, threading.Event())
    offer: DhcpAnswer = next(a for a in found.answers if a.message_type == "OFFER")
    assert (offer.server, offer.domain_name, offer.dns_servers) == (
        "10.250.0.1", b"corp.example", ("10.250.0.1",))


def test_the_run_loop_is_not_blocked_by_a_survey(dhcp_lab: Lab) -> None:
    """The survey runs in a thread: the event loop keeps serving other probes meanwhile."""
    async def both() -> tuple[float, int]:
        probe = probe_dhcp.DhcpProbe()
        survey_task = probe.survey("dm-ok", 0.5)
        ticks = 0
        while not survey_task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return len((await survey_task).answers), ticks

    with dhcp_lab.in_client():
        answers, ticks = asyncio.run(both())
    assert answers == 2 and ticks > 10
