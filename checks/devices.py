"""Device checks: the devices' own reports (`amt.devices`, `rpc amtinfo -cert -json`) judged
against the site's provisioning certificates. No network: the devices said it themselves.

A device is judged against one certificate for all three checks, because the firmware
accepts or refuses one certificate whole:
1. the configured domain its suffix lies in (equal to it, or inside it; the longest wins);
2. else, when the site has one domain, that domain;
3. else the first domain (in config order) whose certificate the device would accept (root
   active and suffix matching); failing that, the first whose root it holds active, then
   the first whose names its suffix matches, then the first with a certificate that loaded.
The evidence of every result names that `domain` (None when there is none) and a stable
`reason` tag (REASONS below): the HTML report groups the devices by them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from amt_preflight.catalogue import CheckSpec, Need, check
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

from .cert import LOADABLE, SDK_CERT, SDK_VERIFY, certificate_bundles, domain_rule, root_of

RPC_AMTINFO = "Open AMT rpc-go: amtinfo -cert -json"
SDK_HASHES = "Intel AMT SDK: Manage Certificate Hashes (MEBx, setup.bin)"
CHAIN_COMPLETE = "CERT-CHAIN-COMPLETE"
NAMES_SHOWN = 20  # certificate names listed in a suffix result's evidence

# The reason tags: stable, as check IDs are (dashboards and the HTML report read them).
REASONS = (
    "root-active", "root-inactive", "root-not-listed",  # DEV-ROOT-ACTIVE
    "suffix-match", "suffix-empty", "suffix-one-label", "suffix-mismatch",  # DEV-SUFFIX-MATCH
    "pre-provisioning", "admin-control-mode", "client-control-mode",  # DEV-CONTROL-MODE
    "unknown-control-mode",
    "no-certificate",  # the chosen domain has no certificate that loaded (CERT-LOADABLE)
    "no-root",  # its certificate file has no root to compare (CERT-CHAIN-COMPLETE)
    "unreadable-file",  # a device file that gave no device report: every DEV-* check errs
    "no-file-matched",  # a pattern of amt.devices that matches no file
    "not-read",  # the files were not read before the run ended
)


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
    for domain, bundle in certificate_bundles(site, obs):
        if isinstance(bundle, Finding):
            out[domain] = DomainCertificate(domain, "", unusable=bundle.message)
            continue
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


Judgement = tuple[Status, str, dict[str, Any]]  # what a rule says of one device


@dataclass(slots=True)
class Device:
    """One device as a check judges it: a working record of one check's pass (made ten
    thousand times a run, so not frozen: a frozen dataclass costs four times as much)."""

    report: DeviceReport
    target: str
    domain: str | None
    domain_choice: str
    certificate: DomainCertificate | None
    shown: dict[str, Any]  # what every result about the device shows, after its reason

    def evidence(self, reason: str, **more: Any) -> dict[str, Any]:
        return {"reason": reason, **self.shown, **more}


def _device(report: DeviceReport, target: str, domain: str | None, why: str,
            certificate: DomainCertificate | None) -> Device:
    shown: dict[str, Any] = {"domain": domain, "domain_choice": why}
    if certificate is not None and certificate.source:
        shown["certificate"] = certificate.source
    shown.update(report.to_evidence())
    return Device(report, target, domain, why, certificate, shown)


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
                          "run ended", {"reason": "not-read", "domain": None})
        return
    started = _started(inventory)
    taken: set[str] = set()
    for problem in inventory.problems:
        reason = "no-file-matched" if problem.pattern else "unreadable-file"
        target = problem.target
        if target in taken:  # two folders, one file name
            target = problem.source + (f"[{problem.index}]" if problem.index is not None else "")
        taken.add(target)
        yield Finding(target, Status.ERROR, f"{problem.source}: {problem.problem}",
                      {"reason": reason, "domain": None, **problem.to_evidence()},
                      started_at=started)
    certificates = site_certificates(site, obs)
    domains = site.domain_names
    for report, target in _targets(inventory.reports, taken):
        domain, why = choose_domain(report, domains, certificates)
        yield _device(report, target, domain, why,
                      certificates.get(domain) if domain is not None else None)


def devices_holding_root(site: SiteConfig, obs: SiteView, domain: str
                         ) -> tuple[list[str], list[str]] | None:
    """(devices whose active hashes hold the root of `domain`'s certificate, devices whose do
    not), among the devices judged against that domain; None when no device report is."""
    holding: list[str] = []
    lacking: list[str] = []
    for device in _each_device(site, obs):
        if isinstance(device, Finding) or device.domain != domain or device.certificate is None:
            continue
        entry = root_entry(device.report, device.certificate.fingerprints)
        (holding if entry is not None and entry[HASH_ACTIVE] else lacking).append(device.target)
    return (holding, lacking) if holding or lacking else None


def _judged(site: SiteConfig, obs: SiteView, rule: Callable[[Device], Judgement]
            ) -> Iterator[Finding]:
    inventory = obs.devices
    started = _started(inventory) if inventory is not None else None
    for device in _each_device(site, obs):
        if isinstance(device, Finding):
            yield device
        else:
            status, message, evidence = rule(device)
            yield Finding(device.target, status, message, evidence, started_at=started)


def _no_certificate(device: Device) -> Judgement | None:
    """The skip of a device whose domain has no certificate that loaded."""
    certificate = device.certificate
    if certificate is None:
        return (Status.SKIPPED, f"{device.target}: {device.domain_choice}",
                device.evidence("no-certificate", prerequisite=LOADABLE))
    if certificate.unusable:
        return (Status.SKIPPED, f"{device.target}: {certificate.unusable}: {LOADABLE} says "
                f"why", device.evidence("no-certificate", prerequisite=LOADABLE))
    return None


# --- DEV-ROOT-ACTIVE -------------------------------------------------------------------------


def _root_active(device: Device) -> Judgement:
    skipped = _no_certificate(device)
    if skipped is not None:
        return skipped
    certificate, report = device.certificate, device.report
    assert certificate is not None  # _no_certificate returned a skip otherwise
    root = certificate.root
    if root is None:
        return (Status.SKIPPED, f"{device.target}: {certificate.source} has no root to "
                f"compare: {CHAIN_COMPLETE} says why",
                device.evidence("no-root", prerequisite=CHAIN_COMPLETE))
    seen = {"root": root.label, "root_sha256": root.sha256, "hashes_listed": len(report.hashes)}
    entry = root_entry(report, certificate.fingerprints)
    if entry is not None:
        name = clipped(entry[HASH_NAME], 80)
        hit = {"entry": name, "algorithm": entry[HASH_ALGORITHM], "hash": entry[HASH_VALUE],
               "default": entry[HASH_DEFAULT]}
        if entry[HASH_ACTIVE]:
            return (Status.PASS, f"{device.target} trusts {root.label} ({entry[HASH_ALGORITHM]} "
                    f"hash '{name}', active) for {device.domain}",
                    device.evidence("root-active", matched=hit, **seen))
        return (Status.FAIL, f"{device.target} lists the root {root.label} of "
                f"{device.domain}'s certificate ('{name}') but it is not active: activate it "
                "in MEBx", device.evidence("root-inactive", matched=hit, **seen))
    return (Status.FAIL, f"{device.target} does not list the root {root.label} of "
            f"{device.domain}'s certificate among its {len(report.hashes)} hashes",
            device.evidence("root-not-listed", active_roots=report.hash_names(), **seen))


@check(
    id="DEV-ROOT-ACTIVE",
    title="Device trusts the provisioning certificate's root (active hash)",
    severity="critical",
    needs=[Need.CERT_FILES, Need.DEVICE_FILES],
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
)
def root_active(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _judged(site, obs, _root_active)


# --- DEV-SUFFIX-MATCH ------------------------------------------------------------------------


def _suffix_match(device: Device) -> Judgement:
    report = device.report
    suffix, field = device_suffix(report)
    seen: dict[str, Any] = {"suffix": suffix, "suffix_field": field or None,
                            "dns_suffix": report.dns_suffix,
                            "dns_suffix_os": report.dns_suffix_os}
    if not suffix:
        return (Status.FAIL, f"{device.target} has neither dnsSuffix nor dnsSuffixOS: admin "
                "control mode cannot be activated", device.evidence("suffix-empty", **seen))
    skipped = _no_certificate(device)
    if skipped is not None:
        status, message, evidence = skipped
        return status, message, {**evidence, **seen}
    certificate = device.certificate
    assert certificate is not None  # _no_certificate returned a skip otherwise
    names = [clipped(n) for n in certificate.names[:NAMES_SHOWN]]
    if "." not in suffix:
        return (Status.FAIL, f"{device.target}: {field} {clipped(suffix, 80)} is one label: "
                "it matches no certificate name", device.evidence("suffix-one-label",
                                                                  names=names, **seen))
    matched = suffix_rule(suffix, certificate)
    if matched is not None:
        name, rule = matched
        return (Status.PASS, f"{device.target}: {field} {clipped(suffix, 80)} matches "
                f"{clipped(name, 80)} by rule {rule}", device.evidence(
                    "suffix-match", matched=clipped(name), rule=rule, **seen))
    shown = ", ".join(names[:5]) or "no CN or SAN DNS name"
    return (Status.FAIL, f"{device.target}: {field} {clipped(suffix, 80)} matches none of "
            f"{device.domain}'s certificate names: {shown}",
            device.evidence("suffix-mismatch", names=names, **seen))


@check(
    id="DEV-SUFFIX-MATCH",
    title="Device's DNS suffix matches the provisioning certificate",
    severity="critical",
    needs=[Need.CERT_FILES, Need.DEVICE_FILES],
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
)
def suffix_match(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _judged(site, obs, _suffix_match)


# --- DEV-CONTROL-MODE ------------------------------------------------------------------------


def _control_mode(device: Device) -> Judgement:
    said = device.report.control_mode
    mode = said.strip().lower()
    shown = clipped(said, 80)
    if mode == PRE_PROVISIONING:
        return (Status.PASS, f"{device.target} is in pre-provisioning state",
                device.evidence("pre-provisioning"))
    if mode == ADMIN_CONTROL_MODE:
        return (Status.SKIPPED, f"{device.target} is already activated in admin control mode: "
                "nothing to do", device.evidence("admin-control-mode"))
    if mode == CLIENT_CONTROL_MODE:
        return (Status.FAIL, f"{device.target} is activated in client control mode: "
                "unprovision it before admin activation", device.evidence("client-control-mode"))
    return (Status.ERROR, f"{device.target}: controlMode '{shown}' is none rpc-go reports",
            device.evidence("unknown-control-mode"))


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
)
def control_mode(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _judged(site, obs, _control_mode)


CHECKS: tuple[CheckSpec, ...] = (root_active, suffix_match, control_mode)
