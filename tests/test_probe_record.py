"""Observations.record, the one place probes write: each type is kept in its own store at the
key it defines, and SiteView reads it back there; what was never recorded has one form."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from amt_preflight.observations import Observations
from amt_preflight.observations.ad import (
    AdRole,
    AdServers,
    BindStage,
    KerberosQuestion,
    KerberosReply,
    LdapBind,
    RootDse,
)
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import (
    CertificateBundle,
    HttpFetch,
    LoadOutcome,
    OcspFetch,
    TcpConnect,
)
from amt_preflight.observations.devices import DeviceInventory
from amt_preflight.observations.dhcp import DhcpRegistration, DhcpSurvey, Option15
from amt_preflight.observations.dns import (
    DnsAnswer,
    DnsQuestion,
    DnsUpdateAttempt,
    ProvisionResolvers,
    ResolverSet,
)
from amt_preflight.observations.handshake import HandshakeAttempt, HandshakeKind, Handshakes
from amt_preflight.observations.snmp import (
    SnmpInterfaces,
    SnmpOutcome,
    SnmpProcesses,
    SnmpSystem,
    snmp_not_observed,
)

if TYPE_CHECKING:
    from amt_preflight.observations import Observation


QUESTION = DnsQuestion("10.250.0.1", "ProvisionServer.Corp.Example.", "A")
AS_REQ = KerberosQuestion("10.250.0.11", "CORP.EXAMPLE", "krbtgt", "udp")
ATTEMPT = HandshakeAttempt("corp.example", HandshakeKind.PKI, "ProvisionServer.corp.example",
                           9971, "10.250.0.5:16993")


def test_every_type_is_read_back_where_it_was_kept() -> None:
    obs = Observations()
    shared: list[Observation] = [
        DnsAnswer(QUESTION, Outcome.ANSWER, rcode="NOERROR"),
        DnsUpdateAttempt("corp.example", "corp.example", "10.250.0.1", "x", Outcome.ANSWER),
        KerberosReply(AS_REQ, Outcome.TIMEOUT),
        RootDse("10.250.0.11", Outcome.ANSWER),
    ]
    for observation in shared:
        obs.record(observation)  # what the sites share needs no site
    site: list[Observation] = [
        ResolverSet(("10.250.0.1",), "config"),
        ProvisionResolvers((("10.250.0.1", "site resolver (config)"),)),
        DhcpSurvey("lab0", "02:00:00:00:00:01", 1.0),
        Option15("corp.example", "10.250.0.1", "lab0"),
        DhcpRegistration("lab0", "02:00:00:00:00:01", "amtp-1"),
        CertificateBundle("corp.example", "corp.pem", LoadOutcome.LOADED),
        HttpFetch("http://pki/root.crl", outcome=Outcome.ANSWER, status=200),
        OcspFetch("ab" * 32, HttpFetch("http://ocsp/", "POST", Outcome.TIMEOUT)),
        TcpConnect("ca01", 135, Outcome.UNREACHABLE),
        AdServers(AdRole.DC, (), "ad.kdcs"),
        LdapBind("10.250.0.11", "svc", BindStage.BOUND, Outcome.ANSWER),
        SnmpSystem(snmp_not_observed("sw1", "GET system"), descr="IOS"),
        SnmpInterfaces("sw1", ()),
        SnmpProcesses(snmp_not_observed("srv1", "WALK hrSWRunName"), ("sqlservr",)),
        Handshakes("corp.example", HandshakeKind.PKI, (ATTEMPT,)),
        DeviceInventory(("devices/*.json",), (), ()),
    ]
    for observation in site:
        obs.record(observation, "hq")
    view = obs.site("hq")
    assert view.dns("10.250.0.1", "provisionserver.corp.example", "a") is shared[0]
    assert view.dns_update("Corp.Example.") is shared[1]
    assert view.kerberos(AS_REQ) is shared[2]
    assert view.root_dse("10.250.0.11") is shared[3]
    assert view.resolvers is site[0]
    assert view.provision_resolvers == (("10.250.0.1", "site resolver (config)"),)
    assert view.dhcp_survey is site[2]
    assert view.option15 is site[3]
    assert view.dhcp_registration is site[4]
    assert view.certificate("CORP.example") is site[5]
    assert view.http_get("http://pki/root.crl") is site[6]
    assert view.ocsp("http://ocsp/", "ab" * 32) is site[7].fetch  # type: ignore[union-attr]
    assert view.tcp("ca01", 135) is site[8]
    assert view.ad_servers(AdRole.DC) is site[9]
    assert view.ldap_bind("10.250.0.11") is site[10]
    assert view.snmp_system("sw1") is site[11]
    assert view.snmp_interfaces("sw1") is site[12]
    assert view.snmp_processes("srv1") is site[13]
    assert view.handshakes("Corp.Example", HandshakeKind.PKI) == (ATTEMPT,)
    assert view.devices is site[15]
    # another site sees none of the first's, but what the sites share
    other = obs.site("branch")
    assert other.certificate("corp.example") is None and other.kerberos(AS_REQ) is shared[2]


def test_a_site_observation_needs_its_site() -> None:
    with pytest.raises(ValueError, match="TcpConnect"):
        Observations().record(TcpConnect("ca01", 135))  # type: ignore[call-overload]


def test_a_later_observation_of_the_same_key_replaces_the_earlier() -> None:
    obs = Observations()
    obs.record(TcpConnect("ca01", 80, Outcome.DEADLINE), "hq")
    obs.record(TcpConnect("ca01", 80, Outcome.ANSWER), "hq")
    assert obs.site("hq").tcp("ca01", 80).outcome is Outcome.ANSWER
    assert len(obs.tcp) == 1


def test_what_was_never_recorded_has_one_form_per_type() -> None:
    view = Observations().site("hq")
    assert view.resolvers == ResolverSet((), "not observed")
    never = view.dns("10.250.0.1", "ProvisionServer.corp.example", "A")
    assert never == DnsAnswer.not_observed(QUESTION) and never.outcome is Outcome.NOT_OBSERVED
    for fetch in (view.http_get("http://pki/root.crl"), view.ocsp("http://ocsp/", "ab"),
                  view.tcp("ca01", 135), view.kerberos(AS_REQ), view.root_dse("10.250.0.11")):
        assert fetch.outcome is Outcome.NOT_OBSERVED
    for exchange in (view.snmp_system("sw1").exchange, view.snmp_interfaces("sw1").exchanges[0],
                     view.snmp_processes("sw1").exchange):
        assert exchange.outcome is SnmpOutcome.NOT_OBSERVED and exchange.host == "sw1"
    # Types whose checks read "not there" as None (their readers keep that form)
    assert view.dns_update("corp.example") is None and view.ldap_bind("10.250.0.11") is None
    assert view.certificate("corp.example") is None and view.ad_servers(AdRole.KDC) is None
    assert view.handshakes("corp.example", HandshakeKind.PSK) is None
    assert (view.dhcp_survey, view.option15, view.dhcp_registration, view.devices) == (
        None, None, None, None)
