"""The result model of CHECKS.md: statuses, severities, verdicts, results and a whole run.

Everything here is plain data. A RunResult converts to and from the JSON document of
schema_version 1, so any old run can be rendered again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from amt_preflight.typed import record

SCHEMA_VERSION = 1
TOOL_NAME = "amt-preflight"
TOOL_VERSION = "0.1.0"

# Target name used when a check has no applicable target at a site (its reason says why).
NO_TARGET = "-"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    WAIVED = "waived"

    @property
    def failing(self) -> bool:
        """A fail or an error: what a regression, a remediation list and an alert are about."""
        return self in FAILING

    @property
    def badness(self) -> int:
        """Higher is worse: the order in which one status speaks for several (worst())."""
        return _BADNESS[self]


FAILING = frozenset({Status.FAIL, Status.ERROR})
# Which status speaks for a group (a matrix cell, a target's addresses, a domain's URLs or
# device profiles): a failure, then an error, a waiver, a pass; a skip only when nothing
# was judged, as in the verdict.
_WORST_FIRST = (Status.FAIL, Status.ERROR, Status.WAIVED, Status.PASS, Status.SKIPPED)
_BADNESS = {status: len(_WORST_FIRST) - i for i, status in enumerate(_WORST_FIRST)}


def worst(statuses: Iterable[Status]) -> Status:
    """The status that speaks for all of them; SKIPPED for none (nothing was judged)."""
    return max(statuses, key=lambda s: s.badness, default=Status.SKIPPED)


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Verdict(StrEnum):
    READY = "ready"
    AT_RISK = "at-risk"
    NOT_READY = "not-ready"
    UNKNOWN = "unknown"

    @property
    def exit_code(self) -> int:
        """Nagios/Icinga convention of CHECKS.md."""
        return _VERDICT_EXIT[self]

    @property
    def rank(self) -> int:
        """Order in which a worse site wins: not-ready > unknown > at-risk > ready."""
        return _VERDICT_RANK[self]


_VERDICT_EXIT = {Verdict.READY: 0, Verdict.AT_RISK: 1, Verdict.NOT_READY: 2, Verdict.UNKNOWN: 3}
_VERDICT_RANK = {Verdict.READY: 0, Verdict.AT_RISK: 1, Verdict.UNKNOWN: 2, Verdict.NOT_READY: 3}


@record
class Finding:
    """What a check says about one target; the engine adds the check's metadata."""

    target: str
    status: Status
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # A rule may raise the severity of one result (a certificate expiring within 7 days), or
    # lower it where CHECKS.md says so (option 15 while a MEBx suffix is set)
    severity: Severity | None = None
    # When the observations behind this finding were made; None: the check's own run time.
    started_at: datetime | None = None
    duration_ms: int | None = None
    # A stable tag for why it is not a plain pass (catalogue.py: the check declares its own)
    reason: str | None = None


@record
class Waiver:
    """The waiver that turned a result's fail into waived, as the report shows it."""

    check: str
    reason: str
    site: str | None = None
    target: str | None = None
    owner: str | None = None
    expires: str | None = None  # ISO date

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def fingerprint(check: str, site: str, target: str) -> str:
    """Stable identity of a finding across runs: same check, site and target, same print."""
    key = f"{check}\x1f{site}\x1f{target}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:32]


@record
class Result:
    """One check's judgement of one target at one site, with the check's metadata."""

    check: str
    site: str
    target: str
    status: Status
    severity: Severity
    title: str
    message: str
    evidence: Mapping[str, Any]
    remediation: str
    references: Sequence[str]
    started_at: str
    duration_ms: int
    fingerprint: str
    waiver: Waiver | None = None
    reason: str | None = None  # the finding's reason tag

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "check": self.check,
            "site": self.site,
            "target": self.target,
            "status": self.status.value,
            "severity": self.severity.value,
            "title": self.title,
            "message": self.message,
            "evidence": dict(self.evidence),
            "remediation": self.remediation,
            "references": list(self.references),
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "fingerprint": self.fingerprint,
        }
        if self.waiver is not None:
            doc["waiver"] = self.waiver.to_json()
        if self.reason is not None:
            doc["reason"] = self.reason
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Result:
        waiver = doc.get("waiver")
        return cls(
            check=doc["check"],
            site=doc["site"],
            target=doc["target"],
            status=Status(doc["status"]),
            severity=Severity(doc["severity"]),
            title=doc["title"],
            message=doc["message"],
            evidence=doc.get("evidence", {}),
            remediation=doc.get("remediation", ""),
            references=doc.get("references", []),
            started_at=doc["started_at"],
            duration_ms=doc["duration_ms"],
            fingerprint=doc["fingerprint"],
            waiver=Waiver(**waiver) if waiver else None,
            reason=doc.get("reason"),
        )


