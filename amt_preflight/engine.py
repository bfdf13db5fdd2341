"""Plan, gather, evaluate: which probes the selected checks need, running them with
bounded concurrency under one deadline, then judging the observations.

Data flows one way: probes fill Observations, checks (pure) turn them into Findings,
and this module dresses Findings as Results with metadata, severity, waivers and verdicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import secrets
import socket
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amt_preflight import checks
from amt_preflight.catalogue import (
    ANY_TARGET,
    CHECK_CRASHED,
    INTERRUPTED,
    NO_TARGET_HERE,
    NOT_ALLOWED,
    NOT_APPLICABLE,
    PREREQUISITE,
    PROBE_CRASHED,
    REMOTE_CONFIG,
    CheckSpec,
    Need,
)
from amt_preflight.config import Config, SiteConfig, WaiverConfig
from amt_preflight.interruption import Interruption, run_loop
from amt_preflight.model import (
    NO_TARGET,
    Finding,
    Leftover,
    NotRun,
    NotRunReason,
    Result,
    RunInfo,
    RunResult,
    Selection,
    SiteSummary,
    Status,
    Waiver,
    fingerprint,
    site_verdict,
    status_counts,
)
from amt_preflight.observations import Observations, SiteView
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.probes.observer import ProbeObserver
from amt_preflight.probes.undo import CLEANUP_S

if TYPE_CHECKING:
    from amt_preflight.probes import Gatherer, ProbeKit, SiteProbes


class UsageError(Exception):
    """The command line asks for something that does not exist (exit 64)."""


@dataclass(frozen=True)
class RunOptions:
    sites: Sequence[str] = ()
    checks: Sequence[str] = ()  # IDs or globs; empty: all enabled checks
    allow_intrusive: bool = False  # --allow-intrusive; config may also allow it
    observer: ProbeObserver = field(default_factory=ProbeObserver)
    resolv_conf: Path = Path("/etc/resolv.conf")
    # SIGTERM / SIGINT: the CLI's, noted from before the run until its last file is written
    interruption: Interruption | None = None
    # The gatherers and the DHCP probe the run uses; None: the real ones (probes.default_kit)
    probes: ProbeKit | None = None


def select_checks(config: Config, patterns: Sequence[str]) -> list[CheckSpec]:
    """The catalogue minus checks.disable, narrowed to --check patterns (case-insensitive).
    Only the areas of the checks chosen are imported."""
    enabled = [
        check_id for check_id in checks.IDS
        if not any(fnmatch.fnmatchcase(check_id, p.upper()) for p in config.checks.disable)
    ]
    if not patterns:
        return checks.specs(enabled)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(check_id, pattern.upper()) for check_id in checks.IDS):
            raise UsageError(f"--check {pattern}: no check has that ID "
                             "(`amt-preflight checks` lists them)")
    chosen = [c for c in enabled if any(fnmatch.fnmatchcase(c, p.upper()) for p in patterns)]
    if not chosen:
        raise UsageError("every check selected by --check is disabled in checks.disable")
    return checks.specs(chosen)


def select_sites(config: Config, names: Sequence[str]) -> list[SiteConfig]:
    known = {site.name for site in config.sites}
    for name in names:
        if name not in known:
            raise UsageError(f"--site {name}: no such site in {config.source} "
                             f"(sites: {', '.join(sorted(known))})")
    return [site for site in config.sites if not names or site.name in names]


# --- gathering ------------------------------------------------------------------------


@dataclass
class Gathered:
    observations: Observations
    # A gatherer that raised: (site, need) -> the exception, shown as the checks' error
    crashes: dict[tuple[str, Need], str] = field(default_factory=dict)
    planned: set[tuple[str, Need]] = field(default_factory=set)  # every (site, need) to gather
    finished: set[tuple[str, Need]] = field(default_factory=set)  # those that ran to their end
    # The signal that stopped the gathering ("SIGTERM"), and what it left unfinished
    interrupted_by: str | None = None
    interrupted: set[tuple[str, Need]] = field(default_factory=set)
    # What intrusive probes changed and could not undo before the run ended
    leftovers: list[Leftover] = field(default_factory=list)


# Once the deadline or a signal stops the gathering, the gatherers get this long to undo what
# they changed (each clean-up is bounded by CLEANUP_S) and record how far they came.
STOP_GRACE_S = CLEANUP_S + 0.5
# How long, at most, the other gatherers give the longest chains a head start (gather), and
# the loop turns those take to ask for their set-up (an SNMP engine, scapy) before it is seen
HEAD_START_S = 1.0
HEAD_START_TURNS = 5
DEADLINE = "deadline"  # why the gathering stopped, when no signal stopped it


async def gather(
    config: Config, sites: Sequence[SiteConfig], selected: Sequence[CheckSpec],
    options: RunOptions, intrusive: bool,
) -> Gathered:
    """Run, for every site, the gatherers of the selected checks' needs, all at once, until
    they end or the run is stopped: by its deadline, or by SIGTERM / SIGINT."""
    from amt_preflight.probes import (
        HEAD_START,
        RESOLVER_FREE,
        STARTED_FIRST,
        OncePerRun,
        SetUp,
        SiteProbes,
        default_kit,
        start_order,
    )
    from amt_preflight.probes.dns import DnsProbe

    obs = Observations()
    gathered = Gathered(obs)
    dns = DnsProbe(obs, asyncio.Semaphore(config.defaults.concurrency),
                   config.defaults.timeout, config.defaults.retries, options.observer)
    kit = options.probes or default_kit()
    once = OncePerRun()  # run-wide, so no site asks what another already asked
    dhcp = kit.dhcp(options.observer)

    def needs_of(site: SiteConfig) -> list[Need]:
        # Only what applies here: no hello is sent for a host-based site, say
        return sorted({n for spec in selected if (intrusive or not spec.intrusive)
                       and site.amt.flow in spec.flows for n in spec.needs})

    needs = {site.name: needs_of(site) for site in sites}
    # Known before anything starts: a signal may stop the run before a gatherer has begun
    gathered.planned = {(site.name, need) for site in sites for need in needs[site.name]}
    # Every gatherer the run needs, looked up (its area module imported) now, before the
    # first probe and the deadline's clock: an import inside the loop would stall every
    # probe in flight, the spaced hellos among them.
    wanted = {n for site_needs in needs.values() for n in site_needs}
    if wanted - RESOLVER_FREE:
        wanted.add(Need.SITE_RESOLVERS)
    table = _looked_up(kit.gatherers, wanted)
    setup = SetUp()  # importing scapy and pysnmp, one piece at a time, off the event loop
    early = {site.name: SiteProbes(config, site, obs, dns, ResolverSet((), "not known yet"),
                                   intrusive, once, dhcp, options.resolv_conf, setup)
             for site in sites}

    async def site_resolvers(site: SiteConfig) -> ResolverSet:
        await table[Need.SITE_RESOLVERS](early[site.name])
        return obs.resolvers[site.name]

    async def run(site: SiteConfig, need: Need, after: asyncio.Future[None] | None = None
                  ) -> None:
        if after is not None:
            await asyncio.shield(after)
        try:
            ctx = early[site.name]
            if need not in RESOLVER_FREE:  # only what reads the resolvers waits for them
                resolvers = await once.run(("resolvers", site.name),
                                           partial(site_resolvers, site))
                ctx = replace(ctx, resolvers=resolvers)
            await table[need](ctx)
        except Exception as exc:  # a crashed gatherer is its checks' error, never a hole
            gathered.crashes[(site.name, need)] = _crash_text(exc)
        else:
            gathered.finished.add((site.name, need))

    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[str] = loop.create_future()
    tasks: list[asyncio.Task[None]] = []

    def stop(why: str) -> None:
        """At the deadline or on a signal, at once (not after every gatherer has ended): what
        is in flight is recorded as cut short, the DHCP threads stop waiting, and every
        gatherer is cancelled, which runs its clean-up (a lease released, a record deleted)."""
        if stopped.done() or every_site.done():
            return
        stopped.set_result(why)
        dns.stop_at_deadline("the run's deadline ended it" if why == DEADLINE
                             else f"interrupted ({why})")
        dhcp.stop()
        for task in tasks:
            task.cancel()

    async def head_start() -> None:
        """Python runs one thread at a time: while the longest chains make their way to their
        first packets (the endpoint's key and the hello, scapy and the DISCOVER), the rest
        wait, so their own set-up and first packets do not slow them. Bounded by
        HEAD_START_S."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HEAD_START_S):
                for _ in range(HEAD_START_TURNS):  # the first gatherers ask for their set-up
                    await asyncio.sleep(0)
                await setup.idle()

    interruption = options.interruption or Interruption()
    # The longest chains first (probes.start_order: the hellos, spaced per server, then the
    # DHCP window): a task's first step runs in the order the tasks were made.
    order = sorted(((site, need) for site in sites for need in needs[site.name]),
                   key=lambda planned: start_order(planned[1]))
    first = STARTED_FIRST if wanted & HEAD_START else ()
    started: asyncio.Future[None] | None = None
    if first:
        started = asyncio.ensure_future(head_start())
        tasks.append(started)
    tasks += [asyncio.ensure_future(run(site, need, None if need in first else started))
              for site, need in order]
    every_site: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
    deadline = loop.call_later(config.defaults.deadline, stop, DEADLINE)
    try:
        with interruption.delivered(loop, lambda: stop(interruption.signal or "a signal")):
            await asyncio.wait([every_site, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not every_site.done():  # stopped: the gatherers undo what they changed
                await asyncio.wait({every_site}, timeout=STOP_GRACE_S)
    finally:
        deadline.cancel()
        setup.close()
    if stopped.done() and stopped.result() != DEADLINE:
        gathered.interrupted_by = stopped.result()
        gathered.interrupted = gathered.planned - gathered.finished - set(gathered.crashes)
    dns.cancel_leftovers()
    gathered.leftovers = list(obs.undo.values())
    return gathered


def _looked_up(table: Mapping[Need, Gatherer], needs: Iterable[Need]) -> dict[Need, Gatherer]:
    """The gatherer of each need; one whose module does not import crashes when it runs, so
    it is its checks' error, as any crashed gatherer."""
    found: dict[Need, Gatherer] = {}
    for need in needs:
        try:
            found[need] = table[need]
        except Exception as exc:
            found[need] = _crashing(exc)
    return found


def _crashing(exc: Exception) -> Gatherer:
    async def gatherer(ctx: SiteProbes) -> None:
        raise exc

    return gatherer


def _crash_text(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


# --- evaluating -----------------------------------------------------------------------


@lru_cache(maxsize=1024)  # many findings share one moment (a fleet's devices: one read)
def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _findings(
    spec: CheckSpec, site: SiteConfig, gathered: Gathered, intrusive: bool, view: SiteView,
) -> list[Finding]:
    if site.amt.flow not in spec.flows:
        message = (f"not applicable: amt.flow is {site.amt.flow} (activation by an agent on "
                   "the device: no ProvisionServer lookup, no hello, no connect-back)")
        evidence = {"not_applicable": f"amt.flow: {site.amt.flow}"}
        return [Finding(d, Status.SKIPPED, message, evidence, reason=NOT_APPLICABLE)
                for d in site.domain_names] or [Finding(NO_TARGET, Status.SKIPPED, message,
                                                        evidence, reason=NOT_APPLICABLE)]
    if spec.intrusive and not intrusive:
        return [Finding(NO_TARGET, Status.SKIPPED, "intrusive: runs only with "
                        "--allow-intrusive or defaults.allow_intrusive: true",
                        {"not_allowed": "intrusive"}, reason=NOT_ALLOWED)]
    for need in spec.needs:
        crash = gathered.crashes.get((site.name, need))
        if crash:
            return [Finding(NO_TARGET, Status.ERROR, f"the {need.value} probe crashed: {crash}",
                            reason=PROBE_CRASHED)]
    unfinished = [n.value for n in spec.needs if (site.name, n) in gathered.interrupted]
    try:
        findings = spec.judge(site, view)
    except Exception as exc:  # a crashed check is an error result, never a missing one
        if unfinished:
            findings = []
        else:
            return [Finding(NO_TARGET, Status.ERROR, f"the check crashed: {_crash_text(exc)}",
                            reason=CHECK_CRASHED)]
    if unfinished:
        return _interrupted(findings, gathered.interrupted_by or "a signal", unfinished)
    return findings or [Finding(NO_TARGET, Status.SKIPPED, "no applicable target at this site",
                                reason=NO_TARGET_HERE)]


def _interrupted(findings: Sequence[Finding], signal_name: str, unfinished: Sequence[str]
                 ) -> list[Finding]:
    """CHECKS.md, "Interrupted runs": a check whose probes a signal cut short is an error
    ("interrupted"), for the targets it would have judged (their fingerprints stay those of
    every other run) with what was seen so far as evidence."""
    said = {"interrupted": signal_name, "unfinished": list(unfinished)}
    by_target: dict[str, Finding] = {}
    for finding in findings:
        by_target.setdefault(finding.target, Finding(
            finding.target, Status.ERROR, "interrupted", {**finding.evidence, **said},
            started_at=finding.started_at, duration_ms=finding.duration_ms,
            reason=INTERRUPTED))
    return list(by_target.values()) or [Finding(NO_TARGET, Status.ERROR, "interrupted", said,
                                                reason=INTERRUPTED)]


def _prerequisite_skip(
    spec: CheckSpec, finding: Finding, earlier: dict[str, Prerequisite]
) -> Finding:
    """One root cause shows once: a finding whose prerequisite did not pass for the target it
    rests on (`requires` names it) is skipped, worded here for every check. A finding skipped
    already keeps its own reason (not configured, not applicable) where the prerequisite was
    only skipped too; one a signal cut short stays "interrupted"."""
    if finding.reason == INTERRUPTED:
        return finding
    for required, target_of in spec.requires.items():
        prerequisite = earlier.get(required)
        if prerequisite is None:
            continue  # not selected: the check judged on its own
        target = target_of(finding)
        blocking = prerequisite.blocking(target) if target is not None else []
        if blocking and finding.status is Status.SKIPPED and finding.reason != PREREQUISITE \
                and all(r.status is Status.SKIPPED for r in blocking):
            return finding
        if blocking:
            said = ", ".join(sorted({f"{r.status.value} for {r.target}" for r in blocking}))
            # what the check saw stays (a device's domain, the answers), the cause is added
            return Finding(finding.target, Status.SKIPPED, f"skipped because {required} {said}",
                           {**finding.evidence, "prerequisite": required,
                            "prerequisite_targets": sorted({r.target for r in blocking})},
                           started_at=finding.started_at, duration_ms=finding.duration_ms,
                           reason=PREREQUISITE)
    return finding


class Prerequisite:
    """The results of a check that others require, indexed by target."""

    def __init__(self, results: list[Result]) -> None:
        self.by_target: dict[str, list[Result]] = {}
        for r in results:
            self.by_target.setdefault(r.target, []).append(r)
        # For a finding that rests on the check as a whole (a domain's lookup on the
        # resolvers), it blocks only when it passed for none of its targets.
        self.none_passed = [] if any(r.status is Status.PASS for r in results) else results

    def blocking(self, target: str) -> list[Result]:
        """The results that keep a finding resting on `target` from being judged."""
        if target == ANY_TARGET:
            return self.none_passed
        # A site-wide word (no AD domain configured: target "-") speaks for every target
        same = self.by_target.get(target) or self.by_target.get(NO_TARGET, [])
        return [r for r in same if r.status is not Status.PASS]


def _live_waiver(
    waivers: Iterable[WaiverConfig], check: str, site: str, target: str, today: date
) -> tuple[WaiverConfig | None, WaiverConfig | None]:
    """(the waiver that applies, an expired one that would have applied)."""
    expired = None
    for w in waivers:
        if not fnmatch.fnmatchcase(check, w.check.upper()):
            continue
        if (w.site is not None and w.site != site) or (w.target is not None and w.target != target):
            continue
        if w.expires is not None and w.expires < today:
            expired = w
            continue
        return w, expired
    return None, expired


def _waiver(w: WaiverConfig) -> Waiver:
    return Waiver(w.check, w.reason, w.site, w.target, w.owner,
                  w.expires.isoformat() if w.expires else None)


def evaluate(
    config: Config, sites: Sequence[SiteConfig], selected: Sequence[CheckSpec],
    gathered: Gathered, intrusive: bool, now: datetime,
) -> tuple[list[SiteSummary], list[Result]]:
    today = now.date()
    required_ids = {r for spec in selected for r in spec.requires}
    configured = config.checks.severity
    summaries: list[SiteSummary] = []
    results: list[Result] = []
    # A survey of 1,000 domains makes some 4,000 results: the loop below does per result only
    # what differs between them (what is the same for a check is looked up once per check)
    for site in sites:
        mine: list[Result] = []
        earlier: dict[str, Prerequisite] = {}
        # one view for the site's checks: what it derives once (the resolvers, each answer)
        # every check reads again
        view = gathered.observations.site(site.name, now, config.checks)
        for spec in selected:
            clock = time.monotonic()
            findings = _findings(spec, site, gathered, intrusive, view)
            spent = round((time.monotonic() - clock) * 1000)
            check_id = spec.id
            base = configured.get(check_id, spec.severity)
            may_lower = check_id not in configured
            skips = bool(spec.requires) and bool(earlier)
            references = list(spec.references)
            made = []
            for finding in findings:
                if skips:
                    finding = _prerequisite_skip(spec, finding, earlier)
                severity = base
                # A rule may raise one result's severity; it may lower it only where the
                # config does not set the check's severity itself
                if finding.severity is not None and (finding.severity.rank > base.rank
                                                     or may_lower):
                    severity = finding.severity
                status, evidence, waiver = finding.status, finding.evidence, None
                if status is Status.FAIL:
                    live, expired = _live_waiver(config.waivers, check_id, site.name,
                                                 finding.target, today)
                    if live is not None:
                        status, waiver = Status.WAIVED, _waiver(live)
                    elif expired is not None:
                        evidence = {**evidence, "expired_waiver": _waiver(expired).to_json()}
                made.append(Result(
                    check=check_id, site=site.name, target=finding.target, status=status,
                    severity=severity, title=spec.title, message=finding.message,
                    evidence=evidence, remediation=spec.remediation, references=references,
                    started_at=_iso(finding.started_at or now),
                    duration_ms=finding.duration_ms if finding.duration_ms is not None else spent,
                    fingerprint=fingerprint(check_id, site.name, finding.target), waiver=waiver,
                    reason=finding.reason,
                ))
            if check_id in required_ids:
                earlier[check_id] = Prerequisite(made)
            mine.extend(made)
        results.extend(mine)
        gaps, not_run = coverage(config, site, selected, mine)
        summaries.append(SiteSummary(site.name, site.domain_names, site_verdict(mine, gaps),
                                     status_counts(mine), gaps, not_run))
    return summaries, results


def required_checks(site: SiteConfig) -> tuple[str, ...]:
    """What activation depends on (CHECKS.md, "Coverage gap"): `ready` means these were
    looked at."""
    required = ("CERT-ROOT-TRUSTED", "CERT-DOMAIN-MATCH")
    return required + (("DNS-PROVSERVER-MATCH",) if site.amt.flow == REMOTE_CONFIG else ())


def coverage(config: Config, site: SiteConfig, selected: Sequence[CheckSpec],
             results: Sequence[Result]) -> tuple[tuple[str, ...], tuple[NotRun, ...]]:
    """The site's coverage gaps (required checks that ran but only skipped) and every check
    that judged nothing there, with why: disabled, not selected, not configured, not
    applicable. A check skipped because a prerequisite failed is a consequence, not listed."""
    chosen = {spec.id for spec in selected}
    by_check: dict[str, list[Result]] = {}
    for r in results:
        by_check.setdefault(r.check, []).append(r)
    not_run: list[NotRun] = []
    for check_id in checks.IDS:
        if check_id not in chosen:
            disabled = any(fnmatch.fnmatchcase(check_id, p.upper())
                           for p in config.checks.disable)
            not_run.append(NotRun(check_id, NotRunReason.DISABLED if disabled
                                  else NotRunReason.NOT_SELECTED,
                                  "checks.disable" if disabled else "--check"))
            continue
        own = by_check.get(check_id, [])
        if not own or any(r.status is not Status.SKIPPED for r in own):
            continue
        if any(r.reason == PREREQUISITE for r in own):
            continue
        if any(r.reason == NOT_APPLICABLE for r in own):
            reason = NotRunReason.NOT_APPLICABLE
        elif any(r.reason == NOT_ALLOWED for r in own):
            reason = NotRunReason.NOT_SELECTED
        else:
            reason = NotRunReason.NOT_CONFIGURED
        not_run.append(NotRun(check_id, reason, own[0].message))
    gaps = tuple(c for c in required_checks(site) if c in chosen and by_check.get(c) and all(
        r.status is Status.SKIPPED for r in by_check[c]))
    return gaps, tuple(not_run)


def run(config: Config, options: RunOptions) -> RunResult:
    """A whole survey: select, gather under the deadline, evaluate."""
    sites = select_sites(config, options.sites)
    selected = select_checks(config, options.checks)
    intrusive = options.allow_intrusive or config.defaults.allow_intrusive
    started = datetime.now(UTC)
    gathered = run_loop(gather(config, sites, selected, options, intrusive))
    finished = datetime.now(UTC)
    summaries, results = evaluate(config, sites, selected, gathered, intrusive, finished)
    info = RunInfo(
        id=secrets.token_hex(16), started_at=_iso(started), finished_at=_iso(datetime.now(UTC)),
        host=socket.gethostname(), config=str(config.source),
        interrupted=gathered.interrupted_by,
        selection=Selection.of([site.name for site in sites], [spec.id for spec in selected],
                               intrusive),
    )
    return RunResult(info, summaries, results, tuple(gathered.leftovers))
