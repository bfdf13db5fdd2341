"""SNMP checks on hand-made observations: every ID passes and fails where it should, with its
reason tag, and a device that does not answer skips its interfaces and processes, naming the
cause (SNMP-DEVICE-ANSWERS)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from amt_preflight import engine
from amt_preflight.checks import spec
from amt_preflight.checks.snmp import same_process
from amt_preflight.model import Finding, Result, Status
from amt_preflight.observations import Observations, SiteView
from amt_preflight.observations.snmp import (
    SnmpExchange,
    SnmpInterface,
    SnmpInterfaces,
    SnmpOutcome,
    SnmpProcesses,
    SnmpSystem,
)

from .observed import config

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SWITCH, SERVER = "10.250.0.40", "10.250.0.41"
SITE = f"""
sites:
  - name: hq
    snmp:
      devices:
        - {{host: {SWITCH}, community_env: SNMP_COMMUNITY, interfaces: [Gi1/0/24, 7]}}
        - {{host: {SERVER}, user: amtmon, auth_protocol: SHA256, auth_key_env: SNMP_AUTH,
           priv_protocol: AES, priv_key_env: SNMP_PRIV, processes: [AMTConfigSvc, sqlservr]}}
"""


def exchange(host: str, request: str, outcome: SnmpOutcome = SnmpOutcome.ANSWER,
             detail: str = "") -> SnmpExchange:
    return SnmpExchange(host, 161, "v2c, community from $SNMP_COMMUNITY", request, outcome,
                        detail, requests=1, rows=3, started_at=1_800_000_000.0, elapsed_ms=4.0)


class Snmp:
    """Observations of the two devices of SITE, healthy unless told otherwise."""

    def __init__(self) -> None:
        self.obs = Observations()
        for host in (SWITCH, SERVER):
            self.system(host)
        self.interfaces()
        self.processes(("systemd", "AMTConfigSvc.exe", "sqlservr"))

    def system(self, host: str, outcome: SnmpOutcome = SnmpOutcome.ANSWER, detail: str = "",
               descr: str | None = "Cisco IOS Software", uptime: int | None = 123456) -> Snmp:
        answered = outcome is SnmpOutcome.ANSWER
        self.obs.record(SnmpSystem(
            exchange(host, "GET system", outcome, detail), descr if answered else None,
            uptime if answered else None, "sw1" if answered else None,
            () if descr and uptime else ("sysDescr: no such object",)), "hq")
        return self

    def interfaces(self, *found: SnmpInterface, outcome: SnmpOutcome = SnmpOutcome.ANSWER,
                   names: Iterable[str] = ("Gi1/0/24", "Gi1/0/7")) -> Snmp:
        found = found or (SnmpInterface("Gi1/0/24", 24, "ifName", "Gi1/0/24", "GigabitEth 24",
                                        1, 1),
                          SnmpInterface("7", 7, "ifIndex", "Gi1/0/7", "GigabitEth 7", 1, 1))
        self.obs.record(SnmpInterfaces(
            SWITCH, (exchange(SWITCH, "WALK ifName", outcome, "stopped"),
                     exchange(SWITCH, "GET ifOperStatus")), found, tuple(names)), "hq")
        return self

    def processes(self, names: Iterable[str], outcome: SnmpOutcome = SnmpOutcome.ANSWER
                  ) -> Snmp:
        self.obs.record(SnmpProcesses(
            exchange(SERVER, "WALK hrSWRunName", outcome, "why"), tuple(names)), "hq")
        return self

    def view(self) -> SiteView:
        return self.obs.site("hq", NOW)


def findings(check: str, observed: Snmp, site_text: str = SITE) -> list[Finding]:
    """The check's findings, each reason tag checked against its metadata."""
    return spec(check).judge(config(site_text).sites[0], observed.view())


def judge(check: str, observed: Snmp) -> dict[str, Status]:
    return {f.target: f.status for f in findings(check, observed)}


def reasons(check: str, observed: Snmp) -> dict[str, str | None]:
    return {f.target: f.reason for f in findings(check, observed)}


