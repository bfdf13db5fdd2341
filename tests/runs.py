"""Runs built by hand, for the tests of what reads a RunResult (reports, history, traps): a
Result with what a test does not care about filled in, and a run whose site summaries come
from its results as the engine works them out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from amt_preflight.model import (
    Result,
    RunInfo,
    RunResult,
    Selection,
    Severity,
    SiteSummary,
    Status,
    Waiver,
    fingerprint,
    site_verdict,
    status_counts,
)

STARTED = "2026-11-28T12:00:00+00:00"
HQ = {"hq": ["corp.example"]}


def result(check: str, target: str = "corp.example", status: Status = Status.FAIL, *,
           site: str = "hq", severity: Severity = Severity.HIGH, title: str = "a check",
           message: str = "observed", evidence: Mapping[str, Any] | None = None,
           remediation: str = "fix it", references: Sequence[str] = (), started: str = STARTED,
           duration_ms: int = 1, waiver: Waiver | None = None) -> Result:
    """One result of `check` about `target` at `site`, with the fingerprint the engine gives it."""
    return Result(check, site, target, status, severity, title, message,
                  evidence if evidence is not None else {}, remediation, list(references),
                  started, duration_ms, fingerprint(check, site, target), waiver=waiver)


def summaries(results: Sequence[Result], domains: Mapping[str, Sequence[str]] = HQ
              ) -> list[SiteSummary]:
    """A summary of each site in `domains` (name: its domains), its verdict and counts from
    its own results."""
    own: dict[str, list[Result]] = {name: [] for name in domains}
    for r in results:
        if r.site in own:
            own[r.site].append(r)
    return [SiteSummary(name, list(names), site_verdict(own[name]), status_counts(own[name]))
            for name, names in domains.items()]


def info(run_id: str = "run-1", started: str = STARTED, finished: str | None = None, *,
         host: str = "probe01", config: str = "site.yaml",
         selection: Selection | None = None) -> RunInfo:
    """A run's own facts, finished when it started unless said."""
    return RunInfo(run_id, started, finished or started, host, config, selection=selection)


def run_of(results: Iterable[Result], domains: Mapping[str, Sequence[str]] = HQ,
           **facts: Any) -> RunResult:
    """A run of `results` at the sites of `domains`; `facts` as `info` takes them."""
    results = list(results)
    return RunResult(info(**facts), summaries(results, domains), results)
