"""DHCP checks: who answers on the site's interface, and what option 15, 6 and 81 say.

The probe keeps every answer of the window apart; a check judges each answering server (its
option 54, else its source address) on its own, so a rogue server shows as itself. Every
per-server result carries that server's answers, options decoded and in hex, as evidence
(`dhcp_server`), which the HTML report lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from amt_preflight import pki
from amt_preflight.catalogue import (
    NOT_CONFIGURED,
    CheckSpec,
    Need,
    TargetOf,
    check,
    evidence_target,
    not_configured,
    unjudged,
    where_unjudged,
)
from amt_preflight.config import SiteConfig
from amt_preflight.model import NO_TARGET, Finding, Severity, Status
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import answers_timing
from amt_preflight.observations.dhcp import DhcpAnswer, DhcpSurvey, domain_of, option6_questions
from amt_preflight.observations.dns import normal_name

RFC_2131 = "RFC 2131: Dynamic Host Configuration Protocol"
RFC_2132 = "RFC 2132: DHCP options and BOOTP vendor extensions (option 15, option 6)"
RFC_4702 = "RFC 4702: the DHCP client FQDN option (option 81)"
SEED_OPTION15 = ("Intel vPro / AMT remote configuration: the domain suffix of DHCP option 15 "
                 "validates the provisioning certificate")
SDK_CERT = "Intel AMT SDK: acquiring an Intel vPro certificate (option 15 suffix of the CN)"
WHITESPACE = frozenset(b" \t\n\v\f\r")
# Suffixes that no public CA certifies (CHECKS.md, DHCP-OPT15-CLEAN).
PRIVATE_SUFFIXES = ("local", "corp", "lan", "internal", "home", "localdomain")


# --- what every check does first ---------------------------------------------------------

ANSWERS = "DHCP-SERVER-ANSWERS"
PRESENT = "DHCP-OPT15-PRESENT"
# What every check reading the survey may say of it
SURVEY_REASONS: Mapping[str, str] = {
    "NOT_DECIDED": "the DHCP survey did not finish before the run's deadline",
    "PROBE_FAILED": "the DHCP probe could not run (it needs root; the interface)",
}


# A check judged per server finds none where no server answered: that finding (target "-")
# rests on DHCP-SERVER-ANSWERS for the surveyed interface.
PER_SERVER_REQUIRES: Mapping[str, TargetOf] = {
    ANSWERS: where_unjudged(ANSWERS, evidence_target("interface"))}


def _survey(site: SiteConfig, obs: SiteView, target: str) -> DhcpSurvey | Finding:
    """The site's survey, or the finding that says why there is none to judge."""
    if site.interface is None:
        return not_configured("no interface configured for DHCP probes (sites[].interface)")
    survey = obs.dhcp_survey
    if survey is None:
        return Finding(target, Status.ERROR,
                       f"the DHCP survey on {site.interface} did not finish before the run's "
                       "deadline", reason="NOT_DECIDED")
    started, duration = answers_timing([survey])
    if survey.error:
        return Finding(target, Status.ERROR, f"the DHCP probe could not run: {survey.error}",
                       evidence=survey.to_evidence(), started_at=started, duration_ms=duration,
                       reason="PROBE_FAILED")
    return survey


def _no_answer(survey: DhcpSurvey, target: str) -> Finding:
    """Nothing to judge: no server answered (DHCP-SERVER-ANSWERS fails for the interface)."""
    started, duration = answers_timing([survey])
    return unjudged(target, ANSWERS, f"no DHCP server answered on {survey.interface}",
                    survey.to_evidence(), started_at=started, duration_ms=duration)


def _servers(site: SiteConfig, obs: SiteView) -> dict[str, list[DhcpAnswer]] | Finding:
    """Each answering server's answers, or the finding for a check judged per server."""
    survey = _survey(site, obs, NO_TARGET)
    if isinstance(survey, Finding):
        return survey
    if not survey.answers:
        return _no_answer(survey, NO_TARGET)
    return survey.by_server()


