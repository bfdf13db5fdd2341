"""The HTML report: one self-contained file to mail to a change board.

Every value is autoescaped; the one <style> and the one <script> are allowed by their
SHA-256 in a Content-Security-Policy that permits nothing else, so the file loads nothing
remote and runs nothing a hostile certificate or DHCP answer could inject.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from amt_preflight.model import (
    TOOL_NAME,
    TOOL_VERSION,
    Result,
    RunResult,
    Severity,
    Status,
    Verdict,
    status_counts,
)

from . import VERDICT_MEANINGS, visible

TEMPLATE = "report.html.j2"
FAILURES = frozenset({Status.FAIL, Status.ERROR})


@dataclass(frozen=True)
class FailureGroup:
    """The failures of one check across sites and targets: its fix is written once."""

    check: str
    title: str
    severity: Severity  # the worst among its results
    remediation: str
    references: Sequence[str]
    results: Sequence[Result]


def render(run: RunResult, previous: RunResult | None = None) -> str:
    """The whole report as one HTML document; with the previous run, what changed."""
    verdict = run.verdict
    # Worst verdict first, as in the site cards.
    verdict_counts = {v: 0 for v in sorted(Verdict, key=lambda v: -v.rank)}
    for site in run.sites:
        verdict_counts[site.verdict] += 1
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
            failure_groups=failure_groups(run.results),
            waived=[r for r in run.results if r.status is Status.WAIVED],
            results=run.results,
            totals=status_counts(run.results),
            statuses=list(Status),
        )
    )


def failure_groups(results: Sequence[Result]) -> list[FailureGroup]:
    """Fail and error results grouped by check, the most severe check first."""
    by_check: dict[str, list[Result]] = {}
    for r in results:
        if r.status in FAILURES:
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


def csp_sha256(source: str) -> str:
    """The base64 SHA-256 by which a CSP `'sha256-…'` source allows exactly this inline
    <style> or <script> body."""
    return base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")


def evidence_json(evidence: Mapping[str, Any]) -> str:
    """Evidence as pretty JSON (escaped by the template like any other value)."""
    return json.dumps(evidence, indent=2, ensure_ascii=False, default=str)


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
    return environment
