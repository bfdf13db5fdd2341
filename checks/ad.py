"""AD and Kerberos checks: every KDC answers AS-REQs in the configured realm with a clock close
to ours, and every DC's LDAP serves the AD domain and takes the service account's bind.

Targets are the KDCs and DCs: each as configured in ad.kdcs, else each address the SRV targets
resolve to. A target with several addresses (a configured name) passes when all of them do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from amt_preflight.catalogue import (
    PREREQUISITE,
    CheckSpec,
    Need,
    TargetOf,
    check,
    evidence_target,
    not_configured,
    same_target,
    unjudged,
    where_unjudged,
)
from amt_preflight.config import AdConfig, SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Status, worst
from amt_preflight.observations import SiteView
from amt_preflight.observations.ad import (
    AD_KDC_PRINCIPAL,
    LOOKUP_ANSWERS,
    AdRole,
    AdServer,
    BindStage,
    KerberosQuestion,
    KerberosReply,
    LdapBind,
    RootDse,
    naming_context,
    same_dn,
    tgs_principal,
)
from amt_preflight.observations.base import Outcome, Transport
from amt_preflight.observations.dns import normal_name

KERBEROS = "RFC 4120: The Kerberos Network Authentication Service (V5)"
MS_KILE = "[MS-KILE]: Kerberos Protocol Extensions"
DC_LOCATOR = "Microsoft: how domain controllers are located (DC locator, DsGetDcName)"
ROOT_DSE = "RFC 4512 5.1 and [MS-ADTS] 3.1.1.3.2: the rootDSE and its attributes"
LDAP_AUTH = "RFC 4513: LDAP authentication methods and StartTLS"
AMT_AD = "Intel AMT SDK: Kerberos and Active Directory integration"
TRANSPORTS: tuple[Transport, Transport] = ("udp", "tcp")
UNDECIDED = frozenset({Outcome.MALFORMED, Outcome.DEADLINE, Outcome.NOT_OBSERVED})
NOT_DECIDED = "NOT_DECIDED"  # a reason tag most AD checks give


class Judgement(NamedTuple):
    """What one address of a target showed: a status, its words, and its reason tag; a
    judgement left to a prerequisite names it (`unjudged`)."""

    status: Status
    text: str
    reason: str | None = None
    prerequisite: str | None = None


def _unjudged(text: str, prerequisite: str) -> Judgement:
    return Judgement(Status.SKIPPED, text, PREREQUISITE, prerequisite)


# Every AD check finds its KDCs or DCs the same way, with these outcomes of its own. Where the
# SRV records gave no address, the one finding rests on DNS-AD-SRV for the AD domain (no other
# finding does: a KDC found through _kerberos SRV records is judged whatever _kpasswd says).
SRV_DOMAIN = "srv_domain"
LOCATING: Mapping[str, str] = {
    "NOT_LOCATED": "the KDCs or DCs were not found before the run's deadline",
    "NO_ADDRESS": "a KDC or DC named in ad.kdcs resolves to no address",
}
FROM_SRV: Mapping[str, TargetOf] = {"DNS-AD-SRV": evidence_target(SRV_DOMAIN)}


def _ad_servers(site: SiteConfig, obs: SiteView, role: AdRole, *, bind: bool = False,
                ou: bool = False) -> tuple[AdConfig, list[AdServer]] | Finding:
    """The AD config and the KDCs or DCs to judge, or the one finding that says why not: no AD
    domain, no OU (`ou`) or no credentials (`bind`) configured, no server found."""
    ad = site.ad
    if ad is None:
        return not_configured("no AD domain configured (ad.domain)")
    if ou and not ad.amt_ou:
        return not_configured("no OU configured for AMT objects (ad.amt_ou)")
    if bind and (ad.bind_user is None or ad.bind_password is None):
        return not_configured("no credentials configured: give ad.bind_user and "
                              "ad.bind_password_env or ad.bind_password_file")
    found = obs.ad_servers(role)
    if found is None:
        return Finding(NO_TARGET, Status.ERROR,
                       f"the {role.value}s were not found before the run's deadline",
                       reason="NOT_LOCATED")
    if not found.servers:
        return unjudged(NO_TARGET, "DNS-AD-SRV", f"no {role.value} to ask: {found.source} gave "
                        "no address (ad.kdcs names them explicitly)",
                        {"source": found.source, SRV_DOMAIN: ad.domain})
    return ad, list(found.servers)


def _timing(spans: Iterable[tuple[float, float]]) -> tuple[datetime | None, int | None]:
    """When the first of these probes (epoch start, elapsed ms) started, and how long until
    the last one ended."""
    seen = [(start, ms) for start, ms in spans if start]
    if not seen:
        return None, None
    first = min(start for start, _ in seen)
    last = max(start + ms / 1000 for start, ms in seen)
    return datetime.fromtimestamp(first, UTC), round((last - first) * 1000)


def _judged(server: AdServer, judged: Sequence[tuple[str, Judgement]], evidence: dict[str, Any],
            spans: Iterable[tuple[float, float]]) -> Finding:
    """One target's finding from what its addresses showed: the worst status, with what each
    address showed that status for, and the reason tag of the first of them."""
    status = worst(j.status for _, j in judged)
    if status is Status.PASS and any(j.status is Status.SKIPPED for _, j in judged):
        status = Status.SKIPPED  # an address left unjudged keeps its target from passing
    said = [(address, j) for address, j in judged if j.status is status]
    if len(judged) == 1:
        message = said[0][1].text
    else:
        message = "; ".join(f"{address}: {j.text}" for address, j in said)
    first = said[0][1]
    started, duration = _timing(spans)
    if first.prerequisite is not None:
        return unjudged(server.target, first.prerequisite, message, evidence,
                        started_at=started, duration_ms=duration)
    return Finding(server.target, status, message, evidence=evidence, started_at=started,
                   duration_ms=duration, reason=first.reason)


def _each(site: SiteConfig, obs: SiteView, role: AdRole,
          judge: Callable[[SiteView, AdConfig, AdServer], Finding], *, bind: bool = False,
          ou: bool = False) -> Iterator[Finding]:
    """Each KDC's or DC's finding as `judge` gives it, or the one finding that says why there is
    none to judge (`_ad_servers`); a server with no address is an error of its own."""
    found = _ad_servers(site, obs, role, bind=bind, ou=ou)
    if isinstance(found, Finding):
        yield found
        return
    ad, servers = found
    for server in servers:
        if not server.addresses:
            yield Finding(server.target, Status.ERROR, f"{server.target}: {server.detail}",
                          evidence=server.to_evidence(), reason="NO_ADDRESS")
        else:
            yield judge(obs, ad, server)


def _replies(obs: SiteView, kdc: str, realm: str) -> list[KerberosReply]:
    """Every observed reply of one KDC address to a question in `realm`."""
    asked = (obs.kerberos(KerberosQuestion(kdc, realm, principal, transport))
             for principal in (AD_KDC_PRINCIPAL, tgs_principal(realm)) for transport in TRANSPORTS)
    return [r for r in asked if r.outcome is not Outcome.NOT_OBSERVED]


def _realms(ad: AdConfig) -> list[str]:
    """The configured realm, and the AD domain's when that differs."""
    return list(dict.fromkeys((ad.effective_realm, ad.domain.upper())))