def _finding(
    obs: SiteView, server: str, answers: list[DhcpAnswer], status: Status, message: str,
    *, timing: tuple[datetime | None, int | None] = (None, None), reason: str | None = None,
    **evidence: Any,
) -> Finding:
    """A per-server finding: its answers as evidence, timed by the survey unless `timing`
    says otherwise."""
    survey = obs.dhcp_survey
    started, duration = timing if timing[0] else answers_timing([survey] if survey else [])
    shown = {"interface": survey.interface if survey else None, "server": server,
             "answers": [a.to_evidence() for a in answers]}
    return Finding(server, status, message, evidence={**evidence, "dhcp_server": shown},
                   started_at=started, duration_ms=duration, reason=reason)


def _no_option15(obs: SiteView, server: str, answers: list[DhcpAnswer],
                 **evidence: Any) -> Finding:
    """A server that gave no option 15 at all: nothing to judge (DHCP-OPT15-PRESENT fails)."""
    found = _finding(obs, server, answers, Status.SKIPPED, "", **evidence)
    return unjudged(server, PRESENT, f"no option 15 from {server}", found.evidence,
                    started_at=found.started_at, duration_ms=found.duration_ms)


def _mebx_lowered(site: SiteConfig, finding: Finding) -> Finding:
    """With amt.pki_dns_suffix the firmware takes its domain from MEBx, not option 15
    (AMT-FACTS.md, "Where the firmware takes its domain from"): an option 15 finding is low."""
    suffix = site.amt.pki_dns_suffix
    if suffix is None or finding.status is not Status.FAIL:
        return finding
    return replace(finding, severity=Severity.LOW,
                   message=f"{finding.message} (low: amt.pki_dns_suffix {suffix} is set, and "
                           "the firmware takes it instead of option 15)",
                   evidence={**finding.evidence, "pki_dns_suffix": suffix})


def _what(answer: DhcpAnswer) -> str:
    return f"{answer.message_type} to the {answer.answering}"


def _summary(answers: list[DhcpAnswer]) -> str:
    """One server's answers in a few words ("OFFER to the DISCOVER after 2 ms, …"); a
    message that came several times is counted (a flood), not repeated."""
    kinds: dict[str, list[DhcpAnswer]] = {}
    for answer in answers:
        kinds.setdefault(_what(answer), []).append(answer)
    return ", ".join(
        f"{what} after {same[0].after_ms:.0f} ms" + (f" ({len(same)} times)" if same[1:] else "")
        for what, same in kinds.items())


