"""Typed, frozen observations that probes make and checks read, one module per area (named
like checks/<area>.py): base (Outcome, timing, clipped, utc_text), dns, dhcp, ad, cert
(certificates, HTTP and TCP), snmp, handshake, devices. This module holds what joins them:
Observations, everything one run saw, and SiteView, one site's view of it.

Errors are data: a timeout, a refused connection or a malformed answer is an observation
with an outcome, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, overload

from amt_preflight.observations.base import Transport
from amt_preflight.observations.dns import (
    DnsAnswer,
    DnsQuestion,
    DnsUpdateAttempt,
    ProvisionResolvers,
    ResolverSet,
    dns_update_key,
)
from amt_preflight.typed import record

# The other areas' types are named here for the type checker only: a run imports the
# modules of the areas it probes and judges (a DNS survey loads none of the others).
if TYPE_CHECKING:
    from amt_preflight.config import ChecksConfig
    from amt_preflight.model import Leftover
    from amt_preflight.observations.ad import (
        AdRole,
        AdServers,
        AdServersKey,
        KerberosQuestion,
        KerberosReply,
        LdapBind,
        LdapBindKey,
        RootDse,
    )
    from amt_preflight.observations.cert import (
        CertificateBundle,
        CertificateKey,
        HttpFetch,
        HttpKey,
        OcspFetch,
        OcspKey,
        TcpConnect,
        TcpKey,
    )
    from amt_preflight.observations.devices import DeviceInventory
    from amt_preflight.observations.dhcp import DhcpRegistration, DhcpSurvey, Option15
    from amt_preflight.observations.handshake import (
        HandshakeAttempt,
        HandshakeKind,
        Handshakes,
        HandshakesKey,
    )
    from amt_preflight.observations.snmp import SnmpInterfaces, SnmpKey, SnmpProcesses, SnmpSystem

    # What a probe records (Observations.record). Each type says where it is kept (STORE,
    # and its key, defined beside it): what the sites share (SHARED), by what was asked;
    # the rest by site first.
    SharedObservation = DnsAnswer | DnsUpdateAttempt | KerberosReply | RootDse
    SiteObservation = (ResolverSet | ProvisionResolvers | DhcpSurvey | Option15
                       | DhcpRegistration | CertificateBundle | HttpFetch | OcspFetch
                       | TcpConnect | AdServers | LdapBind | SnmpSystem | SnmpInterfaces
                       | SnmpProcesses | Handshakes | DeviceInventory)
    Observation = SharedObservation | SiteObservation

T = TypeVar("T")


@dataclass
class Observations:
    """Everything the probes of one run saw. Filled while gathering (record), read-only
    after. One store per observation type, keyed as the type's `key` says."""

    dns: dict[DnsQuestion, DnsAnswer] = field(default_factory=dict)
    dns_updates: dict[str, DnsUpdateAttempt] = field(default_factory=dict)  # by domain
    resolvers: dict[str, ResolverSet] = field(default_factory=dict)  # by site name
    # The resolvers ProvisionServer.<domain> is asked at, by site: the site's, and those DHCP
    # option 6 hands to devices; each with where it came from
    provision_resolvers: dict[str, ProvisionResolvers] = field(default_factory=dict)
    # DHCP, by site name (sites on one interface share one survey)
    dhcp: dict[str, DhcpSurvey] = field(default_factory=dict)
    option15: dict[str, Option15] = field(default_factory=dict)
    dhcp_registrations: dict[str, DhcpRegistration] = field(default_factory=dict)
    # Certificates and CA, by site name first: names in URLs resolve at the site's resolvers
    certificates: dict[CertificateKey, CertificateBundle] = field(default_factory=dict)
    http: dict[HttpKey, HttpFetch] = field(default_factory=dict)  # GET, by URL
    ocsp: dict[OcspKey, OcspFetch] = field(default_factory=dict)  # URL, cert SHA-256
    tcp: dict[TcpKey, TcpConnect] = field(default_factory=dict)  # host, port
    # AD and Kerberos: KDCs and DCs by site and role; AS-REQs and rootDSEs by address (shared
    # by sites); binds by site and DC address (each site binds with its own account)
    ad_servers: dict[AdServersKey, AdServers] = field(default_factory=dict)
    kerberos: dict[KerberosQuestion, KerberosReply] = field(default_factory=dict)
    root_dse: dict[str, RootDse] = field(default_factory=dict)
    ldap_binds: dict[LdapBindKey, LdapBind] = field(default_factory=dict)
    # SNMP, by (site name, device host)
    snmp_systems: dict[SnmpKey, SnmpSystem] = field(default_factory=dict)
    snmp_interfaces: dict[SnmpKey, SnmpInterfaces] = field(default_factory=dict)
    snmp_processes: dict[SnmpKey, SnmpProcesses] = field(default_factory=dict)
    # Handshakes (hello and connect-back), by (site name, domain, kind)
    # one attempt per device profile (PKI) or configured provision_server address (PSK)
    handshakes: dict[HandshakesKey, Handshakes] = field(default_factory=dict)
    # The devices' own reports (amt.devices), by site name
    devices: dict[str, DeviceInventory] = field(default_factory=dict)
    # Changes intrusive probes made and have not undone yet (a DNS test record, a lease), by
    # a key of the probe's: entered before the change is made, removed once it is undone.
    # Whatever is left when the run ends is named in every report.
    undo: dict[str, Leftover] = field(default_factory=dict)

    @overload
    def record(self, observation: SharedObservation, site: str | None = None) -> None: ...

    @overload
    def record(self, observation: SiteObservation, site: str) -> None: ...

    def record(self, observation: Observation, site: str | None = None) -> None:
        """Keep one observation, in its type's store at its type's key: the one place probes
        write (as it arrives: dependent probes read it, and a run stopped by its deadline or
        a signal keeps what came). `site` is the site whose gatherer made it; what the sites
        share (answers to DNS and Kerberos questions, rootDSEs, dynamic updates) needs none.
        A later observation of the same key replaces the earlier one."""
        o = observation
        if not isinstance(getattr(o, "STORE", None), str):
            raise TypeError(f"not an observation: {type(o).__name__}")
        store: dict[Any, Observation] = getattr(self, o.STORE)
        if o.SHARED:  # by what was asked, shared by the sites
            store[o.key()] = o
        elif site is None:
            raise ValueError(f"a {type(o).__name__} is kept by site: name the site")
        else:  # by site first
            store[o.key(site)] = o

    def site(
        self, name: str, now: datetime | None = None, checks: ChecksConfig | None = None
    ) -> SiteView:
        from amt_preflight.config import ChecksConfig

        return SiteView(self, name, now or datetime.now(UTC), checks or ChecksConfig())


