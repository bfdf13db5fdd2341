"""The HTML report: one self-contained file to mail to a change board.

It leads with what a board decides on (each site's verdict, a sites-by-areas readiness matrix,
what changed since the previous run), then who must fix what (findings grouped by the team
that owns them, with remediation and evidence), the waivers, and every result.

Every value is autoescaped; the one <style> and the one <script> are allowed by their
SHA-256 in a Content-Security-Policy that permits nothing else, so the file loads nothing
remote and runs nothing a hostile certificate or DHCP answer could inject.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from amt_preflight.diff import diff
from amt_preflight.model import (
    TOOL_NAME,
    TOOL_VERSION,
    Result,
    RunInfo,
    RunResult,
    Severity,
    SiteSummary,
    Status,
    Verdict,
    status_counts,
)

from . import COVERAGE_GAP, VERDICT_MEANINGS, visible
from .change_plan import by_site, plan

TEMPLATE = "report.html.j2"

# Columns of the readiness matrix: check ID prefix -> heading, in the order of CHECKS.md.
AREAS: Mapping[str, str] = {
    "DHCP": "DHCP",
    "DNS": "DNS",
    "AD": "AD",
    "CERT": "Certificates",
    "CA": "CA",
    "HS": "Handshake",
    "DEV": "Devices",
    "SNMP": "SNMP",
}
# Who fixes a finding, by check ID prefix; a prefix not listed goes to OTHER_TEAM.
TEAMS: Mapping[str, Sequence[str]] = {
    "Network": ("DHCP", "SNMP"),
    "DNS": ("DNS",),
    "PKI": ("CERT", "CA"),
    "AD": ("AD",),
    "Provisioning server": ("HS",),
    "Endpoint": ("DEV",),  # the devices themselves: MEBx, unprovisioning, their suffix
}
OTHER_TEAM = "Other"
TEAM_OF_AREA = {area: team for team, areas in TEAMS.items() for area in areas}
# Up to this many sites the matrix is one table; beyond, it is one foldable table per verdict,
# open only for the verdicts in MATRIX_OPEN (a printout shows them all).
MATRIX_ONE_TABLE = 20
MATRIX_OPEN = frozenset({Verdict.NOT_READY, Verdict.UNKNOWN})
# Findings of one check shown before the rest fold away.
FINDINGS_SHOWN = 5
# A list of changes longer than this starts folded.
CHANGES_SHOWN = 50
# Devices of one reason listed before the rest fold away (the Devices section).
DEVICES_SHOWN = 10
# The Devices section: what each reason tag of the DEV-* checks' evidence means, in the
# order its groups are shown (by how many devices, then in this order).
DEVICE_REASONS: Mapping[str, str] = {
    "root-not-listed": "the certificate's root is not among the device's hashes",
    "root-inactive": "the root's hash is on the device but not active",
    "suffix-empty": "no DNS suffix: dnsSuffix and dnsSuffixOS both empty",
    "suffix-mismatch": "the DNS suffix does not match the certificate",
    "suffix-one-label": "a DNS suffix of one label matches no certificate",
    "client-control-mode": "in client control mode: unprovision it first",
    "unknown-control-mode": "a control mode rpc-go does not report",
    "no-certificate": "no certificate that loaded to judge it against",
    "no-root": "the certificate file has no root to compare",
    "unreadable-file": "the device file cannot be read as a device report",
    "no-file-matched": "an amt.devices pattern matches no file",
    "not-read": "the device files were not read before the run ended",
}
# A device will activate when each of its DEV-* results is one of these.
DEVICE_READY = frozenset({(Status.PASS, "root-active"), (Status.PASS, "suffix-match"),
                          (Status.PASS, "pre-provisioning"),
                          (Status.SKIPPED, "admin-control-mode")})
# Up to this many results a printout lists every one; beyond, it leaves the passing ones out
# (the file keeps them): Chromium cannot print 45,000 rows, and no board would read them.
PRINTED_PASSES_MAX = 2_000


@dataclass(frozen=True)
class FailureGroup:
    """The failures of one check across sites and targets: its fix is written once."""

    check: str
    title: str
    severity: Severity  # the worst among its results
    remediation: str
    references: Sequence[str]
    results: Sequence[Result]


@dataclass(frozen=True)
class TeamFindings:
    """The failing checks one team has to fix."""

    team: str
    areas: Sequence[str]
    groups: Sequence[FailureGroup]  # the most severe check first

    @property
    def anchor(self) -> str:
        return "team-" + "-".join(self.team.lower().split())

    @property
    def severity(self) -> Severity:
        return self.groups[0].severity

    @property
    def findings(self) -> int:
        return sum(len(g.results) for g in self.groups)

    @property
    def sites(self) -> int:
        return len({r.site for g in self.groups for r in g.results})


@dataclass(frozen=True)
class SiteRow:
    """One row of the readiness matrix."""

    site: SiteSummary
    cells: Sequence[Status | None]  # per area of `areas`, None when no check of it ran
    failing: int  # fail and error results


@dataclass(frozen=True)
class MatrixGroup:
    """The matrix rows of the sites with one verdict."""

    verdict: Verdict
    meaning: str
    rows: Sequence[SiteRow]
    open: bool


@dataclass(frozen=True)
class DeviceLine:
    """One device in a reason group, with what the check said about it."""

    device: str  # the result's target: hostnameOS, else the UUID, else the file
    check: str
    status: Status
    message: str


@dataclass(frozen=True)
class ReasonGroup:
    """The devices of one domain that will not activate for one reason."""

    reason: str  # the reason tag of the DEV-* evidence
    text: str
    devices: Sequence[DeviceLine]


@dataclass(frozen=True)
class DomainFleet:
    """A site's devices judged against one domain's certificate (domain None: the device
    files that gave no device, and devices no certificate could be chosen for)."""

    site: str
    domain: str | None
    devices: int
    ready: Sequence[str]  # the devices that will activate with that domain's certificate
    admin: int  # of them, already in admin control mode
    groups: Sequence[ReasonGroup]  # the others by reason (one device may have two), biggest first

    @property
    def blocked(self) -> int:
        return self.devices - len(self.ready)


@dataclass(frozen=True)
class VerdictChange:
    site: str
    before: Verdict | None  # None: the site was not in the previous run
    now: Verdict

    @property
    def worse(self) -> bool:
        return self.before is None or self.now.rank > self.before.rank


@dataclass(frozen=True)
class Changes:
    """What changed since the previous run, ready to show."""

    previous: RunInfo
    verdicts: Sequence[VerdictChange]  # changed sites only, those that got worse first
    new: Sequence[Result]  # failing now, not before; the most severe first
    resolved: Sequence[Result]  # as they were in the previous run
    unchanged: int  # still failing

    @property
    def worse(self) -> int:
        """Sites whose verdict got worse."""
        return sum(c.worse for c in self.verdicts)


# The trend: one bar per run, its height by the verdict's rank (ready lowest)
TREND_BAR = 6
TREND_GAP = 2
TREND_STEP_HEIGHT = 4


@dataclass(frozen=True)
class TrendBar:
    x: int
    y: int
    height: int
    verdict: Verdict


@dataclass(frozen=True)
class Trend:
    """A site's verdicts over its last runs, this one last, as an inline SVG draws them."""

    width: int
    height: int
    bars: Sequence[TrendBar]
    label: str


