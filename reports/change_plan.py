"""The change plan: for each failing finding of a few checks, the commands that fix it on the
systems administrators run (Windows Server DHCP and DNS, ISC Kea, dnsmasq, BIND, certreq),
filled with the site's real values from the run.

Pure: it reads a RunResult and returns text. Every value put into a command comes from the
network or a file, so it is first required to be what it claims to be (a DNS name, an IPv4
address); a value that is not is never put into a command (the step says so instead).
It is then quoted for the language it lands in all the same: PowerShell single quotes,
JSON strings, INF double quotes.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amt_preflight.model import Result, RunResult, Status

from . import visible

AMT_SETUP_OID = "2.16.840.1.113741.1.2.3"  # pki.AMT_SETUP_OID (not imported: cryptography)
SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1"

OPTION15_CHECKS = ("DHCP-OPT15-PRESENT", "DHCP-OPT15-MATCH", "DHCP-OPT15-CLEAN")
PROVSERVER_CHECKS = ("DNS-PROVSERVER-A", "DNS-PROVSERVER-MATCH")
CERT_CHECKS = ("CERT-AMT-USAGE",)
SUFFIX_CHECKS = ("DEV-SUFFIX-MATCH",)
PLANNED = frozenset((*OPTION15_CHECKS, *PROVSERVER_CHECKS, *CERT_CHECKS, *SUFFIX_CHECKS))

# Devices named in one suffix step before the rest are counted.
DEVICES_NAMED = 10

_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})+")


@dataclass(frozen=True)
class Snippet:
    """One system's commands or configuration for a step."""

    system: str  # "Windows Server DHCP (PowerShell)"
    language: str  # powershell, json, dnsmasq, bind, inf, text
    text: str


@dataclass(frozen=True)
class Step:
    """What fixes one thing at one site; several failing checks can share it (option 15
    missing and wrong are one change)."""

    site: str
    checks: Sequence[str]
    target: str  # the DHCP server, the domain
    title: str
    snippets: Sequence[Snippet]
    notes: Sequence[str] = ()


def is_domain(value: object) -> bool:
    """A DNS name of two labels or more, letters, digits, '-' and '_' only (no trailing
    dot): what can go into a command unquoted-safe."""
    return isinstance(value, str) and len(value) <= 253 and _DOMAIN.fullmatch(value) is not None


