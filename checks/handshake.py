"""Handshake checks: the provisioning server takes a hello, connects back to a synthetic AMT
endpoint, and presents a chain an AMT device would accept (or completes TLS-PSK).

The chain presented in the connect-back is judged by the CERT-* rules of checks/cert.py, the
same functions that judge the configured certificate files, and against the hash list the
hello announced (the list the firmware would match its root against).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from amt_preflight.catalogue import CheckSpec, Need, check
from amt_preflight.config import CertificateRef, SiteConfig
from amt_preflight.model import Finding, Status
from amt_preflight.observations import (
    AnnouncedHash,
    CertificateBundle,
    ConnectBack,
    ConnectBackOutcome,
    HandshakeAttempt,
    HandshakeKind,
    HelloClose,
    LoadOutcome,
    Observations,
    Outcome,
    SiteView,
    provision_server_name,
)

from . import cert

SDK_HELLO = "Intel AMT SDK: setup mode hello messages"
SDK_FLOW = "Intel AMT SDK: remote setup and configuration flow (TLS-PKI)"
SDK_PSK = "Intel AMT SDK: overview of PSK/PKI/automatic configuration flow"
MESHCENTRAL = "MeshCentral amtprovisioningserver.js: hello parsing and connect-back"
TCP = "HS-PROVSERVER-TCP"
HELLO_SENT = "HS-HELLO-SENT"
CONNECT_BACK = "HS-CONNECT-BACK"
# CERT-LOADABLE is about a file and its private key; in a connect-back the TLS handshake
# itself proves the server holds the leaf's key.
NOT_FOR_PRESENTED = frozenset({cert.LOADABLE})


def _timed(attempt: HandshakeAttempt, target: str, status: Status, message: str,
           evidence: dict[str, Any]) -> Finding:
    return Finding(target, status, message, evidence,
                   started_at=datetime.fromtimestamp(attempt.started_at, UTC),
                   duration_ms=round(attempt.elapsed_ms))


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _attempted(obs: SiteView, domain: str, kind: HandshakeKind) -> HandshakeAttempt | Finding:
    """The attempt that sent a hello to this domain's server, or why none was sent."""
    attempt = obs.handshake(domain, kind)
    if attempt is None:
        return Finding(domain, Status.ERROR, f"the {kind.value.upper()} hello did not finish "
                       "before the run's deadline")
    if attempt.delivered is not Outcome.NOT_OBSERVED:
        return attempt
    port = obs.tcp(attempt.provision_server, attempt.hello_port).outcome
    if port is not Outcome.NOT_OBSERVED and not port.answered:
        return Finding(domain, Status.SKIPPED, f"no hello sent: {attempt.provision_server} port "
                       f"{attempt.hello_port} is not reachable: {TCP} says why",
                       evidence={"prerequisite": TCP})
    return _timed(attempt, domain, Status.ERROR, attempt.error or "no hello was sent",
                  attempt.to_evidence())


# --- HS-PROVSERVER-TCP -----------------------------------------------------------------