def test_healthy_devices_pass_everything() -> None:
    observed = Snmp()
    assert judge("SNMP-DEVICE-ANSWERS", observed) == {SWITCH: Status.PASS, SERVER: Status.PASS}
    assert judge("SNMP-IF-UP", observed) == {
        f"{SWITCH}/Gi1/0/24": Status.PASS, f"{SWITCH}/7": Status.PASS}
    assert judge("SNMP-SERVICE-RUNNING", observed) == {SERVER: Status.PASS}


@pytest.mark.parametrize(("outcome", "status", "reason"), [
    (SnmpOutcome.NO_ANSWER, Status.FAIL, "NO_ANSWER"),  # wrong community, ACL, host down
    (SnmpOutcome.AUTH_FAILED, Status.FAIL, "AUTH_FAILED"),  # wrong v3 auth key
    (SnmpOutcome.AGENT_ERROR, Status.FAIL, "AGENT_ERROR"),
    (SnmpOutcome.NO_SECRET, Status.ERROR, "NO_SECRET"),  # the community's variable is not set
    (SnmpOutcome.PROBE_ERROR, Status.ERROR, "PROBE_ERROR"),
    (SnmpOutcome.NOT_OBSERVED, Status.ERROR, "NOT_DECIDED"),  # the deadline came first
])
def test_device_that_does_not_answer(outcome: SnmpOutcome, status: Status, reason: str) -> None:
    observed = Snmp().system(SWITCH, outcome, "no answer: wrong community, ACL or host down")
    assert judge("SNMP-DEVICE-ANSWERS", observed) == {SWITCH: status, SERVER: Status.PASS}
    assert reasons("SNMP-DEVICE-ANSWERS", observed) == {SWITCH: reason, SERVER: None}


def test_device_without_sysdescr_fails() -> None:
    observed = Snmp().system(SWITCH, descr=None)
    [switch, _] = findings("SNMP-DEVICE-ANSWERS", observed)
    assert (switch.status, switch.reason) == (Status.FAIL, "SYSTEM_INCOMPLETE")


def test_interfaces_and_processes_of_a_silent_device_are_left_to_the_prerequisite() -> None:
    """Alone (SNMP-DEVICE-ANSWERS not selected), the checks say they could not judge."""
    observed = Snmp().system(SWITCH, SnmpOutcome.NO_ANSWER, "no answer").system(
        SERVER, SnmpOutcome.AUTH_FAILED, "authentication failed")
    found = [*findings("SNMP-IF-UP", observed), *findings("SNMP-SERVICE-RUNNING", observed)]
    assert {(f.status, f.reason) for f in found} == {(Status.SKIPPED, "PREREQUISITE")}
    assert {f.evidence["prerequisite"] for f in found} == {"SNMP-DEVICE-ANSWERS"}


def test_only_the_silent_device_is_skipped() -> None:
    observed = Snmp().system(SERVER, SnmpOutcome.NO_ANSWER, "no answer")
    assert set(judge("SNMP-IF-UP", observed).values()) == {Status.PASS}
    assert judge("SNMP-SERVICE-RUNNING", observed) == {SERVER: Status.SKIPPED}


@pytest.mark.parametrize(("admin", "oper", "reason"), [
    (2, 2, "ADMIN_DOWN"), (1, 2, "OPER_DOWN"), (1, 7, "OPER_DOWN"), (1, 5, "OPER_DOWN")])
def test_interface_not_up_fails(admin: int, oper: int, reason: str) -> None:
    down = SnmpInterface("Gi1/0/24", 24, "ifName", "Gi1/0/24", "GigabitEth 24", admin, oper)
    up = SnmpInterface("7", 7, "ifIndex", "Gi1/0/7", "GigabitEth 7", 1, 1)
    observed = Snmp().interfaces(down, up)
    assert judge("SNMP-IF-UP", observed) == {
        f"{SWITCH}/Gi1/0/24": Status.FAIL, f"{SWITCH}/7": Status.PASS}
    assert reasons("SNMP-IF-UP", observed)[f"{SWITCH}/Gi1/0/24"] == reason


