"""Handshake checks: the provisioning server takes a hello, connects back to a synthetic AMT
endpoint, and presents a chain an AMT device would accept (or completes TLS-PSK).

The chain presented in the connect-back is judged by the CERT-* rules of checks/cert.py, the
same functions that judge the configured certificate files (cert.CHAIN_RULES, each a function
of a chain.ChainUnderTest), and against the hash list the hello announced (the list the
firmware would match its root against).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from amt_preflight import firmware
from amt_preflight.catalogue import (
    REMOTE_CONFIG,
    CheckSpec,
    Need,
    check,
    not_configured,
    unjudged,
)
from amt_preflight.config import SiteConfig
from amt_preflight.model import Finding, Status, worst
from amt_preflight.observations import SiteView
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import provision_server_name
from amt_preflight.observations.handshake import (
    ConnectBack,
    ConnectBackOutcome,
    HandshakeAttempt,
    HandshakeKind,
)

from . import cert
from .chain import LOADABLE, ChainUnderTest, judge_chain, presented_chain_under_test

SDK_HELLO = "Intel AMT SDK: setup mode hello messages"
SDK_FLOW = "Intel AMT SDK: remote setup and configuration flow (TLS-PKI)"
SDK_PSK = "Intel AMT SDK: overview of PSK/PKI/automatic configuration flow"
MESHCENTRAL = "MeshCentral amtprovisioningserver.js: hello parsing and connect-back"
TCP = "HS-PROVSERVER-TCP"
HELLO_SENT = "HS-HELLO-SENT"
CONNECT_BACK = "HS-CONNECT-BACK"
NOT_FINISHED = "NOT_FINISHED"  # a reason tag of every check of the hellos
NOT_FINISHED_MEANS = "the hellos did not finish before the run's deadline"
# What one profile's hello or connect-back gave: its status, its words, its reason tag
Judged = tuple[Status, str, str | None]
# The reason tag of a connect-back that did not complete as the firmware needs
CONNECT_BACK_REASONS = {
    ConnectBackOutcome.NO_CONNECTION: "NO_CONNECT_BACK",
    ConnectBackOutcome.NOT_TLS: "NOT_TLS",
    ConnectBackOutcome.TLS_FAILED: "TLS_FAILED",
    ConnectBackOutcome.STALLED: "TLS_STALLED",
    ConnectBackOutcome.HANDSHAKE: "NO_CHAIN",  # a PKI connect-back that presented no chain
}


def _timed(attempts: HandshakeAttempt | tuple[HandshakeAttempt, ...], target: str,
           status: Status, message: str, evidence: dict[str, Any],
           reason: str | None = None, prerequisite: str = "") -> Finding:
    """A finding timed by its attempts: from the first start to the last end; skipped, it
    says the prerequisite that says why (`unjudged`)."""
    group = attempts if isinstance(attempts, tuple) else (attempts,)
    start = min(a.started_at for a in group)
    end = max(a.started_at + a.elapsed_ms / 1000 for a in group)
    timing: dict[str, Any] = {"started_at": datetime.fromtimestamp(start, UTC),
                              "duration_ms": round((end - start) * 1000)}
    if prerequisite:
        return unjudged(target, prerequisite, message, evidence, **timing)
    return Finding(target, status, message, evidence, reason=reason, **timing)


def _decisive(judged: list[Judged], status: Status) -> str | None:
    """The reason tag of the first profile whose status speaks for all."""
    return next((r for s, _, r in judged if s is status), None)


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _attempts(obs: SiteView, domain: str, kind: HandshakeKind
              ) -> tuple[HandshakeAttempt, ...] | Finding:
    """The attempts of one domain (one per device profile), or why there are none."""
    attempts = obs.handshakes(domain, kind)
    if attempts is None:
        return Finding(domain, Status.ERROR, f"the {kind.value.upper()} hellos did not finish "
                       "before the run's deadline", reason=NOT_FINISHED)
    return attempts


def _not_sent(obs: SiteView, attempt: HandshakeAttempt) -> Judged | None:
    """Why a hello did not go out (skipped: the port is unreachable, HS-PROVSERVER-TCP says
    why; error: anything else), or None when it did."""
    if attempt.delivered is not Outcome.NOT_OBSERVED:
        return None
    port = obs.tcp(attempt.provision_server, attempt.hello_port).outcome
    if port is not Outcome.NOT_OBSERVED and not port.answered:
        return Status.SKIPPED, (f"no hello sent: {attempt.provision_server} port "
                                f"{attempt.hello_port} is not reachable"), None
    return Status.ERROR, attempt.error or "no hello was sent", "NOT_SENT"


def _per_profile(attempts: tuple[HandshakeAttempt, ...]) -> dict[str, Any]:
    return {"attempts": [{"profile": a.profile, **a.to_evidence()} for a in attempts]}


# --- HS-PROVSERVER-TCP -----------------------------------------------------------------


@check(
    id="HS-PROVSERVER-TCP",
    flows=[REMOTE_CONFIG],
    title="Provisioning server accepts TCP on the hello port",
    severity="critical",
    needs=[Need.HS_HELLO_PORT],
    requires=["DNS-PROVSERVER-A"],
    passes_when="ProvisionServer.<domain> accepts TCP on the hello port (default 9971)",
    remediation=(
        "Start the provisioning service and open the hello port (TCP 9971 by default) from "
        "the AMT VLAN to the address ProvisionServer.<domain> resolves to."
    ),
    references=[SDK_HELLO],
    reasons={"NOT_TRIED": "no connection was tried (the run's deadline, no address to try)",
             "PORT_UNREACHABLE": "the hello port refused, timed out or was unreachable"},
)
def provserver_tcp(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    port = site.handshake.hello_port
    for domain in site.domain_names:
        name = provision_server_name(domain)
        connect = obs.tcp(name, port)
        evidence = {"provision_server": name, **connect.to_evidence()}
        timing: dict[str, Any] = {
            "started_at": datetime.fromtimestamp(connect.started_at, UTC)
            if connect.started_at else None,
            "duration_ms": round(connect.elapsed_ms) if connect.started_at else None}
        if connect.outcome.answered:
            yield Finding(domain, Status.PASS, f"{name} ({connect.address}) accepts TCP on "
                          f"port {port}", evidence, **timing)
        elif not connect.address and connect.outcome is Outcome.UNREACHABLE:
            yield unjudged(domain, "DNS-PROVSERVER-A", f"{name} does not resolve", evidence,
                           **timing)
        elif not connect.address:
            yield Finding(domain, Status.ERROR, f"{name}: {connect.detail}", evidence,
                          reason="NOT_TRIED", **timing)
        else:
            yield Finding(domain, Status.FAIL, f"{name} ({connect.address}) port {port}: "
                          f"{connect.outcome.value} ({connect.detail})", evidence,
                          reason="PORT_UNREACHABLE", **timing)


# --- HS-HELLO-SENT ---------------------------------------------------------------------


@check(
    id="HS-HELLO-SENT",
    flows=[REMOTE_CONFIG],
    title="Provisioning server takes a PKI hello",
    severity="high",
    needs=[Need.HS_PKI],
    requires=[TCP],
    intrusive=True,
    passes_when=(
        "a PKI hello (version 3, a synthetic UUID, the hashes a device of the site's "
        "generations announces, in the algorithm it uses; one per device profile) is written "
        "in one piece and the connection was accepted; how the server closed (FIN, RST, held "
        "open, bytes sent back) is evidence, not a failure: a device never reads"
    ),
    remediation=(
        "The hello port answers but does not take a hello as a device sends it: check that "
        "the service on it is the provisioning server (not a proxy or another service) and "
        "read its log for the synthetic device UUID shown in the evidence."
    ),
    references=[SDK_HELLO, MESHCENTRAL],
    reasons={NOT_FINISHED: NOT_FINISHED_MEANS,
             "NOT_SENT": "no hello went out though the port answered (the synthetic AMT "
                         "endpoint could not listen, a secret could not be read)",
             "NOT_DELIVERED": "the hello could not be written whole",
             "NO_ATTEMPT": "no hello was planned for the domain (no device profile)"},
)
def hello_sent(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain in site.domain_names:
        attempts = _attempts(obs, domain, HandshakeKind.PKI)
        if isinstance(attempts, Finding):
            yield attempts
            continue
        if not attempts:
            yield Finding(domain, Status.SKIPPED, "no PKI hello was planned",
                          _per_profile(attempts), reason="NO_ATTEMPT")
            continue
        judged: list[Judged] = []
        for attempt in attempts:
            where = f"{attempt.provision_server} ({attempt.address}:{attempt.hello_port})"
            close = attempt.close.value if attempt.close else "?"
            not_sent = _not_sent(obs, attempt)
            if not_sent is not None:
                judged.append(not_sent)
            elif attempt.delivered is Outcome.ANSWER:
                judged.append((Status.PASS, f"{attempt.profile}: {where} took a version 3 "
                               f"hello with {len(attempt.announced)} root hashes (server "
                               f"close: {close})", None))
            else:
                judged.append((Status.FAIL, f"{attempt.profile}: {where}: the hello was not "
                               f"delivered: {attempt.delivered.value} ({attempt.detail})",
                               "NOT_DELIVERED"))
        evidence = _per_profile(attempts)
        for item in evidence["attempts"]:
            item.pop("connect_back", None)
        status = worst([s for s, _, _ in judged])
        shown = [m for s, m, _ in judged if s is status]
        yield _timed(attempts, domain, status, "; ".join(dict.fromkeys(shown)), evidence,
                     _decisive(judged, status), TCP if status is Status.SKIPPED else "")


# --- HS-CONNECT-BACK -------------------------------------------------------------------


def likely_causes(attempt: HandshakeAttempt) -> list[tuple[str, str]]:
    """Why a provisioning server stays silent after a hello, the most likely first: (the
    cause, what to look at)."""
    port = attempt.listen.rpartition(":")[2]
    return [
        (f"no certificate whose root is among the {len(attempt.announced)} announced hashes",
         "the hashes come from amt.generations and amt.custom_root_hashes; a server with no "
         "matching certificate stays silent and sends no error"),
        (f"no certificate for {attempt.domain}",
         "the server holds a provisioning certificate for other domains only"),
        (f"the server cannot reach this host on port {port}",
         f"a firewall between the server and this host, or {attempt.listen} not reachable "
         "from it; the connect-back may come from another address than the hello went to"),
    ]


def _causes(attempt: HandshakeAttempt) -> tuple[str, list[str]]:
    """The likely causes in a sentence and, with what to look at, for the evidence."""
    causes = likely_causes(attempt)
    sentence = "; ".join(f"({n}) {cause}" for n, (cause, _) in enumerate(causes, 1))
    return sentence, [f"{cause}: {hint}" for cause, hint in causes]


def _tls_refused(attempt: HandshakeAttempt, answer: ConnectBack) -> str:
    """Why a TLS handshake a server began failed, as the firmware would see it."""
    speaks = f"{'/'.join(attempt.tls_versions)} with {', '.join(attempt.cipher_suites)}"
    if not answer.offered:
        return f"{answer.detail}; {attempt.profile} devices speak {speaks}"
    offered = answer.offered
    if offered.startswith("TLSv1.3 with") or offered.startswith("SSLv3/TLSv1.3"):
        return (f"the server offered only TLS 1.3 ({offered}); no AMT release speaks TLS 1.3 "
                f"({attempt.profile} devices speak {speaks})")
    return f"the server offered {offered}; {attempt.profile} devices speak {speaks}"


def _connect_back_failure(attempt: HandshakeAttempt, answer: ConnectBack) -> str:
    if answer.outcome is ConnectBackOutcome.NO_CONNECTION:
        return (f"nothing connected back to {attempt.listen} within {attempt.waited_s:g} s of "
                f"the hello to {attempt.address}")
    if answer.outcome is ConnectBackOutcome.TLS_FAILED and attempt.kind is HandshakeKind.PKI:
        return f"{answer.peer} connected back, but TLS failed: {_tls_refused(attempt, answer)}"
    said = {
        ConnectBackOutcome.NOT_TLS: "connected back but did not speak TLS",
        ConnectBackOutcome.TLS_FAILED: "connected back, but the TLS handshake failed",
        ConnectBackOutcome.STALLED: "connected back but did not complete the TLS handshake",
        ConnectBackOutcome.HANDSHAKE: "completed TLS but presented no certificate chain",
    }[answer.outcome]
    return f"{answer.peer} {said}: {answer.detail or answer.chain_problem}"


@check(
    id="HS-CONNECT-BACK",
    flows=[REMOTE_CONFIG],
    title="Provisioning server connects back with mutual TLS, as the firmware speaks it",
    severity="high",
    needs=[Need.HS_PKI],
    requires=[HELLO_SENT],
    intrusive=True,
    passes_when=(
        "within handshake.connect_back_timeout the provisioning server opens mutual TLS to "
        "this host's synthetic AMT endpoint (default port 16993) and presents a client "
        "certificate chain, speaking TLS as the firmware does: for each distinct TLS profile "
        "among the site's generations (AMT ≤ 11: TLS 1.0-1.1; 12-14: TLS 1.1-1.2; ≥ 15: TLS "
        "1.2 only; never TLS 1.3; their cipher suites; without amt.generations every profile "
        "from AMT 11 on) one hello and one connect-back, each of which must complete. Only a "
        "connect-back from the address the hello went to, or from an address listed in "
        "domains[].provision_server, counts"
    ),
    remediation=(
        "Give the provisioning server a provisioning certificate for this domain whose root "
        "is active in the devices (see the announced hashes), let it reach the AMT VLAN on "
        "TCP 16993, and let its TLS client speak what the devices speak: TLS 1.0/1.1 for "
        "AMT 11 and earlier, TLS 1.2 for AMT 12 and later, RSA key exchange, never TLS 1.3 "
        "only (a server that offers only TLS 1.3 provisions no AMT device)."
    ),
    references=[SDK_FLOW, MESHCENTRAL, "Intel AMT SDK, TLS: Detailed Description"],
    reasons={NOT_FINISHED: NOT_FINISHED_MEANS,
             "NO_CONNECT_BACK": "nothing connected back within connect_back_timeout",
             "NOT_TLS": "a connection back that did not speak TLS",
             "TLS_FAILED": "the TLS handshake failed (no common version or suite, no client "
                           "certificate)",
             "TLS_STALLED": "a connection back whose TLS handshake did not finish",
             "NO_CHAIN": "TLS completed, but the server presented no certificate chain"},
)
def connect_back(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain in site.domain_names:
        attempts = _attempts(obs, domain, HandshakeKind.PKI)
        if isinstance(attempts, Finding):
            yield attempts
            continue
        evidence = _per_profile(attempts)
        judged: list[Judged] = []
        for attempt, item in zip(attempts, evidence["attempts"], strict=True):
            answer = attempt.connect_back
            if answer is None:
                judged.append((Status.SKIPPED, f"{attempt.profile}: the hello was not "
                               "delivered", None))
            elif answer.outcome is ConnectBackOutcome.HANDSHAKE and answer.chain_length:
                assert answer.after_ms is not None  # set with every handshake
                judged.append((Status.PASS, f"{attempt.profile}: {answer.peer} connected back "
                               f"{_duration(answer.after_ms)} after the hello: "
                               f"{answer.protocol} {answer.cipher}, {answer.chain_length} "
                               "certificates presented", None))
            elif answer.outcome is ConnectBackOutcome.NO_CONNECTION:
                sentence, item["likely_causes"] = _causes(attempt)
                judged.append((Status.FAIL, f"{attempt.profile}: "
                               f"{_connect_back_failure(attempt, answer)}. Likely causes, the "
                               f"likeliest first: {sentence}",
                               CONNECT_BACK_REASONS[answer.outcome]))
            else:
                judged.append((Status.FAIL, f"{attempt.profile}: "
                               f"{_connect_back_failure(attempt, answer)}",
                               CONNECT_BACK_REASONS[answer.outcome]))
        status = worst([s for s, _, _ in judged])
        if status is Status.FAIL and any(s is Status.PASS for s, _, _ in judged):
            shown = [m for s, m, _ in judged if s is not Status.SKIPPED]
        else:
            shown = [m for s, m, _ in judged if s is status]
        yield _timed(attempts, domain, status, "; ".join(shown) or "no PKI hello was planned",
                     evidence, _decisive(judged, status),
                     HELLO_SENT if status is Status.SKIPPED else "")


# --- HS-PRESENTED-CHAIN ----------------------------------------------------------------


def judge_presented(chain: ChainUnderTest) -> list[tuple[CheckSpec, Finding]]:
    """Every CERT-* rule but CERT-LOADABLE (a file's property: in a connect-back the TLS
    handshake itself proves the server holds the leaf's key) on a presented chain, whose
    root the hashes its hello announced decide (what the firmware trusts in that exchange)."""
    return [(spec, judge_chain(chain, rule)) for spec, rule in cert.CHAIN_RULES]


def _rule_evidence(spec: CheckSpec, finding: Finding) -> dict[str, Any]:
    said = {"check": spec.id, "status": finding.status.value, "message": finding.message,
            "severity": (finding.severity or spec.severity).value}
    return said if finding.reason is None else {**said, "reason": finding.reason}


@check(
    id="HS-PRESENTED-CHAIN",
    flows=[REMOTE_CONFIG],
    title="Chain presented in the connect-back passes every certificate rule",
    severity="critical",
    needs=[Need.HS_PKI, Need.DHCP_SURVEY],
    requires=[CONNECT_BACK],
    intrusive=True,
    passes_when=(
        "the chain presented in that handshake passes every CERT-* rule, judged against the "
        "hash list announced in the hello and the domain seen in option 15"
    ),
    remediation=(
        "Install on the provisioning server the provisioning certificate that passes the "
        "CERT-* checks (the configured file), with its whole chain; the failing rules in the "
        "evidence say what is wrong with the one it presents."
    ),
    references=[SDK_FLOW, cert.SDK_VERIFY],
    reasons={"RULE_FAILS": "a CERT-* rule fails on a presented chain (evidence.profiles[]"
                           ".rules names it and its own reason)",
             "RULE_ERRS": "a CERT-* rule could not judge a presented chain"},
)
def presented_chain(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain in site.domain_names:
        attempts = obs.handshakes(domain, HandshakeKind.PKI) or ()
        presented = [(a, a.connect_back) for a in attempts
                     if a.connect_back is not None and a.connect_back.chain]
        if not presented:
            yield unjudged(domain, CONNECT_BACK, "no chain was presented")
            continue
        profiles, failed, errors = [], [], []
        for attempt, answer in presented:
            assert answer is not None  # filtered above
            judged = judge_presented(presented_chain_under_test(site, obs, attempt, answer))
            rules = [_rule_evidence(spec, f) for spec, f in judged]
            profiles.append({
                "profile": attempt.profile,
                "peer": answer.peer,
                "presented_chain": [c.to_evidence() for c in answer.chain],
                "chain_length": answer.chain_length,
                "rules": rules,
                "announced_hashes": [h.to_evidence() for h in attempt.announced],
            })
            leaf = answer.chain[0].label
            failed += [f"{attempt.profile}: {answer.peer} presented {leaf}: {r['check']}: "
                       f"{r['message']}" for r in rules if r["status"] == Status.FAIL.value]
            errors += [f"{attempt.profile}: {r['check']}: {r['message']}"
                       for r in rules if r["status"] == Status.ERROR.value]
        evidence: dict[str, Any] = {
            "profiles": profiles,
            "not_judged": {LOADABLE: "a file's property: the handshake proved the "
                                          "server holds the leaf's private key"},
        }
        timed = tuple(a for a, _ in presented)
        if failed:
            yield _timed(timed, domain, Status.FAIL, f"{len(failed)} rules fail on the "
                         f"presented chains: {'; '.join(failed)}", evidence, "RULE_FAILS")
        elif errors:
            yield _timed(timed, domain, Status.ERROR, f"rules could not judge the chain: "
                         f"{'; '.join(errors)}", evidence, "RULE_ERRS")
        else:
            said = "; ".join(f"{a.profile}: {c.chain[0].label} ({c.chain_length} certificates)"
                             for a, c in presented if c is not None)
            yield _timed(timed, domain, Status.PASS, f"every rule passes on the chain "
                         f"presented to each profile: {said}", evidence)


# --- HS-TLS-PSK ------------------------------------------------------------------------


@check(
    id="HS-TLS-PSK",
    flows=[REMOTE_CONFIG],
    title="Legacy one-touch TLS-PSK setup works",
    severity="medium",
    needs=[Need.HS_PSK],
    requires=[TCP],
    intrusive=True,
    passes_when=(
        "where handshake.psk is configured (legacy one-touch, AMT before 11): a version-2 "
        "hello carrying the PID makes the provisioning server connect back, and the TLS-PSK "
        "handshake with that PID/PPS succeeds at the synthetic AMT endpoint"
    ),
    remediation=(
        "Load the PID/PPS pair into the provisioning server's PSK database (and enable "
        "TLS-PSK setup there), or move the devices to remote configuration with a "
        "provisioning certificate: AMT 11 and later have no TLS-PSK."
    ),
    references=[SDK_PSK, SDK_HELLO],
    reasons={NOT_FINISHED: NOT_FINISHED_MEANS,
             "NO_PSK_GENERATION": "no AMT generation of the site has TLS-PSK (none up to 10)",
             "NO_ATTEMPT": "no PSK hello was planned for the domain",
             "PORT_UNREACHABLE": "the hello port is not reachable",
             "NOT_SENT": "no hello went out (the PID or PPS could not be read, the synthetic "
                         "AMT endpoint could not listen)",
             "NOT_DELIVERED": "the version 2 hello could not be written whole",
             "NO_CONNECT_BACK": "nothing connected back: the server does not know the PID, "
                                "or does no TLS-PSK setup",
             "WRONG_IDENTITY": "the server offered another PSK identity than the PID",
             "TLS_FAILED": "the TLS-PSK handshake failed (a wrong PPS, no common suite)",
             "NOT_TLS": "a connection back that did not speak TLS",
             "TLS_STALLED": "a connection back whose TLS handshake did not finish"},
)
def tls_psk(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    legacy = any(p.psk for p in firmware.profiles(site.amt.generations))
    for domain_config in site.domains:
        domain = domain_config.name
        if site.handshake.psk is None:
            yield not_configured("handshake.psk is not configured (legacy one-touch setup, "
                                 "AMT 10 and earlier)", domain)
            continue
        if not legacy:
            yield Finding(domain, Status.SKIPPED, "not applicable: no AMT generation of the "
                          "site has TLS-PSK (amt.generations holds none up to 10)",
                          reason="NO_PSK_GENERATION")
            continue
        if not domain_config.provision_server:
            yield not_configured(f"no provision_server configured for {domain}: the PSK "
                                 "hello carries the PID and goes only to configured addresses",
                                 domain)
            continue
        attempts = _attempts(obs, domain, HandshakeKind.PSK)
        if isinstance(attempts, Finding):
            yield attempts
            continue
        if not attempts:
            yield Finding(domain, Status.SKIPPED, "no PSK hello was planned",
                          _per_profile(attempts), reason="NO_ATTEMPT")
            continue
        evidence = _per_profile(attempts)
        judged = [_psk_judged(obs, attempt, item)
                  for attempt, item in zip(attempts, evidence["attempts"], strict=True)]
        status = worst([s for s, _, _ in judged])
        yield _timed(attempts, domain, status,
                     "; ".join(m for s, m, _ in judged if s is status), evidence,
                     _decisive(judged, status))


def _psk_judged(obs: SiteView, attempt: HandshakeAttempt, item: dict[str, Any]) -> Judged:
    answer = attempt.connect_back
    where = attempt.address or attempt.provision_server
    not_sent = _not_sent(obs, attempt)
    if not_sent is not None:
        if not_sent[0] is Status.SKIPPED:
            return Status.FAIL, f"{where}: port not reachable", "PORT_UNREACHABLE"
        return not_sent[0], f"{where}: {not_sent[1]}", not_sent[2]
    if answer is None:
        return Status.FAIL, (f"{where}: the version 2 hello was not delivered: "
                             f"{attempt.delivered.value} ({attempt.detail})"), "NOT_DELIVERED"
    if answer.outcome is ConnectBackOutcome.HANDSHAKE:
        assert answer.after_ms is not None  # set with every handshake
        return Status.PASS, (f"{answer.peer} connected back {_duration(answer.after_ms)} "
                             f"after the hello; TLS-PSK handshake ({answer.protocol}, "
                             f"{answer.cipher}) with the configured PID/PPS"), None
    message = f"{where}: {_connect_back_failure(attempt, answer)}"
    reason = CONNECT_BACK_REASONS[answer.outcome]
    if answer.outcome is ConnectBackOutcome.NO_CONNECTION:
        item["likely_causes"] = [
            "the server does not know this PID (its PSK database lacks the pair)",
            "the server does no TLS-PSK setup (removed from AMT 11 on, and from some servers)",
            _causes(attempt)[1][2],
        ]
    elif answer.psk_identity_matched is False:
        message += ": the server offered another identity than the PID"
        reason = "WRONG_IDENTITY"
    elif answer.outcome is ConnectBackOutcome.TLS_FAILED:
        message += (" (a wrong PPS for the PID, or no common PSK cipher suite: the devices "
                    "speak TLS 1.0 PSK suites)")
        if answer.offered:
            message += f"; the server offered {answer.offered}"
    return Status.FAIL, message, reason


CHECKS: tuple[CheckSpec, ...] = (
    provserver_tcp,
    hello_sent,
    connect_back,
    presented_chain,
    tls_psk,
)
