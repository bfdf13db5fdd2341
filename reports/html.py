"""The HTML report: one self-contained file to mail to a change board.

It leads with what a board decides on (each site's verdict, a sites-by-areas readiness matrix,
what changed since the previous run), then who must fix what (findings grouped by the team
that owns them, with remediation and evidence), the waivers, and every result.
The sections on what was surveyed (DHCP and AD servers, certificates, devices, handshakes)
each show a view-model that reports/sections/ builds from the results: no template reads
evidence itself.

Every value is autoescaped; the one <style> and the one <script> are allowed by their
SHA-256 in a Content-Security-Policy that permits nothing else, so the file loads nothing
remote and runs nothing a hostile certificate or DHCP answer could inject.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
from .sections import ad, certificates, devices, dhcp, handshake

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
            dhcp=dhcp.build(run.results),
            ad=ad.build(run.results),
            certificates=certificates.build(run.results),
            devices=devices.build(run.results),
            handshakes=handshake.build(run.results),
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
    return environment
