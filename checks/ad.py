"""AD and Kerberos checks: every KDC answers AS-REQs in the configured realm with a clock close
to ours, and every DC's LDAP serves the AD domain and takes the service account's bind.

Targets are the KDCs and DCs: each as configured in ad.kdcs, else each address the SRV targets
resolve to. A target with several addresses (a configured name) passes when all of them do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from amt_preflight.catalogue import CheckSpec, Need, check
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

Judgement = tuple[Status, str]  # what one address of a target showed


def _no_ad() -> Finding:
    return Finding(NO_TARGET, Status.SKIPPED, "no AD domain configured (ad.domain)")


def _ad_servers(site: SiteConfig, obs: SiteView, role: AdRole
                ) -> tuple[AdConfig, list[AdServer]] | Finding:
    """The AD config and the KDCs or DCs to judge, or the one finding that says why not."""
    if site.ad is None:
        return _no_ad()
    servers, none = _servers(obs, role)
    return none if none is not None else (site.ad, servers)


def _servers(obs: SiteView, role: AdRole) -> tuple[list[AdServer], Finding | None]:
    """The KDCs or DCs to judge, or the one finding that says why there are none."""
    found = obs.ad_servers(role)
    if found is None:
        return [], Finding(NO_TARGET, Status.ERROR,
                           f"the {role.value}s were not found before the run's deadline")
    if not found.servers:
        return [], Finding(
            NO_TARGET, Status.SKIPPED,
            f"no {role.value} to ask: {found.source} gave no address (DNS-AD-SRV says why); "
            "ad.kdcs names them explicitly", evidence={"source": found.source})
    return list(found.servers), None


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
    address showed that status for."""
    status = worst(s for _, (s, _) in judged)
    if status is Status.PASS and any(s is Status.SKIPPED for _, (s, _) in judged):
        status = Status.SKIPPED  # an address left unjudged keeps its target from passing
    said = [(address, text) for address, (s, text) in judged if s is status]
    if len(judged) == 1:
        message = said[0][1]
    else:
        message = "; ".join(f"{address}: {text}" for address, text in said)
    started, duration = _timing(spans)
    return Finding(server.target, status, message, evidence=evidence, started_at=started,
                   duration_ms=duration)