def trend_of(past: Sequence[str], now: Verdict) -> Trend | None:
    """The trend of a site's earlier verdicts (the oldest first; a value that is no verdict
    left out) and its verdict now; None without an earlier one."""
    known = {v.value for v in Verdict}
    verdicts = [Verdict(v) for v in past if v in known]
    if not verdicts:
        return None
    verdicts.append(now)
    top = max(v.rank for v in Verdict) + 1
    height = top * TREND_STEP_HEIGHT
    bars = [TrendBar(i * (TREND_BAR + TREND_GAP), height - (v.rank + 1) * TREND_STEP_HEIGHT,
                     (v.rank + 1) * TREND_STEP_HEIGHT, v) for i, v in enumerate(verdicts)]
    label = (f"Verdict over the last {len(verdicts)} runs, the oldest first: "
             f"{', '.join(v.value for v in verdicts[:-1])}; now {now.value}")
    return Trend(len(verdicts) * (TREND_BAR + TREND_GAP) - TREND_GAP, height, bars, label)


def render(run: RunResult, previous: RunResult | None = None,
           trend: Mapping[str, Sequence[str]] | None = None) -> str:
    """The whole report as one HTML document; with the previous run, what changed; with
    `trend` (each site's earlier verdicts, the oldest first), each site's trend."""
    verdict = run.verdict
    # Worst verdict first, as in the matrix.
    verdict_counts = {v: 0 for v in sorted(Verdict, key=lambda v: -v.rank)}
    for site in run.sites:
        verdict_counts[site.verdict] += 1
    areas = areas_of(run.results)
    rows = matrix_rows(run, areas)
    teams = team_findings(failure_groups(run.results))
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            run=run.run,
            tool=f"{TOOL_NAME} {TOOL_VERSION}",
            verdict=verdict,
            meaning=VERDICT_MEANINGS[verdict],
            verdict_counts={v: n for v, n in verdict_counts.items() if n},
            sites=sorted(run.sites, key=lambda s: -s.verdict.rank),
            areas=[(area, AREAS.get(area, area)) for area in areas],
            matrix=rows if len(rows) <= MATRIX_ONE_TABLE else None,
            matrix_groups=matrix_groups(rows) if len(rows) > MATRIX_ONE_TABLE else None,
            changes=changes(previous, run) if previous is not None else None,
            teams=teams,
            failing=sum(t.findings for t in teams),
            findings_shown=FINDINGS_SHOWN,
            changes_shown=CHANGES_SHOWN,
            waived=sorted((r for r in run.results if r.status is Status.WAIVED),
                          key=_expiry_order),
            results=run.results,
            by_target=_by_site_and_target(run.results),
            device_fleets=device_fleets(run.results),
            devices_shown=DEVICES_SHOWN,
            print_passes=len(run.results) <= PRINTED_PASSES_MAX,
            totals=status_counts(run.results),
            statuses=list(Status),
            coverage_gap=COVERAGE_GAP,
            leftovers=run.leftovers,
            plan=by_site(plan(run)),
            trends={s.name: t for s in run.sites
                    if (t := trend_of((trend or {}).get(s.name, ()), s.verdict))},
            trend_bar=TREND_BAR,
        )
    )


