"""What a check is: its metadata beside one pure function, and the observations it needs.

The list of all checks is `amt_preflight.checks` (its INDEX, and `catalogue()`): explicit,
greppable, in the order reports show them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from amt_preflight.model import NO_TARGET, Finding, Severity, Status
from amt_preflight.typed import record

if TYPE_CHECKING:
    from datetime import datetime

    from amt_preflight.config import SiteConfig
    from amt_preflight.observations import SiteView


class Need(StrEnum):
    """A set of observations a check reads; the engine runs the gatherer behind each once
    per site, and only for the needs of the selected checks."""

    # The site's resolvers: config, else option 6 of the DHCP survey (from its allowed
    # servers when they answered), else the host's resolv.conf. No check reads it; every
    # need outside probes.RESOLVER_FREE waits for it.
    SITE_RESOLVERS = "site.resolvers"
    DNS_RESOLVERS = "dns.resolvers"  # each resolver asked over UDP and TCP
    DNS_PROVSERVER = "dns.provserver"  # ProvisionServer.<domain> A at each resolver
    DNS_PROVSERVER_PTR = "dns.provserver_ptr"  # PTR of every address found for it
    DNS_AD_SRV = "dns.ad_srv"  # the AD SRV records and their targets' A records
    DNS_DYNUPDATE = "dns.dynupdate"  # an unsigned RFC 2136 update of a throw-away name
    # DISCOVER (with option 81, never followed by a REQUEST) and INFORM on the site's
    # interface, every answer in the window; also gives option 15 and option 6 to the rest
    DHCP_SURVEY = "dhcp.survey"
    DHCP_OPT6_DNS = "dhcp.opt6_dns"  # ProvisionServer.<option 15> A at each option 6 server
    DHCP_REGISTRATION = "dhcp.registration"  # DORA with option 81, DNS wait, RELEASE
    CERT_FILES = "cert.files"  # each domain's certificate file, read (no network)
    CA_CRL = "ca.crl"  # every CRL distribution point of the leaf and intermediates, downloaded
    CA_OCSP = "ca.ocsp"  # every OCSP URL asked about its certificate
    CA_AIA = "ca.aia"  # every caIssuers URL downloaded
    CA_ENTERPRISE = "ca.enterprise"  # a TCP connection to each configured port of the CA host
    SNMP_SYSTEM = "snmp.system"  # GET sysDescr, sysUpTime and sysName of each configured device
    SNMP_INTERFACES = "snmp.interfaces"  # ifName/ifDescr walked, then each interface's status
    SNMP_PROCESSES = "snmp.processes"  # hrSWRunName walked on devices with processes configured
    # KDCs (ad.kdcs, else the _kerberos SRV targets) each asked an AS-REQ without
    # pre-authentication over UDP and TCP, and asked again where that did not prove the realm
    AD_KERBEROS = "ad.kerberos"
    AD_ROOTDSE = "ad.rootdse"  # DCs (ad.kdcs, else the _ldap SRV targets): rootDSE, anonymous
    AD_BIND = "ad.bind"  # a bind as ad.bind_user over StartTLS at each DC, then the AMT OU read
    HS_HELLO_PORT = "handshake.hello_port"  # a TCP connection to ProvisionServer:hello_port
    # A version 3 hello (synthetic UUID, the site's root hashes) to each domain's
    # ProvisionServer, and the mutual TLS connect-back at the synthetic AMT endpoint
    HS_PKI = "handshake.pki"
    HS_PSK = "handshake.psk"  # a version 2 hello with the PID, and the TLS-PSK connect-back
    # The devices' own reports (`rpc amtinfo -cert -json` files named by amt.devices), read
    # (no network)
    DEVICE_FILES = "amt.devices"


CheckFunction = Callable[["SiteConfig", "SiteView"], Iterable[Finding]]

# --- the reason tags ---------------------------------------------------------------------
# A finding that is not a plain pass carries a reason tag: stable, as check IDs are, so that
# tests, dashboards and the HTML report match on it and never on a message's wording
# (Zonemaster's message tags). A check declares its own tags in its metadata; these belong to
# every check.

# A check this one requires did not pass for the target (the engine words the message)
PREREQUISITE = "PREREQUISITE"
NOT_CONFIGURED = "NOT_CONFIGURED"  # nothing is configured at this site for the check to judge
# The rest the engine alone gives
NOT_APPLICABLE = "NOT_APPLICABLE"  # not for the site's activation flow (amt.flow)
NOT_ALLOWED = "NOT_ALLOWED"  # intrusive, and intrusive probes are not allowed in this run
NO_TARGET_HERE = "NO_TARGET"  # the check found no applicable target at this site
PROBE_CRASHED = "PROBE_CRASHED"  # a gatherer the check needs raised
CHECK_CRASHED = "CHECK_CRASHED"  # the check's own function raised
INTERRUPTED = "INTERRUPTED"  # a signal cut the check's probes short
COMMON_REASONS: Mapping[str, str] = MappingProxyType({
    PREREQUISITE: "a check this one requires did not pass for the target: evidence.prerequisite "
                  "names it",
    NOT_CONFIGURED: "nothing is configured at this site for the check to judge",
    NOT_APPLICABLE: "not for the site's activation flow (amt.flow)",
    NOT_ALLOWED: "an intrusive check, and intrusive probes are not allowed in this run",
    NO_TARGET_HERE: "no applicable target at this site",
    PROBE_CRASHED: "a probe the check needs crashed",
    CHECK_CRASHED: "the check itself crashed",
    INTERRUPTED: "SIGTERM or SIGINT cut the check's probes short",
})
_TAG = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


# --- prerequisites ------------------------------------------------------------------------
# `requires` maps each prerequisite check to a function that names, for one finding of this
# check, the prerequisite's target it rests on. The engine skips the finding where that
# target's result did not pass; no check writes that skip itself.
TargetOf = Callable[[Finding], "str | None"]
ANY_TARGET = "*"  # the finding rests on the prerequisite as a whole: blocked if none passed


def same_target(finding: Finding) -> str:
    """The prerequisite's result about the same target (CERT-LOADABLE for the same domain)."""
    return finding.target


