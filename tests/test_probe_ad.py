"""The Kerberos and LDAP probes against real servers in the lab: a Samba AD DC, MIT KDCs (one
TCP only, one with its clock 10 minutes ahead), slapd posing as another domain's DC, hostile
KDCs (garbage, truncated, huge replies, silence for other realms), hostile LDAP servers (a
1 GiB reply, a dripped one) and a "DC" whose SRV target lies outside its AD domain."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.query
import dns.rcode
import pytest

from amt_preflight.observations import Observations
from amt_preflight.observations.ad import (
    AD_KDC_PRINCIPAL,
    AdRole,
    BindStage,
    KerberosQuestion,
    KerberosReply,
    tgs_principal,
)
from amt_preflight.observations.base import Outcome, Transport
from amt_preflight.observations.dns import ResolverSet, ResolverTrust
from amt_preflight.probes import OncePerRun, SiteProbes
from amt_preflight.probes import kerberos as probe_kerberos
from amt_preflight.probes import ldap as probe_ldap
from amt_preflight.probes.dns import DnsProbe
from amt_preflight.secrets import Secret
from lab import Lab, ad
from lab.network import ADDRESSES, OUTSIDE_DC_HOST, OUTSIDE_SRV_DOMAIN

from .observed import config

pytestmark = pytest.mark.lab
SAMBA, MIT, SKEWED, OTHER_DC = (ADDRESSES[r] for r in ("dc", "mit_kdc", "skewed_kdc", "other_dc"))
TCP_ONLY, PICKY = ADDRESSES["tcp_only_kdc"], ADDRESSES["picky_kdc"]
CORP, OTHER = ad.AD_REALM, ad.MIT_REALM
DNSMASQ, SAMBA_DNS = ADDRESSES["dnsmasq"], ADDRESSES["dc"]
HUGE_LDAP, DRIP_LDAP, OUTSIDE_DC = (ADDRESSES[r] for r in ("huge_ldap", "drip_ldap", "outside_dc"))
T = TypeVar("T")


def in_client(lab: Lab, work: Awaitable[T]) -> T:
    """An LDAP coroutine run from the client side."""
    async def run() -> T:
        return await work

    with lab.in_client():
        return asyncio.run(run())


def gathered(lab: Lab, ad_config: str, *gatherers: Callable[[SiteProbes], Awaitable[None]],
             resolvers: tuple[str, ...] = (DNSMASQ,),
             trust: ResolverTrust = ResolverTrust.TRUSTED) -> Observations:
    """What the gatherers observe for a site with this `ad:` mapping, from the client side."""
    cfg = config(f"defaults: {{timeout: 1, retries: 1}}\n"
                 f"sites: [{{name: lab, ad: {ad_config}}}]\n")
    cfg = replace(cfg, source=Path(__file__))

    async def main() -> Observations:
        observations = Observations()
        dns = DnsProbe(observations, asyncio.Semaphore(16), 1.0, 1)
        ctx = SiteProbes(cfg, cfg.sites[0], observations, dns,
                         ResolverSet(resolvers, "config", trust), intrusive=False,
                         once=OncePerRun())
        await asyncio.gather(*(g(ctx) for g in gatherers))
        return observations

    with lab.in_client():
        return asyncio.run(main())


def reply(observations: Observations, kdc: str, realm: str, transport: Transport = "udp",
          principal: str = AD_KDC_PRINCIPAL) -> KerberosReply:
    return observations.kerberos[KerberosQuestion(kdc, realm, principal, transport)]


# --- the lab's AD


def test_samba_forwards_no_query_outside_its_zone(ad_lab: ad.Directory, lab: Lab) -> None:
    """The lab's AD DNS has no forwarder: a foreign name is answered at once, never sent on."""
    with lab.in_client():
        answer = dns.query.udp(dns.message.make_query("www.example.com", "A"), SAMBA_DNS,
                               timeout=5)
    assert answer.rcode() in (dns.rcode.NXDOMAIN, dns.rcode.REFUSED) and not answer.answer


# --- Kerberos


def test_samba_answers_preauth_required_over_udp_and_tcp(ad_lab: ad.Directory, lab: Lab) -> None:
    seen = gathered(lab, "{domain: corp.example}", probe_kerberos.gather_kerberos,
                    resolvers=(SAMBA_DNS,))
    [kdc] = seen.ad_servers[("lab", AdRole.KDC)].servers
    assert (kdc.target, kdc.host_names) == (SAMBA, ("dc01.corp.example",))
    for transport in ("udp", "tcp"):
        answer = reply(seen, SAMBA, CORP, transport)  # type: ignore[arg-type]
        assert (answer.message, answer.error_code, answer.realm) == ("KRB-ERROR", 25, CORP)
        assert answer.proves(CORP)
        assert answer.clock_offset is not None and abs(answer.clock_offset) < 60