def area_of(check: str) -> str:
    """The area of a check: its ID up to the first dash (DNS-PROVSERVER-A -> DNS)."""
    return check.split("-", 1)[0]


def areas_of(results: Iterable[Result]) -> list[str]:
    """The matrix columns: every area of AREAS, then any other prefix found in the results."""
    seen = dict.fromkeys(AREAS)
    for r in results:
        seen.setdefault(area_of(r.check))
    return list(seen)


def matrix_rows(run: RunResult, areas: Sequence[str]) -> list[SiteRow]:
    """One row per site, the worst first: by verdict, then by how much fails."""
    column = {area: i for i, area in enumerate(areas)}
    worst: dict[str, list[Status | None]] = {s.name: [None] * len(areas) for s in run.sites}
    failing = dict.fromkeys(worst, 0)
    for r in run.results:
        cells = worst.get(r.site)
        if cells is None:
            continue  # a result of a site the run does not list: nothing to put it in
        i = column[area_of(r.check)]
        cell = cells[i]
        # the worst status of its results (model.worst): a skip only when all were skipped
        if cell is None or r.status.badness > cell.badness:
            cells[i] = r.status
        if r.status.failing:
            failing[r.site] += 1
    rows = [SiteRow(s, worst[s.name], failing[s.name]) for s in run.sites]
    rows.sort(key=lambda row: (-row.site.verdict.rank, -row.failing, row.site.name))
    return rows