@record
class SiteView:
    """The observations as one site's checks see them."""

    observations: Observations
    site: str
    now: datetime  # the run's clock: checks read no other
    checks: ChecksConfig  # the config's `checks:` settings (cert_warn_days)

    # A view is made once the gathering has ended, one for all of a site's checks: what it
    # derives is kept (every domain's checks read the resolvers again, 1,000 domains times
    # five checks)
    @cached_property
    def resolvers(self) -> ResolverSet:
        return self.observations.resolvers.get(self.site) or ResolverSet.not_observed()

    @cached_property
    def provision_resolvers(self) -> tuple[tuple[str, str], ...]:
        """(address, where it came from) of every resolver ProvisionServer is asked at: the
        site's resolvers and the devices' (DHCP option 6)."""
        found = self.observations.provision_resolvers.get(self.site)
        if found is not None:
            return found.resolvers
        return tuple((a, f"site resolver ({self.resolvers.source})")
                     for a in self.resolvers.addresses)

    # the answers read so far, by the question as a check asks it: a domain's four
    # ProvisionServer checks read the same answers
    _answers: dict[tuple[str, str, str, str], DnsAnswer] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    _kept: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False,
                                      compare=False)

    def kept(self, key: Hashable, make: Callable[[], T]) -> T:
        """What the checks derive from the observations, made once for all of the site's
        checks (`make()` the first time `key` is asked for): a domain's ProvisionServer
        answers, read by four checks. A key starts with the name of what it keeps."""
        try:
            found: T = self._kept[key]
        except KeyError:
            found = self._kept[key] = make()
        return found

    def dns(self, resolver: str, name: str, rdtype: str, transport: Transport = "udp") -> DnsAnswer:
        asked = (resolver, name, rdtype, transport)
        answer = self._answers.get(asked)
        if answer is None:
            question = DnsQuestion(resolver, name, rdtype, transport)
            answer = self.observations.dns.get(question) or DnsAnswer.not_observed(question)
            self._answers[asked] = answer
        return answer

    def dns_at_all(self, name: str, rdtype: str) -> list[DnsAnswer]:
        """The answers of every resolver of the site to one question, over UDP."""
        return [self.dns(r, name, rdtype) for r in self.resolvers.addresses]

    def dns_update(self, domain: str) -> DnsUpdateAttempt | None:
        return self.observations.dns_updates.get(dns_update_key(domain))

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
        from amt_preflight.observations.cert import certificate_key
        return self.observations.certificates.get(certificate_key(self.site, domain))

    def http_get(self, url: str) -> HttpFetch:
        from amt_preflight.observations.cert import HttpFetch, http_key
        fetch = self.observations.http.get(http_key(self.site, url))
        return fetch or HttpFetch.not_observed(url)

    def ocsp(self, url: str, certificate_sha256: str) -> HttpFetch:
        from amt_preflight.observations.cert import OcspFetch, ocsp_key
        found = self.observations.ocsp.get(ocsp_key(self.site, url, certificate_sha256))
        return (found or OcspFetch.not_observed(url, certificate_sha256)).fetch

    def tcp(self, host: str, port: int) -> TcpConnect:
        from amt_preflight.observations.cert import TcpConnect, tcp_key
        found = self.observations.tcp.get(tcp_key(self.site, host, port))
        return found or TcpConnect.not_observed(host, port)

    def ad_servers(self, role: AdRole) -> AdServers | None:
        from amt_preflight.observations.ad import ad_servers_key
        return self.observations.ad_servers.get(ad_servers_key(self.site, role))

    def kerberos(self, question: KerberosQuestion) -> KerberosReply:
        from amt_preflight.observations.ad import KerberosReply
        reply = self.observations.kerberos.get(question)
        return reply or KerberosReply.not_observed(question)

    def root_dse(self, address: str) -> RootDse:
        from amt_preflight.observations.ad import RootDse
        return self.observations.root_dse.get(address) or RootDse.not_observed(address)

    def ldap_bind(self, address: str) -> LdapBind | None:
        from amt_preflight.observations.ad import ldap_bind_key
        return self.observations.ldap_binds.get(ldap_bind_key(self.site, address))

    def snmp_system(self, host: str) -> SnmpSystem:
        from amt_preflight.observations.snmp import SnmpSystem, snmp_key
        found = self.observations.snmp_systems.get(snmp_key(self.site, host))
        return found or SnmpSystem.not_observed(host)

    def snmp_interfaces(self, host: str) -> SnmpInterfaces:
        from amt_preflight.observations.snmp import SnmpInterfaces, snmp_key
        found = self.observations.snmp_interfaces.get(snmp_key(self.site, host))
        return found or SnmpInterfaces.not_observed(host)

    def snmp_processes(self, host: str) -> SnmpProcesses:
        from amt_preflight.observations.snmp import SnmpProcesses, snmp_key
        found = self.observations.snmp_processes.get(snmp_key(self.site, host))
        return found or SnmpProcesses.not_observed(host)

    def handshakes(self, domain: str, kind: HandshakeKind) -> tuple[HandshakeAttempt, ...] | None:
        """The attempts of one domain: one per device profile (PKI) or per configured
        provision_server address (PSK); None when they did not finish."""
        from amt_preflight.observations.handshake import handshakes_key
        found = self.observations.handshakes.get(handshakes_key(self.site, domain, kind))
        return None if found is None else found.attempts

    @property
    def devices(self) -> DeviceInventory | None:
        """The devices this site's amt.devices names, and the files that gave none; None
        when they were not read (no amt.devices, or no DEV-* check selected)."""
        return self.observations.devices.get(self.site)