def ipv4(value: object) -> str | None:
    """The value as a dotted IPv4 address, if it is one."""
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return None


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted string: every single quote (PowerShell takes the typographic
    ones as quotes too) doubled."""
    return "'" + re.sub("(['\u2018\u2019\u201a\u201b])", r"\1\1", value) + "'"


def inf_quote(value: str) -> str:
    """A certreq INF string value: double quotes, an embedded double quote doubled."""
    return '"' + value.replace('"', '""') + '"'


def plan(run: RunResult) -> list[Step]:
    """The steps for the run's failing results of the planned checks, by site in run order,
    then in the order of the checks above."""
    domains = {s.name: [d for d in s.domains if isinstance(d, str)] for s in run.sites}
    failing = [r for r in run.results if r.status is Status.FAIL and r.check in PLANNED]
    steps: list[Step] = []
    sites = list(dict.fromkeys([*domains, *(r.site for r in failing)]))
    for site in sites:
        here = [r for r in failing if r.site == site]
        others = [r for r in run.results if r.site == site]
        steps += _option15_steps(site, domains.get(site, []), here)
        steps += _provserver_steps(site, here, others)
        steps += _certificate_steps(site, here)
        steps += _suffix_steps(site, here)
    return steps


# --- DHCP option 15 --------------------------------------------------------------------------


def _option15_steps(site: str, domains: Sequence[str], found: Iterable[Result]) -> list[Step]:
    by_server: dict[str, list[Result]] = {}
    for r in found:
        if r.check in OPTION15_CHECKS:
            by_server.setdefault(r.target, []).append(r)
    return [_option15_step(site, server, domains, results)
            for server, results in by_server.items()]


def _option15_step(site: str, server: str, domains: Sequence[str],
                   results: Sequence[Result]) -> Step:
    checks = list(dict.fromkeys(r.check for r in results))
    domain = domains[0] if domains else None
    notes: list[str] = []
    if len(domains) > 1:
        notes.append(f"The site has several domains ({', '.join(domains)}): option 15 is set "
                     f"to the first, {domain}; use the one the AMT VLAN's certificate is for.")
    title = f"Hand out option 15 (domain name) {domain} from DHCP server {server}"
    if domain is None or not is_domain(domain):
        notes.append("No valid domain is configured for this site: no command is written. Set "
                     "option 15 to the domain the provisioning certificate is issued for.")
        return Step(site, checks, server, f"Hand out option 15 from DHCP server {server}", (),
                    notes)
    scope = _scope(results)
    address = ipv4(server)
    if scope is None:
        notes.append("The scope could not be worked out from the answers (no offered address "
                     "and subnet mask): the Windows command sets the option server-wide; a "
                     "scope-level value still overrides it, so set it on the AMT scope with "
                     "-ScopeId where one exists.")
    if address is None:
        notes.append(f"The DHCP server {server} is no IPv4 address: -ComputerName is left out; "
                     "run the command on that server.")
    if any("pki_dns_suffix" in r.evidence for r in results):
        notes.append("amt.pki_dns_suffix is set for this site: the firmware takes that suffix "
                     "instead of option 15, so this change matters only for devices without it.")
    ps = ["Set-DhcpServerv4OptionValue"]
    if address:
        ps.append(f"-ComputerName {ps_quote(address)}")
    if scope:
        ps.append(f"-ScopeId {ps_quote(str(scope.network_address))}")
    ps.append(f"-OptionId 15 -Value {ps_quote(domain)}")
    kea = {"name": "domain-name", "data": domain}
    where = f"subnet4 entry of {scope}" if scope else "subnet4 entry of the AMT VLAN"
    kea_text = (f"// in the {where} (or in Dhcp4 for every subnet)\n"
                f'"option-data": [ {json.dumps(kea)} ]')
    dnsmasq = f"dhcp-option=option:domain-name,{domain}"
    return Step(site, checks, server, title, (
        Snippet("Windows Server DHCP (PowerShell)", "powershell", " ".join(ps)),
        Snippet("ISC Kea (kea-dhcp4.conf)", "json", kea_text),
        Snippet("dnsmasq (dnsmasq.conf)", "dnsmasq", dnsmasq),
    ), notes)


def _scope(results: Iterable[Result]) -> ipaddress.IPv4Network | None:
    """The scope the server's answers came from: offered address and subnet mask (option 1)."""
    for r in results:
        server = r.evidence.get("dhcp_server")
        answers = server.get("answers") if isinstance(server, Mapping) else None
        for answer in answers if isinstance(answers, list) else []:
            if not isinstance(answer, Mapping):
                continue
            offered = ipv4(answer.get("offered_address"))
            options = answer.get("options")
            mask = next((o.get("value") for o in options if isinstance(o, Mapping)
                         and o.get("code") == 1), None) if isinstance(options, list) else None
            mask = ipv4(mask[0]) if isinstance(mask, list) and mask else None
            if offered and mask:
                try:
                    return ipaddress.IPv4Network(f"{offered}/{mask}", strict=False)
                except ValueError:
                    continue
    return None


# --- ProvisionServer.<domain> ----------------------------------------------------------------


def _provserver_steps(site: str, found: Iterable[Result], others: Sequence[Result]
                      ) -> list[Step]:
    by_domain: dict[str, list[Result]] = {}
    for r in found:
        if r.check in PROVSERVER_CHECKS:
            by_domain.setdefault(r.target, []).append(r)
    return [_provserver_step(site, domain, results, others)
            for domain, results in by_domain.items()]


def _addresses(value: object) -> list[str]:
    return [a for a in (ipv4(v) for v in value) if a] if isinstance(value, list) else []


