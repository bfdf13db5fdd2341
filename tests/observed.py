"""Hand-made observations for the unit tests of checks: no network, no clock."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from amt_preflight.config import Config, SiteConfig, parse
from amt_preflight.model import Finding, Status
from amt_preflight.observations import Observations
from amt_preflight.observations.ad import (
    AD_KDC_PRINCIPAL,
    AdRole,
    AdServer,
    AdServers,
    BindStage,
    KerberosQuestion,
    KerberosReply,
    LdapBind,
    RootDse,
)
from amt_preflight.observations.base import Outcome, Transport
from amt_preflight.observations.dhcp import DhcpAnswer, DhcpRegistration, DhcpSurvey
from amt_preflight.observations.dns import (
    DnsAnswer,
    DnsQuestion,
    DnsRecord,
    DnsUpdateAttempt,
    ResolverSet,
)
from amt_preflight.probes.dhcp_trust import option15_of

R1, R2 = "10.250.0.1", "10.250.0.2"


CLIENT_MAC = "02:00:00:00:00:01"
CORP = b"corp.example"
S_FLAG = b"\x05\xff\xff"  # option 81 back: the server updates the A record (S), wire format


def dhcp_answer(
    server: str = R1, message: str = "OFFER", answering: str = "DISCOVER",
    option15: bytes | None = CORP, option6: Iterable[str] = (R1,),
    option81: bytes | None = S_FLAG, *, source: str | None = None, server_id: bool = True,
    giaddr: str = "0.0.0.0",
) -> DhcpAnswer:
    """One server's answer as the DHCP probe decodes it."""
    kinds = {"OFFER": 2, "ACK": 5, "NAK": 6}
    options: list[tuple[int, bytes]] = [(53, bytes([kinds[message]]))]
    if server_id:
        options.append((54, ipaddress.IPv4Address(server).packed))
    if option15 is not None:
        options.append((15, option15))
    addresses = b"".join(ipaddress.IPv4Address(a).packed for a in option6)
    if addresses:
        options.append((6, addresses))
    if option81 is not None and answering == "DISCOVER":
        options.append((81, option81))
    return DhcpAnswer(answering, message, source or server, "52:54:00:00:00:01", 7,
                      "10.250.0.150" if message == "OFFER" else "0.0.0.0", giaddr,
                      tuple(options), after_ms=3.0)


def statuses(findings: list[Finding]) -> dict[str, Status]:
    return {f.target: f.status for f in findings}


def reasons(findings: list[Finding]) -> dict[str, str | None]:
    """Each target's reason tag: what a test asserts, never a message's wording."""
    return {f.target: f.reason for f in findings}


def the(findings: list[Finding]) -> tuple[Status, str | None]:
    """The one finding's status and reason tag."""
    [finding] = findings
    return finding.status, finding.reason


def config(text: str) -> Config:
    return parse(text, Path("test.yaml"))


def site(text: str) -> SiteConfig:
    return config(text).sites[0]


