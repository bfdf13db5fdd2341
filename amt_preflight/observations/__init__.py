"""Typed, frozen observations that probes make and checks read, one module per area (named
like checks/<area>.py): base (Outcome, timing, clipped, utc_text), dns, dhcp, ad, cert
(certificates, HTTP and TCP), snmp, handshake, devices. This module holds what joins them:
Observations, everything one run saw, and SiteView, one site's view of it.

Errors are data: a timeout, a refused connection or a malformed answer is an observation
with an outcome, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from amt_preflight.observations.ad import (
    AdRole,
    AdServers,
    KerberosQuestion,
    KerberosReply,
    LdapBind,
    RootDse,
)
from amt_preflight.observations.base import Outcome, Transport
from amt_preflight.observations.cert import CertificateBundle, HttpFetch, TcpConnect
from amt_preflight.observations.dhcp import DhcpRegistration, DhcpSurvey, Option15
from amt_preflight.observations.dns import (
    DnsAnswer,
    DnsQuestion,
    DnsUpdateAttempt,
    ResolverSet,
    normal_name,
)
from amt_preflight.observations.handshake import HandshakeAttempt, HandshakeKind
from amt_preflight.observations.snmp import (
    SnmpInterfaces,
    SnmpProcesses,
    SnmpSystem,
    snmp_not_observed,
)

if TYPE_CHECKING:
    from amt_preflight.config import ChecksConfig
    from amt_preflight.model import Leftover
    from amt_preflight.observations.devices import DeviceInventory


@dataclass
class Observations:
    """Everything the probes of one run saw. Filled while gathering, read-only after."""

    dns: dict[DnsQuestion, DnsAnswer] = field(default_factory=dict)
    dns_updates: dict[str, DnsUpdateAttempt] = field(default_factory=dict)  # by domain
    resolvers: dict[str, ResolverSet] = field(default_factory=dict)  # by site name
    # The resolvers ProvisionServer.<domain> is asked at, by site: the site's, and those DHCP
    # option 6 hands to devices; each with where it came from
    provision_resolvers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # DHCP, by site name (sites on one interface share one survey)
    dhcp: dict[str, DhcpSurvey] = field(default_factory=dict)
    option15: dict[str, Option15] = field(default_factory=dict)
    dhcp_registrations: dict[str, DhcpRegistration] = field(default_factory=dict)
    # Certificates and CA, by site name first: names in URLs resolve at the site's resolvers
    certificates: dict[tuple[str, str], CertificateBundle] = field(default_factory=dict)
    http: dict[tuple[str, str], HttpFetch] = field(default_factory=dict)  # GET, by URL
    ocsp: dict[tuple[str, str, str], HttpFetch] = field(default_factory=dict)  # URL, cert SHA-256
    tcp: dict[tuple[str, str, int], TcpConnect] = field(default_factory=dict)  # host, port
    # AD and Kerberos: KDCs and DCs by site and role; AS-REQs and rootDSEs by address (shared
    # by sites); binds by site and DC address (each site binds with its own account)
    ad_servers: dict[tuple[str, AdRole], AdServers] = field(default_factory=dict)
    kerberos: dict[KerberosQuestion, KerberosReply] = field(default_factory=dict)
    root_dse: dict[str, RootDse] = field(default_factory=dict)
    ldap_binds: dict[tuple[str, str], LdapBind] = field(default_factory=dict)
    # SNMP, by (site name, device host)
    snmp_systems: dict[tuple[str, str], SnmpSystem] = field(default_factory=dict)
    snmp_interfaces: dict[tuple[str, str], SnmpInterfaces] = field(default_factory=dict)
    snmp_processes: dict[tuple[str, str], SnmpProcesses] = field(default_factory=dict)
    # Handshakes (hello and connect-back), by (site name, domain, kind)
    # one attempt per device profile (PKI) or configured provision_server address (PSK)
    handshakes: dict[tuple[str, str, HandshakeKind], tuple[HandshakeAttempt, ...]] = field(
        default_factory=dict)
    # The devices' own reports (amt.devices), by site name
    devices: dict[str, DeviceInventory] = field(default_factory=dict)
    # Changes intrusive probes made and have not undone yet (a DNS test record, a lease), by
    # a key of the probe's: entered before the change is made, removed once it is undone.
    # Whatever is left when the run ends is named in every report.
    undo: dict[str, Leftover] = field(default_factory=dict)

    def site(
        self, name: str, now: datetime | None = None, checks: ChecksConfig | None = None
    ) -> SiteView:
        from amt_preflight.config import ChecksConfig

        return SiteView(self, name, now or datetime.now(UTC), checks or ChecksConfig())


@dataclass(frozen=True)
class SiteView:
    """The observations as one site's checks see them."""

    observations: Observations
    site: str
    now: datetime  # the run's clock: checks read no other
    checks: ChecksConfig  # the config's `checks:` settings (cert_warn_days)

    # A view is made once the gathering has ended: what it derives is kept (every domain's
    # checks read the resolvers again, 1,000 domains times five checks)
    @cached_property
    def resolvers(self) -> ResolverSet:
        return self.observations.resolvers.get(self.site, ResolverSet((), "not observed"))

    @cached_property
    def provision_resolvers(self) -> tuple[tuple[str, str], ...]:
        """(address, where it came from) of every resolver ProvisionServer is asked at: the
        site's resolvers and the devices' (DHCP option 6)."""
        found = self.observations.provision_resolvers.get(self.site)
        if found is not None:
            return found
        return tuple((a, f"site resolver ({self.resolvers.source})")
                     for a in self.resolvers.addresses)

    def dns(self, resolver: str, name: str, rdtype: str, transport: Transport = "udp") -> DnsAnswer:
        question = DnsQuestion(resolver, name, rdtype, transport)
        answer = self.observations.dns.get(question)
        return answer or DnsAnswer(question, Outcome.NOT_OBSERVED, detail="never probed")

    def dns_at_all(self, name: str, rdtype: str) -> list[DnsAnswer]:
        """The answers of every resolver of the site to one question, over UDP."""
        return [self.dns(r, name, rdtype) for r in self.resolvers.addresses]

    def dns_update(self, domain: str) -> DnsUpdateAttempt | None:
        return self.observations.dns_updates.get(normal_name(domain))

    @property
    def dhcp_survey(self) -> DhcpSurvey | None:
        return self.observations.dhcp.get(self.site)

    @property
    def option15(self) -> Option15 | None:
        """The option 15 this site's DHCP hands out (from an allowed server when one
        answered) and the server it came from; None when none was seen."""
        return self.observations.option15.get(self.site)

    @property
    def dhcp_registration(self) -> DhcpRegistration | None:
        return self.observations.dhcp_registrations.get(self.site)

    def certificate(self, domain: str) -> CertificateBundle | None:
        return self.observations.certificates.get((self.site, normal_name(domain)))

    def http_get(self, url: str) -> HttpFetch:
        fetch = self.observations.http.get((self.site, url))
        return fetch or HttpFetch(url, detail="never fetched")

    def ocsp(self, url: str, certificate_sha256: str) -> HttpFetch:
        fetch = self.observations.ocsp.get((self.site, url, certificate_sha256))
        return fetch or HttpFetch(url, "POST", detail="never asked")

    def tcp(self, host: str, port: int) -> TcpConnect:
        return self.observations.tcp.get((self.site, host, port)) or TcpConnect(
            host, port, detail="never tried")

    def ad_servers(self, role: AdRole) -> AdServers | None:
        return self.observations.ad_servers.get((self.site, role))

    def kerberos(self, question: KerberosQuestion) -> KerberosReply:
        reply = self.observations.kerberos.get(question)
        return reply or KerberosReply(question, Outcome.NOT_OBSERVED, detail="never asked")

    def root_dse(self, address: str) -> RootDse:
        return self.observations.root_dse.get(address) or RootDse(address, detail="never read")

    def ldap_bind(self, address: str) -> LdapBind | None:
        return self.observations.ldap_binds.get((self.site, address))

    def snmp_system(self, host: str) -> SnmpSystem:
        return self.observations.snmp_systems.get((self.site, host)) or SnmpSystem(
            snmp_not_observed(host, "GET system"))

    def snmp_interfaces(self, host: str) -> SnmpInterfaces:
        return self.observations.snmp_interfaces.get((self.site, host)) or SnmpInterfaces(
            host, (snmp_not_observed(host, "WALK ifName"),))

    def snmp_processes(self, host: str) -> SnmpProcesses:
        return self.observations.snmp_processes.get((self.site, host)) or SnmpProcesses(
            snmp_not_observed(host, "WALK hrSWRunName"))

    def handshakes(self, domain: str, kind: HandshakeKind) -> tuple[HandshakeAttempt, ...] | None:
        """The attempts of one domain: one per device profile (PKI) or per configured
        provision_server address (PSK); None when they did not finish."""
        return self.observations.handshakes.get((self.site, normal_name(domain), kind))

    @property
    def devices(self) -> DeviceInventory | None:
        """The devices this site's amt.devices names, and the files that gave none; None
        when they were not read (no amt.devices, or no DEV-* check selected)."""
        return self.observations.devices.get(self.site)
