"""Device checks: the devices' own reports (`amt.devices`, `rpc amtinfo -cert -json`) judged
against the site's provisioning certificates. No network: the devices said it themselves.

A device is judged against one certificate for all three checks, because the firmware
accepts or refuses one certificate whole:
1. the configured domain its suffix lies in (equal to it, or inside it; the longest wins);
2. else, when the site has one domain, that domain;
3. else the first domain (in config order) whose certificate the device would accept (root
   active and suffix matching); failing that, the first whose root it holds active, then
   the first whose names its suffix matches, then the first with a certificate that loaded.
The evidence of every result names that `domain` (None when there is none), and every result
carries a reason tag, passes too (ROOT_ACTIVE, SUFFIX_MATCH, PRE_PROVISIONING): the HTML report
groups the devices by them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from amt_preflight.catalogue import (
    CheckSpec,
    Need,
    check,
    evidence_target,
    unjudged,
    where_unjudged,
)
from amt_preflight.config import SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Status
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import clipped
from amt_preflight.observations.cert import CertificateFacts, LoadOutcome
from amt_preflight.observations.devices import (
    ADMIN_CONTROL_MODE,
    CLIENT_CONTROL_MODE,
    HASH_ACTIVE,
    HASH_ALGORITHM,
    HASH_DEFAULT,
    HASH_NAME,
    HASH_VALUE,
    PRE_PROVISIONING,
    DeviceHash,
    DeviceInventory,
    DeviceReport,
)

from .cert import CHAIN_COMPLETE, SDK_CERT, SDK_VERIFY, domain_rule
from .chain import LOADABLE, FleetVerdict, configured_chains, root_of

RPC_AMTINFO = "Open AMT rpc-go: amtinfo -cert -json"
SDK_HASHES = "Intel AMT SDK: Manage Certificate Hashes (MEBx, setup.bin)"
NAMES_SHOWN = 20  # certificate names listed in a suffix result's evidence

# The reason tags every DEV-* check gives (each declares its own besides). A device whose
# domain has no certificate that loaded (CERT-LOADABLE), or whose file has no root
# (CERT-CHAIN-COMPLETE), is `unjudged`: reason PREREQUISITE, evidence.prerequisite names it.
FILE_REASONS = {
    "UNREADABLE_FILE": "a device file that gave no device report: every DEV-* check errs",
    "NO_FILE_MATCHED": "a pattern of amt.devices that matches no file",
    "NOT_READ": "the device files were not read before the run ended",
}
# A device rests on its domain's certificate (evidence.domain) only where it could not be
# judged for want of it: DEV-SUFFIX-MATCH fails an empty suffix whatever the certificate.
ON_LOADABLE = where_unjudged(LOADABLE, evidence_target("domain"))
ON_CHAIN_COMPLETE = where_unjudged(CHAIN_COMPLETE, evidence_target("domain"))


# --- the site's certificates, as the devices see them ------------------------------------


@dataclass(frozen=True)
class DomainCertificate:
    """A domain's provisioning certificate reduced to what a device compares: the leaf's
    names and the root's fingerprints; or why there is none."""

    domain: str
    source: str  # the certificate file as configured ("" when none is)
    names: tuple[str, ...] = ()  # the leaf's CN and SAN dNSNames
    root: CertificateFacts | None = None
    fingerprints: frozenset[str] = frozenset()  # the root's SHA-1, SHA-256 and SHA-384
    unusable: str = ""  # why the file cannot be judged against; "" when it loaded


def site_certificates(site: SiteConfig, obs: SiteView) -> dict[str, DomainCertificate]:
    """Each domain's certificate, by domain, in config order."""
    out: dict[str, DomainCertificate] = {}
    for domain, chain in configured_chains(site, obs):
        if isinstance(chain, Finding):
            out[domain] = DomainCertificate(domain, "", unusable=chain.message)
            continue
        bundle = chain.bundle
        leaf = bundle.leaf_certificate
        if bundle.outcome is not LoadOutcome.LOADED or leaf is None:
            out[domain] = DomainCertificate(domain, bundle.source, unusable=(
                f"{bundle.source} did not load ({bundle.outcome.value})"))
            continue
        root = root_of(bundle, obs.now)
        out[domain] = DomainCertificate(
            domain, bundle.source, tuple(dict.fromkeys((*leaf.common_names, *leaf.dns_names))),
            root, frozenset((root.sha1, root.sha256, root.sha384)) if root else frozenset())
    return out


