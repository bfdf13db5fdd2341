"""The Kerberos and LDAP probes against real servers in the lab: a Samba AD DC, MIT KDCs (one
TCP only, one with its clock 10 minutes ahead), slapd posing as another domain's DC, and
hostile KDCs (garbage, truncated, huge replies, silence for other realms)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from amt_preflight.lab import Lab, ad
from amt_preflight.lab.network import ADDRESSES
from amt_preflight.observations import (
    AD_KDC_PRINCIPAL,
    AdRole,
    BindStage,
    KerberosQuestion,
    KerberosReply,
    Observations,
    Outcome,
    ResolverSet,
    Transport,
    tgs_principal,
)
from amt_preflight.probes import OncePerRun, SiteProbes
from amt_preflight.probes import kerberos as probe_kerberos
from amt_preflight.probes import ldap as probe_ldap
from amt_preflight.probes.dns import DnsProbe
from amt_preflight.secrets import Secret

from .observed import config

pytestmark = pytest.mark.lab
SAMBA, MIT, SKEWED, OTHER_DC = (ADDRESSES[r] for r in ("dc", "mit_kdc", "skewed_kdc", "other_dc"))
TCP_ONLY, PICKY = ADDRESSES["tcp_only_kdc"], ADDRESSES["picky_kdc"]
CORP, OTHER = ad.AD_REALM, ad.MIT_REALM
DNSMASQ, SAMBA_DNS = ADDRESSES["dnsmasq"], ADDRESSES["dc"]


def gathered(lab: Lab, ad_config: str, *gatherers: Callable[[SiteProbes], Awaitable[None]],
             resolvers: tuple[str, ...] = (DNSMASQ,)) -> Observations:
    """What the gatherers observe for a site with this `ad:` mapping, from the client side."""
    cfg = config(f"defaults: {{timeout: 1, retries: 1}}\n"
                 f"sites: [{{name: lab, ad: {ad_config}}}]\n")
    cfg._source = Path(__file__)

    async def main() -> Observations:
        observations = Observations()
        dns = DnsProbe(observations, asyncio.Semaphore(16), 1.0, 1)
        ctx = SiteProbes(cfg, cfg.sites[0], observations, dns, ResolverSet(resolvers, "config"),
                         intrusive=False, once=OncePerRun())
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
    with lab.in_client():
        samba = probe_ldap.read_root_dse(SAMBA, 2.0)
        impostor = probe_ldap.read_root_dse(OTHER_DC, 2.0)
        nothing = probe_ldap.read_root_dse(MIT, 2.0)
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
    with lab.in_client():
        bound = probe_ldap.bind(SAMBA, ["dc01.corp.example"], ad_lab.bind_user, secret, ou,
                                ad_lab.ca_file, 2.0)
    assert (bound.stage, bound.result, bound.ou_result) == (stage, result, ou_result)
    assert secret.value not in repr(bound)


def test_bind_refuses_an_untrusted_certificate(
    ad_lab: ad.Directory, lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With a trust store that lacks the lab CA, StartTLS fails and the password stays here."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "empty.pem"))
    (tmp_path / "empty.pem").write_text("")
    secret = Secret(ad_lab.bind_password, "$AMT_BIND_PASSWORD")
    with lab.in_client():
        bound = probe_ldap.bind(SAMBA, ["dc01.corp.example"], ad_lab.bind_user, secret,
                                ad.AMT_OU, None, 2.0)
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