class NotRunReason(StrEnum):
    """Why a check produced no judgement at a site (CHECKS.md, "Coverage gap")."""

    DISABLED = "disabled"  # checks.disable
    NOT_SELECTED = "not selected"  # left out by --check, or intrusive and not allowed
    NOT_CONFIGURED = "not configured"  # it ran, but nothing was configured for it
    NOT_APPLICABLE = "not applicable"  # not for this site's activation flow (amt.flow)


@record
class NotRun:
    """A check that did not judge anything at a site, and why."""

    check: str
    reason: NotRunReason
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "reason": self.reason.value, "detail": self.detail}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> NotRun:
        return cls(doc["check"], NotRunReason(doc["reason"]), doc.get("detail", ""))


@record
class SiteSummary:
    """A site's verdict, its results counted, and what was not looked at there."""

    name: str
    domains: Sequence[str]
    verdict: Verdict
    counts: Mapping[str, int]
    # Required checks that ran here but only skipped: nothing decisive was looked at
    coverage_gaps: Sequence[str] = ()
    not_run: Sequence[NotRun] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "domains": list(self.domains),
            "verdict": self.verdict.value,
            "counts": dict(self.counts),
            "coverage_gaps": list(self.coverage_gaps),
            "not_run": [n.to_json() for n in self.not_run],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SiteSummary:
        return cls(doc["name"], doc["domains"], Verdict(doc["verdict"]), doc["counts"],
                   tuple(doc.get("coverage_gaps", ())),
                   tuple(NotRun.from_json(n) for n in doc.get("not_run", ())))


def site_verdict(results: Sequence[Result], coverage_gaps: Sequence[str] = ()) -> Verdict:
    """CHECKS.md: not-ready if any critical/high fail; else unknown if any error or any
    coverage gap; else at-risk if any medium/low fail; else ready."""
    fails = [r for r in results if r.status is Status.FAIL]
    if any(r.severity.rank >= Severity.HIGH.rank for r in fails):
        return Verdict.NOT_READY
    if coverage_gaps or any(r.status is Status.ERROR for r in results):
        return Verdict.UNKNOWN
    if any(r.severity.rank >= Severity.LOW.rank for r in fails):
        return Verdict.AT_RISK
    return Verdict.READY


def status_counts(results: Sequence[Result]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for r in results:
        counts[r.status.value] += 1
    return counts


@record
class Selection:
    """What a run selected: its sites, the check IDs left after --check and checks.disable,
    and whether intrusive probes were allowed. The history compares a site's run only with
    an earlier run of the same checks and intrusive flag (`key`)."""

    sites: tuple[str, ...]
    checks: tuple[str, ...]  # sorted
    intrusive: bool

    @classmethod
    def of(cls, sites: Iterable[str], checks: Iterable[str], intrusive: bool) -> Selection:
        return cls(tuple(dict.fromkeys(sites)), tuple(sorted(set(checks))), intrusive)

    @property
    def key(self) -> str:
        """Same checks, same intrusive flag, same key (the sites are compared one by one)."""
        text = ",".join(self.checks) + ("\x1fintrusive" if self.intrusive else "")
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def describe(self) -> str:
        return (f"{len(self.checks)} checks, "
                f"{'intrusive' if self.intrusive else 'non-intrusive'}")

    def to_json(self) -> dict[str, Any]:
        return {"sites": list(self.sites), "checks": list(self.checks),
                "intrusive": self.intrusive}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Selection:
        return cls(tuple(doc["sites"]), tuple(doc["checks"]), bool(doc["intrusive"]))


@record
class RunInfo:
    """When, where and with which config a run was made, and what it selected."""

    id: str
    started_at: str
    finished_at: str
    host: str
    config: str
    # The signal that ended the run early ("SIGTERM", "SIGINT"): what was unfinished then
    # is an error ("interrupted"); None for a run that ended by itself or at its deadline.
    interrupted: str | None = None
    # What the run selected; None in documents of older versions (and in merged reports of
    # runs that selected differently)
    selection: Selection | None = None

    def to_json(self) -> dict[str, Any]:
        doc = dict(self.__dict__)
        if self.interrupted is None:
            del doc["interrupted"]  # absent, not null: documents of older versions match
        if self.selection is None:
            del doc["selection"]
        else:
            doc["selection"] = self.selection.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunInfo:
        fields = dict(doc)
        selection = fields.pop("selection", None)
        return cls(**fields, selection=Selection.from_json(selection) if selection else None)


class LeftoverKind(StrEnum):
    DNS_RECORD = "dns-record"  # the DNS-DYNUPDATE-OPEN test record
    DHCP_LEASE = "dhcp-lease"  # the DHCP-OPT81-REGISTERS lease


@record
class Leftover:
    """A change an intrusive probe made that the run could not undo (CHECKS.md,
    "Interrupted runs"): named in every report, for someone to undo by hand."""

    kind: LeftoverKind
    what: str  # "amt-preflight-probe-1a2b3c4d.open.example TXT", "lease of 10.0.0.150 …"
    server: str  # where it stays: the DNS server updated, the DHCP server that leased
    detail: str  # why it stayed, and how to remove it
    site: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind.value, "what": self.what,
                               "server": self.server, "detail": self.detail}
        if self.site is not None:
            doc["site"] = self.site
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Leftover:
        return cls(LeftoverKind(doc["kind"]), doc["what"], doc.get("server", ""),
                   doc.get("detail", ""), doc.get("site"))

    def describe(self) -> str:
        """One line for the text formats."""
        where = f" at {self.server}" if self.server else ""
        return f"{self.kind.value} {self.what}{where}: {self.detail}"