# --- what a device says ------------------------------------------------------------------


def _trimmed(value: str) -> str:
    """White space and one trailing dot trimmed, as rpc-go takes the suffix."""
    value = value.strip()
    return value[:-1].strip() if value.endswith(".") else value


def device_suffix(report: DeviceReport) -> tuple[str, str]:
    """The suffix a device activates with and the field it came from: dnsSuffix, else
    dnsSuffixOS (rpc-go's order); ("", "") when both are empty."""
    suffix = _trimmed(report.dns_suffix)
    if suffix:
        return suffix, "dnsSuffix"
    suffix = _trimmed(report.dns_suffix_os)
    return (suffix, "dnsSuffixOS") if suffix else ("", "")


def root_entry(report: DeviceReport, fingerprints: frozenset[str]) -> DeviceHash | None:
    """The device's entry for the root (any algorithm): an active one if there is one."""
    found = None
    for entry in report.hashes:
        if entry[HASH_VALUE] in fingerprints:
            if entry[HASH_ACTIVE]:
                return entry
            found = found or entry
    return found


def suffix_rule(suffix: str, certificate: DomainCertificate) -> tuple[str, str] | None:
    """(the certificate name, the CERT-DOMAIN-MATCH rule) the suffix matches, or None.
    A suffix of one label matches nothing."""
    if "." not in suffix:
        return None
    for name in certificate.names:
        rule = domain_rule(suffix, name)
        if rule:
            return name, rule
    return None


def _accepts(report: DeviceReport, suffix: str, certificate: DomainCertificate) -> tuple[
        bool, bool]:
    """(root active, suffix matches) for this device and certificate."""
    entry = root_entry(report, certificate.fingerprints)
    return (entry is not None and entry[HASH_ACTIVE],
            bool(suffix) and suffix_rule(suffix, certificate) is not None)


# With several domains and a suffix in none: (root active, suffix matches), best first
_PREFERENCES = (((True, True), "the first domain whose certificate it accepts"),
                ((True, False), "the first domain whose root it holds active"),
                ((False, True), "the first domain whose names its suffix matches"))


def choose_domain(report: DeviceReport, domains: Sequence[str],
                  certificates: dict[str, DomainCertificate]) -> tuple[str | None, str]:
    """The domain whose certificate the device is judged against, and why that one.
    `domains`: the site's, lower-case and without a trailing dot (as config.py keeps them)."""
    if len(domains) == 1:
        return domains[0], "the site's only domain"
    suffix, _ = device_suffix(report)
    if suffix:
        name = suffix.lower()
        inside = [d for d in domains if name == d or name.endswith("." + d)]
        if inside:
            return max(inside, key=len), "the device's suffix lies in it"
    if not domains:
        return None, "the site has no domain"
    usable = [c for d in domains if not (c := certificates[d]).unusable]
    if not usable:
        return None, "no domain of the site has a certificate that loaded"
    verdicts = [(c.domain, _accepts(report, suffix, c)) for c in usable]
    for wanted, why in _PREFERENCES:
        for domain, accepted in verdicts:
            if accepted == wanted:
                return domain, why
    return usable[0].domain, "no certificate works for it: the first that loaded"


# --- walking the devices -------------------------------------------------------------------


@dataclass(slots=True)
class Device:
    """One device as a check judges it: a working record of one check's pass (made ten
    thousand times a run, so not frozen: a frozen dataclass costs four times as much)."""

    report: DeviceReport
    target: str
    domain: str | None
    domain_choice: str
    certificate: DomainCertificate | None
    shown: dict[str, Any]  # what every result about the device shows
    started: datetime | None  # when the device files were read

    def evidence(self, **more: Any) -> dict[str, Any]:
        return {**self.shown, **more}


def _device(report: DeviceReport, target: str, domain: str | None, why: str,
            certificate: DomainCertificate | None, started: datetime | None) -> Device:
    shown: dict[str, Any] = {"domain": domain, "domain_choice": why}
    if certificate is not None and certificate.source:
        shown["certificate"] = certificate.source
    shown.update(report.to_evidence())
    return Device(report, target, domain, why, certificate, shown, started)


