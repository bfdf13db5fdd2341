"""What a check is: its metadata beside one pure function, and the observations it needs.

The list of all checks is `amt_preflight.checks.CATALOGUE`: explicit, greppable, in the
order reports show them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from amt_preflight.model import Finding, Severity

if TYPE_CHECKING:
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

# The activation flows (amt.flow, AMT-FACTS.md "Two activation flows"): remote configuration
# by hello and connect-back, or host-based by an agent on the device (no ProvisionServer).
REMOTE_CONFIG = "remote-config"
HOST_BASED = "host-based"
FLOWS = (REMOTE_CONFIG, HOST_BASED)


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    severity: Severity
    needs: tuple[Need, ...]
    passes_when: str  # the rule, in the words of CHECKS.md
    remediation: str
    references: tuple[str, ...]
    function: CheckFunction
    # Checks whose failure for the same target (or, for a check about other targets,
    # for every target) makes this one `skipped`, naming the cause.
    requires: tuple[str, ...] = ()
    intrusive: bool = False
    flows: tuple[str, ...] = FLOWS  # the activation flows the check applies to

    @property
    def area(self) -> str:
        return self.id.split("-", 1)[0]


def check(
    *,
    id: str,
    title: str,
    severity: str,
    needs: Iterable[Need],
    passes_when: str,
    remediation: str,
    references: Iterable[str] = (),
    requires: Iterable[str] = (),
    intrusive: bool = False,
    flows: Iterable[str] = FLOWS,
) -> Callable[[CheckFunction], CheckSpec]:
    """Attach metadata to a check function; the result goes into a module's CHECKS list."""

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
            requires=tuple(requires),
            intrusive=intrusive,
            flows=tuple(flows),
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
        if spec.flows != FLOWS:
            lines.append(f"- applies to: {', '.join(spec.flows)} (amt.flow)")
        lines += [f"- reference: {ref}" for ref in spec.references]
        lines.append("")
    return "\n".join(lines)