def any_target(finding: Finding) -> str:
    """Any of the prerequisite's targets will do (a domain's lookup needs one resolver that
    answers): the finding is skipped only when the prerequisite passed for none."""
    return ANY_TARGET


def host_of(finding: Finding) -> str:
    """`host/interface` to its `host` (SNMP-IF-UP rests on SNMP-DEVICE-ANSWERS)."""
    return finding.target.split("/", 1)[0]


def evidence_target(key: str) -> TargetOf:
    """The target named in the finding's evidence under `key` (a device's domain); None: the
    finding rests on no target of the prerequisite."""

    def target_of(finding: Finding) -> str | None:
        value = finding.evidence.get(key)
        return value if isinstance(value, str) and value else None

    return target_of


def where_unjudged(prerequisite: str, target_of: TargetOf = same_target) -> TargetOf:
    """`target_of` only for a finding the check left unjudged for `prerequisite` (`unjudged`);
    None for one it judged. For a check that judges what it has though the prerequisite
    failed in part: a KDC that fails AD-KDC-ANSWERS over UDP may still show a wrong realm
    over TCP, and one DHCP answer's option 15 is judged though another lacked it."""

    def rests_on(finding: Finding) -> str | None:
        return target_of(finding) if finding.evidence.get("prerequisite") == prerequisite \
            else None

    return rests_on


def unjudged(target: str, prerequisite: str, detail: str, evidence: Mapping[str, object] = {},
             started_at: datetime | None = None, duration_ms: int | None = None) -> Finding:
    """A target the check cannot judge because its prerequisite's input is missing (no
    address: ProvisionServer did not resolve). The engine rewords it from the prerequisite's
    own result when that ran; alone (`--check` without the prerequisite) the detail shows."""
    return Finding(target, Status.SKIPPED, f"{detail}: {prerequisite} says why",
                   {**evidence, "prerequisite": prerequisite}, reason=PREREQUISITE,
                   started_at=started_at, duration_ms=duration_ms)


def not_configured(message: str, target: str = NO_TARGET) -> Finding:
    return Finding(target, Status.SKIPPED, message, reason=NOT_CONFIGURED)


class UndeclaredReason(Exception):
    """A check gave a reason tag its metadata does not declare, or named a prerequisite it
    does not require: a bug in the check, shown as its error result."""

# The activation flows (amt.flow, AMT-FACTS.md "Two activation flows"): remote configuration
# by hello and connect-back, or host-based by an agent on the device (no ProvisionServer).
REMOTE_CONFIG = "remote-config"
HOST_BASED = "host-based"
FLOWS = (REMOTE_CONFIG, HOST_BASED)