class Observed:
    """Builds an Observations object answer by answer."""

    def __init__(self, site_name: str = "hq", resolvers: Iterable[str] = (R1, R2)) -> None:
        self.obs = Observations()
        self.obs.record(ResolverSet(tuple(resolvers), "config"), site_name)
        self.site_name = site_name

    def answer(
        self, resolver: str, name: str, rdtype: str, values: Iterable[str] = (),
        rcode: str = "NOERROR", transport: Transport = "udp", **extra: Any,
    ) -> Observed:
        q = DnsQuestion(resolver, name, rdtype, transport)
        records = tuple(DnsRecord(q.name, q.rdtype, 300, v) for v in values)
        self.obs.record(DnsAnswer(q, Outcome.ANSWER, rcode=rcode, records=records,
                                  attempts=1, started_at=1_800_000_000.0, elapsed_ms=2.0,
                                  **extra))
        return self

    def silent(
        self, resolver: str, name: str, rdtype: str, transport: Transport = "udp",
        outcome: Outcome = Outcome.TIMEOUT,
    ) -> Observed:
        q = DnsQuestion(resolver, name, rdtype, transport)
        self.obs.record(DnsAnswer(q, outcome, attempts=2, started_at=1_800_000_000.0,
                                  elapsed_ms=6000.0, detail="no reply in 3 s"))
        return self

    def update(self, domain: str, rcode: str | None, outcome: Outcome = Outcome.ANSWER,
               zone: str | None = None) -> Observed:
        self.obs.record(DnsUpdateAttempt(
            domain, zone or domain, R1, f"amt-preflight-probe-1.{zone or domain}", outcome,
            rcode=rcode, cleanup="deleted" if rcode == "NOERROR" else "not needed"))
        return self

    def dhcp(self, *answers: DhcpAnswer, interface: str = "lab0", error: str = "",
             allowed: Iterable[str] = ()) -> Observed:
        """The site's DHCP survey, with these answers (or the probe's error)."""
        survey = DhcpSurvey(interface, CLIENT_MAC, 5.0, ("DISCOVER", "INFORM"), answers,
                            error=error, started_at=1_800_000_000.0, elapsed_ms=5000.0)
        self.obs.record(survey, self.site_name)
        option15 = option15_of(survey, allowed)
        if option15 is not None:
            self.obs.record(option15, self.site_name)
        return self

    def registration(self, **fields: Any) -> Observed:
        """The site's option 81 registration: leased, registered and released unless
        `fields` say otherwise."""
        base = DhcpRegistration(
            "lab0", CLIENT_MAC, "amtp-1", ("DISCOVER", "OFFER", "REQUEST", "ACK", "RELEASE"),
            server=R1, address="10.250.0.150", fqdn="amtp-1.corp.example",
            fqdn_source="option 81 in the ACK", a_seen=(R1,), ptr_seen=(R1,), a_after_ms=5.0,
            ptr_after_ms=6.0, waited_s=0.1, released=True,
            cleanup="A record gone after the RELEASE")
        self.obs.record(replace(base, **fields), self.site_name)
        return self

    # --- AD and Kerberos

    def ad_servers(self, role: AdRole, *servers: AdServer | str,
                   source: str = "SRV records") -> Observed:
        """The site's KDCs or DCs; an address alone stands for an SRV target dc01.corp.example."""
        made = tuple(s if isinstance(s, AdServer) else AdServer(s, (s,), ("dc01.corp.example",))
                     for s in servers)
        self.obs.record(AdServers(role, made, source), self.site_name)
        return self

    def kerberos(
        self, kdc: str, realm: str, transport: Transport = "udp", *, code: int | None = 25,
        principal: str = AD_KDC_PRINCIPAL, reply_realm: str | None = None,
        offset: float = 0.2, outcome: Outcome = Outcome.ANSWER, message: str = "KRB-ERROR",
    ) -> Observed:
        """A KDC's reply to one AS-REQ: by default PREAUTH_REQUIRED in the asked realm, from a
        clock `offset` seconds ahead of ours."""
        question = KerberosQuestion(kdc, realm, principal, transport)
        sent = 1_800_000_000.0
        if outcome is not Outcome.ANSWER:
            reply = KerberosReply(question, outcome, attempts=2, started_at=sent,
                                  elapsed_ms=6000.0, detail=f"{outcome.value} for the test")
        else:
            reply = KerberosReply(
                question, outcome, message=message, error_code=code,
                error_name=f"ERROR_{code}" if code is not None else "",
                realm=reply_realm or realm, kdc_time=sent + 0.001 + offset, sent_at=sent,
                rtt_ms=2.0, attempts=1, started_at=sent, elapsed_ms=2.0)
        self.obs.record(reply)
        return self

    def root_dse(self, address: str, naming: str = "DC=corp,DC=example",
                 host: str = "dc01.corp.example", **fields: Any) -> Observed:
        """A DC's rootDSE; an answer with these values unless `fields` say otherwise."""
        values: dict[str, Any] = {
            "outcome": Outcome.ANSWER, "result": "success", "default_naming_context": naming,
            "dns_host_name": host, "dc_time": 1_800_000_000.5, "sent_at": 1_800_000_000.0,
            "rtt_ms": 1.0, "attempts": 1, "started_at": 1_800_000_000.0, "elapsed_ms": 3.0}
        self.obs.record(RootDse(address, **{**values, **fields}))
        return self

    def bind(self, address: str, stage: BindStage = BindStage.BOUND, **fields: Any) -> Observed:
        """A bind at a DC: bound over TLS, the AMT OU found, unless `fields` say otherwise."""
        values: dict[str, Any] = {
            "outcome": Outcome.ANSWER, "password_source": "$AMT_BIND_PASSWORD",
            "trust": "the system trust store", "tls": "TLSv1.3 TLS_AES_256_GCM_SHA384",
            "result": "success", "ou": "OU=AMT,DC=corp,DC=example", "ou_result": "success",
            "ou_classes": ("top", "organizationalUnit"), "started_at": 1_800_000_000.0,
            "elapsed_ms": 5.0}
        self.obs.record(LdapBind(address, "svc-amt@corp.example", stage, **{**values, **fields}),
                        self.site_name)
        return self

    def view(self) -> Any:
        return self.obs.site(self.site_name)