def _spans(replies: Iterable[KerberosReply]) -> list[tuple[float, float]]:
    return [(r.started_at, r.elapsed_ms) for r in replies]


# --- AD-KDC-ANSWERS


def _answers(obs: SiteView, kdc: str, realm: str) -> tuple[Judgement, list[KerberosReply]]:
    replies = [obs.kerberos(KerberosQuestion(kdc, realm, AD_KDC_PRINCIPAL, t)) for t in TRANSPORTS]
    good = [r.krb_error and r.error_code in LOOKUP_ANSWERS for r in replies]
    said = "; ".join(f"{r.question.transport.upper()}: {r.said()}" for r in replies)
    if all(good):
        return Judgement(Status.PASS, f"answers over UDP and TCP ({said})"), replies
    bad = [r for r, ok in zip(replies, good, strict=True) if not ok]
    if all(r.outcome in UNDECIDED for r in bad):
        return Judgement(Status.ERROR, f"not decided: {said}", NOT_DECIDED), replies
    silent = any(not r.outcome.answered and r.outcome not in UNDECIDED for r in bad)
    return Judgement(Status.FAIL, said, "NO_ANSWER" if silent else "NO_LOOKUP"), replies


@check(
    id="AD-KDC-ANSWERS",
    title="Every KDC answers an AS-REQ over UDP and TCP",
    severity="high",
    needs=[Need.AD_KERBEROS],
    passes_when=(
        "each KDC (ad.kdcs, else the _kerberos SRV targets) answers an AS-REQ without "
        "pre-authentication for the realm's krbtgt account with a KRB-ERROR from a principal "
        "lookup (PREAUTH_REQUIRED or C_PRINCIPAL_UNKNOWN), over UDP and over TCP port 88; a "
        "fresh nonce every time"
    ),
    remediation=(
        "Open UDP and TCP port 88 from the AMT network to every KDC (firewall, ACL), make sure "
        "the KDC service runs, and publish only live KDCs in the _kerberos SRV records."
    ),
    references=[f"{KERBEROS}, 7.2: UDP and TCP transport", MS_KILE, DC_LOCATOR, AMT_AD],
    requires=FROM_SRV,
    reasons={**LOCATING,
             NOT_DECIDED: "no reply decided it (malformed, or the run's deadline came first)",
             "NO_ANSWER": "no answer over UDP or TCP (timeout, unreachable, refused)",
             "NO_LOOKUP": "an answer that is not a principal lookup's KRB-ERROR (WRONG_REALM, "
                          "another error, an AS-REP)"},
)
def kdc_answers(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _each(site, obs, AdRole.KDC, _kdc_answers)


def _kdc_answers(obs: SiteView, ad: AdConfig, server: AdServer) -> Finding:
    realm = ad.effective_realm
    judged = [(a, _answers(obs, a, realm)) for a in server.addresses]
    replies = [r for _, (_, rs) in judged for r in rs]
    evidence = {"kdc": server.to_evidence(), "realm": realm,
                "principal": AD_KDC_PRINCIPAL, "replies": [r.to_evidence() for r in replies]}
    return _judged(server, [(a, v) for a, (v, _) in judged], evidence, _spans(replies))


# --- AD-REALM-MATCH


def _realm_match(obs: SiteView, kdc: str, ad: AdConfig) -> tuple[Judgement, list[KerberosReply]]:
    realm, ad_realm = ad.effective_realm, ad.domain.upper()
    asked = _replies(obs, kdc, realm)
    other = _replies(obs, kdc, ad_realm) if ad_realm != realm else []
    replies = asked + other
    proof = next((r for r in asked if r.proves(realm)), None)
    if proof is not None:
        return Judgement(Status.PASS, f"holds realm {realm}: {proof.describe()}"), replies
    if not asked:
        return Judgement(Status.ERROR, f"not asked in realm {realm} before the run's deadline",
                         NOT_DECIDED), replies
    answered = [r for r in asked if r.outcome.answered]
    got = "; ".join(dict.fromkeys(r.said() for r in (answered or asked)))
    served = next((r for r in other if r.proves(ad_realm)), None)
    if served is not None:
        how = "does not hold" if answered else "is silent for"
        return Judgement(Status.FAIL, f"{how} the configured realm {realm} ({got}) but holds "
                         f"{ad_realm}, the realm of AD domain {ad.domain}",
                         "REALM_MISMATCH"), replies
    if not answered and not any(r.outcome.answered for r in other):
        return _unjudged(f"no answer in realm {realm} ({got})", "AD-KDC-ANSWERS"), replies
    also = ""
    if other:
        also = f"; nor {ad_realm}: " + "; ".join(dict.fromkeys(r.said() for r in other))
    return Judgement(Status.FAIL, f"does not hold realm {realm}: {got}{also}",
                     "REALM_NOT_HELD"), replies


@check(
    id="AD-REALM-MATCH",
    title="The KDCs serve the configured Kerberos realm",
    severity="high",
    needs=[Need.AD_KERBEROS],
    passes_when=(
        "the KDC answers in the configured realm (default: the AD domain upper-cased): its "
        "KRB-ERROR carries that realm, is not WRONG_REALM, and shows the realm's krbtgt "
        "principal exists there (PREAUTH_REQUIRED). A KDC silent for, or not knowing, the "
        "configured realm is asked once more in the AD domain's realm; if it serves that "
        "one, the check fails naming both realms"
    ),
    remediation=(
        "Set ad.realm to the realm the KDCs serve (for AD, the domain's DNS name in upper "
        "case), or point the _kerberos SRV records (or ad.kdcs) at KDCs of the configured realm."
    ),
    references=[f"{KERBEROS}, 7.5.9: error codes", MS_KILE, AMT_AD],
    requires={**FROM_SRV, "AD-KDC-ANSWERS": where_unjudged("AD-KDC-ANSWERS")},
    reasons={**LOCATING,
             NOT_DECIDED: "the KDC was not asked in the configured realm before the deadline",
             "REALM_MISMATCH": "the KDC does not hold (or is silent for) the configured realm "
                               "but holds the AD domain's: the message names both",
             "REALM_NOT_HELD": "the KDC's replies do not show the configured realm (WRONG_REALM, "
                               "another realm, no such krbtgt) nor the AD domain's"},
)
def realm_match(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _each(site, obs, AdRole.KDC, _realm_matched)


def _realm_matched(obs: SiteView, ad: AdConfig, server: AdServer) -> Finding:
    judged = [(a, _realm_match(obs, a, ad)) for a in server.addresses]
    replies = [r for _, (_, rs) in judged for r in rs]
    evidence = {"kdc": server.to_evidence(), "configured_realm": ad.effective_realm,
                "ad_realm": ad.domain.upper(), "replies": [r.to_evidence() for r in replies]}
    return _judged(server, [(a, v) for a, (v, _) in judged], evidence, _spans(replies))


# --- AD-CLOCK-SKEW


def _worst(offsets: Sequence[float]) -> float:
    """The offset furthest from zero, with its sign."""
    return max(offsets, key=lambda offset: abs(offset))


def _clock(replies: list[KerberosReply], max_skew: float) -> Judgement:
    offsets = [r.clock_offset for r in replies if r.clock_offset is not None]
    if not offsets:
        return _unjudged("no KRB-ERROR to read the KDC's clock from", "AD-KDC-ANSWERS")
    offset = round(_worst(offsets), 1) + 0.0  # + 0.0: no "-0.0"
    said = f"the KDC's clock is {offset:+.1f} s from this host's"
    if abs(offset) > max_skew:
        return Judgement(Status.FAIL, f"{said}; Kerberos tolerates {max_skew:g} s "
                         "(ad.max_skew)", "CLOCK_SKEW")
    return Judgement(Status.PASS, f"{said}, within {max_skew:g} s")


@check(
    id="AD-CLOCK-SKEW",
    title="The KDCs' clocks agree with this host's",
    severity="high",
    needs=[Need.AD_KERBEROS],
    passes_when=(
        "each KDC's stime (with susec) differs from this host's clock, taken halfway through "
        "the round trip, by at most ad.max_skew (default 300 s); the result reports the "
        "measured offset"
    ),
    remediation=(
        "Synchronise the KDC's clock, and this host's, with the domain's time source (w32time "
        "from the PDC emulator, or NTP): Kerberos refuses requests from clocks further apart "
        "than the allowed skew (5 minutes by default)."
    ),
    references=[f"{KERBEROS}, 1.6: clock skew", MS_KILE,
                "Microsoft: maximum tolerance for computer clock synchronization"],
    requires={**FROM_SRV, "AD-KDC-ANSWERS": where_unjudged("AD-KDC-ANSWERS")},
    reasons={**LOCATING,
             "CLOCK_SKEW": "the KDC's clock is further from this host's than ad.max_skew"},
)
def clock_skew(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _each(site, obs, AdRole.KDC, _clock_skew)


def _clock_skew(obs: SiteView, ad: AdConfig, server: AdServer) -> Finding:
    per_address = {a: [r for realm in _realms(ad) for r in _replies(obs, a, realm)]
                   for a in server.addresses}
    replies = [r for rs in per_address.values() for r in rs]
    offsets = [r.clock_offset for r in replies if r.clock_offset is not None]
    evidence: dict[str, Any] = {
        "kdc": server.to_evidence(), "max_skew_s": ad.max_skew,
        "offset_s": round(_worst(offsets), 3) if offsets else None,
        "readings": [r.to_evidence() for r in replies if r.clock_offset is not None],
    }
    verdicts = [(a, _clock(rs, ad.max_skew)) for a, rs in per_address.items()]
    return _judged(server, verdicts, evidence, _spans(replies))


# --- AD-LDAP-ROOTDSE


def _root_dse(dse: RootDse, expected: str, host_names: Sequence[str]) -> Judgement:
    if dse.outcome in UNDECIDED:
        return Judgement(Status.ERROR, f"not decided: {dse.outcome.value} ({dse.detail})",
                         NOT_DECIDED)
    if not dse.outcome.answered:
        return Judgement(Status.FAIL, f"rootDSE not readable: {dse.outcome.value} "
                         f"({dse.detail})", "NO_ANSWER")
    if dse.result != "success":
        return Judgement(Status.FAIL, f"the anonymous rootDSE read was refused: {dse.result}",
                         "READ_REFUSED")
    naming = dse.default_naming_context
    if not naming:
        return Judgement(Status.FAIL, "the rootDSE has no defaultNamingContext: not an AD "
                         "domain controller", "NOT_A_DC")
    if not same_dn(naming, expected):
        return Judgement(Status.FAIL, f"defaultNamingContext is {naming}, expected {expected}",
                         "OTHER_DOMAIN")
    host = normal_name(dse.dns_host_name) if dse.dns_host_name else ""
    if host_names and host not in host_names:
        return Judgement(Status.FAIL, f"dnsHostName is {dse.dns_host_name or 'missing'}, but "
                         f"{', '.join(host_names)} names this DC", "HOST_NAME_MISMATCH")
    return Judgement(Status.PASS, f"defaultNamingContext {naming}, dnsHostName "
                     f"{dse.dns_host_name}")


@check(
    id="AD-LDAP-ROOTDSE",
    title="Every DC's rootDSE shows the AD domain",
    severity="medium",
    needs=[Need.AD_ROOTDSE],
    passes_when=(
        "each DC's rootDSE (TCP 389, anonymous) is readable, its defaultNamingContext matches "
        "the AD domain, and its dnsHostName matches the SRV target (or configured name) that "
        "names the DC"
    ),
    remediation=(
        "Make the DC answer anonymous rootDSE reads on TCP 389 from the AMT network, and point "
        "the _ldap._tcp.dc._msdcs SRV records (or ad.kdcs) at DCs of this domain only."
    ),
    references=[ROOT_DSE, DC_LOCATOR],
    requires=FROM_SRV,
    reasons={**LOCATING,
             NOT_DECIDED: "the read was not decided (malformed answer, the run's deadline)",
             "NO_ANSWER": "no LDAP connection or no answer (timeout, unreachable, refused)",
             "READ_REFUSED": "the DC refused the anonymous rootDSE read",
             "NOT_A_DC": "the rootDSE has no defaultNamingContext: not an AD domain controller",
             "OTHER_DOMAIN": "defaultNamingContext is not the AD domain's",
             "HOST_NAME_MISMATCH": "dnsHostName is not the SRV target or configured name"},
)
def ldap_root_dse(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _each(site, obs, AdRole.DC, _root_dse_read)


def _root_dse_read(obs: SiteView, ad: AdConfig, server: AdServer) -> Finding:
    expected = naming_context(ad.domain)
    reads = [obs.root_dse(a) for a in server.addresses]
    evidence = {"dc": server.to_evidence(), "expected_naming_context": expected,
                "expected_host_names": list(server.host_names),
                "rootdse": [d.to_evidence() for d in reads]}
    verdicts = [(d.address, _root_dse(d, expected, server.host_names)) for d in reads]
    return _judged(server, verdicts, evidence, [(d.started_at, d.elapsed_ms) for d in reads])


# --- AD-LDAP-BIND and AD-AMT-OU


def _network(outcome: Outcome, text: str, reason: str) -> Judgement:
    """A bind session cut short by the network or the server."""
    if outcome in UNDECIDED:
        return Judgement(Status.ERROR, f"not decided: {text}", NOT_DECIDED)
    return Judgement(Status.FAIL, text, reason)


NOT_TRIED = "NOT_TRIED"
NOT_TRIED_MEANS = "no bind was tried at the DC before the run's deadline"


def _bind(bound: LdapBind | None) -> Judgement:
    if bound is None:
        return Judgement(Status.ERROR, "no bind was tried before the run's deadline", NOT_TRIED)
    said = f"{bound.outcome.value} ({bound.detail})" if bound.detail else bound.outcome.value
    match bound.stage:
        case BindStage.SECRET:
            return Judgement(Status.ERROR, f"the bind password cannot be read: {bound.detail}",
                             "NO_PASSWORD")
        case BindStage.WITHHELD:  # the DC's rootDSE did not show the AD domain
            return _unjudged(bound.detail, "AD-LDAP-ROOTDSE")
        case BindStage.UNSAFE:  # not decided: nothing vouches for the DC (the key to set)
            return Judgement(Status.ERROR, bound.detail, "UNSAFE_TO_SEND")
        case BindStage.CONNECT:
            return _network(bound.outcome, f"no LDAP connection: {said}", "NO_CONNECTION")
        case BindStage.STARTTLS:
            return Judgement(Status.ERROR, f"StartTLS failed, so the password was not sent: "
                             f"{said}; the DC's certificate must verify against {bound.trust}",
                             "STARTTLS_FAILED")
        case BindStage.BIND if bound.outcome.answered:
            return Judgement(Status.FAIL, f"the bind as {bound.user} was refused: {bound.result}"
                             + (f" ({bound.diagnostic})" if bound.diagnostic else ""),
                             "BIND_REFUSED")
        case BindStage.BIND:
            return _network(bound.outcome, f"the bind as {bound.user} got no answer: {said}",
                            "NO_ANSWER")
    return Judgement(Status.PASS, f"bound as {bound.user} over {bound.tls}")


@check(
    id="AD-LDAP-BIND",
    title="The provisioning service account can bind",
    severity="medium",
    needs=[Need.AD_BIND],
    requires={**FROM_SRV, "AD-LDAP-ROOTDSE": same_target},
    passes_when=(
        "with configured credentials (ad.bind_user, ad.bind_password_env or _file): a bind as "
        "the provisioning service account succeeds (skipped without credentials). The "
        "password goes only to a DC that is configured in ad.kdcs or whose name lies inside "
        "the AD domain, over StartTLS whose certificate verifies for that name (against "
        "ad.tls_ca_file, else the system trust store). Never to a DC found through resolvers "
        "that a DHCP server outside dhcp.allowed_servers handed out, and never when "
        "allowed_servers is empty and the resolvers came from DHCP: then error, nothing sent, "
        "and the message says which key to set"
    ),
    remediation=(
        "Check the service account (password, not locked, disabled or expired, no 'log on to' "
        "restriction) and that each DC offers StartTLS with a certificate for its name inside "
        "the AD domain (or its name or address in ad.kdcs) that this host trusts (set "
        "ad.tls_ca_file to the issuing CA). When the password was not sent because the DCs "
        "came from DHCP-given resolvers, set dhcp.allowed_servers, or resolvers, or list the "
        "DCs in ad.kdcs."
    ),
    references=[LDAP_AUTH, AMT_AD],
    reasons={**LOCATING,
             NOT_TRIED: NOT_TRIED_MEANS,
             NOT_DECIDED: "the session was cut short undecided (malformed answer, deadline)",
             "NO_PASSWORD": "the bind password cannot be read (variable not set, file missing)",
             "UNSAFE_TO_SEND": "the password was not sent: nothing vouches for the DC (DCs "
                               "found through DHCP-given resolvers); the message names the key",
             "NO_CONNECTION": "no LDAP connection to the DC",
             "STARTTLS_FAILED": "StartTLS failed (the DC's certificate did not verify): the "
                                "password was not sent",
             "BIND_REFUSED": "the DC refused the bind (invalidCredentials, ...)",
             "NO_ANSWER": "the bind got no answer"},
)
def ldap_bind(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _each(site, obs, AdRole.DC, lambda obs, _, server: _binds(obs, server, _bind),
                 bind=True)


def _binds(obs: SiteView, server: AdServer, judge: Callable[[LdapBind | None], Judgement],
           **evidence: Any) -> Finding:
    """One DC's finding from the bind session at each of its addresses, as `judge` reads it;
    `evidence` goes before the sessions' own."""
    binds = [(a, obs.ldap_bind(a)) for a in server.addresses]
    shown = {"dc": server.to_evidence(), **evidence,
             "binds": [b.to_evidence() for _, b in binds if b is not None]}
    spans = [(b.started_at, b.elapsed_ms) for _, b in binds if b is not None]
    return _judged(server, [(a, judge(b)) for a, b in binds], shown, spans)


def _amt_ou(bound: LdapBind | None) -> Judgement:
    if bound is None:
        return Judgement(Status.ERROR, "no bind was tried before the run's deadline", NOT_TRIED)
    if bound.stage is not BindStage.BOUND:
        return _unjudged("not bound", "AD-LDAP-BIND")
    if bound.ou_result == "success":
        classes = ", ".join(c for c in bound.ou_classes if c.lower() != "top")
        return Judgement(Status.PASS, f"{bound.ou} exists ({classes})")
    if bound.ou_result == "noSuchObject":
        matched = bound.ou_matched
        deepest = f" (the deepest entry that exists: {matched})" if matched else ""
        return Judgement(Status.FAIL, f"{bound.ou} does not exist{deepest}", "OU_MISSING")
    if not bound.ou_result:
        return _network(bound.outcome, f"reading {bound.ou} got no answer: {bound.detail}",
                        "NO_ANSWER")
    return Judgement(Status.FAIL, f"{bound.ou} cannot be read as {bound.user}: "
                     f"{bound.ou_result}", "OU_UNREADABLE")


@check(
    id="AD-AMT-OU",
    title="The OU for AMT computer objects exists",
    severity="low",
    needs=[Need.AD_BIND],
    requires={**FROM_SRV, "AD-LDAP-BIND": same_target},
    passes_when="bound as ad.bind_user, each DC shows the OU configured in ad.amt_ou",
    remediation=(
        "Create the OU named in ad.amt_ou (or correct its DN), and give the provisioning "
        "service account the right to read it and create computer objects in it."
    ),
    references=[AMT_AD, ROOT_DSE],
    reasons={**LOCATING,
             NOT_TRIED: NOT_TRIED_MEANS,
             NOT_DECIDED: "the read was cut short undecided (malformed answer, deadline)",
             "OU_MISSING": "the OU does not exist (the evidence names the deepest entry that "
                           "does)",
             "OU_UNREADABLE": "the OU cannot be read as ad.bind_user",
             "NO_ANSWER": "reading the OU got no answer"},
)
def amt_ou(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    return _each(site, obs, AdRole.DC,
                 lambda obs, ad, server: _binds(obs, server, _amt_ou, ou=ad.amt_ou),
                 bind=True, ou=True)


CHECKS: tuple[CheckSpec, ...] = (
    kdc_answers,
    realm_match,
    clock_skew,
    ldap_root_dse,
    ldap_bind,
    amt_ou,
)