def matrix_groups(rows: Sequence[SiteRow]) -> list[MatrixGroup]:
    """The rows (worst first) split by verdict."""
    by_verdict: dict[Verdict, list[SiteRow]] = {}
    for row in rows:
        by_verdict.setdefault(row.site.verdict, []).append(row)
    return [
        MatrixGroup(verdict, VERDICT_MEANINGS[verdict], found, verdict in MATRIX_OPEN)
        for verdict, found in by_verdict.items()
    ]


@dataclass
class _FleetTally:
    devices: int = 0
    ready: list[str] = field(default_factory=list)
    admin: int = 0
    groups: dict[str, list[DeviceLine]] = field(default_factory=dict)


def device_fleets(results: Iterable[Result]) -> list[DomainFleet]:
    """The DEV-* results per site and domain: how many devices will activate with the
    domain's certificate (every DEV-* result of the device passes, or says it is already in
    admin control mode), and the others grouped by reason tag. Reads the results only."""
    devices: dict[tuple[str, str], list[Result]] = {}
    for r in results:  # "no target here" has no reason; an odd RUN.json a reason not text
        if r.check.startswith("DEV-") and isinstance(r.evidence.get("reason"), str):
            devices.setdefault((r.site, r.target), []).append(r)
    tallies: dict[tuple[str, str | None], _FleetTally] = {}
    for (site, target), found in devices.items():
        domain = next((d for r in found if isinstance(d := r.evidence.get("domain"), str)),
                      None)
        tally = tallies.setdefault((site, domain), _FleetTally())
        tally.devices += 1
        blocking = [r for r in found if (r.status, r.evidence["reason"]) not in DEVICE_READY]
        if not blocking:
            tally.ready.append(target)
            tally.admin += any(r.evidence["reason"] == "admin-control-mode" for r in found)
        # once per reason: an unreadable file is an error of every DEV-* check, one line
        for tag in dict.fromkeys(str(r.evidence["reason"]) for r in blocking):
            first = next(r for r in blocking if r.evidence["reason"] == tag)
            tally.groups.setdefault(tag, []).append(
                DeviceLine(target, first.check, first.status, first.message))
    known = list(DEVICE_REASONS)

    def group_order(item: tuple[str, list[DeviceLine]]) -> tuple[int, int, str]:
        reason, lines = item
        return -len(lines), known.index(reason) if reason in known else len(known), reason

    sites = list(dict.fromkeys(site for site, _ in tallies))
    fleets = [DomainFleet(site, domain, t.devices, t.ready, t.admin, [
        ReasonGroup(reason, DEVICE_REASONS.get(reason, reason), lines)
        for reason, lines in sorted(t.groups.items(), key=group_order)])
        for (site, domain), t in tallies.items()]
    # Per site in run order; its domains as met, devices without one last
    fleets.sort(key=lambda f: (sites.index(f.site), f.domain is None))
    return fleets


def _by_site_and_target(results: Sequence[Result]) -> dict[tuple[str, str], list[Result]]:
    """Results indexed for the per-target sections (certificates), which would otherwise scan
    every result for every target."""
    index: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        index.setdefault((r.site, r.target), []).append(r)
    return index


def failure_groups(results: Sequence[Result]) -> list[FailureGroup]:
    """Fail and error results grouped by check, the most severe check first."""
    by_check: dict[str, list[Result]] = {}
    for r in results:
        if r.status.failing:
            by_check.setdefault(r.check, []).append(r)
    groups = []
    for check, found in by_check.items():
        found.sort(key=lambda r: (-r.severity.rank, r.status is not Status.FAIL, r.site, r.target))
        first = found[0]
        groups.append(
            FailureGroup(
                check, first.title, first.severity, first.remediation, first.references, found
            )
        )
    groups.sort(key=lambda g: (-g.severity.rank, g.check))
    return groups


