"""The devices section: per site and domain, how many devices (from their own
`rpc amtinfo -cert -json` reports, amt.devices) will activate with that domain's
certificate, and the others grouped by the reason their DEV-* results give."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from amt_preflight.model import NO_TARGET, Result, Status

AREA = "DEV-"  # every DEV-* check judges devices and tags each result with a reason


class DeviceKeys:
    """Evidence of every DEV-* check (DEV-ROOT-ACTIVE, DEV-SUFFIX-MATCH, DEV-CONTROL-MODE),
    written by checks/devices.py (Device.evidence, _each_device)."""

    # The reason tag, before Result.reason held it (a run saved then): "root-not-listed"
    # for ROOT_NOT_LISTED. Read only through device_reason().
    REASON = "reason"
    DOMAIN = "domain"  # the domain whose certificate the device was judged against; None
    PREREQUISITE = "prerequisite"  # what a PREREQUISITE skip rests on (the engine's key)


# A device skipped for its domain's certificate, grouped by what that certificate lacks
_RESTS_ON = {"CERT-LOADABLE": "NO_CERTIFICATE", "CERT-CHAIN-COMPLETE": "NO_ROOT"}


# What each reason tag of the DEV-* results (checks/devices.py) means, in the order its
# groups are shown (by how many devices, then in this order).
DEVICE_REASONS: Mapping[str, str] = {
    "ROOT_NOT_LISTED": "the certificate's root is not among the device's hashes",
    "ROOT_INACTIVE": "the root's hash is on the device but not active",
    "SUFFIX_EMPTY": "no DNS suffix: dnsSuffix and dnsSuffixOS both empty",
    "SUFFIX_MISMATCH": "the DNS suffix does not match the certificate",
    "SUFFIX_ONE_LABEL": "a DNS suffix of one label matches no certificate",
    "CLIENT_CONTROL_MODE": "in client control mode: unprovision it first",
    "UNKNOWN_CONTROL_MODE": "a control mode rpc-go does not report",
    "NO_CERTIFICATE": "no certificate that loaded to judge it against",
    "NO_ROOT": "the certificate file has no root to compare",
    "UNREADABLE_FILE": "the device file cannot be read as a device report",
    "NO_FILE_MATCHED": "an amt.devices pattern matches no file",
    "NOT_READ": "the device files were not read before the run ended",
}
# A device will activate when each of its DEV-* results is one of these.
DEVICE_READY = frozenset({(Status.PASS, "ROOT_ACTIVE"), (Status.PASS, "SUFFIX_MATCH"),
                          (Status.PASS, "PRE_PROVISIONING"),
                          (Status.SKIPPED, "ADMIN_CONTROL_MODE")})
ADMIN = "ADMIN_CONTROL_MODE"  # the reason of a device already activated


def device_reason(result: Result) -> str | None:
    """A DEV-* result's reason tag: `result.reason` where the result has one, else its
    evidence's (a run saved before Result.reason; its "root-not-listed" is ROOT_NOT_LISTED);
    None when there is no text (an odd RUN.json). The one place that knows where the tag
    lives."""
    if result.reason == "PREREQUISITE":  # the domain's certificate could not be judged
        named = result.evidence.get(DeviceKeys.PREREQUISITE)
        return _RESTS_ON.get(named, result.reason) if isinstance(named, str) else result.reason
    if result.reason is not None:
        return result.reason
    old = result.evidence.get(DeviceKeys.REASON)
    return old.upper().replace("-", "_") if isinstance(old, str) else None


@dataclass(frozen=True)
class DeviceLine:
    """One device in a reason group, with what the check said about it."""

    device: str  # the result's target: hostnameOS, else the UUID, else the file
    check: str
    status: Status
    message: str


@dataclass(frozen=True)
class ReasonGroup:
    """The devices of one domain that will not activate for one reason."""

    reason: str  # the reason tag of the DEV-* results
    text: str
    devices: Sequence[DeviceLine]


@dataclass(frozen=True)
class DomainFleet:
    """A site's devices judged against one domain's certificate (domain None: the device
    files that gave no device, and devices no certificate could be chosen for)."""

    site: str
    domain: str | None
    devices: int
    ready: Sequence[str]  # the devices that will activate with that domain's certificate
    admin: int  # of them, already in admin control mode
    groups: Sequence[ReasonGroup]  # the others by reason (one device may have two), biggest first

    @property
    def blocked(self) -> int:
        return self.devices - len(self.ready)


@dataclass(frozen=True)
class DevicesView:
    fleets: Sequence[DomainFleet]  # per site in run order; its domains as met, None last

    @property
    def devices(self) -> int:
        return sum(f.devices for f in self.fleets)

    @property
    def ready(self) -> int:
        return sum(len(f.ready) for f in self.fleets)


@dataclass
class _FleetTally:
    devices: int = 0
    ready: list[str] = field(default_factory=list)
    admin: int = 0
    groups: dict[str, list[DeviceLine]] = field(default_factory=dict)


def build(results: Iterable[Result]) -> DevicesView:
    """The DEV-* results per site and domain: how many devices will activate with the
    domain's certificate (every DEV-* result of the device passes, or says it is already in
    admin control mode), and the others grouped by reason tag."""
    devices: dict[tuple[str, str], list[tuple[Result, str]]] = {}
    for r in results:
        if r.check.startswith(AREA) and (reason := device_reason(r)) is not None and (
                r.target != NO_TARGET or reason in DEVICE_REASONS):
            # "-" only when the device files were not read, not for want of a target
            devices.setdefault((r.site, r.target), []).append((r, reason))
    tallies: dict[tuple[str, str | None], _FleetTally] = {}
    for (site, target), found in devices.items():
        domain = next((d for r, _ in found
                       if isinstance(d := r.evidence.get(DeviceKeys.DOMAIN), str)), None)
        tally = tallies.setdefault((site, domain), _FleetTally())
        tally.devices += 1
        blocking = [(r, reason) for r, reason in found if (r.status, reason) not in DEVICE_READY]
        if not blocking:
            tally.ready.append(target)
            tally.admin += any(reason == ADMIN for _, reason in found)
        # once per reason: an unreadable file is an error of every DEV-* check, one line
        for tag in dict.fromkeys(reason for _, reason in blocking):
            first = next(r for r, reason in blocking if reason == tag)
            tally.groups.setdefault(tag, []).append(
                DeviceLine(target, first.check, first.status, first.message))
    known = list(DEVICE_REASONS)

    def group_order(item: tuple[str, list[DeviceLine]]) -> tuple[int, int, str]:
        reason, lines = item
        return -len(lines), known.index(reason) if reason in known else len(known), reason

    sites = list(dict.fromkeys(site for site, _ in tallies))
    fleets = [DomainFleet(site, domain, t.devices, t.ready, t.admin, [
        ReasonGroup(reason, DEVICE_REASONS.get(reason, reason), lines)
        for reason, lines in sorted(t.groups.items(), key=group_order)])
        for (site, domain), t in tallies.items()]
    # Per site in run order; its domains as met, devices without one last
    fleets.sort(key=lambda f: (sites.index(f.site), f.domain is None))
    return DevicesView(fleets)