def _each(servers: list[AdServer], judge: Callable[[AdServer], Finding]) -> Iterator[Finding]:
    for server in servers:
        if not server.addresses:
            yield Finding(server.target, Status.ERROR, f"{server.target}: {server.detail}",
                          evidence=server.to_evidence())
        else:
            yield judge(server)


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
        return (Status.PASS, f"answers over UDP and TCP ({said})"), replies
    bad = [r for r, ok in zip(replies, good, strict=True) if not ok]
    if all(r.outcome in UNDECIDED for r in bad):
        return (Status.ERROR, f"not decided: {said}"), replies
    return (Status.FAIL, said), replies


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
)
def kdc_answers(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    found = _ad_servers(site, obs, AdRole.KDC)
    if isinstance(found, Finding):
        yield found
        return
    ad, servers = found
    realm = ad.effective_realm

    def judge(server: AdServer) -> Finding:
        judged = [(a, _answers(obs, a, realm)) for a in server.addresses]
        replies = [r for _, (_, rs) in judged for r in rs]
        evidence = {"kdc": server.to_evidence(), "realm": realm,
                    "principal": AD_KDC_PRINCIPAL, "replies": [r.to_evidence() for r in replies]}
        return _judged(server, [(a, v) for a, (v, _) in judged], evidence, _spans(replies))

    yield from _each(servers, judge)


# --- AD-REALM-MATCH


def _realm_match(obs: SiteView, kdc: str, ad: AdConfig) -> tuple[Judgement, list[KerberosReply]]:
    realm, ad_realm = ad.effective_realm, ad.domain.upper()
    asked = _replies(obs, kdc, realm)
    other = _replies(obs, kdc, ad_realm) if ad_realm != realm else []
    replies = asked + other
    proof = next((r for r in asked if r.proves(realm)), None)
    if proof is not None:
        return (Status.PASS, f"holds realm {realm}: {proof.describe()}"), replies
    if not asked:
        return (Status.ERROR, f"not asked in realm {realm} before the run's deadline"), replies
    answered = [r for r in asked if r.outcome.answered]
    got = "; ".join(dict.fromkeys(r.said() for r in (answered or asked)))
    served = next((r for r in other if r.proves(ad_realm)), None)
    if served is not None:
        how = "does not hold" if answered else "is silent for"
        return (Status.FAIL, f"{how} the configured realm {realm} ({got}) but holds "
                f"{ad_realm}, the realm of AD domain {ad.domain}"), replies
    if not answered and not any(r.outcome.answered for r in other):
        return (Status.SKIPPED, f"no answer in realm {realm} ({got}): AD-KDC-ANSWERS says "
                "why"), replies
    also = ""
    if other:
        also = f"; nor {ad_realm}: " + "; ".join(dict.fromkeys(r.said() for r in other))
    return (Status.FAIL, f"does not hold realm {realm}: {got}{also}"), replies


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
)
def realm_match(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    found = _ad_servers(site, obs, AdRole.KDC)
    if isinstance(found, Finding):
        yield found
        return
    ad, servers = found

    def judge(server: AdServer) -> Finding:
        judged = [(a, _realm_match(obs, a, ad)) for a in server.addresses]
        replies = [r for _, (_, rs) in judged for r in rs]
        evidence = {"kdc": server.to_evidence(), "configured_realm": ad.effective_realm,
                    "ad_realm": ad.domain.upper(), "replies": [r.to_evidence() for r in replies]}
        return _judged(server, [(a, v) for a, (v, _) in judged], evidence, _spans(replies))

    yield from _each(servers, judge)


# --- AD-CLOCK-SKEW


def _worst(offsets: Sequence[float]) -> float:
    """The offset furthest from zero, with its sign."""
    return max(offsets, key=lambda offset: abs(offset))


def _clock(replies: list[KerberosReply], max_skew: float) -> Judgement:
    offsets = [r.clock_offset for r in replies if r.clock_offset is not None]
    if not offsets:
        return (Status.SKIPPED, "no KRB-ERROR to read the KDC's clock from: AD-KDC-ANSWERS "
                "says why")
    offset = round(_worst(offsets), 1) + 0.0  # + 0.0: no "-0.0"
    said = f"the KDC's clock is {offset:+.1f} s from this host's"
    if abs(offset) > max_skew:
        return Status.FAIL, f"{said}; Kerberos tolerates {max_skew:g} s (ad.max_skew)"
    return Status.PASS, f"{said}, within {max_skew:g} s"


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
)
def clock_skew(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    found = _ad_servers(site, obs, AdRole.KDC)
    if isinstance(found, Finding):
        yield found
        return
    ad, servers = found

    def judge(server: AdServer) -> Finding:
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

    yield from _each(servers, judge)


# --- AD-LDAP-ROOTDSE


def _root_dse(dse: RootDse, expected: str, host_names: Sequence[str]) -> Judgement:
    if dse.outcome in UNDECIDED:
        return Status.ERROR, f"not decided: {dse.outcome.value} ({dse.detail})"
    if not dse.outcome.answered:
        return Status.FAIL, f"rootDSE not readable: {dse.outcome.value} ({dse.detail})"
    if dse.result != "success":
        return Status.FAIL, f"the anonymous rootDSE read was refused: {dse.result}"
    naming = dse.default_naming_context
    if not naming:
        return Status.FAIL, "the rootDSE has no defaultNamingContext: not an AD domain controller"
    if not same_dn(naming, expected):
        return Status.FAIL, f"defaultNamingContext is {naming}, expected {expected}"
    host = normal_name(dse.dns_host_name) if dse.dns_host_name else ""
    if host_names and host not in host_names:
        return Status.FAIL, (f"dnsHostName is {dse.dns_host_name or 'missing'}, but "
                             f"{', '.join(host_names)} names this DC")
    return Status.PASS, f"defaultNamingContext {naming}, dnsHostName {dse.dns_host_name}"


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
)
def ldap_root_dse(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    found = _ad_servers(site, obs, AdRole.DC)
    if isinstance(found, Finding):
        yield found
        return
    ad, servers = found
    expected = naming_context(ad.domain)

    def judge(server: AdServer) -> Finding:
        reads = [obs.root_dse(a) for a in server.addresses]
        evidence = {"dc": server.to_evidence(), "expected_naming_context": expected,
                    "expected_host_names": list(server.host_names),
                    "rootdse": [d.to_evidence() for d in reads]}
        verdicts = [(d.address, _root_dse(d, expected, server.host_names)) for d in reads]
        return _judged(server, verdicts, evidence, [(d.started_at, d.elapsed_ms) for d in reads])

    yield from _each(servers, judge)


# --- AD-LDAP-BIND and AD-AMT-OU


def _credentials(ad: AdConfig) -> Finding | None:
    """Skipped, saying why, when the site has no credentials to bind with."""
    if ad.bind_user is None or ad.bind_password is None:
        return Finding(NO_TARGET, Status.SKIPPED, "no credentials configured: give ad.bind_user "
                       "and ad.bind_password_env or ad.bind_password_file")
    return None


def _network(outcome: Outcome, text: str) -> Judgement:
    """A bind session cut short by the network or the server."""
    if outcome in UNDECIDED:
        return Status.ERROR, f"not decided: {text}"
    return Status.FAIL, text


def _bind(bound: LdapBind | None) -> Judgement:
    if bound is None:
        return Status.ERROR, "no bind was tried before the run's deadline"
    said = f"{bound.outcome.value} ({bound.detail})" if bound.detail else bound.outcome.value
    match bound.stage:
        case BindStage.SECRET:
            return Status.ERROR, f"the bind password cannot be read: {bound.detail}"
        case BindStage.WITHHELD:
            return Status.SKIPPED, bound.detail
        case BindStage.UNSAFE:  # not decided: nothing vouches for the DC (the key to set)
            return Status.ERROR, bound.detail
        case BindStage.CONNECT:
            return _network(bound.outcome, f"no LDAP connection: {said}")
        case BindStage.STARTTLS:
            return Status.ERROR, (f"StartTLS failed, so the password was not sent: {said}; "
                                  f"the DC's certificate must verify against {bound.trust}")
        case BindStage.BIND if bound.outcome.answered:
            return Status.FAIL, (f"the bind as {bound.user} was refused: {bound.result}"
                                 + (f" ({bound.diagnostic})" if bound.diagnostic else ""))
        case BindStage.BIND:
            return _network(bound.outcome, f"the bind as {bound.user} got no answer: {said}")
    return Status.PASS, f"bound as {bound.user} over {bound.tls}"


@check(
    id="AD-LDAP-BIND",
    title="The provisioning service account can bind",
    severity="medium",
    needs=[Need.AD_BIND],
    requires=["AD-LDAP-ROOTDSE"],
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
)
def ldap_bind(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    ad = site.ad
    if ad is None:
        yield _no_ad()
        return
    if (missing := _credentials(ad)) is not None:
        yield missing
        return
    servers, none = _servers(obs, AdRole.DC)
    if none:
        yield none
        return

    def judge(server: AdServer) -> Finding:
        binds = [(a, obs.ldap_bind(a)) for a in server.addresses]
        evidence = {"dc": server.to_evidence(),
                    "binds": [b.to_evidence() for _, b in binds if b is not None]}
        spans = [(b.started_at, b.elapsed_ms) for _, b in binds if b is not None]
        return _judged(server, [(a, _bind(b)) for a, b in binds], evidence, spans)

    yield from _each(servers, judge)


def _amt_ou(bound: LdapBind | None) -> Judgement:
    if bound is None:
        return Status.ERROR, "no bind was tried before the run's deadline"
    if bound.stage is not BindStage.BOUND:
        return Status.SKIPPED, "not bound: AD-LDAP-BIND says why"
    if bound.ou_result == "success":
        classes = ", ".join(c for c in bound.ou_classes if c.lower() != "top")
        return Status.PASS, f"{bound.ou} exists ({classes})"
    if bound.ou_result == "noSuchObject":
        matched = bound.ou_matched
        deepest = f" (the deepest entry that exists: {matched})" if matched else ""
        return Status.FAIL, f"{bound.ou} does not exist{deepest}"
    if not bound.ou_result:
        return _network(bound.outcome, f"reading {bound.ou} got no answer: {bound.detail}")
    return Status.FAIL, f"{bound.ou} cannot be read as {bound.user}: {bound.ou_result}"


@check(
    id="AD-AMT-OU",
    title="The OU for AMT computer objects exists",
    severity="low",
    needs=[Need.AD_BIND],
    requires=["AD-LDAP-BIND"],
    passes_when="bound as ad.bind_user, each DC shows the OU configured in ad.amt_ou",
    remediation=(
        "Create the OU named in ad.amt_ou (or correct its DN), and give the provisioning "
        "service account the right to read it and create computer objects in it."
    ),
    references=[AMT_AD, ROOT_DSE],
)
def amt_ou(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    ad = site.ad
    if ad is None:
        yield _no_ad()
        return
    if not ad.amt_ou:
        yield Finding(NO_TARGET, Status.SKIPPED, "no OU configured for AMT objects (ad.amt_ou)")
        return
    if (missing := _credentials(ad)) is not None:
        yield missing
        return
    servers, none = _servers(obs, AdRole.DC)
    if none:
        yield none
        return

    def judge(server: AdServer) -> Finding:
        binds = [(a, obs.ldap_bind(a)) for a in server.addresses]
        evidence = {"dc": server.to_evidence(), "ou": ad.amt_ou,
                    "binds": [b.to_evidence() for _, b in binds if b is not None]}
        spans = [(b.started_at, b.elapsed_ms) for _, b in binds if b is not None]
        return _judged(server, [(a, _amt_ou(b)) for a, b in binds], evidence, spans)

    yield from _each(servers, judge)


CHECKS: tuple[CheckSpec, ...] = (
    kdc_answers,
    realm_match,
    clock_skew,
    ldap_root_dse,
    ldap_bind,
    amt_ou,
)
