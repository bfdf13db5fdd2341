"""`amt-preflight init`: a first config for a site nobody has described yet, from what the
network itself says.

It sends only what the non-intrusive probes send (a DHCP DISCOVER and INFORM that take no
lease, DNS queries, a Kerberos AS-REQ, an anonymous LDAP rootDSE read), through the engine's
own gatherers, in two rounds: the DHCP survey first (its option 15 names the domains, its
option 6 the resolvers), then DNS, Kerberos and LDAP for those domains. With certificate
files it reads each one's domain, root and CA endpoints. It writes a config in which every
value says where it came from, lists the servers it saw as allowed (asking the user to
confirm them), and leaves commented, with the reason, what it could not find.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from amt_preflight import engine
from amt_preflight.checks import specs
from amt_preflight.config import Config, parse
from amt_preflight.interruption import run_loop
from amt_preflight.observations import Observations
from amt_preflight.observations.ad import AdRole
from amt_preflight.observations.dhcp import domain_of
from amt_preflight.observations.dns import provision_server_name, srv_target

# What each round asks: the checks whose needs make the engine run the right gatherers.
DHCP_ROUND = ("DHCP-SERVER-ANSWERS",)
NETWORK_ROUND = ("DNS-RESOLVER-ANSWERS", "DNS-PROVSERVER-A", "DNS-AD-SRV", "AD-KDC-ANSWERS",
                 "AD-LDAP-ROOTDSE")
WINDOW = 5  # seconds to collect DHCP offers (servers may ping-check before offering)


@dataclass
class Found:
    """What the network (and the certificate files) said, each value with where from."""

    interface: str
    dhcp_servers: dict[str, str] = field(default_factory=dict)  # address -> seen how
    dhcp_problem: str = ""
    domains: dict[str, str] = field(default_factory=dict)  # option 15 -> from which server
    resolvers: dict[str, str] = field(default_factory=dict)  # address -> from where
    provision_servers: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    provision_missing: dict[str, str] = field(default_factory=dict)  # domain -> why not
    ad_domain: str = ""
    realm: tuple[str, str] = ("", "")  # (realm, which KDC said it)
    dcs: dict[str, str] = field(default_factory=dict)  # address -> name from SRV / rootDSE
    ad_problem: str = ""
    certificates: dict[str, tuple[str, str]] = field(default_factory=dict)  # domain -> file
    certificate_notes: list[str] = field(default_factory=list)
    ca_hosts: dict[str, str] = field(default_factory=dict)  # host -> from which URL
    private_roots: dict[str, str] = field(default_factory=dict)  # SHA-256 -> which file


def _site(interface: str, body: str) -> Config:
    text = ("defaults: {timeout: 2, retries: 1, deadline: 60}\n"
            f"sites:\n  - name: init\n    interface: {interface}\n"
            f"    dhcp: {{window: {WINDOW}}}\n{body}")
    return parse(text, Path("amt-preflight-init.yaml"))


def _gather(config: Config, checks: Sequence[str]) -> Observations:
    chosen = specs(checks)
    gathered = run_loop(engine.gather(config, config.sites, chosen, engine.RunOptions(), False))
    return gathered.observations


def _dhcp_round(found: Found) -> None:
    observations = _gather(_site(found.interface, ""), DHCP_ROUND)
    survey = observations.dhcp.get("init")
    if survey is None or survey.error:
        found.dhcp_problem = survey.error if survey else "the DHCP survey did not run"
        return
    if not survey.answers:
        found.dhcp_problem = f"no DHCP server answered on {found.interface} within {WINDOW} s"
    for answer in survey.answers:
        found.dhcp_servers.setdefault(answer.server, f"{answer.message_type} to the "
                                      f"{answer.answering} from {answer.source}")
        option15 = answer.domain_name
        domain = domain_of(option15) if option15 is not None else None
        if domain:
            found.domains.setdefault(domain, f"option 15 from {answer.server}")
        for resolver in answer.dns_servers:
            found.resolvers.setdefault(resolver, f"option 6 from {answer.server}")


def _host_resolvers(found: Found) -> None:
    from amt_preflight.probes.dns import host_resolvers

    for address in host_resolvers().addresses:
        found.resolvers.setdefault(address, "this host's /etc/resolv.conf")


def _network_round(found: Found) -> None:
    domain = next(iter(found.domains))
    resolvers = ", ".join(found.resolvers)
    body = (f"    resolvers: [{resolvers}]\n    ad: {{domain: {domain}}}\n"
            f"    domains: [{', '.join(f'{{name: {d}}}' for d in found.domains)}]\n")
    observations = _gather(_site(found.interface, body), NETWORK_ROUND)
    view = observations.site("init")
    for name in found.domains:
        addresses: list[str] = []
        said: list[str] = []
        for resolver in found.resolvers:
            answer = view.dns(resolver, provision_server_name(name), "A")
            addresses += [a for a in answer.values if a not in addresses]
            said.append(f"{answer.describe()}")
        if addresses:
            found.provision_servers[name] = (addresses, f"{provision_server_name(name)} A at "
                                             f"{', '.join(found.resolvers)}")
        else:
            found.provision_missing[name] = "; ".join(said) or "no resolver to ask"
    found.ad_domain = domain
    kdcs = observations.ad_servers.get(("init", AdRole.KDC))
    dcs = observations.ad_servers.get(("init", AdRole.DC))
    for servers in (dcs, kdcs):
        for server in servers.servers if servers else ():
            for address in server.addresses:
                found.dcs.setdefault(address, ", ".join(srv_target(n) for n in server.host_names))
    for question, reply in observations.kerberos.items():
        if reply.krb_error and reply.realm:
            found.realm = (reply.realm, f"the KRB-ERROR of the KDC {question.kdc}")
            break
    for address, root in observations.root_dse.items():
        if root.dns_host_name and address in found.dcs:
            found.dcs[address] = root.dns_host_name
    if not found.dcs:
        found.ad_problem = (f"no _ldap._tcp.dc._msdcs or _kerberos SRV record for {domain} at "
                            f"{resolvers}")


def _certificates(found: Found, files: Sequence[Path], relative_to: Path) -> None:
    from amt_preflight.checks.cert import domain_rule
    from amt_preflight.checks.chain import root_of
    from amt_preflight.pki import is_builtin_root
    from amt_preflight.probes.certificate import read_bundle

    for path in files:
        shown = os.path.relpath(path.resolve(), relative_to.resolve())
        try:
            data = path.read_bytes()
        except OSError as exc:
            found.certificate_notes.append(f"{shown}: cannot read: {exc.strerror}")
            continue
        bundle = read_bundle("unknown", shown, data, None, None)
        leaf = bundle.leaf_certificate or (bundle.certificates[0] if bundle.certificates
                                           else None)
        if leaf is None:
            found.certificate_notes.append(f"{shown}: {bundle.outcome.value}: {bundle.detail}")
            continue
        names = [*leaf.common_names, *leaf.dns_names]
        domain = next((d for d in found.domains for n in names if domain_rule(d, n)), None)
        if domain is None and names:
            first = names[0].removeprefix("*.")
            domain = first.split(".", 1)[1] if first.count(".") >= 2 else first
        if domain:
            found.certificates.setdefault(domain, (shown, f"its names: {', '.join(names[:4])}"))
        root = root_of(bundle, datetime.now(UTC)) if bundle.certificates else None
        if root is not None:
            found.certificate_notes.append(f"{shown}: root {root.label}, SHA-256 {root.sha256}")
            if not is_builtin_root(root):
                found.private_roots.setdefault(root.sha256, shown)
        for cert in bundle.certificates:
            for url in (*cert.crl_urls, *cert.ca_issuer_urls, *cert.ocsp_urls):
                host = urlsplit(url).hostname
                if host:
                    found.ca_hosts.setdefault(host, url)


def survey(interface: str, certificates: Sequence[Path] = (),
           relative_to: Path = Path(".")) -> Found:
    """Ask the network (and read the certificate files): what a first config rests on."""
    found = Found(interface)
    if os.geteuid() != 0:
        found.dhcp_problem = ("not run: the DHCP probe sends raw packets and needs root "
                              "(CAP_NET_RAW); run init with sudo to see the DHCP servers, "
                              "option 15 and option 6")
    else:
        _dhcp_round(found)
    if not found.resolvers:
        _host_resolvers(found)
    _certificates(found, certificates, relative_to)
    for domain in list(found.certificates):
        found.domains.setdefault(domain, f"the certificate {found.certificates[domain][0]}")
    if found.domains and found.resolvers:
        _network_round(found)
    return found


def _comment(text: str) -> str:
    return "  # " + text.replace("\n", " ")


def render(found: Found, site: str) -> str:
    """The config, every value with where it came from; what is missing, commented."""
    lines = [
        f"# amt-preflight config written by `amt-preflight init --interface {found.interface}`.",
        "# Every value says where it came from. Review it, confirm the servers marked",
        "# CONFIRM (anything else answering DHCP is then rogue), fill in what is commented",
        "# out, then: amt-preflight validate -c <this file> && amt-preflight run -c <this file>",
        "",
        "defaults:",
        "  timeout: 3",
        "  retries: 1",
        "  deadline: 300",
        "  allow_intrusive: false   # DHCP lease, DNS update, hello: only when true",
        "sites:",
        f"  - name: {site}",
        f"    interface: {found.interface}",
    ]
    if found.resolvers:
        lines.append("    resolvers: [" + ", ".join(found.resolvers) + "]"
                     + _comment("seen: " + "; ".join(f"{a}: {s}"
                                                     for a, s in found.resolvers.items())))
    lines.append("    dhcp:")
    if found.dhcp_servers:
        lines.append("      allowed_servers: [" + ", ".join(found.dhcp_servers) + "]"
                     + _comment("CONFIRM: seen answering: " + "; ".join(
                         f"{a} ({s})" for a, s in found.dhcp_servers.items())))
    else:
        lines.append("      # allowed_servers: []" + _comment(found.dhcp_problem))
    lines.append("      window: 5")
    if found.ad_domain and found.dcs:
        realm, realm_source = found.realm
        lines += ["    ad:",
                  f"      domain: {found.ad_domain}" + _comment(
                      f"seen: {found.domains.get(found.ad_domain, '')}, and its SRV records")]
        if realm:
            lines.append(f"      realm: {realm}" + _comment(f"seen: {realm_source}"))
        else:
            lines.append("      # realm:" + _comment("no KDC answered with its realm"))
        lines.append("      # kdcs: []" + _comment("default: the SRV targets, seen: " + "; ".join(
            f"{a} ({n})" for a, n in found.dcs.items())))
        lines.append("      # bind_user: svc-amt@" + found.ad_domain + _comment(
            "the provisioning service account, for AD-LDAP-BIND and AD-AMT-OU"))
        lines.append("      # bind_password_env: AMT_BIND_PASSWORD")
    else:
        lines.append("    # ad: {domain: ...}" + _comment(found.ad_problem or
                                                          "no domain seen to look for AD in"))
    lines += ["    amt:",
              "      custom_root_hashes: []" + _comment(
                  "hex hashes of roots inserted by hand (MEBx, setup.bin)")]
    lines += [f"      # - {sha256}" + _comment(
        f"the root of {shown} is in no built-in list: add it if your devices carry it")
        for sha256, shown in found.private_roots.items()]
    lines += [
              "      # generations: [11, 16]" + _comment(
                  "the AMT major versions deployed here; unset: every list from AMT 11 on"),
              "      # devices: [inventory/*.json]" + _comment(
                  "`rpc amtinfo -cert -json` of each device: their real root lists")]
    if found.ca_hosts:
        host, url = next(iter(found.ca_hosts.items()))
        lines += ["    # ca:", f"    #   enterprise: {{host: {host}, ports: [80, 443]}}"
                  + _comment(f"seen in the certificate: {url}")]
    lines.append("    domains:")
    if not found.domains:
        lines.append("      []  # no domain seen: DHCP gave no option 15 and no certificate "
                     "was given; add {name: <the AMT devices' DNS domain>}")
    for domain, source in found.domains.items():
        lines.append(f"      - name: {domain}" + _comment(f"seen: {source}"))
        if domain in found.provision_servers:
            addresses, where = found.provision_servers[domain]
            lines.append(f"        provision_server: [{', '.join(addresses)}]"
                         + _comment(f"CONFIRM: seen: {where}"))
        else:
            lines.append("        # provision_server: []" + _comment(
                f"{provision_server_name(domain)}: "
                f"{found.provision_missing.get(domain, 'not asked')}"))
        if domain in found.certificates:
            path, why = found.certificates[domain]
            lines.append(f"        certificate: {{file: {path}}}" + _comment(
                f"given, {why}; a PFX needs password_env or password_file"))
        else:
            lines.append("        # certificate: {file: certs/provisioning.pfx, password_env: "
                         "PFX_PASSWORD}" + _comment("not given (init --certificate FILE)"))
    for note in found.certificate_notes:
        lines.append(f"# certificate: {note}")
    return "\n".join(lines) + "\n"