def test_wrong_realm_at_samba_is_asked_again_in_the_domains_realm(
    ad_lab: ad.Directory, lab: Lab
) -> None:
    seen = gathered(lab, "{domain: corp.example, realm: WRONG.EXAMPLE}",
                    probe_kerberos.gather_kerberos)
    asked = reply(seen, SAMBA, "WRONG.EXAMPLE")
    assert (asked.error_code, asked.realm) == (6, "WRONG.EXAMPLE")  # unknown there, no proof
    generic = reply(seen, SAMBA, "WRONG.EXAMPLE", principal=tgs_principal("WRONG.EXAMPLE"))
    assert not generic.proves("WRONG.EXAMPLE")
    assert reply(seen, SAMBA, CORP).proves(CORP)


def test_mit_realm_is_proven_by_its_tgs_principal(ad_lab: ad.Directory, lab: Lab) -> None:
    seen = gathered(lab, f"{{domain: other.example, kdcs: [{MIT}]}}",
                    probe_kerberos.gather_kerberos)
    assert reply(seen, MIT, OTHER).error_code == 6  # MIT has no AD krbtgt account
    assert reply(seen, MIT, OTHER, principal=tgs_principal(OTHER)).proves(OTHER)


def test_tcp_only_kdc_is_unreachable_over_udp(ad_lab: ad.Directory, lab: Lab) -> None:
    seen = gathered(lab, f"{{domain: other.example, kdcs: [{TCP_ONLY}]}}",
                    probe_kerberos.gather_kerberos)
    udp = reply(seen, TCP_ONLY, OTHER, "udp")
    assert udp.outcome is Outcome.UNREACHABLE and udp.attempts == 1
    assert reply(seen, TCP_ONLY, OTHER, "tcp").krb_error


def test_skewed_kdc_reports_its_clock_ten_minutes_ahead(ad_lab: ad.Directory, lab: Lab) -> None:
    seen = gathered(lab, f"{{domain: other.example, kdcs: [{SKEWED}]}}",
                    probe_kerberos.gather_kerberos)
    for transport in ("udp", "tcp"):
        offset = reply(seen, SKEWED, OTHER, transport).clock_offset  # type: ignore[arg-type]
        assert offset is not None and abs(offset - ad.CLOCK_AHEAD) < 60


def test_kdc_silent_for_a_foreign_realm_is_asked_in_the_domains(
    ad_lab: ad.Directory, lab: Lab
) -> None:
    seen = gathered(lab, f"{{domain: corp.example, realm: {OTHER}, kdcs: [{PICKY}]}}",
                    probe_kerberos.gather_kerberos)
    assert reply(seen, PICKY, OTHER, "udp").outcome is Outcome.TIMEOUT
    assert reply(seen, PICKY, OTHER, "tcp").outcome is Outcome.TIMEOUT
    assert reply(seen, PICKY, CORP, "udp").proves(CORP)


@pytest.mark.parametrize(("role", "udp_says", "tcp_says"), [
    ("garbage_kdc", "not a Kerberos reply", "not a Kerberos reply"),
    ("truncated_kdc", "not a Kerberos reply", "after 2 bytes of the 4-byte length prefix"),
    ("huge_kdc", "65000 bytes", "announces 16777216 bytes"),
])
def test_hostile_kdc_replies_are_malformed_with_evidence(
    ad_lab: ad.Directory, lab: Lab, role: str, udp_says: str, tcp_says: str
) -> None:
    kdc = ADDRESSES[role]
    seen = gathered(lab, f"{{domain: corp.example, kdcs: [{kdc}]}}",
                    probe_kerberos.gather_kerberos)
    for transport, says in (("udp", udp_says), ("tcp", tcp_says)):
        answer = reply(seen, kdc, CORP, transport)  # type: ignore[arg-type]
        assert answer.outcome is Outcome.MALFORMED and answer.attempts == 1, answer
        assert says in answer.detail


# --- LDAP


def test_root_dse_of_samba_and_of_the_impostor(ad_lab: ad.Directory, lab: Lab) -> None:
    samba = in_client(lab, probe_ldap.read_root_dse(SAMBA, 2.0))
    impostor = in_client(lab, probe_ldap.read_root_dse(OTHER_DC, 2.0))
    nothing = in_client(lab, probe_ldap.read_root_dse(MIT, 2.0))
    assert samba.outcome is Outcome.ANSWER and samba.result == "success"
    assert (samba.default_naming_context, samba.dns_host_name) == (
        "DC=corp,DC=example", "dc01.corp.example")
    assert samba.clock_offset is not None and abs(samba.clock_offset) < 60
    assert impostor.default_naming_context == "DC=other,DC=example"
    assert nothing.outcome is Outcome.UNREACHABLE