def test_interface_evidence_shows_both_statuses() -> None:
    down = SnmpInterface("Gi1/0/24", 24, "ifName", "Gi1/0/24", "GigabitEth 24", 2, 2)
    observed = Snmp().interfaces(down, SnmpInterface("7"))
    first, second = findings("SNMP-IF-UP", observed)
    assert (first.evidence["ifAdminStatus"], first.evidence["ifOperStatus"]) == (
        "down(2)", "down(2)")
    assert second.status is Status.FAIL and second.evidence["interfaces_seen"]


def test_interface_not_found_fails_but_an_unreadable_table_is_an_error() -> None:
    missing = (SnmpInterface("Gi1/0/24"), SnmpInterface("7"))
    assert set(judge("SNMP-IF-UP", Snmp().interfaces(*missing)).values()) == {Status.FAIL}
    assert set(reasons("SNMP-IF-UP", Snmp().interfaces(*missing)).values()) == {
        "NO_SUCH_INTERFACE"}
    looped = Snmp().interfaces(*missing, outcome=SnmpOutcome.BAD_WALK)
    assert set(judge("SNMP-IF-UP", looped).values()) == {Status.ERROR}
    assert set(reasons("SNMP-IF-UP", looped).values()) == {"TABLE_UNREADABLE"}


def test_interface_found_before_a_walk_went_wrong_is_judged() -> None:
    found = (SnmpInterface("Gi1/0/24", 24, "ifName", "Gi1/0/24", None, 1, 1),
             SnmpInterface("7"))
    got = judge("SNMP-IF-UP", Snmp().interfaces(*found, outcome=SnmpOutcome.BAD_WALK))
    assert got == {f"{SWITCH}/Gi1/0/24": Status.PASS, f"{SWITCH}/7": Status.ERROR}


def test_interface_found_without_its_status_is_an_error() -> None:
    found = (SnmpInterface("Gi1/0/24", 24, "ifName", "Gi1/0/24", None, None, None),
             SnmpInterface("7", 7, "ifIndex", "Gi1/0/7", "GigabitEth 7", 1, 1))
    got = findings("SNMP-IF-UP", Snmp().interfaces(*found))
    assert [(f.status, f.reason) for f in got] == [
        (Status.ERROR, "STATUS_UNREADABLE"), (Status.PASS, None)]


def test_process_missing_fails() -> None:
    observed = Snmp().processes(("systemd", "AMTConfigSvc"))
    assert judge("SNMP-SERVICE-RUNNING", observed) == {SERVER: Status.FAIL}
    assert reasons("SNMP-SERVICE-RUNNING", observed) == {SERVER: "NOT_RUNNING"}


def test_process_list_unreadable_or_empty_is_an_error() -> None:
    unreadable = Snmp().processes((), SnmpOutcome.NO_ANSWER)
    assert judge("SNMP-SERVICE-RUNNING", unreadable) == {SERVER: Status.ERROR}
    assert reasons("SNMP-SERVICE-RUNNING", unreadable) == {SERVER: "LIST_UNREADABLE"}
    assert judge("SNMP-SERVICE-RUNNING", Snmp().processes(())) == {SERVER: Status.ERROR}
    assert reasons("SNMP-SERVICE-RUNNING", Snmp().processes(())) == {
        SERVER: "NO_PROCESSES_LISTED"}
    partial = Snmp().processes(("AMTConfigSvc",), SnmpOutcome.BAD_WALK)
    assert judge("SNMP-SERVICE-RUNNING", partial) == {SERVER: Status.ERROR}
    complete = Snmp().processes(("AMTConfigSvc", "sqlservr"), SnmpOutcome.BAD_WALK)
    assert judge("SNMP-SERVICE-RUNNING", complete) == {SERVER: Status.PASS}


