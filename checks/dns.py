"""DNS checks: the resolvers, ProvisionServer.<domain>, AD SRV records, open updates.

Every question is asked of every resolver of the site, because an AMT device may use any
of them; a check judges the resolvers that answered and names each one's reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from amt_preflight.catalogue import (
    REMOTE_CONFIG,
    CheckSpec,
    Need,
    any_target,
    check,
    not_configured,
    unjudged,
)
from amt_preflight.config import SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Status
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import (
    AD_SRV_PREFIXES,
    MAX_REVERSED,
    Answers,
    DnsAnswer,
    in_domain,
    provision_server_name,
    resolver_probe_question,
    reverse_name,
    reversed_addresses,
    srv_target,
)

SDK_HELLO = "Intel AMT SDK: setup and configuration, 'ProvisionServer' and hello messages"
CONFIGMGR_DNS = "Microsoft ConfigMgr out-of-band management: secure the ProvisionServer record"
NO_ANSWER = "NO_RESOLVER_ANSWERED"  # a reason tag several DNS checks give
NO_ANSWER_MEANS = "no resolver answered the question (timeout, refused, deadline)"


def _finding(
    target: str, status: Status, message: str, answers: Iterable[DnsAnswer],
    reason: str | None = None, /, **evidence: object
) -> Finding:
    shown = answers if isinstance(answers, Answers) else Answers(answers)
    started, duration = shown.timing
    return Finding(
        target,
        status,
        message,
        evidence={"answers": shown.evidence, **evidence},
        started_at=started,
        duration_ms=duration,
        reason=reason,
    )


def _no_resolver(site: SiteConfig, obs: SiteView) -> Finding | None:
    if obs.resolvers.addresses:
        return None
    return Finding(
        NO_TARGET,
        Status.ERROR,
        f"no resolver to ask: none in the config, from DHCP option 6 or in "
        f"{obs.resolvers.source}",
        reason="NO_RESOLVER",
    )


def _unanswered(answers: Sequence[DnsAnswer]) -> str:
    return "; ".join(a.describe() for a in answers if not a.outcome.answered)


@check(
    id="DNS-RESOLVER-ANSWERS",
    title="DNS resolver answers over UDP and TCP",
    severity="critical",
    needs=[Need.DNS_RESOLVERS],
    passes_when="each resolver answers (any rcode) over UDP and TCP",
    remediation=(
        "Make the resolver reachable from the AMT VLAN on UDP and TCP port 53 (firewall, "
        "ACL, service running), or hand out working resolvers in DHCP option 6."
    ),
    references=["RFC 7766: DNS transport over TCP", SDK_HELLO],
    reasons={
        "NO_RESOLVER": "no resolver to ask: none configured, from option 6 or resolv.conf",
        "NOT_DECIDED": "the run ended (deadline) before a resolver answered",
        "RESOLVER_SILENT": "the resolver did not answer over UDP or TCP (timeout, refused)",
    },
)
def resolver_answers(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    if (missing := _no_resolver(site, obs)) is not None:
        yield missing
        return
    name, rdtype = resolver_probe_question(site.domain_names, site.ad.domain if site.ad else None)
    for resolver in obs.resolvers.addresses:
        pair = [obs.dns(resolver, name, rdtype, "udp"), obs.dns(resolver, name, rdtype, "tcp")]
        silent = [a for a in pair if not a.outcome.answered]
        source = {"resolver_source": obs.resolvers.source}
        if not silent:
            yield _finding(resolver, Status.PASS, f"{resolver} answers over UDP and TCP "
                           f"({pair[0].rcode} / {pair[1].rcode})", pair, **source)
        elif any(a.outcome in (Outcome.DEADLINE, Outcome.NOT_OBSERVED) for a in silent):
            yield _finding(resolver, Status.ERROR, f"not decided: {_unanswered(pair)}", pair,
                           "NOT_DECIDED", **source)
        else:
            yield _finding(resolver, Status.FAIL, f"{resolver}: {_unanswered(pair)}", pair,
                           "RESOLVER_SILENT", **source)


def _provision_answers(obs: SiteView, name: str) -> Answers:
    """ProvisionServer.<domain> (`name`) at the site's resolvers and at those DHCP hands to
    devices; made once for the four checks that read them."""
    return obs.kept(("provision-answers", name), lambda: Answers(
        obs.dns(r, name, "A") for r, _ in obs.provision_resolvers))


def _sources(obs: SiteView) -> dict[str, str]:
    """Where each resolver asked about ProvisionServer came from, for the evidence: made once
    per check and shared by its findings (evidence is never changed after)."""
    return dict(obs.provision_resolvers)


def _provision_finding(sources: dict[str, str], target: str, status: Status, message: str,
                       answers: Iterable[DnsAnswer], reason: str | None = None, /,
                       **evidence: object) -> Finding:
    return _finding(target, status, message, answers, reason, resolver_sources=sources,
                    **evidence)


def _from(resolver: str, sources: dict[str, str]) -> str:
    return f"{resolver}, {sources[resolver]}" if resolver in sources else resolver


def _judge_answered(
    domain: str, answers: Sequence[DnsAnswer]
) -> tuple[list[DnsAnswer], Finding | None]:
    """The answers to judge, or an error finding when no resolver answered this question."""
    answered = [a for a in answers if a.outcome.answered]
    if answered:
        return answered, None
    return [], _finding(domain, Status.ERROR,
                        f"{provision_server_name(domain)}: no resolver answered: "
                        f"{_unanswered(answers)}", answers, NO_ANSWER)


@check(
    id="DNS-PROVSERVER-A",
    flows=[REMOTE_CONFIG],
    title="ProvisionServer record resolves",
    severity="critical",
    needs=[Need.DNS_PROVSERVER],
    requires={"DNS-RESOLVER-ANSWERS": any_target},
    passes_when="ProvisionServer.<domain> has an A record at every resolver that answers",
    remediation=(
        "Create an A record ProvisionServer.<domain> pointing at the provisioning server, in "
        "every DNS zone handed out as option 15, and make sure every resolver serves it."
    ),
    references=[SDK_HELLO, CONFIGMGR_DNS],
    reasons={NO_ANSWER: NO_ANSWER_MEANS,
             "NO_RECORD": "a resolver that answered has no A record (NXDOMAIN, NODATA)"},
)
def provserver_a(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    sources = _sources(obs)
    for domain_config in site.domains:
        domain = domain_config.name
        name = provision_server_name(domain)
        answers = _provision_answers(obs, name)
        answered, error = _judge_answered(domain, answers)
        if error:
            yield error
            continue
        empty = [a for a in answered if not a.records]
        if empty:
            said = "; ".join(a.describe() for a in empty)
            # what the record should say, for the report's change plan
            expected = ({"expected": sorted(domain_config.provision_server)}
                        if domain_config.provision_server else {})
            yield _provision_finding(sources, domain, Status.FAIL, f"{name}: {said}", answers,
                                     "NO_RECORD", **expected)
        else:
            yield _provision_finding(sources, domain, Status.PASS,
                           f"{name}: {'; '.join(a.describe() for a in answered)}", answers)


@check(
    id="DNS-PROVSERVER-MATCH",
    flows=[REMOTE_CONFIG],
    title="ProvisionServer resolves to the provisioning server",
    severity="high",
    needs=[Need.DNS_PROVSERVER],
    requires=["DNS-PROVSERVER-A"],
    passes_when=(
        "every address ProvisionServer.<domain> resolves to is one configured for that "
        "domain's provisioning server (domains[].provision_server)"
    ),
    remediation=(
        "Point ProvisionServer.<domain> at the provisioning server only. A stray address "
        "sends the devices' hellos (and their trust) to another host."
    ),
    references=[SDK_HELLO, CONFIGMGR_DNS],
    reasons={NO_ANSWER: NO_ANSWER_MEANS,
             "STRAY_ADDRESS": "an address that is not the configured provisioning server",
             "NO_ADDRESS": "the answers hold no address at all"},
)
def provserver_match(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    sources = _sources(obs)
    for domain_config in site.domains:
        domain = domain_config.name
        expected = sorted(domain_config.provision_server)
        name = provision_server_name(domain)
        answers = _provision_answers(obs, name)
        if not expected:
            yield not_configured(f"no provision_server configured for {domain}: nothing to "
                                 "compare", domain)
            continue
        answered, error = _judge_answered(domain, answers)
        if error:
            yield error
            continue
        allowed = set(expected)
        stray = {a.question.resolver: sorted(unexpected) for a in answered
                 if (unexpected := set(a.values) - allowed)}
        evidence = {"expected": expected}
        if stray:
            said = "; ".join(f"{', '.join(v)} (at {'; '.join(_from(r, sources) for r in rs)})"
                             for v, rs in _grouped(stray))
            yield _provision_finding(sources, domain, Status.FAIL,
                                     f"{name} resolves to {said}; expected {', '.join(expected)}",
                                     answers, "STRAY_ADDRESS", unexpected=stray, **evidence)
        elif not any(a.records for a in answered):
            yield _provision_finding(sources, domain, Status.FAIL, f"{name} has no address",
                                     answers, "NO_ADDRESS", **evidence)
        else:
            yield _provision_finding(sources, domain, Status.PASS, f"{name} resolves to "
                                     f"{', '.join(expected)} only", answers, **evidence)


def _grouped(by_resolver: dict[str, list[str]]) -> list[tuple[list[str], list[str]]]:
    """Resolvers that said the same thing, together: (what they said, who said it)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for resolver, values in by_resolver.items():
        groups.setdefault(tuple(values), []).append(resolver)
    return [(list(values), resolvers) for values, resolvers in groups.items()]