def _targets(reports: tuple[DeviceReport, ...], taken: set[str]) -> Iterator[tuple[
        DeviceReport, str]]:
    """Each device with its target: its name, or, when another device (or file) has that
    name already, its name and its file."""
    for report in reports:
        target = report.name
        if target in taken:
            target = f"{report.name} ({report.file_label})"
        taken.add(target)
        yield report, target


def _started(inventory: DeviceInventory) -> datetime | None:
    return datetime.fromtimestamp(inventory.started_at, UTC) if inventory.started_at else None


def _each_device(site: SiteConfig, obs: SiteView) -> Iterator[Device | Finding]:
    """Every device of the site's inventory, with the certificate it is judged against; and
    for every file that gave no device, the error every DEV-* check reports for it."""
    inventory = obs.devices
    if inventory is None:
        if site.amt.devices:
            yield Finding(NO_TARGET, Status.ERROR, "the device files were not read before the "
                          "run ended", {"domain": None}, reason="NOT_READ")
        return
    started = _started(inventory)
    taken: set[str] = set()
    for problem in inventory.problems:
        reason = "NO_FILE_MATCHED" if problem.pattern else "UNREADABLE_FILE"
        target = problem.target
        if target in taken:  # two folders, one file name
            target = problem.source + (f"[{problem.index}]" if problem.index is not None else "")
        taken.add(target)
        yield Finding(target, Status.ERROR, f"{problem.source}: {problem.problem}",
                      {"domain": None, **problem.to_evidence()}, started_at=started,
                      reason=reason)
    certificates = site_certificates(site, obs)
    domains = site.domain_names
    for report, target in _targets(inventory.reports, taken):
        domain, why = choose_domain(report, domains, certificates)
        yield _device(report, target, domain, why,
                      certificates.get(domain) if domain is not None else None, started)