def team_findings(groups: Sequence[FailureGroup]) -> list[TeamFindings]:
    """The failure groups by the team that fixes them; the team with the worst finding
    first, then in the order of TEAMS."""
    by_team: dict[str, list[FailureGroup]] = {team: [] for team in (*TEAMS, OTHER_TEAM)}
    for group in groups:
        by_team[TEAM_OF_AREA.get(area_of(group.check), OTHER_TEAM)].append(group)
    teams = [
        TeamFindings(
            team,
            TEAMS.get(team) or sorted({area_of(g.check) for g in found}),
            found,
        )
        for team, found in by_team.items()
        if found
    ]
    teams.sort(key=lambda t: -t.severity.rank)  # stable: ties keep the order of TEAMS
    return teams


def changes(previous: RunResult, run: RunResult) -> Changes:
    """What changed between the previous run and this one."""
    found = diff(previous, run)
    verdicts = [
        VerdictChange(site, Verdict(before) if before else None, Verdict(now))
        for site, (before, now) in found.verdicts.items()
        if before != now
    ]
    verdicts.sort(key=lambda c: (not c.worse, -c.now.rank, c.site))
    return Changes(
        previous=previous.run,
        verdicts=verdicts,
        new=sorted(found.new, key=_severity_order),
        resolved=sorted(found.resolved, key=_severity_order),
        unchanged=len(found.unchanged),
    )


def _expiry_order(r: Result) -> tuple[bool, str, str, str]:
    """The waiver that expires soonest first; those that never expire last."""
    expires = r.waiver.expires if r.waiver else None
    return (expires is None, expires or "", r.check, r.site)


def _severity_order(r: Result) -> tuple[int, str, str, str]:
    return (-r.severity.rank, r.check, r.site, r.target)


def csp_sha256(source: str) -> str:
    """The base64 SHA-256 by which a CSP `'sha256-…'` source allows exactly this inline
    <style> or <script> body."""
    return base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")


def evidence_json(evidence: Mapping[str, Any]) -> str:
    """Evidence as pretty JSON (escaped by the template like any other value)."""
    return json.dumps(evidence, indent=2, ensure_ascii=False, default=str)


def num(n: object) -> str:
    """A count with thousands separated: 45,000 (anything else, from an odd RUN.json, as it
    is)."""
    return f"{n:,}" if isinstance(n, int | float) and not isinstance(n, bool) else str(n)


def counted(n: int, noun: str) -> str:
    """A count and its noun, plural unless one: "1 site", "1,000 sites"."""
    return f"{num(n)} {noun}{'' if n == 1 else 's'}"


# Evidence is free-form JSON (the schema says "an object", no more), and `report RUN.json`
# renders any saved run: the templates read every evidence value through these filters, so a
# value of an unexpected type shows as nothing, never as a traceback.


def as_map(value: object) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    """The value if it is a JSON array, else an empty one (a string is no list of items)."""
    return list(value) if isinstance(value, list | tuple) else []


def maps(value: object) -> list[Mapping[str, Any]]:
    """The JSON objects of an array; anything else in it, or a value that is no array, is
    left out."""
    return [item for item in as_list(value) if isinstance(item, Mapping)]


def _shown(value: object) -> object:
    """Finalizer of every {{ expression }}: the template's own markup passes untouched, any
    other text has its invisible characters made visible before autoescaping."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("amt_preflight.reports", "templates"),
        autoescape=True,
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["csp_sha256"] = csp_sha256
    environment.filters["evidence_json"] = evidence_json
    environment.filters["num"] = num
    environment.filters["counted"] = counted
    environment.filters["as_map"] = as_map
    environment.filters["as_list"] = as_list
    environment.filters["maps"] = maps
    return environment