@check(
    id="DNS-PROVSERVER-CONSISTENT",
    flows=[REMOTE_CONFIG],
    title="Every resolver gives the same ProvisionServer answer",
    severity="medium",
    needs=[Need.DNS_PROVSERVER],
    requires={"DNS-RESOLVER-ANSWERS": any_target},
    passes_when="every resolver gives the same answer (rcode and addresses) for ProvisionServer",
    remediation=(
        "Bring every resolver and secondary to the same zone data (check zone transfers, "
        "serial numbers, split-horizon views): devices asking another resolver get another "
        "provisioning server."
    ),
    references=[SDK_HELLO],
    reasons={"ONE_RESOLVER": "the site has one resolver: nothing to compare",
             "TOO_FEW_ANSWERED": "fewer than two resolvers answered",
             "RESOLVERS_DISAGREE": "resolvers give different rcodes or addresses"},
)
def provserver_consistent(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    sources = _sources(obs)
    for domain in site.domain_names:
        name = provision_server_name(domain)
        answers = _provision_answers(obs, name)
        answered = [a for a in answers if a.outcome.answered]
        if len(answers) < 2:
            yield Finding(domain, Status.SKIPPED,
                          "only one resolver: nothing to compare it with", reason="ONE_RESOLVER")
            continue
        if len(answered) < 2:
            yield _provision_finding(sources, domain, Status.SKIPPED,
                           f"fewer than two resolvers answered: {_unanswered(answers)}", answers,
                           "TOO_FEW_ANSWERED")
            continue
        views = {a.question.resolver: (a.rcode, tuple(sorted(a.values))) for a in answered}
        if len(set(views.values())) == 1:
            yield _provision_finding(sources, domain, Status.PASS,
                           f"{len(views)} resolvers agree on {name}", answers)
        else:
            said = "; ".join(a.describe() for a in answered)
            yield _provision_finding(sources, domain, Status.FAIL,
                                     f"resolvers disagree on {name}: {said}", answers,
                                     "RESOLVERS_DISAGREE")


@check(
    id="DNS-PROVSERVER-PTR",
    flows=[REMOTE_CONFIG],
    title="ProvisionServer address reverse-resolves inside the domain",
    severity="low",
    needs=[Need.DNS_PROVSERVER, Need.DNS_PROVSERVER_PTR],
    requires=["DNS-PROVSERVER-A"],
    passes_when="each address of ProvisionServer.<domain> has a PTR to a name inside the domain",
    remediation=(
        "Add a PTR record for the provisioning server's address naming a host inside the "
        "domain; tools and auditors match the server by its reverse name."
    ),
    references=[SDK_HELLO],
    reasons={"PTR_OUTSIDE_DOMAIN": "no PTR, or one naming a host outside the domain",
             NO_ANSWER: NO_ANSWER_MEANS},
)
def provserver_ptr(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    sources = _sources(obs)
    for domain in site.domain_names:
        name = provision_server_name(domain)
        answered = [a for a in _provision_answers(obs, name) if a.records]
        if not answered:
            yield unjudged(domain, "DNS-PROVSERVER-A", f"{name} has no address to reverse")
            continue
        # The probe reverses at most MAX_REVERSED addresses of one answer: the rest are
        # named, not asked about
        addresses = sorted({v for a in answered for v in reversed_addresses(a.values)[0]})
        skipped = sorted({v for a in answered for v in a.values} - set(addresses))
        not_reversed = {"not_reversed": skipped} if skipped else {}
        ptrs = [obs.dns(r, reverse_name(ip), "PTR") for ip in addresses
                for r, _ in obs.provision_resolvers]
        replied = [p for p in ptrs if p.outcome.answered]
        bad = [p for p in replied if not p.records
               or not all(in_domain(v, domain) for v in p.values)]
        covered = {reverse_name(ip) for ip in addresses} <= {p.question.name for p in replied}
        rest = (f" ({len(skipped)} more addresses not reversed: at most {MAX_REVERSED} of "
                "one answer are)") if skipped else ""
        if bad:
            said = "; ".join(f"{p.question.name}: {p.describe()}" for p in bad)
            yield _provision_finding(sources, domain, Status.FAIL,
                                     f"not inside {domain}: {said}{rest}", ptrs,
                                     "PTR_OUTSIDE_DOMAIN", **not_reversed)
        elif not covered:
            yield _provision_finding(sources, domain, Status.ERROR, "no resolver answered the PTR "
                                     f"query: {_unanswered(ptrs)}{rest}", ptrs, NO_ANSWER,
                                     **not_reversed)
        else:
            names = sorted({v.rstrip(".") for p in replied for v in p.values})
            yield _provision_finding(sources, domain, Status.PASS,
                                     f"{', '.join(addresses)} reverse to {', '.join(names)}"
                                     f"{rest}", ptrs, **not_reversed)


@check(
    id="DNS-AD-SRV",
    title="Active Directory SRV records exist and resolve",
    severity="high",
    needs=[Need.DNS_AD_SRV],
    requires={"DNS-RESOLVER-ANSWERS": any_target},
    passes_when=(
        "_ldap._tcp.dc._msdcs.<ad domain>, _kerberos._tcp, _kerberos._udp and _kpasswd._tcp "
        "exist at every resolver that answers, and their targets resolve"
    ),
    remediation=(
        "Register the domain controllers' SRV records (restart Netlogon or run "
        "'dcdiag /fix'; on Samba 'samba_dnsupdate'), and give every target an A record."
    ),
    references=["RFC 2782: DNS SRV", "Microsoft: how DCs are located (DsGetDcName)"],
    reasons={"SRV_MISSING": "an SRV record is missing or '.', or its target does not resolve",
             NO_ANSWER: NO_ANSWER_MEANS,
             "PARTLY_ANSWERED": "some questions went unanswered: not decided"},
)
def ad_srv(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    if site.ad is None:
        yield not_configured("no AD domain configured (ad.domain)")
        return
    domain = site.ad.domain
    problems: list[str] = []
    consulted: list[DnsAnswer] = []
    unanswered: list[DnsAnswer] = []
    for resolver in obs.resolvers.addresses:
        for prefix in AD_SRV_PREFIXES:
            srv = obs.dns(resolver, f"{prefix}.{domain}", "SRV")
            consulted.append(srv)
            if not srv.outcome.answered:
                unanswered.append(srv)
                continue
            targets = sorted({srv_target(v) for v in srv.values})
            if not srv.records:
                problems.append(f"{prefix}.{domain}: {srv.describe()}")
            elif targets == [""]:
                problems.append(f"{prefix}.{domain}: target '.' (no service) from {resolver}")
            for target in (t for t in targets if t):
                address = obs.dns(resolver, target, "A")
                consulted.append(address)
                if not address.outcome.answered:
                    unanswered.append(address)
                elif not address.records:
                    problems.append(f"target {target} of {prefix}: {address.describe()}")
    records = {
        f"{p}.{domain}": sorted({v for a in consulted
                                 if a.question.name == f"{p}.{domain}" for v in a.values})
        for p in AD_SRV_PREFIXES
    }
    if problems:
        yield _finding(domain, Status.FAIL, "; ".join(problems), consulted, "SRV_MISSING",
                       records=records)
    elif unanswered and len(unanswered) == len(consulted):
        yield _finding(domain, Status.ERROR, f"no resolver answered: {_unanswered(unanswered)}",
                       consulted, NO_ANSWER)
    elif unanswered:
        yield _finding(domain, Status.ERROR, f"not every query answered: "
                       f"{_unanswered(unanswered)}", consulted, "PARTLY_ANSWERED",
                       records=records)
    else:
        yield _finding(domain, Status.PASS, f"all {len(AD_SRV_PREFIXES)} SRV records of "
                       f"{domain} exist and their targets resolve", consulted, records=records)


@check(
    id="DNS-DYNUPDATE-OPEN",
    title="Zone refuses unsigned dynamic updates",
    severity="high",
    needs=[Need.DNS_DYNUPDATE],
    intrusive=True,
    passes_when=(
        "an unsigned RFC 2136 update of a throw-away name in the zone is refused; anything "
        "it added is deleted"
    ),
    remediation=(
        "Allow only secure (GSS-TSIG/TSIG) dynamic updates on the zone. An open zone lets "
        "anyone on the network replace ProvisionServer and receive the devices' hellos."
    ),
    references=["RFC 2136: dynamic updates", "RFC 3007: secure dynamic update", CONFIGMGR_DNS],
    reasons={"NOT_TRIED": "the update was not tried before the deadline",
             "UPDATE_UNANSWERED": "the update got no DNS answer (timeout, no server found)",
             "UPDATE_ACCEPTED": "the server accepted an unsigned update"},
)
def dynupdate_open(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    judged: set[str] = set()
    for domain in site.domain_names:
        attempt = obs.dns_update(domain)
        if attempt is None:
            yield Finding(domain, Status.ERROR, "the update was not tried before the deadline",
                          reason="NOT_TRIED")
            continue
        if attempt.zone in judged:
            continue  # several domains in one zone: judged once
        judged.add(attempt.zone)
        evidence = attempt.to_evidence()
        if attempt.outcome is not Outcome.ANSWER:
            yield Finding(attempt.zone, Status.ERROR,
                          f"update to {attempt.server or 'no server'}: {attempt.outcome.value}"
                          f"{' (' + attempt.detail + ')' if attempt.detail else ''}", evidence,
                          reason="UPDATE_UNANSWERED")
        elif attempt.rcode == "NOERROR":
            yield Finding(attempt.zone, Status.FAIL,
                          f"{attempt.server} accepted an unsigned update of {attempt.name} "
                          f"in {attempt.zone} (clean-up: {attempt.cleanup})", evidence,
                          reason="UPDATE_ACCEPTED")
        else:
            yield Finding(attempt.zone, Status.PASS,
                          f"{attempt.server} refused the unsigned update with {attempt.rcode}",
                          evidence)


CHECKS: tuple[CheckSpec, ...] = (
    resolver_answers,
    provserver_a,
    provserver_match,
    provserver_consistent,
    provserver_ptr,
    ad_srv,
    dynupdate_open,
)