@pytest.mark.parametrize(("wanted", "running", "same"), [
    ("AMTConfigSvc", "AMTConfigSvc", True),
    ("AMTConfigSvc", "amtconfigsvc.exe", True),
    ("AMTConfigSvc.exe", "AMTConfigSvc", True),
    ("AMTConfigService", "AMTConfigServic", True),  # Linux's 15-character cut
    ("AMTConfigSvc", "AMTConfig", False),
    ("AMTConfigService2", "AMTConfigServic", True),
    ("AMTConfigSvc", "AMTConfigSvcX", False),
])
def test_process_names_match_as_agents_report_them(wanted: str, running: str,
                                                   same: bool) -> None:
    assert same_process(wanted, running) is same


def results(observed: Snmp, checks: Iterable[str]) -> list[Result]:
    cfg = config(SITE)
    gathered = engine.Gathered(observed.obs)
    _, made = engine.evaluate(cfg, cfg.sites, [spec(c) for c in checks], gathered, False, NOW)
    return made


def test_engine_keeps_the_per_device_skips_and_the_evidence_is_json() -> None:
    import json

    observed = Snmp().system(SWITCH, SnmpOutcome.NO_ANSWER, "no answer")
    made = results(observed, ["SNMP-DEVICE-ANSWERS", "SNMP-IF-UP", "SNMP-SERVICE-RUNNING"])
    got = {(r.check, r.target): (r.status, r.reason) for r in made}
    assert got == {
        ("SNMP-DEVICE-ANSWERS", SWITCH): (Status.FAIL, "NO_ANSWER"),
        ("SNMP-DEVICE-ANSWERS", SERVER): (Status.PASS, None),
        ("SNMP-IF-UP", f"{SWITCH}/Gi1/0/24"): (Status.SKIPPED, "PREREQUISITE"),
        ("SNMP-IF-UP", f"{SWITCH}/7"): (Status.SKIPPED, "PREREQUISITE"),
        ("SNMP-SERVICE-RUNNING", SERVER): (Status.PASS, None),
    }
    json.dumps([r.to_json() for r in made])


ETH0_SITE = f"""
sites:
  - name: hq
    snmp:
      devices:
        - {{host: {SWITCH}, community_env: SNMP_COMMUNITY, interfaces: [eth0]}}
"""


def test_engine_skips_host_slash_interface_when_its_host_does_not_answer() -> None:
    """SNMP-IF-UP for host/eth0 rests on SNMP-DEVICE-ANSWERS for host (`host_of`): the engine
    skips it, though the check alone would judge the interface (the agent answers, without
    sysDescr, and its interface table reads up)."""
    eth0 = SnmpInterface("eth0", 2, "ifName", "eth0", "eth0", 1, 1)
    observed = Snmp().system(SWITCH, descr=None).interfaces(eth0, names=("lo", "eth0"))
    [alone] = findings("SNMP-IF-UP", observed, ETH0_SITE)
    assert (alone.target, alone.status) == (f"{SWITCH}/eth0", Status.PASS)
    cfg = config(ETH0_SITE)
    specs = [spec("SNMP-DEVICE-ANSWERS"), spec("SNMP-IF-UP")]
    _, made = engine.evaluate(cfg, cfg.sites, specs, engine.Gathered(observed.obs), False, NOW)
    device, interface = made
    assert (device.target, device.status, device.reason) == (
        SWITCH, Status.FAIL, "SYSTEM_INCOMPLETE")
    assert (interface.target, interface.status, interface.reason) == (
        f"{SWITCH}/eth0", Status.SKIPPED, "PREREQUISITE")
    assert interface.evidence["prerequisite"] == "SNMP-DEVICE-ANSWERS"
    assert interface.evidence["prerequisite_targets"] == [SWITCH]


def test_a_site_without_devices_has_nothing_to_check() -> None:
    cfg = config("sites: [{name: hq}]")
    made = engine.evaluate(cfg, cfg.sites, [spec("SNMP-DEVICE-ANSWERS")],
                           engine.Gathered(Observations()), False, NOW)[1]
    assert [r.status for r in made] == [Status.SKIPPED]