@record
class RunResult:
    """The JSON document of CHECKS.md, schema_version 1: the single source of truth."""

    run: RunInfo
    sites: Sequence[SiteSummary]
    results: Sequence[Result]
    # What intrusive probes changed and the run could not undo (an interrupted clean-up)
    leftovers: Sequence[Leftover] = ()

    @property
    def verdict(self) -> Verdict:
        """Worst site wins; a run without sites is unknown."""
        if not self.sites:
            return Verdict.UNKNOWN
        return max((s.verdict for s in self.sites), key=lambda v: v.rank)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
            "run": self.run.to_json(),
            "sites": [s.to_json() for s in self.sites],
        }
        if self.leftovers:  # absent when nothing stayed behind, as in older documents
            doc["leftovers"] = [x.to_json() for x in self.leftovers]
        doc["results"] = [r.to_json() for r in self.results]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunResult:
        return cls(
            run=RunInfo.from_json(doc["run"]),
            sites=[SiteSummary.from_json(s) for s in doc["sites"]],
            results=[Result.from_json(r) for r in doc["results"]],
            leftovers=tuple(Leftover.from_json(x) for x in doc.get("leftovers", ())),
        )


def merge(runs: Sequence[RunResult]) -> RunResult:
    """Runs from several probe hosts as one report: each site as the newest run that surveyed
    it saw it, in the order the runs were given."""
    if len(runs) == 1:
        return runs[0]
    newest_first = sorted(runs, key=lambda r: r.run.finished_at, reverse=True)
    owner: dict[str, RunResult] = {}
    for run in newest_first:
        for site in run.sites:
            owner.setdefault(site.name, run)
    sites = [s for run in runs for s in run.sites if owner[s.name] is run]
    results = [r for run in runs for r in run.results if owner.get(r.site) is run]
    ids = "+".join(r.run.id for r in runs)
    interrupted = ", ".join(dict.fromkeys(r.run.interrupted for r in runs if r.run.interrupted))
    info = RunInfo(
        id=hashlib.sha256(ids.encode()).hexdigest()[:32],
        started_at=min(r.run.started_at for r in runs),
        finished_at=max(r.run.finished_at for r in runs),
        host=", ".join(dict.fromkeys(r.run.host for r in runs)),
        config=", ".join(dict.fromkeys(r.run.config for r in runs)),
        interrupted=interrupted or None,
        selection=_merged_selection(runs),
    )
    # Whatever stayed behind stays behind whichever run shows the site: all of them
    leftovers = tuple(dict.fromkeys(x for run in runs for x in run.leftovers))
    return RunResult(info, sites, results, leftovers)


def _merged_selection(runs: Sequence[RunResult]) -> Selection | None:
    """The runs' sites as one selection when they all selected the same checks and
    intrusive flag; None otherwise (or when one of them does not say)."""
    selections = [r.run.selection for r in runs]
    first = selections[0]
    if first is None or any(s is None or s.key != first.key for s in selections):
        return None
    return replace(first, sites=tuple(dict.fromkeys(
        site for s in selections if s is not None for site in s.sites)))