def devices_holding_roots(site: SiteConfig, obs: SiteView) -> dict[str, FleetVerdict]:
    """By domain: (devices whose active hashes hold the root of its certificate, devices
    whose do not), among the devices judged against it; domains no device is judged against
    are left out."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for device in _each_device(site, obs):
        if isinstance(device, Finding) or device.domain is None or device.certificate is None:
            continue
        holding, lacking = found.setdefault(device.domain, ([], []))
        entry = root_entry(device.report, device.certificate.fingerprints)
        (holding if entry is not None and entry[HASH_ACTIVE] else lacking).append(device.target)
    return {domain: (tuple(holding), tuple(lacking))
            for domain, (holding, lacking) in found.items()}


def _judged(site: SiteConfig, obs: SiteView, rule: Callable[[Device], Finding]
            ) -> Iterator[Finding]:
    for device in _each_device(site, obs):
        yield device if isinstance(device, Finding) else rule(device)


def _said(device: Device, status: Status, message: str, reason: str, **more: Any) -> Finding:
    """A finding about one device, when the device files were read."""
    return Finding(device.target, status, message, device.evidence(**more),
                   started_at=device.started, reason=reason)


def _no_certificate(device: Device, **more: Any) -> Finding | None:
    """A device whose domain has no certificate that loaded: not judged (CERT-LOADABLE)."""
    certificate = device.certificate
    if certificate is None:
        detail = f"{device.target}: {device.domain_choice}"
    elif certificate.unusable:
        detail = f"{device.target}: {certificate.unusable}"
    else:
        return None
    return unjudged(device.target, LOADABLE, detail, device.evidence(**more),
                    started_at=device.started)


# --- DEV-ROOT-ACTIVE -------------------------------------------------------------------------


def _root_active(device: Device) -> Finding:
    skipped = _no_certificate(device)
    if skipped is not None:
        return skipped
    certificate, report = device.certificate, device.report
    assert certificate is not None  # _no_certificate returned a skip otherwise
    root = certificate.root
    if root is None:
        return unjudged(device.target, CHAIN_COMPLETE, f"{device.target}: {certificate.source} "
                        "has no root to compare", device.evidence(), started_at=device.started)
    seen = {"root": root.label, "root_sha256": root.sha256, "hashes_listed": len(report.hashes)}
    entry = root_entry(report, certificate.fingerprints)
    if entry is not None:
        name = clipped(entry[HASH_NAME], 80)
        hit = {"entry": name, "algorithm": entry[HASH_ALGORITHM], "hash": entry[HASH_VALUE],
               "default": entry[HASH_DEFAULT]}
        if entry[HASH_ACTIVE]:
            return _said(device, Status.PASS, f"{device.target} trusts {root.label} "
                         f"({entry[HASH_ALGORITHM]} hash '{name}', active) for "
                         f"{device.domain}", "ROOT_ACTIVE", matched=hit, **seen)
        return _said(device, Status.FAIL, f"{device.target} lists the root {root.label} of "
                     f"{device.domain}'s certificate ('{name}') but it is not active: activate "
                     "it in MEBx", "ROOT_INACTIVE", matched=hit, **seen)
    return _said(device, Status.FAIL, f"{device.target} does not list the root {root.label} "
                 f"of {device.domain}'s certificate among its {len(report.hashes)} hashes",
                 "ROOT_NOT_LISTED", active_roots=report.hash_names(), **seen)


@check(
    id="DEV-ROOT-ACTIVE",
    title="Device trusts the provisioning certificate's root (active hash)",
    severity="critical",
    needs=[Need.CERT_FILES, Need.DEVICE_FILES],
    requires={LOADABLE: ON_LOADABLE, CHAIN_COMPLETE: ON_CHAIN_COMPLETE},
    passes_when=(
        "the root of the domain's provisioning certificate is among the device's active "
        "hashes (any algorithm it reports: SHA-1, SHA-256 or SHA-384), as its "
        "`rpc amtinfo -cert -json` report lists them. Target: the device (hostnameOS, else "
        "its UUID)"
    ),
    remediation=(
        "Insert the root's hash into the device and activate it (MEBx: Remote Setup and "
        "Configuration > TLS PKI > Manage Hashes; a USB setup.bin; or the management "
        "console), or re-activate a listed hash someone deactivated; or use a certificate "
        "that chains to a root the devices already hold active. Unprovisioning deletes "
        "inserted hashes: read the devices again (rpc amtinfo -cert -json) after a reset."
    ),
    references=[RPC_AMTINFO, SDK_VERIFY, SDK_HASHES],
    reasons={**FILE_REASONS,
             "ROOT_ACTIVE": "(a pass) the device holds the root's hash, active",
             "ROOT_INACTIVE": "the device lists the root's hash, but not active",
             "ROOT_NOT_LISTED": "the root's hash is not among the device's hashes"},
)
def root_active(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _judged(site, obs, _root_active)


# --- DEV-SUFFIX-MATCH ------------------------------------------------------------------------


def _suffix_match(device: Device) -> Finding:
    report = device.report
    suffix, field = device_suffix(report)
    seen: dict[str, Any] = {"suffix": suffix, "suffix_field": field or None,
                            "dns_suffix": report.dns_suffix,
                            "dns_suffix_os": report.dns_suffix_os}
    if not suffix:
        return _said(device, Status.FAIL, f"{device.target} has neither dnsSuffix nor "
                     "dnsSuffixOS: admin control mode cannot be activated", "SUFFIX_EMPTY",
                     **seen)
    skipped = _no_certificate(device, **seen)
    if skipped is not None:
        return skipped
    certificate = device.certificate
    assert certificate is not None  # _no_certificate returned a skip otherwise
    names = [clipped(n) for n in certificate.names[:NAMES_SHOWN]]
    if "." not in suffix:
        return _said(device, Status.FAIL, f"{device.target}: {field} {clipped(suffix, 80)} is "
                     "one label: it matches no certificate name", "SUFFIX_ONE_LABEL",
                     names=names, **seen)
    matched = suffix_rule(suffix, certificate)
    if matched is not None:
        name, rule = matched
        return _said(device, Status.PASS, f"{device.target}: {field} {clipped(suffix, 80)} "
                     f"matches {clipped(name, 80)} by rule {rule}", "SUFFIX_MATCH",
                     matched=clipped(name), rule=rule, **seen)
    shown = ", ".join(names[:5]) or "no CN or SAN DNS name"
    return _said(device, Status.FAIL, f"{device.target}: {field} {clipped(suffix, 80)} matches "
                 f"none of {device.domain}'s certificate names: {shown}", "SUFFIX_MISMATCH",
                 names=names, **seen)


@check(
    id="DEV-SUFFIX-MATCH",
    title="Device's DNS suffix matches the provisioning certificate",
    severity="critical",
    needs=[Need.CERT_FILES, Need.DEVICE_FILES],
    requires={LOADABLE: ON_LOADABLE},
    passes_when=(
        "the device's suffix (dnsSuffix, trimmed of white space and a trailing dot; when "
        "empty, dnsSuffixOS, as rpc-go takes it) is not empty and matches the provisioning "
        "certificate by the CERT-DOMAIN-MATCH rules; the evidence names which field it came "
        "from and the domain whose certificate was used"
    ),
    remediation=(
        "Set the device's PKI DNS suffix (MEBx, a USB setup.bin, or the activating agent) "
        "to the domain the provisioning certificate is issued for, or let the operating "
        "system get that domain (DHCP option 15) when no PKI DNS suffix is set; or issue "
        "the certificate for a name inside the devices' domain."
    ),
    references=[RPC_AMTINFO, SDK_CERT, "Intel KB 000100444: PKI DNS suffix in MEBx"],
    reasons={**FILE_REASONS,
             "SUFFIX_MATCH": "(a pass) the suffix matches the certificate",
             "SUFFIX_EMPTY": "no DNS suffix: dnsSuffix and dnsSuffixOS both empty",
             "SUFFIX_ONE_LABEL": "a suffix of one label, which matches no certificate",
             "SUFFIX_MISMATCH": "the suffix matches none of the certificate's names"},
)
def suffix_match(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _judged(site, obs, _suffix_match)


# --- DEV-CONTROL-MODE ------------------------------------------------------------------------


def _control_mode(device: Device) -> Finding:
    said = device.report.control_mode
    mode = said.strip().lower()
    shown = clipped(said, 80)
    if mode == PRE_PROVISIONING:
        return _said(device, Status.PASS, f"{device.target} is in pre-provisioning state",
                     "PRE_PROVISIONING")
    if mode == ADMIN_CONTROL_MODE:
        return _said(device, Status.SKIPPED, f"{device.target} is already activated in admin "
                     "control mode: nothing to do", "ADMIN_CONTROL_MODE")
    if mode == CLIENT_CONTROL_MODE:
        return _said(device, Status.FAIL, f"{device.target} is activated in client control "
                     "mode: unprovision it before admin activation", "CLIENT_CONTROL_MODE")
    return _said(device, Status.ERROR, f"{device.target}: controlMode '{shown}' is none rpc-go "
                 "reports", "UNKNOWN_CONTROL_MODE")


@check(
    id="DEV-CONTROL-MODE",
    title="Device is ready for admin control mode activation",
    severity="medium",
    # the certificates too: the domain in its evidence is the one the other two judge by
    needs=[Need.CERT_FILES, Need.DEVICE_FILES],
    passes_when=(
        "the device is in pre-provisioning state (pass); already in admin control mode: "
        "skipped (nothing to do); in client control mode: fail (it must be unprovisioned "
        "before admin activation)"
    ),
    remediation=(
        "Unprovision the device (rpc deactivate -local, the management console, or MEBx "
        "full unprovision), then activate it in admin control mode. Unprovisioning restores "
        "the default root hashes and deletes inserted ones: check DEV-ROOT-ACTIVE again."
    ),
    references=[RPC_AMTINFO, "Intel AMT SDK: client control mode and admin control mode"],
    reasons={**FILE_REASONS,
             "PRE_PROVISIONING": "(a pass) the device is in pre-provisioning state",
             "ADMIN_CONTROL_MODE": "already activated in admin control mode: nothing to do",
             "CLIENT_CONTROL_MODE": "activated in client control mode: unprovision it first",
             "UNKNOWN_CONTROL_MODE": "a control mode rpc-go does not report"},
)
def control_mode(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _judged(site, obs, _control_mode)


CHECKS: tuple[CheckSpec, ...] = (root_active, suffix_match, control_mode)
