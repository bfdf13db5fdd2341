"""SNMP checks: the network devices and servers the provisioning path depends on.

SNMP-IF-UP and SNMP-SERVICE-RUNNING depend on SNMP-DEVICE-ANSWERS for the same device. Their
targets (host/interface, host) are not always its target (host), and the engine matches a
prerequisite by target, so these checks apply the rule per device themselves
(`_device_skip`): a device that does not answer skips its interfaces and processes, naming
the cause, and the other devices are judged as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from amt_preflight.catalogue import CheckSpec, Need, check
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
             evidence: dict[str, Any]) -> Finding:
    started, duration = _timing(exchanges)
    return Finding(target, status, message, evidence, started_at=started, duration_ms=duration)


def _answers(host: str, system: SnmpSystem) -> Finding:
    exchange = system.exchange
    evidence = system.to_evidence()
    if exchange.outcome in UNDECIDED:
        return _finding(host, Status.ERROR, f"{host}: {exchange.detail}", [exchange], evidence)
    if exchange.outcome is not SnmpOutcome.ANSWER:
        return _finding(host, Status.FAIL, f"{host}: {exchange.detail}", [exchange], evidence)
    if system.descr is None or system.uptime_ticks is None:
        lacking = ", ".join(system.missing) or "sysDescr or sysUpTime missing"
        return _finding(host, Status.FAIL, f"{host} answers, but without {lacking}", [exchange],
                        evidence)
    name = f"{system.name}, " if system.name else ""
    return _finding(host, Status.PASS, f"{host} answers: {name}up "
                    f"{uptime_text(system.uptime_ticks)}, {clipped(system.descr, 80)}",
                    [exchange], evidence)


def _device_skip(host: str, obs: SiteView, target: str) -> Finding | None:
    """SNMP-DEVICE-ANSWERS's rule for this device: a skip naming it when it does not pass."""
    prerequisite = _answers(host, obs.snmp_system(host))
    if prerequisite.status is Status.PASS:
        return None
    return Finding(target, Status.SKIPPED,
                   f"skipped because SNMP-DEVICE-ANSWERS {prerequisite.status.value} for {host}",
                   evidence={"prerequisite": "SNMP-DEVICE-ANSWERS",
                             "cause": prerequisite.message})


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
                            f"{host}: {failed.describe()}", exchanges, evidence)
        names = list(observed.names_seen)
        evidence["interfaces_seen"] = names[:NAMES_SHOWN]
        listed = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
        return _finding(target, Status.FAIL, f"{host} has no interface {wanted} (by ifName, "
                        f"ifDescr or ifIndex); it has {listed or 'none'}", exchanges, evidence)
    evidence.update(found.to_evidence())
    oper, admin = if_status_text(found.oper_status), if_status_text(found.admin_status)
    if found.oper_status is None:
        said = failed.describe() if failed is not None else "the agent gave no ifOperStatus"
        return _finding(target, Status.ERROR, f"status of {target} not read: {said}", exchanges,
                        evidence)
    if found.oper_status == IF_UP:
        return _finding(target, Status.PASS, f"{target} is up (ifOperStatus {oper}, "
                        f"ifAdminStatus {admin})", exchanges, evidence)
    why = ("shut down in the device's configuration" if found.admin_status == IF_DOWN
           else "enabled, but without a link")
    return _finding(target, Status.FAIL, f"{target} is ifOperStatus {oper}, ifAdminStatus "
                    f"{admin}: {why}", exchanges, evidence)


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
    remediation=(
        "Bring the interface up. ifAdminStatus down: it is shut down in the device's "
        "configuration ('no shutdown'). Only ifOperStatus down: check the cable, the far end, "
        "the transceiver and the VLAN or trunk. Not found: correct the name in config.yaml "
        "(the evidence lists the device's interfaces)."
    ),
    references=["RFC 2863: IF-MIB (ifOperStatus, ifAdminStatus, ifName)"],
)
def interface_up(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for device in site.snmp.devices:
        for wanted in device.interfaces:
            target = f"{device.host}/{wanted}"
            skip = _device_skip(device.host, obs, target)
            yield skip or _interface(target, device.host, str(wanted),
                                     obs.snmp_interfaces(device.host))


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
                        f"{exchange.describe()}", [exchange], evidence)
    if not observed.names:
        return _finding(host, Status.ERROR, f"{host} lists no processes: HOST-RESOURCES-MIB "
                        "hrSWRunTable not served, or not in this user's view", [exchange],
                        evidence)
    if missing:
        return _finding(host, Status.FAIL, f"not running on {host}: {', '.join(missing)} "
                        f"({len(observed.names)} processes listed)", [exchange], evidence)
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
    remediation=(
        "Start the service on the server and set it to start automatically. If it runs, "
        "compare the name in config.yaml with what the agent lists (hrSWRunName is the "
        "program's name, with .exe on Windows), and make sure the SNMP view includes "
        "HOST-RESOURCES-MIB."
    ),
    references=["RFC 2790: HOST-RESOURCES-MIB (hrSWRunTable)"],
)
def service_running(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for device in site.snmp.devices:
        if not device.processes:
            continue
        skip = _device_skip(device.host, obs, device.host)
        yield skip or _processes(device.host, device.processes,
                                 obs.snmp_processes(device.host))


CHECKS: tuple[CheckSpec, ...] = (device_answers, interface_up, service_running)