def _provserver_step(site: str, domain: str, results: Sequence[Result],
                     others: Sequence[Result]) -> Step:
    checks = list(dict.fromkeys(r.check for r in results))
    title = f"Point ProvisionServer.{domain} at the provisioning server"
    notes: list[str] = []
    if not is_domain(domain):
        return Step(site, checks, domain, title, (), (
            f"{domain!r} is no valid DNS name: no command is written.",))
    # What it should resolve to: domains[].provision_server, in the evidence of either check
    expected: list[str] = []
    for r in (*results, *(o for o in others if o.target == domain
                          and o.check in PROVSERVER_CHECKS)):
        expected = expected or _addresses(r.evidence.get("expected"))
    stray: list[str] = []
    for r in results:
        unexpected = r.evidence.get("unexpected")
        if isinstance(unexpected, Mapping):
            for values in unexpected.values():
                stray += [a for a in _addresses(values) if a not in expected]
    stray = list(dict.fromkeys(stray))
    adds = expected or ["192.0.2.1"]
    if not expected:
        notes.append("No provision_server address is configured for this domain: 192.0.2.1 "
                     "(a documentation address) stands for the provisioning server's address; "
                     "replace it, or set domains[].provision_server and run again.")
    zone = ps_quote(domain)
    ps = [f"Add-DnsServerResourceRecordA -ZoneName {zone} -Name 'ProvisionServer' "
          f"-IPv4Address {ps_quote(a)}" for a in adds]
    ps += [f"Remove-DnsServerResourceRecord -ZoneName {zone} -RRType 'A' "
           f"-Name 'ProvisionServer' -RecordData {ps_quote(a)} -Force" for a in stray]
    if expected and not stray and "DNS-PROVSERVER-A" not in checks:
        notes.append("Add the record where it is missing: a resolver answered without it.")
    if stray:
        notes.append("Where the right record exists already, Add-DnsServerResourceRecordA "
                     "says so and changes nothing: the Remove is the fix there.")
    bind = [f"; zone {domain}: replace any other ProvisionServer A record, then raise the "
            "SOA serial"]
    bind += [f"ProvisionServer IN A {a}" for a in adds]
    notes.append(f"If {domain} is not a zone of its own but a name inside a parent zone, "
                 "give the parent as -ZoneName and the name relative to it as -Name "
                 f"(ProvisionServer.{domain.split('.', 1)[0]}).")
    return Step(site, checks, domain, title, (
        Snippet("Windows Server DNS (PowerShell)", "powershell", "\n".join(ps)),
        Snippet("BIND (zone file)", "bind", "\n".join(bind)),
    ), notes)


# --- the provisioning certificate ------------------------------------------------------------


def _certificate_steps(site: str, found: Iterable[Result]) -> list[Step]:
    by_domain: dict[str, list[Result]] = {}
    for r in found:
        if r.check in CERT_CHECKS:
            by_domain.setdefault(r.target, []).append(r)
    return [_certificate_step(site, domain, results) for domain, results in by_domain.items()]


def certreq_inf(common_name: str) -> str:
    """A certreq INF requesting a provisioning certificate: AMT setup OID and serverAuth in
    the EKU, the subject CN given (quoted for INF)."""
    return "\n".join([
        "[Version]",
        'Signature = "$Windows NT$"',
        "",
        "[NewRequest]",
        f"Subject = {inf_quote('CN=' + common_name)}",
        "KeyLength = 2048",
        "KeyAlgorithm = RSA",
        "Exportable = TRUE",
        "MachineKeySet = TRUE",
        "HashAlgorithm = SHA256",
        "RequestType = PKCS10",
        "KeyUsage = 0xa0",
        "",
        "[EnhancedKeyUsageExtension]",
        f"OID = {SERVER_AUTH_OID}",
        f"OID = {AMT_SETUP_OID}",
    ]) + "\n"