@record
class CheckSpec:
    """A check: its metadata beside its function (made by `check`)."""

    id: str
    title: str
    severity: Severity
    needs: tuple[Need, ...]
    passes_when: str  # the rule, in the words of CHECKS.md
    remediation: str
    references: tuple[str, ...]
    function: CheckFunction
    # Prerequisite check -> the prerequisite's target a finding rests on: where that did not
    # pass, the engine makes the finding `skipped`, naming the cause.
    requires: Mapping[str, TargetOf] = field(default_factory=dict)
    intrusive: bool = False
    flows: tuple[str, ...] = FLOWS  # the activation flows the check applies to
    reasons: Mapping[str, str] = field(default_factory=dict)  # its own reason tags: meaning

    @property
    def area(self) -> str:
        return self.id.split("-", 1)[0]

    def judge(self, site: SiteConfig, view: SiteView) -> list[Finding]:
        """The check's findings, each reason tag and prerequisite checked against the
        metadata."""
        findings = list(self.function(site, view))
        for finding in findings:
            tag = finding.reason
            if tag is not None and tag not in self.reasons and tag not in COMMON_REASONS:
                raise UndeclaredReason(f"{self.id} gave the reason tag {tag}, which its "
                                       "metadata does not declare")
            named = finding.evidence.get("prerequisite") if tag == PREREQUISITE else None
            if named is not None and named not in self.requires:
                raise UndeclaredReason(f"{self.id} names {named} as its prerequisite, which "
                                       "its metadata does not require")
        return findings


def check(
    *,
    id: str,
    title: str,
    severity: str,
    needs: Iterable[Need],
    passes_when: str,
    remediation: str,
    references: Iterable[str] = (),
    requires: Iterable[str] | Mapping[str, TargetOf] = (),
    intrusive: bool = False,
    flows: Iterable[str] = FLOWS,
    reasons: Mapping[str, str] | None = None,
) -> Callable[[CheckFunction], CheckSpec]:
    """Attach metadata to a check function; the result goes into a module's CHECKS list.
    `requires` as a list: each prerequisite's result about the same target."""
    required = (dict(requires) if isinstance(requires, Mapping)
                else dict.fromkeys(requires, same_target))
    own = dict(reasons or {})
    for tag in own:
        if not _TAG.fullmatch(tag) or tag in COMMON_REASONS:
            raise ValueError(f"{id}: reason tag {tag!r} is not an UPPER_SNAKE name of its own")

    def wrap(function: CheckFunction) -> CheckSpec:
        return CheckSpec(
            id=id,
            title=title,
            severity=Severity(severity),
            needs=tuple(needs),
            passes_when=passes_when,
            remediation=remediation,
            references=tuple(references),
            function=function,
            requires=MappingProxyType(required),
            intrusive=intrusive,
            flows=tuple(flows),
            reasons=MappingProxyType(own),
        )

    return wrap


# What one result is about, by check ID (CHECKS.md, "target names": waivers and dashboards
# match on them); the first pattern that matches an ID names its target.
TARGET_NAMES: tuple[tuple[str, str], ...] = (
    ("DNS-RESOLVER-ANSWERS", "the resolver's address"),
    ("DNS-DYNUPDATE-OPEN", "the zone"),
    ("DNS-AD-SRV", "the AD domain"),
    ("DHCP-SERVER-ANSWERS", "the interface name"),
    ("DHCP-OPT81-", "the interface name"),
    ("DHCP-", "the answering server's address (its option 54)"),
    ("AD-", "the KDC's or DC's address (as configured, else the SRV target's address)"),
    ("CA-ENTERPRISE-REACHABLE", "the CA host"),
    ("SNMP-IF-UP", "host/interface"),
    ("SNMP-", "the device host"),
    ("DEV-", "the device (hostnameOS, else its UUID); a file that gives no device: its name"),
    ("", "the domain"),
)


def target_name(check_id: str) -> str:
    return next(name for prefix, name in TARGET_NAMES if check_id.startswith(prefix))


def markdown(specs: Iterable[CheckSpec]) -> str:
    """The catalogue as docs/checks.md shows it: every check whole."""
    lines = ["# The check catalogue", "",
             "Generated by `amt-preflight checks --markdown` from the checks themselves; a test",
             "keeps this file in step. `amt-preflight explain ID` prints one check.", ""]
    for spec in specs:
        lines += [f"## {spec.id}", "", f"**{spec.title}**", "",
                  f"- severity: {spec.severity.value}"
                  + (" (intrusive: runs only when allowed)" if spec.intrusive else ""),
                  f"- target: {target_name(spec.id)}",
                  f"- passes when: {spec.passes_when}",
                  f"- remediation: {spec.remediation}"]
        if spec.requires:
            lines.append(f"- requires: {', '.join(spec.requires)}")
        lines += [f"- reason `{tag}`: {meaning}" for tag, meaning in spec.reasons.items()]
        if spec.flows != FLOWS:
            lines.append(f"- applies to: {', '.join(spec.flows)} (amt.flow)")
        lines += [f"- reference: {ref}" for ref in spec.references]
        lines.append("")
    return "\n".join(lines)