@check(
    id=TCP,
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
)
def provserver_tcp(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    port = site.handshake.hello_port
    for domain in site.domain_names:
        name = provision_server_name(domain)
        connect = obs.tcp(name, port)
        evidence = {"provision_server": name, **connect.to_evidence()}
        if connect.outcome.answered:
            status, message = Status.PASS, f"{name} ({connect.address}) accepts TCP on port {port}"
        elif not connect.address and connect.outcome is Outcome.UNREACHABLE:
            status, message = Status.SKIPPED, f"{name} does not resolve: DNS-PROVSERVER-A says why"
            evidence["prerequisite"] = "DNS-PROVSERVER-A"
        elif not connect.address:
            status, message = Status.ERROR, f"{name}: {connect.detail}"
        else:
            status, message = Status.FAIL, (f"{name} ({connect.address}) port {port}: "
                                            f"{connect.outcome.value} ({connect.detail})")
        yield Finding(domain, status, message, evidence,
                      started_at=datetime.fromtimestamp(connect.started_at, UTC)
                      if connect.started_at else None,
                      duration_ms=round(connect.elapsed_ms) if connect.started_at else None)


# --- HS-HELLO-SENT ---------------------------------------------------------------------


@check(
    id=HELLO_SENT,
    title="Provisioning server takes a PKI hello",
    severity="high",
    needs=[Need.HS_PKI],
    requires=[TCP],
    intrusive=True,
    passes_when=(
        "a PKI hello (version 3, a synthetic UUID, the site's active root hashes) is "
        "delivered and the server closes cleanly"
    ),
    remediation=(
        "The hello port answers but does not take a hello as a device sends it: check that "
        "the service on it is the provisioning server (not a proxy or another service) and "
        "read its log for the synthetic device UUID shown in the evidence."
    ),
    references=[SDK_HELLO, MESHCENTRAL],
)
def hello_sent(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain in site.domain_names:
        attempt = _attempted(obs, domain, HandshakeKind.PKI)
        if isinstance(attempt, Finding):
            yield attempt
            continue
        evidence = {k: v for k, v in attempt.to_evidence().items() if k != "connect_back"}
        where = f"{attempt.provision_server} ({attempt.address}:{attempt.hello_port})"
        hashes = len(attempt.announced)
        if attempt.delivered is Outcome.ANSWER and attempt.close is HelloClose.CLEAN:
            yield _timed(attempt, domain, Status.PASS, f"{where} took a version 3 hello with "
                         f"{hashes} root hashes and closed cleanly", evidence)
        elif attempt.delivered is Outcome.ANSWER:
            yield _timed(attempt, domain, Status.FAIL, f"{where}: the hello was written, but "
                         f"{attempt.detail}", evidence)
        else:
            yield _timed(attempt, domain, Status.FAIL, f"{where}: the hello was not delivered: "
                         f"{attempt.delivered.value} ({attempt.detail})", evidence)


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


def _connect_back_failure(attempt: HandshakeAttempt, answer: ConnectBack) -> str:
    if answer.outcome is ConnectBackOutcome.NO_CONNECTION:
        return (f"nothing connected back to {attempt.listen} within {attempt.waited_s:g} s of "
                f"the hello to {attempt.address}")
    said = {
        ConnectBackOutcome.NOT_TLS: "connected back but did not speak TLS",
        ConnectBackOutcome.TLS_FAILED: "connected back, but the TLS handshake failed",
        ConnectBackOutcome.STALLED: "connected back but did not complete the TLS handshake",
        ConnectBackOutcome.HANDSHAKE: "completed TLS but presented no certificate chain",
    }[answer.outcome]
    return f"{answer.peer} {said}: {answer.detail or answer.chain_problem}"


@check(
    id=CONNECT_BACK,
    title="Provisioning server connects back with mutual TLS",
    severity="high",
    needs=[Need.HS_PKI],
    requires=[HELLO_SENT],
    intrusive=True,
    passes_when=(
        "within handshake.connect_back_timeout the provisioning server opens mutual TLS to "
        "this host's synthetic AMT endpoint (default port 16993) and presents a client "
        "certificate chain; the time from hello to handshake is reported"
    ),
    remediation=(
        "Give the provisioning server a provisioning certificate for this domain whose root "
        "is active in the devices (see the announced hashes), and let it reach the AMT "
        "VLAN on TCP 16993."
    ),
    references=[SDK_FLOW, MESHCENTRAL],
)
def connect_back(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain in site.domain_names:
        attempt = _attempted(obs, domain, HandshakeKind.PKI)
        if isinstance(attempt, Finding):
            yield attempt
            continue
        answer = attempt.connect_back
        evidence = attempt.to_evidence()
        if answer is None:
            yield _timed(attempt, domain, Status.SKIPPED, f"the hello was not delivered: "
                         f"{HELLO_SENT} says why", {"prerequisite": HELLO_SENT, **evidence})
        elif answer.outcome is ConnectBackOutcome.HANDSHAKE and answer.chain_length:
            assert answer.after_ms is not None  # set with every handshake
            yield _timed(attempt, domain, Status.PASS, f"{answer.peer} connected back "
                         f"{_duration(answer.after_ms)} after the hello: {answer.protocol}, "
                         f"{answer.chain_length} certificates presented", evidence)
        else:
            if answer.outcome is ConnectBackOutcome.NO_CONNECTION:
                sentence, evidence["likely_causes"] = _causes(attempt)
                message = (f"{_connect_back_failure(attempt, answer)}. Likely causes, the "
                           f"likeliest first: {sentence}")
            else:
                message = _connect_back_failure(attempt, answer)
            yield _timed(attempt, domain, Status.FAIL, message, evidence)


# --- HS-PRESENTED-CHAIN ----------------------------------------------------------------


def presented_bundle(attempt: HandshakeAttempt, answer: ConnectBack) -> CertificateBundle:
    """The chain presented in a connect-back, as the CERT-* rules read a certificate file."""
    return CertificateBundle(
        attempt.domain, f"chain presented by {answer.peer} in the connect-back",
        LoadOutcome.LOADED, answer.chain_problem, "TLS", answer.chain, 0,
        read_at=attempt.started_at + attempt.elapsed_ms / 1000)


def judge_presented(site: SiteConfig, obs: SiteView, bundle: CertificateBundle,
                    announced: tuple[AnnouncedHash, ...]) -> list[tuple[CheckSpec, Finding]]:
    """Every CERT-* rule (but CERT-LOADABLE) on the presented chain: each check runs on a view
    of the site that holds this chain as the domain's certificate, the option 15 seen, and the
    root hashes the hello announced (what the firmware trusts in that exchange)."""
    presented = Observations()
    presented.certificates[(obs.site, bundle.domain)] = bundle
    if obs.option15 is not None:
        presented.option15[obs.site] = obs.option15
    view = replace(presented.site(obs.site, obs.now, obs.checks), announced_roots=announced)
    domain = next(d for d in site.domains if d.name == bundle.domain)
    narrowed = site.model_copy(update={"domains": [domain.model_copy(
        update={"certificate": CertificateRef(file=Path(bundle.source))})]})
    judged = []
    for spec in cert.CHECKS:
        if spec.id in NOT_FOR_PRESENTED:
            continue
        for finding in spec.function(narrowed, view):
            judged.append((spec, finding))
    return judged


@check(
    id="HS-PRESENTED-CHAIN",
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
)
def presented_chain(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain in site.domain_names:
        attempt = obs.handshake(domain, HandshakeKind.PKI)
        answer = attempt.connect_back if attempt is not None else None
        if attempt is None or answer is None or not answer.chain:
            yield Finding(domain, Status.SKIPPED, f"no chain was presented: {CONNECT_BACK} "
                          "says why", {"prerequisite": CONNECT_BACK})
            continue
        judged = judge_presented(site, obs, presented_bundle(attempt, answer), attempt.announced)
        rules = [{"check": spec.id, "status": f.status.value, "message": f.message,
                  "severity": (f.severity or spec.severity).value} for spec, f in judged]
        evidence: dict[str, Any] = {
            "peer": answer.peer,
            "presented_chain": [c.to_evidence() for c in answer.chain],
            "chain_length": answer.chain_length,
            "rules": rules,
            "not_judged": {cert.LOADABLE: "a file's property: the handshake proved the "
                                          "server holds the leaf's private key"},
            "announced_hashes": [h.to_evidence() for h in attempt.announced],
            "timeline": [e.to_evidence() for e in attempt.timeline],
        }
        failed = [r for r in rules if r["status"] == Status.FAIL.value]
        errors = [r for r in rules if r["status"] == Status.ERROR.value]
        leaf = answer.chain[0].label
        if failed:
            said = "; ".join(f"{r['check']}: {r['message']}" for r in failed)
            yield _timed(attempt, domain, Status.FAIL, f"{answer.peer} presented {leaf}, which "
                         f"fails {len(failed)} rules: {said}", evidence)
        elif errors:
            said = "; ".join(f"{r['check']}: {r['message']}" for r in errors)
            yield _timed(attempt, domain, Status.ERROR, f"rules could not judge the chain: "
                         f"{said}", evidence)
        else:
            yield _timed(attempt, domain, Status.PASS, f"{answer.peer} presented {leaf} "
                         f"({answer.chain_length} certificates): every rule passes", evidence)


# --- HS-TLS-PSK ------------------------------------------------------------------------


@check(
    id="HS-TLS-PSK",
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
)
def tls_psk(site: SiteConfig, obs: SiteView) -> Iterator[Finding]:
    for domain in site.domain_names:
        if site.handshake.psk is None:
            yield Finding(domain, Status.SKIPPED, "handshake.psk is not configured (legacy "
                          "one-touch setup, AMT before 11)")
            continue
        attempt = _attempted(obs, domain, HandshakeKind.PSK)
        if isinstance(attempt, Finding):
            yield attempt
            continue
        answer = attempt.connect_back
        evidence = attempt.to_evidence()
        where = f"{attempt.provision_server} ({attempt.address})"
        if answer is None:
            yield _timed(attempt, domain, Status.FAIL, f"{where}: the version 2 hello was not "
                         f"delivered: {attempt.delivered.value} ({attempt.detail})", evidence)
        elif answer.outcome is ConnectBackOutcome.HANDSHAKE:
            assert answer.after_ms is not None  # set with every handshake
            yield _timed(attempt, domain, Status.PASS, f"{answer.peer} connected back "
                         f"{_duration(answer.after_ms)} after the hello; TLS-PSK handshake "
                         f"({answer.protocol}, {answer.cipher}) with the configured PID/PPS",
                         evidence)
        elif answer.outcome is ConnectBackOutcome.NO_CONNECTION:
            evidence["likely_causes"] = [
                "the server does not know this PID (its PSK database lacks the pair)",
                "the server does no TLS-PSK setup (removed from AMT 11 on, and from some "
                "servers)",
                _causes(attempt)[1][2],
            ]
            yield _timed(attempt, domain, Status.FAIL,
                         f"{_connect_back_failure(attempt, answer)}", evidence)
        else:
            message = _connect_back_failure(attempt, answer)
            if answer.psk_identity_matched is False:
                message += ": the server offered another identity than the PID"
            elif answer.outcome is ConnectBackOutcome.TLS_FAILED:
                message += " (a wrong PPS for the PID, or no common PSK cipher suite)"
            yield _timed(attempt, domain, Status.FAIL, message, evidence)


CHECKS: tuple[CheckSpec, ...] = (
    provserver_tcp,
    hello_sent,
    connect_back,
    presented_chain,
    tls_psk,
)
