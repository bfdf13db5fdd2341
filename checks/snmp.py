"""SNMP checks: the network devices and servers the provisioning path depends on.

SNMP-IF-UP and SNMP-SERVICE-RUNNING require SNMP-DEVICE-ANSWERS for the same device
(`host_of`: host/interface rests on host): the engine skips the interfaces and processes of a
device that does not pass it, and the other devices are judged as usual. Without it (not
selected) a device that did not answer leaves its interfaces and processes unjudged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from amt_preflight.catalogue import CheckSpec, Need, check, host_of, unjudged
from amt_preflight.config import SiteConfig
from amt_preflight.model import Finding, Status
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import clipped
from amt_preflight.observations.snmp import (
    SnmpExchange,
    SnmpInterfaces,
    SnmpOutcome,
    SnmpProcesses,
    SnmpSystem,
    if_status_text,
    uptime_text,
)

IF_UP = 1  # ifOperStatus and ifAdminStatus up(1)
IF_DOWN = 2
LINUX_NAME_LENGTH = 15  # Linux cuts a process name (hrSWRunName) to this many characters
NAMES_SHOWN = 50  # interface names listed in the evidence when the wanted one is missing
# What the probe could not do is an error (no decision); what the agent did is a finding.
UNDECIDED = frozenset({SnmpOutcome.NO_SECRET, SnmpOutcome.PROBE_ERROR,
                       SnmpOutcome.NOT_OBSERVED})

SNMP_REFERENCES = ["RFC 3418: SNMPv2-MIB (system group)",
                   "RFC 3414: User-based Security Model (USM) for SNMPv3"]


def _timing(exchanges: Iterable[SnmpExchange]) -> tuple[datetime | None, int | None]:
    seen = [e for e in exchanges if e.started_at]
    if not seen:
        return None, None
    start = min(e.started_at for e in seen)
    end = max(e.started_at + e.elapsed_ms / 1000 for e in seen)
    return datetime.fromtimestamp(start, UTC), round((end - start) * 1000)


def _finding(target: str, status: Status, message: str, exchanges: Iterable[SnmpExchange],
             evidence: dict[str, Any], reason: str | None = None) -> Finding:
    started, duration = _timing(exchanges)
    return Finding(target, status, message, evidence, started_at=started, duration_ms=duration,
                   reason=reason)


# SNMP-DEVICE-ANSWERS: the outcome of the GET of the system group, as a reason tag
OUTCOME_REASONS: dict[SnmpOutcome, str] = {
    SnmpOutcome.NO_ANSWER: "NO_ANSWER",
    SnmpOutcome.AUTH_FAILED: "AUTH_FAILED",
    SnmpOutcome.AGENT_ERROR: "AGENT_ERROR",
    SnmpOutcome.BAD_WALK: "AGENT_ERROR",
    SnmpOutcome.NO_SECRET: "NO_SECRET",
    SnmpOutcome.PROBE_ERROR: "PROBE_ERROR",
    SnmpOutcome.NOT_OBSERVED: "NOT_DECIDED",
}


def _answers(host: str, system: SnmpSystem) -> Finding:
    exchange = system.exchange
    evidence = system.to_evidence()
    if exchange.outcome in UNDECIDED:
        return _finding(host, Status.ERROR, f"{host}: {exchange.detail}", [exchange], evidence,
                        OUTCOME_REASONS[exchange.outcome])
    if exchange.outcome is not SnmpOutcome.ANSWER:
        return _finding(host, Status.FAIL, f"{host}: {exchange.detail}", [exchange], evidence,
                        OUTCOME_REASONS[exchange.outcome])
    if system.descr is None or system.uptime_ticks is None:
        lacking = ", ".join(system.missing) or "sysDescr or sysUpTime missing"
        return _finding(host, Status.FAIL, f"{host} answers, but without {lacking}", [exchange],
                        evidence, "SYSTEM_INCOMPLETE")
    name = f"{system.name}, " if system.name else ""
    return _finding(host, Status.PASS, f"{host} answers: {name}up "
                    f"{uptime_text(system.uptime_ticks)}, {clipped(system.descr, 80)}",
                    [exchange], evidence)


def _silent(host: str, obs: SiteView, target: str) -> Finding | None:
    """A target left unjudged because its device did not answer the GET of its system group:
    nothing else was asked of it (the engine words the skip when SNMP-DEVICE-ANSWERS ran)."""
    exchange = obs.snmp_system(host).exchange
    if exchange.outcome.answered:
        return None
    return unjudged(target, "SNMP-DEVICE-ANSWERS", f"{host} did not answer "
                    f"({exchange.outcome.value})", {"cause": exchange.describe()})


@check(
    id="SNMP-DEVICE-ANSWERS",
    title="SNMP device answers",
    severity="medium",
    needs=[Need.SNMP_SYSTEM],
    passes_when=(
        "each configured device answers a GET of sysDescr and sysUpTime (sysName is shown), "
        "with its SNMPv2c community or SNMPv3 user"
    ),
    remediation=(
        "Make the agent answer this host: SNMP running, UDP 161 open on the way, the "
        "community or the SNMPv3 user, protocols and keys as configured here, and this host "
        "in the agent's ACL and view. A wrong community or privacy key gets silence, not an "
        "error; a wrong auth key gets an authentication failure."
    ),
    references=SNMP_REFERENCES,
    reasons={
        "NO_ANSWER": "silence for every attempt: a wrong community or privacy key, an ACL, "
                     "or the host is down",
        "AUTH_FAILED": "SNMPv3 USM refused us: a wrong auth key or an unknown user",
        "AGENT_ERROR": "the agent answered with an error-status (noAccess, genErr, ...)",
        "SYSTEM_INCOMPLETE": "the agent answers, but without sysDescr or sysUpTime",
        "NO_SECRET": "the community or a key could not be read (variable not set, ...)",
        "PROBE_ERROR": "the request could not be made (bad address, no AES support)",
        "NOT_DECIDED": "the device was not asked before the run's deadline",
    },
)
def device_answers(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for device in site.snmp.devices:
        yield _answers(device.host, obs.snmp_system(device.host))


def _interface(target: str, host: str, wanted: str, observed: SnmpInterfaces) -> Finding:
    exchanges = observed.exchanges
    evidence: dict[str, Any] = {"exchanges": [e.to_evidence() for e in exchanges]}
    failed = observed.failed
    found = observed.interface(wanted)
    if found is None or found.index is None:
        if failed is not None:
            return _finding(target, Status.ERROR, f"could not read the interface table of "
                            f"{host}: {failed.describe()}", exchanges, evidence,
                            "TABLE_UNREADABLE")
        names = list(observed.names_seen)
        evidence["interfaces_seen"] = names[:NAMES_SHOWN]
        listed = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
        return _finding(target, Status.FAIL, f"{host} has no interface {wanted} (by ifName, "
                        f"ifDescr or ifIndex); it has {listed or 'none'}", exchanges, evidence,
                        "NO_SUCH_INTERFACE")
    evidence.update(found.to_evidence())
    oper, admin = if_status_text(found.oper_status), if_status_text(found.admin_status)
    if found.oper_status is None:
        said = failed.describe() if failed is not None else "the agent gave no ifOperStatus"
        return _finding(target, Status.ERROR, f"status of {target} not read: {said}", exchanges,
                        evidence, "STATUS_UNREADABLE")
    if found.oper_status == IF_UP:
        return _finding(target, Status.PASS, f"{target} is up (ifOperStatus {oper}, "
                        f"ifAdminStatus {admin})", exchanges, evidence)
    admin_down = found.admin_status == IF_DOWN
    why = "shut down in the device's configuration" if admin_down else "enabled, but without a link"
    return _finding(target, Status.FAIL, f"{target} is ifOperStatus {oper}, ifAdminStatus "
                    f"{admin}: {why}", exchanges, evidence,
                    "ADMIN_DOWN" if admin_down else "OPER_DOWN")


@check(
    id="SNMP-IF-UP",
    title="Network interface is up",
    severity="high",
    needs=[Need.SNMP_SYSTEM, Need.SNMP_INTERFACES],
    passes_when=(
        "each configured interface of each device (by ifName, else ifDescr, or by ifIndex: "
        "the AMT VLAN uplink, the DHCP relay interface) is ifOperStatus up; ifAdminStatus is "
        "shown. Skipped for a device that does not pass SNMP-DEVICE-ANSWERS"
    ),
    requires={"SNMP-DEVICE-ANSWERS": host_of},
    remediation=(
        "Bring the interface up. ifAdminStatus down: it is shut down in the device's "
        "configuration ('no shutdown'). Only ifOperStatus down: check the cable, the far end, "
        "the transceiver and the VLAN or trunk. Not found: correct the name in config.yaml "
        "(the evidence lists the device's interfaces)."
    ),
    references=["RFC 2863: IF-MIB (ifOperStatus, ifAdminStatus, ifName)"],
    reasons={
        "TABLE_UNREADABLE": "the interface table could not be read (the walk went wrong)",
        "NO_SUCH_INTERFACE": "no interface by that ifName, ifDescr or ifIndex (the evidence "
                             "lists the device's interfaces)",
        "STATUS_UNREADABLE": "the interface was found, but its ifOperStatus was not read",
        "ADMIN_DOWN": "the interface is shut down in the device's configuration "
                      "(ifAdminStatus down)",
        "OPER_DOWN": "the interface is enabled but not up (no link, lower layer down, "
                     "dormant, ...)",
    },
)
def interface_up(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for device in site.snmp.devices:
        for wanted in device.interfaces:
            target = f"{device.host}/{wanted}"
            yield _silent(device.host, obs, target) or _interface(
                target, device.host, str(wanted), obs.snmp_interfaces(device.host))


def _program(name: str) -> str:
    folded = name.casefold()
    return folded.removesuffix(".exe")


def same_process(wanted: str, running: str) -> bool:
    """hrSWRunName `running` is the configured process `wanted`: case-insensitive, with or
    without Windows' ".exe", and allowing for Linux's 15-character cut of long names."""
    want, run = _program(wanted), _program(running)
    return run == want or (len(running) == LINUX_NAME_LENGTH and want.startswith(run))


def _processes(host: str, wanted: list[str], observed: SnmpProcesses) -> Finding:
    exchange = observed.exchange
    running = {name: [n for n in observed.names if same_process(name, n)] for name in wanted}
    missing = [name for name, seen in running.items() if not seen]
    evidence = {
        "exchange": exchange.to_evidence(),
        "processes_listed": len(observed.names),
        "required": [{"process": name, "running": len(seen), "as": sorted(set(seen))}
                     for name, seen in running.items()],
    }
    if missing and exchange.outcome is not SnmpOutcome.ANSWER:
        return _finding(host, Status.ERROR, f"could not list the processes of {host}: "
                        f"{exchange.describe()}", [exchange], evidence, "LIST_UNREADABLE")
    if not observed.names:
        return _finding(host, Status.ERROR, f"{host} lists no processes: HOST-RESOURCES-MIB "
                        "hrSWRunTable not served, or not in this user's view", [exchange],
                        evidence, "NO_PROCESSES_LISTED")
    if missing:
        return _finding(host, Status.FAIL, f"not running on {host}: {', '.join(missing)} "
                        f"({len(observed.names)} processes listed)", [exchange], evidence,
                        "NOT_RUNNING")
    said = ", ".join(f"{name} ({len(seen)})" for name, seen in running.items())
    return _finding(host, Status.PASS, f"running on {host}: {said}", [exchange], evidence)


@check(
    id="SNMP-SERVICE-RUNNING",
    title="Required processes are running",
    severity="high",
    needs=[Need.SNMP_SYSTEM, Need.SNMP_PROCESSES],
    passes_when=(
        "on each configured server (the provisioning server, the CA) every configured process "
        "name appears in HOST-RESOURCES-MIB hrSWRunName (case-insensitive; a '.exe' suffix "
        "and Linux's 15-character cut allowed for). Skipped for a device that does not pass "
        "SNMP-DEVICE-ANSWERS"
    ),
    requires={"SNMP-DEVICE-ANSWERS": host_of},
    remediation=(
        "Start the service on the server and set it to start automatically. If it runs, "
        "compare the name in config.yaml with what the agent lists (hrSWRunName is the "
        "program's name, with .exe on Windows), and make sure the SNMP view includes "
        "HOST-RESOURCES-MIB."
    ),
    references=["RFC 2790: HOST-RESOURCES-MIB (hrSWRunTable)"],
    reasons={
        "LIST_UNREADABLE": "the process list could not be read (the walk went wrong)",
        "NO_PROCESSES_LISTED": "the device lists no processes: hrSWRunTable not served, or "
                               "not in this user's view",
        "NOT_RUNNING": "a configured process is not running (the evidence shows each)",
    },
)
def service_running(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for device in site.snmp.devices:
        if not device.processes:
            continue
        yield _silent(device.host, obs, device.host) or _processes(
            device.host, device.processes, obs.snmp_processes(device.host))


CHECKS: tuple[CheckSpec, ...] = (device_answers, interface_up, service_running)