def shown(data: bytes) -> str:
    """Option bytes for a message: printable ASCII as it is, anything else as \\xNN."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data)


def quoted(data: bytes) -> str:
    return f"'{shown(data)}'"


def _option15_values(answers: Iterable[DhcpAnswer]) -> list[bytes]:
    return list(dict.fromkeys(a.domain_name for a in answers if a.domain_name is not None))


def _comparable(option15: bytes) -> str:
    """Case-insensitive, one trailing dot dropped (as CERT-DOMAIN-MATCH compares); every
    other byte counts, so a NUL or a space makes another name."""
    text = option15.decode("latin-1").lower()
    return text[:-1] if text.endswith(".") else text


# --- the checks ---------------------------------------------------------------------------


@check(
    id="DHCP-SERVER-ANSWERS",
    title="A DHCP server answers on the AMT interface",
    severity="critical",
    needs=[Need.DHCP_SURVEY],
    passes_when=(
        "at least one DHCP server answers the DISCOVER or the INFORM within dhcp.window "
        "(default 5 s; servers may ping-check before offering)"
    ),
    remediation=(
        "Serve DHCP on the AMT VLAN: a scope on a server there, or a DHCP relay (ip helper-"
        "address) on the VLAN's router pointing at the DHCP server. AMT in DHCP mode gets "
        "its address and option 15 nowhere else."
    ),
    references=[RFC_2131, SEED_OPTION15],
    reasons={**SURVEY_REASONS,
             "NO_ANSWER": "no DHCP server answered the DISCOVER or the INFORM within "
                          "dhcp.window (undecodable answers are counted in the message)"},
)
def server_answers(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    survey = _survey(site, obs, site.interface or NO_TARGET)
    if isinstance(survey, Finding):
        yield survey
        return
    started, duration = answers_timing([survey])
    evidence = {**survey.to_evidence(),
                "servers": {s: [a.to_evidence() for a in answers]
                            for s, answers in survey.by_server().items()}}
    if not survey.answers:
        extra = f"; {len(survey.malformed)} undecodable answers" if survey.malformed else ""
        yield Finding(survey.interface, Status.FAIL,
                      f"no DHCP server answered on {survey.interface} within "
                      f"{survey.window:g} s{extra}", evidence, started_at=started,
                      duration_ms=duration, reason="NO_ANSWER")
        return
    said = "; ".join(f"{server}: {_summary(answers)}"
                     for server, answers in survey.by_server().items())
    yield Finding(survey.interface, Status.PASS, f"answered on {survey.interface}: {said}",
                  evidence, started_at=started, duration_ms=duration)


def _allowed(answer: DhcpAnswer, allowed: set[str]) -> list[str]:
    """Why this answer is not from an allowed server; empty when it is."""
    problems = []
    if answer.server_id is None:
        problems.append("no server identifier (option 54)")
    elif answer.server_id not in allowed:
        problems.append(f"server identifier {answer.server_id} is not allowed")
    relayed = answer.giaddr != "0.0.0.0" and answer.source == answer.giaddr
    if answer.source not in allowed and not relayed:
        problems.append(f"source address {answer.source} is not allowed")
    return problems


@check(
    id="DHCP-SERVER-ALLOWED",
    title="Only allowed DHCP servers answer",
    severity="high",
    needs=[Need.DHCP_SURVEY],
    passes_when=(
        "every answering server (server identifier option 54 and source address; a relay "
        "agent's address as source when it relayed) is in dhcp.allowed_servers; each server "
        "is reported on its own (rogue DHCP)"
    ),
    remediation=(
        "Find and stop the rogue server (its source MAC is in the evidence; the switch's MAC "
        "table names the port), and enable DHCP snooping on the AMT VLAN so that only the "
        "trusted ports may answer. A rogue server can hand out its own option 15 and DNS."
    ),
    references=[RFC_2131, "Cisco: DHCP snooping"],
    requires=PER_SERVER_REQUIRES,
    reasons={**SURVEY_REASONS,
             "ROGUE_SERVER": "a server whose option 54 or source address is not in "
                             "dhcp.allowed_servers, or that gives no option 54 (the message "
                             "names each problem)"},
)
def server_allowed(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    servers = _servers(site, obs)
    if isinstance(servers, Finding):
        yield servers
        return
    allowed = set(site.dhcp.allowed_servers)
    for server, answers in servers.items():
        if not allowed:
            yield _finding(obs, server, answers, Status.SKIPPED,
                           f"{server} answered; dhcp.allowed_servers is empty, so it cannot "
                           "be told from a rogue server", reason=NOT_CONFIGURED)
            continue
        problems = {p for a in answers for p in _allowed(a, allowed)}
        macs = sorted({a.source_mac for a in answers})
        if problems:
            yield _finding(obs, server, answers, Status.FAIL,
                           f"rogue DHCP server {server} (MAC {', '.join(macs)}): "
                           f"{'; '.join(sorted(problems))}", reason="ROGUE_SERVER",
                           allowed_servers=sorted(allowed))
        else:
            yield _finding(obs, server, answers, Status.PASS, f"{server} is an allowed server",
                           allowed_servers=sorted(allowed))


@check(
    id="DHCP-OPT15-PRESENT",
    title="DHCP hands out a domain name (option 15)",
    severity="critical",
    needs=[Need.DHCP_SURVEY],
    passes_when="every answer of every server carries option 15 (domain name)",
    remediation=(
        "Set the DNS domain name option (015) on the scope or server that serves the AMT "
        "VLAN. AMT compares it with the provisioning certificate's name: without it, "
        "provisioning with a certificate cannot start."
    ),
    references=[RFC_2132, SEED_OPTION15],
    requires=PER_SERVER_REQUIRES,
    reasons={**SURVEY_REASONS,
             "OPT15_MISSING": "an answer of the server carries no option 15 (the message names "
                              "which)"},
)
def option15_present(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    servers = _servers(site, obs)
    if isinstance(servers, Finding):
        yield servers
        return
    for server, answers in servers.items():
        missing = [a for a in answers if a.domain_name is None]
        if missing:
            yield _finding(obs, server, answers, Status.FAIL,
                           f"no option 15 from {server} in its "
                           f"{', '.join(_what(a) for a in missing)}", reason="OPT15_MISSING")
        else:
            values = ", ".join(quoted(v) for v in _option15_values(answers))
            yield _finding(obs, server, answers, Status.PASS, f"{server} gives option 15 "
                           f"{values}")


@check(
    id="DHCP-OPT15-MATCH",
    title="Option 15 is the site's domain, the same from every server",
    severity="high",
    needs=[Need.DHCP_SURVEY],
    passes_when=(
        "option 15 equals one of the site's domains (case-insensitive, one trailing dot "
        "dropped) and every server gives the same. With amt.pki_dns_suffix set the firmware "
        "does not use option 15 for the certificate: a fail then carries severity low"
    ),
    remediation=(
        "Set option 15 to the domain the provisioning certificate is issued for, on every "
        "server and scope of the AMT VLAN: a device takes whichever answer comes first."
    ),
    references=[SDK_CERT, SEED_OPTION15],
    requires={**PER_SERVER_REQUIRES, PRESENT: where_unjudged(PRESENT)},
    reasons={**SURVEY_REASONS,
             "OPT15_NOT_SITE_DOMAIN": "option 15 is none of the site's domains (the worse of "
                                      "the two: evidence.reasons lists both when both hold)",
             "OPT15_SERVERS_DISAGREE": "the servers give different option 15 values"},
)
def option15_match(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    servers = _servers(site, obs)
    if isinstance(servers, Finding):
        yield servers
        return
    given = {server: _option15_values(answers) for server, answers in servers.items()}
    distinct = {_comparable(v) for vs in given.values() for v in vs}
    domains = site.domain_names
    evidence: dict[str, Any] = {"site_domains": domains,
                "option15_by_server": {s: [shown(v) for v in vs] for s, vs in given.items()}}
    for server, answers in servers.items():
        values = given[server]
        if not values:
            yield _no_option15(obs, server, answers, **evidence)
            continue
        wrong = [v for v in values if domains and _comparable(v) not in domains]
        others = {s: vs for s, vs in given.items() if s != server and vs}
        problems = [f"option 15 {quoted(v)} is not {' or '.join(domains)}" for v in wrong]
        reasons = ["OPT15_NOT_SITE_DOMAIN"] if wrong else []
        if len(distinct) > 1:
            said = "; ".join(f"{s} gives {', '.join(quoted(v) for v in vs)}"
                             for s, vs in given.items() if vs)
            problems.append(f"servers disagree: {said}")
            reasons.append("OPT15_SERVERS_DISAGREE")
        if problems:
            yield _mebx_lowered(site, _finding(obs, server, answers, Status.FAIL, f"{server}: "
                                               f"{'; '.join(problems)}", reason=reasons[0],
                                               reasons=reasons, **evidence))
        else:
            agree = f", as {len(others)} other servers" if others else ""
            what = f"the site's domain {quoted(values[0])}" if domains else (
                f"{quoted(values[0])} (no domain configured: agreement only)")
            yield _finding(obs, server, answers, Status.PASS, f"{server} gives {what}{agree}",
                           **evidence)


def public_ca_certificate(site: SiteConfig, obs: SiteView, domain: str) -> bool | None:
    """Whether the provisioning certificate configured for `domain` comes from a public CA:
    its file holds a root whose hash is in a built-in AMT list. False without a certificate;
    None when the file could not be read or holds no root (not known)."""
    configured = next((d for d in site.domains if d.name == normal_name(domain)), None)
    if configured is None or configured.certificate is None:
        return False
    bundle = obs.certificate(domain)
    roots = [c for c in bundle.certificates if c.self_issued] if bundle else []
    if not roots:
        return None
    return any(pki.is_builtin_root(r) for r in roots)


# DHCP-OPT15-CLEAN's problems, worst first: a finding with several is tagged by the worst.
# A private-only suffix can never match a public CA's certificate; a NUL or another byte
# that does not print makes another name, hidden in most tools; white space shows at least;
# a trailing dot is one many stacks drop.
OPT15_PROBLEMS: Mapping[str, str] = {
    "OPT15_PRIVATE_SUFFIX": "a private-only suffix (.local, .corp, ...) while the site's "
                            "provisioning certificate comes from a public CA",
    "OPT15_NUL": "a NUL byte in option 15 (some servers add one as a terminator)",
    "OPT15_NON_PRINTABLE": "a byte that is not printable ASCII",
    "OPT15_WHITESPACE": "white space (space, tab, newline, ...)",
    "OPT15_TRAILING_DOT": "a trailing dot",
}


def _hygiene(option15: bytes) -> list[tuple[str, str]]:
    """Each problem of option 15 as bytes: (its reason tag, its words)."""
    problems = []
    if option15.endswith(b"."):
        problems.append(("OPT15_TRAILING_DOT", "trailing dot"))
    for offset, byte in enumerate(option15):
        if byte == 0:
            problems.append(("OPT15_NUL", f"NUL at offset {offset}"))
        elif byte in WHITESPACE:
            problems.append(("OPT15_WHITESPACE", f"white space 0x{byte:02x} at offset {offset}"))
        elif not 0x20 < byte < 0x7F:
            problems.append(("OPT15_NON_PRINTABLE",
                             f"non-printable byte 0x{byte:02x} at offset {offset}"))
    return problems


def hygiene(option15: bytes) -> list[str]:
    """What is wrong with option 15 as bytes: a trailing dot, white space, NUL, any other
    byte that is not printable ASCII (each named with its offset and hex)."""
    return [text for _, text in _hygiene(option15)]


def _private_suffix(site: SiteConfig, obs: SiteView, option15: bytes
                    ) -> tuple[str | None, dict[str, Any] | None]:
    """(a problem, the evidence) of the private-suffix rule, when option 15 has one."""
    domain = domain_of(option15)
    if domain is None or domain.rsplit(".", 1)[-1] not in PRIVATE_SUFFIXES:
        return None, None
    suffix = "." + domain.rsplit(".", 1)[-1]
    public = public_ca_certificate(site, obs, domain)
    rule = {"suffix": suffix, "public_ca_certificate": public}
    if public:
        return (f"private-only suffix {suffix} with a provisioning certificate from a public "
                "CA"), {**rule, "judged": True}
    why = ("no certificate from a public CA is configured for it" if public is False else
           "its certificate file could not be read or holds no root: see CERT-LOADABLE")
    return None, {**rule, "judged": False, "why": why}


@check(
    id="DHCP-OPT15-CLEAN",
    title="Option 15 has no hidden characters or private-only suffix",
    severity="medium",
    needs=[Need.DHCP_SURVEY, Need.CERT_FILES],
    passes_when=(
        "option 15 has no trailing dot, white space, NUL or non-printable byte (shown as hex "
        "in the evidence) and is not a private-only suffix (.local, .corp, .lan, .internal, "
        ".home, .localdomain) while the site's provisioning certificate comes from a public "
        "CA (its root's hash is in a built-in AMT list). With amt.pki_dns_suffix set a fail "
        "carries severity low"
    ),
    remediation=(
        "Write option 15 as the bare domain: no trailing dot, no spaces, no NUL terminator "
        "(some servers add one). A private-only suffix cannot match a certificate from a "
        "public CA: use a public domain you own for AMT, or provision with your own root."
    ),
    references=[SDK_CERT, "Intel support KB 000100444: .local suffixes and admin control mode"],
    requires={**PER_SERVER_REQUIRES, PRESENT: where_unjudged(PRESENT)},
    reasons={**SURVEY_REASONS, **{
        tag: f"{meaning}; of several problems the worst tags the finding (PRIVATE_SUFFIX > NUL "
             "> NON_PRINTABLE > WHITESPACE > TRAILING_DOT) and evidence.reasons lists all"
        for tag, meaning in OPT15_PROBLEMS.items()}},
)
def option15_clean(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    servers = _servers(site, obs)
    if isinstance(servers, Finding):
        yield servers
        return
    for server, answers in servers.items():
        values = _option15_values(answers)
        if not values:
            yield _no_option15(obs, server, answers)
            continue
        problems: list[str] = []
        tags: set[str] = set()
        judged: list[dict[str, Any]] = []
        for value in values:
            found = _hygiene(value)
            rule_problem, rule = _private_suffix(site, obs, value)
            found += [("OPT15_PRIVATE_SUFFIX", rule_problem)] if rule_problem else []
            judged.append({"option15": shown(value), "hex": value.hex(),
                           "problems": [text for _, text in found],
                           **({"private_suffix": rule} if rule else {})})
            problems += [f"{quoted(value)}: {text}" for _, text in found]
            tags.update(tag for tag, _ in found)
        note = next((r["private_suffix"]["why"] for r in judged
                     if r.get("private_suffix", {}).get("judged") is False), "")
        if problems:
            reasons = [tag for tag in OPT15_PROBLEMS if tag in tags]  # worst first
            yield _mebx_lowered(site, _finding(obs, server, answers, Status.FAIL,
                                               f"{server}: {'; '.join(problems)}",
                                               reason=reasons[0], reasons=reasons,
                                               option15=judged))
        else:
            yield _finding(obs, server, answers, Status.PASS,
                           f"{server}: option 15 {', '.join(quoted(v) for v in values)} "
                           f"is clean" + (f" (private suffix {note})" if note else ""),
                           option15=judged)


@check(
    id="DHCP-OPT6-DNS",
    title="The DNS servers of option 6 answer for ProvisionServer",
    severity="medium",
    needs=[Need.DHCP_SURVEY, Need.DHCP_OPT6_DNS],
    passes_when=(
        "option 6 names DNS servers and each answers a query for ProvisionServer.<option 15> "
        "with an address (the site's first domain when option 15 is unusable)"
    ),
    remediation=(
        "Hand out in option 6 resolvers that AMT devices can reach and that resolve "
        "ProvisionServer in the option 15 domain: a device asks only those."
    ),
    references=[RFC_2132, "Intel AMT SDK: setup mode hello messages (ProvisionServer)"],
    requires=PER_SERVER_REQUIRES,
    reasons={**SURVEY_REASONS,
             "OPT6_MISSING": "an answer of the server carries no DNS servers (option 6)",
             "NO_NAME_TO_ASK": "no usable option 15 and no domain configured: no "
                               "ProvisionServer name to ask",
             "OPT6_NO_ADDRESS": "an option 6 server gave no address for ProvisionServer "
                                "(NXDOMAIN, NODATA, no answer)"},
)
def option6_dns(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    servers = _servers(site, obs)
    if isinstance(servers, Finding):
        yield servers
        return
    for server, answers in servers.items():
        missing = [a for a in answers if not a.dns_servers]
        if missing:
            yield _finding(obs, server, answers, Status.FAIL,
                           f"no DNS servers (option 6) from {server} in its "
                           f"{', '.join(_what(a) for a in missing)}", reason="OPT6_MISSING")
            continue
        questions = list(dict.fromkeys(
            q for a in answers for q in option6_questions(a, site.domain_names)))
        if not questions:
            yield _finding(obs, server, answers, Status.SKIPPED,
                           f"{server}: no usable option 15 and no domain configured: no "
                           "ProvisionServer name to ask", reason="NO_NAME_TO_ASK")
            continue
        lookups = [obs.dns(q.resolver, q.name, q.rdtype) for q in questions]
        failed = [a for a in lookups if not a.records]
        resolvers = list(dict.fromkeys(r for a in answers for r in a.dns_servers))
        evidence: dict[str, Any] = {"option6": resolvers,
                                    "lookups": [a.to_evidence() for a in lookups]}
        timing = answers_timing(lookups)
        if failed:
            said = "; ".join(f"{a.question.name}: {a.describe()}" for a in failed)
            yield _finding(obs, server, answers, Status.FAIL, f"{server}'s option 6: {said}",
                           timing=timing, reason="OPT6_NO_ADDRESS", **evidence)
        else:
            said = "; ".join(f"{a.question.name}: {a.describe()}" for a in lookups)
            yield _finding(obs, server, answers, Status.PASS, f"{server}'s option 6: {said}",
                           timing=timing, **evidence)


def _judged_offers(site: SiteConfig, survey: DhcpSurvey) -> list[DhcpAnswer]:
    """The OFFERs to judge option 81 by: from the allowed servers when any is configured."""
    offers = [a for a in survey.answers if a.answering == "DISCOVER" and a.message_type ==
              "OFFER"]
    allowed = set(site.dhcp.allowed_servers)
    return [a for a in offers if a.server in allowed] if allowed else offers


@check(
    id="DHCP-OPT81-ACCEPTED",
    title="DHCP server says it will register the client's name (option 81)",
    severity="medium",
    needs=[Need.DHCP_SURVEY],
    passes_when=(
        "the DISCOVER carrying option 81 (client FQDN, S flag set) gets option 81 back with "
        "flags saying the server will update DNS (S set, N clear), from every allowed server "
        "that offers (every server when none is configured)"
    ),
    remediation=(
        "Let the DHCP server register its clients in DNS (Windows: DNS tab 'Enable DNS dynamic "
        "updates' and 'Always dynamically update'; Kea: ddns-send-updates with kea-dhcp-"
        "ddns; dnsmasq: without dhcp-client-update). The provisioning server compares the "
        "device's DNS name with what it receives."
    ),
    references=[RFC_4702, SEED_OPTION15],
    requires={ANSWERS: where_unjudged(ANSWERS)},
    reasons={**SURVEY_REASONS,
             "NO_OFFER": "servers answered, but none that is allowed (any, when "
                         "dhcp.allowed_servers is empty) sent an OFFER to judge",
             "NOT_UPDATING": "an OFFER without option 81, or with flags saying the server will "
                             "not update DNS (S clear or N set)"},
)
def option81_accepted(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    survey = _survey(site, obs, site.interface or NO_TARGET)
    if isinstance(survey, Finding):
        yield survey
        return
    started, duration = answers_timing([survey])
    offers = _judged_offers(site, survey)
    evidence = {**survey.to_evidence(), "offers": {
        a.server: (a.client_fqdn.describe() if a.client_fqdn else "no option 81")
        for a in offers}}
    if not survey.answers:
        yield _no_answer(survey, survey.interface)
        return
    if not offers:
        yield Finding(survey.interface, Status.SKIPPED,
                      f"no OFFER from {'an allowed' if site.dhcp.allowed_servers else 'any'} "
                      f"server on {survey.interface}", evidence,
                      started_at=started, duration_ms=duration, reason="NO_OFFER")
        return
    refused = {a.server: a.client_fqdn.describe() if a.client_fqdn else
               "no option 81 in its OFFER" for a in offers
               if a.client_fqdn is None or not a.client_fqdn.server_updates}
    if refused:
        said = "; ".join(f"{server}: {why}" for server, why in refused.items())
        yield Finding(survey.interface, Status.FAIL, f"not updating DNS for the client: "
                      f"{said}", evidence, started_at=started, duration_ms=duration,
                      reason="NOT_UPDATING")
    else:
        said = ", ".join(sorted({a.server for a in offers}))
        yield Finding(survey.interface, Status.PASS, f"{said} will update DNS for the client "
                      "(option 81 S set)", evidence, started_at=started, duration_ms=duration)


@check(
    id="DHCP-OPT81-REGISTERS",
    title="A DHCP lease with option 81 shows in DNS (A and PTR)",
    severity="medium",
    needs=[Need.DHCP_REGISTRATION],
    intrusive=True,
    passes_when=(
        "a full DISCOVER/OFFER/REQUEST/ACK with option 81 for a throw-away name makes its A "
        "record (and PTR) appear at a resolver of the site within dhcp.register_wait "
        "(default 10 s); the lease is released afterwards"
    ),
    remediation=(
        "Make the DHCP server register leases in DNS: dynamic updates allowed on the zone "
        "for the DHCP server's account (Windows: DnsUpdateProxy or a credential), kea-dhcp-"
        "ddns configured with the zone's key, or dnsmasq answering for the domain."
    ),
    references=[RFC_4702, "RFC 4703: resolving FQDN conflicts among DHCP clients"],
    reasons={"NOT_TRIED": "the registration was not tried before the run's deadline",
             "PROBE_FAILED": SURVEY_REASONS["PROBE_FAILED"],
             "NO_LEASE": "no lease to register (no OFFER or no ACK from an allowed server)",
             "NOT_RELEASED": "the lease could not be released: it stays until it expires",
             "NO_PTR": "the A record showed in DNS, but no PTR within dhcp.register_wait",
             "NOT_REGISTERED": "the name did not show in DNS within dhcp.register_wait"},
)
def option81_registers(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    if site.interface is None:
        yield not_configured("no interface configured for DHCP probes (sites[].interface)")
        return
    registration = obs.dhcp_registration
    if registration is None:
        yield Finding(site.interface, Status.ERROR, "the registration was not tried before "
                      "the run's deadline", reason="NOT_TRIED")
        return
    started, duration = answers_timing([registration])

    def finding(status: Status, message: str, reason: str | None = None) -> Finding:
        return Finding(site.interface or NO_TARGET, status, message,
                       registration.to_evidence(), started_at=started, duration_ms=duration,
                       reason=reason)

    name, address = registration.fqdn, registration.address
    if registration.error:
        yield finding(Status.ERROR, f"the DHCP probe could not run: {registration.error}",
                      "PROBE_FAILED")
    elif not address:
        yield finding(Status.FAIL, f"no lease to register: {registration.no_lease}", "NO_LEASE")
    elif not registration.released:
        yield finding(Status.ERROR, f"the lease of {address} could not be released: "
                      f"{registration.steps[-1]}; it stays until it expires", "NOT_RELEASED")
    elif registration.a_seen and registration.ptr_seen:
        yield finding(Status.PASS, f"{name} A {address} at {', '.join(registration.a_seen)} "
                      f"after {registration.a_after_ms or 0:.0f} ms, PTR at "
                      f"{', '.join(registration.ptr_seen)}; {registration.cleanup}")
    elif registration.a_seen:
        yield finding(Status.FAIL, f"{name} A {address} showed, but no PTR for {address} "
                      f"within {registration.waited_s:g} s", "NO_PTR")
    else:
        yield finding(Status.FAIL, f"{name} did not show in DNS with {address} within "
                      f"{registration.waited_s:g} s (lease from {registration.server})",
                      "NOT_REGISTERED")


CHECKS: tuple[CheckSpec, ...] = (
    server_answers,
    server_allowed,
    option15_present,
    option15_match,
    option15_clean,
    option6_dns,
    option81_accepted,
    option81_registers,
)