def _certificate_step(site: str, domain: str, results: Sequence[Result]) -> Step:
    checks = list(dict.fromkeys(r.check for r in results))
    title = f"Issue {domain}'s provisioning certificate with the AMT setup OID"
    if not is_domain(domain):
        return Step(site, checks, domain, title, (), (
            f"{domain!r} is no valid DNS name: no request is written.",))
    name = f"provisionserver.{domain}"
    certificate = next((c for r in results if isinstance(c := r.evidence.get("certificate"),
                                                            str)), None)
    notes = [f"The subject CN is {name}, a name inside {domain}; keep the CN of the current "
             "certificate if it is inside the domain too."]
    if certificate:
        notes.append(f"It replaces {certificate}.")
    notes.append("With an enterprise CA, submit it with a template that allows both EKUs: "
                 "certreq -submit -attrib \"CertificateTemplate:<template>\" ....")
    commands = "\n".join([
        "certreq -new amt-provisioning.inf amt-provisioning.req",
        "certreq -submit amt-provisioning.req amt-provisioning.cer",
        "certreq -accept amt-provisioning.cer",
    ])
    return Step(site, checks, domain, title, (
        Snippet("certreq (amt-provisioning.inf)", "inf", certreq_inf(name)),
        Snippet("certreq (cmd)", "text", commands),
    ), notes)


# --- the devices' DNS suffix -----------------------------------------------------------------


def _suffix_steps(site: str, found: Iterable[Result]) -> list[Step]:
    by_domain: dict[str, list[Result]] = {}
    for r in found:
        if r.check in SUFFIX_CHECKS:
            domain = r.evidence.get("domain")
            by_domain.setdefault(domain if isinstance(domain, str) else "", []).append(r)
    return [_suffix_step(site, domain, results) for domain, results in by_domain.items()]


def _suffix_step(site: str, domain: str, results: Sequence[Result]) -> Step:
    devices = list(dict.fromkeys(r.target for r in results))
    named = ", ".join(devices[:DEVICES_NAMED]) + (
        f" and {len(devices) - DEVICES_NAMED} more" if len(devices) > DEVICES_NAMED else "")
    title = f"Give {len(devices)} device{'s' if len(devices) != 1 else ''} the DNS suffix " + (
        domain or "of the certificate's domain")
    suffix = domain if is_domain(domain) else "<the certificate's domain>"
    text = "\n".join([
        f"Devices: {named}",
        f"MEBx (Ctrl+P at boot): Intel(R) AMT Configuration > Remote Setup And Configuration > "
        f"TLS PKI > PKI DNS Suffix = {suffix}",
        f"USB provisioning: a setup.bin (made with Intel's USB file tool) that sets the PKI "
        f"DNS suffix to {suffix}",
        f"Or, where the OS suffix is used (dnsSuffixOS): make the OS's primary DNS suffix "
        f"{suffix} (DHCP option 15 or Group Policy).",
    ])
    return Step(site, ["DEV-SUFFIX-MATCH"], domain or "-", title, (
        Snippet("MEBx / USB (setup.bin)", "text", text),), ())


# --- for the renderers ----------------------------------------------------------------------


@dataclass(frozen=True)
class SitePlan:
    site: str
    steps: Sequence[Step] = field(default_factory=list)


def by_site(steps: Sequence[Step]) -> list[SitePlan]:
    """The steps grouped by site, in order."""
    grouped: dict[str, list[Step]] = {}
    for step in steps:
        grouped.setdefault(step.site, []).append(step)
    return [SitePlan(site, found) for site, found in grouped.items()]


def markdown(steps: Sequence[Step], cell: Any) -> list[str]:
    """The plan as Markdown lines; `cell` escapes prose (markdown._cell). Snippets are fenced
    with more backticks than they hold."""
    lines: list[str] = []
    for step in steps:
        lines += ["", f"### {cell(step.site)}: {cell(step.title)}", "",
                  f"Fixes {', '.join(f'`{c}`' for c in step.checks)}.", ""]
        lines += [f"- {cell(n)}" for n in step.notes]
        for snippet in step.snippets:
            longest = max((len(m) for m in re.findall("`+", visible(snippet.text))),
                          default=0)
            fence = "`" * max(3, longest + 1)
            lines += ["", f"{cell(snippet.system)}:", "", f"{fence}{snippet.language}",
                      visible(snippet.text).rstrip("\n"), fence]
    return lines