@pytest.mark.parametrize(("password", "ou", "stage", "result", "ou_result"), [
    (None, ad.AMT_OU, BindStage.BOUND, "success", "success"),
    (None, "OU=Missing,DC=corp,DC=example", BindStage.BOUND, "success", "noSuchObject"),
    ("Not-The-Password-1", ad.AMT_OU, BindStage.BIND, "invalidCredentials", ""),
])
def test_bind_and_ou_at_samba(ad_lab: ad.Directory, lab: Lab, password: str | None, ou: str,
                              stage: BindStage, result: str, ou_result: str) -> None:
    secret = Secret(password or ad_lab.bind_password, "$AMT_BIND_PASSWORD")
    bound = in_client(lab, probe_ldap.bind(SAMBA, ["dc01.corp.example"], ad_lab.bind_user,
                                           secret, ou, ad_lab.ca_file, 2.0))
    assert (bound.stage, bound.result, bound.ou_result) == (stage, result, ou_result)
    assert "verified for dc01.corp.example" in bound.tls
    assert secret.value not in repr(bound)


def test_bind_refuses_an_untrusted_certificate(
    ad_lab: ad.Directory, lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With a trust store that lacks the lab CA, StartTLS fails and the password stays here."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "empty.pem"))
    (tmp_path / "empty.pem").write_text("")
    secret = Secret(ad_lab.bind_password, "$AMT_BIND_PASSWORD")
    bound = in_client(lab, probe_ldap.bind(SAMBA, ["dc01.corp.example"], ad_lab.bind_user,
                                           secret, ad.AMT_OU, None, 2.0))
    assert bound.stage is BindStage.STARTTLS and bound.result == ""
    assert "certificate" in bound.detail.lower()


def test_bind_gatherer_reads_the_secret_and_withholds_it_from_another_domain(
    ad_lab: ad.Directory, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMT_BIND_PASSWORD", ad_lab.bind_password)
    monkeypatch.delenv("AMT_PREFLIGHT_UNSET", raising=False)
    mapping = (f"{{domain: corp.example, kdcs: [{SAMBA}, {OTHER_DC}], "
               f"bind_user: {ad_lab.bind_user}, bind_password_env: VARIABLE, "
               f"amt_ou: '{ad.AMT_OU}', tls_ca_file: {ad_lab.ca_file}}}")
    seen = gathered(lab, mapping.replace("VARIABLE", "AMT_BIND_PASSWORD"),
                    probe_ldap.gather_binds)
    assert seen.ldap_binds[("lab", SAMBA)].stage is BindStage.BOUND
    withheld = seen.ldap_binds[("lab", OTHER_DC)]
    assert withheld.stage is BindStage.WITHHELD and "DC=other,DC=example" in withheld.detail
    assert ad_lab.bind_password not in repr(seen)

    unset = gathered(lab, mapping.replace("VARIABLE", "AMT_PREFLIGHT_UNSET"),
                     probe_ldap.gather_binds)
    missing = unset.ldap_binds[("lab", SAMBA)]
    assert missing.stage is BindStage.SECRET and "AMT_PREFLIGHT_UNSET" in missing.detail
    assert "AMT_PREFLIGHT_UNSET" not in os.environ


def test_bind_tries_the_next_name_when_the_certificate_names_another(
    ad_lab: ad.Directory, lab: Lab
) -> None:
    """Samba's certificate names dc01.corp.example: a first name it does not carry costs one
    connection, and the bind goes on under the name it verifies for, never without one."""
    secret = Secret(ad_lab.bind_password, "$AMT_BIND_PASSWORD")
    bound = in_client(lab, probe_ldap.bind(
        SAMBA, ["dc02.corp.example", "dc01.corp.example"], ad_lab.bind_user, secret, None,
        ad_lab.ca_file, 2.0))
    assert bound.stage is BindStage.BOUND and "verified for dc01.corp.example" in bound.tls
    nowhere = in_client(lab, probe_ldap.bind(SAMBA, ["dc02.corp.example"], ad_lab.bind_user,
                                             secret, None, ad_lab.ca_file, 2.0))
    assert nowhere.stage is BindStage.STARTTLS and "dc02.corp.example" in nowhere.detail


# --- hostile LDAP servers (lab/fake_ldap.py): nothing outlives its bounds


def test_ldap_reply_announcing_a_gibibyte_is_refused_naming_its_size(
    ad_lab: ad.Directory, lab: Lab
) -> None:
    dse = in_client(lab, probe_ldap.read_root_dse(HUGE_LDAP, 2.0))
    assert dse.outcome is Outcome.MALFORMED
    assert "1073741824 bytes" in dse.detail and str(probe_ldap.MAX_SESSION_BYTES) in dse.detail


def test_dripped_ldap_reply_ends_at_the_probe_timeout(ad_lab: ad.Directory, lab: Lab) -> None:
    """The server sends a byte a second for a minute: the read ends at the timeout, as a
    partial reply (no retry), not when the server gives up."""
    clock = time.monotonic()
    dse = in_client(lab, probe_ldap.read_root_dse(DRIP_LDAP, 1.0))
    assert time.monotonic() - clock < 10  # the server would hold it for 60 s
    assert dse.outcome is Outcome.MALFORMED and "did not end within 1 s" in dse.detail


# --- where the password goes


def _received(record: Path, since: int) -> list[dict[str, Any]]:
    """What the fake DC on "outside_dc" received after byte `since` of its record."""
    with record.open() as lines:
        lines.seek(since)
        return [json.loads(line) for line in lines]


def test_the_password_never_goes_to_a_dc_named_outside_the_domain(
    ad_lab: ad.Directory, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """outside-srv.example's DC SRV record names dc.attacker.example, whose rootDSE shows the
    domain and whose certificate verifies (lab CA) for that name: the password stays here."""
    password = "Outside-Never-1-" + os.urandom(6).hex()
    monkeypatch.setenv("AMT_BIND_PASSWORD", password)
    since = ad_lab.fake_dc_record.stat().st_size
    mapping = (f"{{domain: {OUTSIDE_SRV_DOMAIN}, bind_user: svc-amt@{OUTSIDE_SRV_DOMAIN}, "
               f"bind_password_env: AMT_BIND_PASSWORD, tls_ca_file: {ad_lab.ca_file}}}")
    seen = gathered(lab, mapping, probe_ldap.gather_binds)
    [dc] = seen.ad_servers[("lab", AdRole.DC)].servers
    assert (dc.addresses, dc.host_names) == ((OUTSIDE_DC,), (OUTSIDE_DC_HOST,))
    assert seen.root_dse[OUTSIDE_DC].default_naming_context == "DC=outside-srv,DC=example"
    withheld = seen.ldap_binds[("lab", OUTSIDE_DC)]
    assert withheld.stage is BindStage.UNSAFE
    assert OUTSIDE_DC_HOST in withheld.detail and "ad.kdcs" in withheld.detail
    received = _received(ad_lab.fake_dc_record, since)
    # the anonymous rootDSE read (and perhaps the unbind, sent as the socket is dropped): no
    # StartTLS, no bind
    assert [r["op"] for r in received if r["op"] != "0x42"] == ["0x63"]
    assert not any(password.encode().hex() in r["message"] for r in received)

    # Without the gate the fake DC would have had it: the record sees a password when sent.
    since = ad_lab.fake_dc_record.stat().st_size
    control = Secret("Control-Only-1-" + os.urandom(6).hex(), "test")
    bound = in_client(lab, probe_ldap.bind(OUTSIDE_DC, [OUTSIDE_DC_HOST], "x", control, None,
                                           ad_lab.ca_file, 2.0))
    assert bound.stage is BindStage.BOUND
    sent = [r for r in _received(ad_lab.fake_dc_record, since) if r["op"] == "0x60"]
    assert sent and sent[0]["tls"] and control.value.encode().hex() in sent[0]["message"]


@pytest.mark.parametrize("trust", [ResolverTrust.UNCHECKED, ResolverTrust.ROGUE])
def test_bind_gatherer_withholds_the_password_when_dhcp_chose_the_resolvers(
    ad_lab: ad.Directory, lab: Lab, monkeypatch: pytest.MonkeyPatch, trust: ResolverTrust
) -> None:
    """Samba found through resolvers nobody vouches for gets no password; listed by address
    in ad.kdcs it does, whatever the resolvers."""
    monkeypatch.setenv("AMT_BIND_PASSWORD", ad_lab.bind_password)
    account = (f"bind_user: {ad_lab.bind_user}, bind_password_env: AMT_BIND_PASSWORD, "
               f"tls_ca_file: {ad_lab.ca_file}")
    found = gathered(lab, f"{{domain: corp.example, {account}}}", probe_ldap.gather_binds,
                     resolvers=(SAMBA_DNS,), trust=trust)
    withheld = found.ldap_binds[("lab", SAMBA)]
    assert withheld.stage is BindStage.UNSAFE
    assert "dhcp.allowed_servers" in withheld.detail and "ad.kdcs" in withheld.detail
    configured = gathered(lab, f"{{domain: corp.example, kdcs: [{SAMBA}], {account}}}",
                          probe_ldap.gather_binds, resolvers=(SAMBA_DNS,), trust=trust)
    assert configured.ldap_binds[("lab", SAMBA)].stage is BindStage.BOUND

