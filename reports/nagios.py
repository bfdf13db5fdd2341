"""Nagios/Icinga plugin output: one status line with performance data, then the long text.

The exit code of `run` is the plugin's state (CHECKS.md): 0 ready (OK), 1 at-risk (WARNING),
2 not-ready (CRITICAL), 3 unknown (UNKNOWN).

Performance data has a stable identity and a bounded size: the counts per status and the run's
duration on the status line, then ONE item per site (`site:NAME`, its verdict as a Nagios code),
never one per result. Nagios Core reads at most 8 KB of a plugin's output, so the whole output
stays within OUTPUT_LIMIT bytes at any number of sites: the long text is capped (MAX_LINES
lines, each at most MAX_LINE characters; a last line says how many more there were, and the
JSON and HTML reports list them all), and if not every site's item fits, the worst sites are
graphed first and a line says how many were left out.
"""

from __future__ import annotations

import re
from datetime import datetime

from amt_preflight.model import RunResult, SiteSummary, Verdict, status_counts

from . import not_run_summary, visible

STATE = {Verdict.READY: "OK", Verdict.AT_RISK: "WARNING", Verdict.NOT_READY: "CRITICAL",
         Verdict.UNKNOWN: "UNKNOWN"}
OUTPUT_LIMIT = 8000  # bytes: a margin under Nagios Core's MAX_PLUGIN_OUTPUT_LENGTH (8192)
MAX_LINES = 30  # long-text lines, the "and N more" line included
MAX_LINE = 240  # characters of one long-text line
LEFTOVER_LINES = 10  # of MAX_LINES at most, for what an intrusive probe left behind
TEXT_BUDGET = 3500  # bytes of long text at most: the rest is for the status line and perfdata


def _label(text: str) -> str:
    """A perfdata label: no quotes, equals signs or spaces to confuse the parser."""
    return re.sub(r"[^A-Za-z0-9_.:/-]", "_", text)


def _text(text: str) -> str:
    """Text in the status line or the long text: '|' starts performance data there (plugin
    guidelines), so a '|' in a message (an option 15, a certificate subject) is shown as '¦';
    a line break would start a line of its own, so it is shown as an escape."""
    return visible(text).replace("|", "¦").replace("\n", "\\n").replace("\t", " ")


def _line(text: str) -> str:
    return text if len(text) <= MAX_LINE else text[:MAX_LINE - 1] + "…"


def _size(text: str) -> int:
    return len(text.encode("utf-8", "backslashreplace"))


def unknown(message: str) -> str:
    """The one line a plugin prints when the tool itself failed (a usage, config or internal
    error): UNKNOWN, as the plugin guidelines ask, whatever the exit code would have been."""
    return f"AMT-PREFLIGHT UNKNOWN - {_text(message)}\n"


def _seconds(run: RunResult) -> float:
    try:
        start = datetime.fromisoformat(run.run.started_at)
        end = datetime.fromisoformat(run.run.finished_at)
    except ValueError:
        return 0.0
    return max(0.0, (end - start).total_seconds())


def site_item(site: SiteSummary) -> str:
    """A site's one perfdata item: its verdict as a Nagios code (0 ready .. 3 unknown)."""
    return f"site:{_label(site.name)}={site.verdict.exit_code}"


def _fit(lines: list[str], budget: int, room: int) -> tuple[list[str], int]:
    """The first of `lines` that fit in `room` lines and `budget` bytes; how many did not."""
    kept: list[str] = []
    for line in lines:
        if len(kept) >= room or _size(line) + 1 > budget:
            break
        kept.append(line)
        budget -= _size(line) + 1
    return kept, len(lines) - len(kept)


def _details(run: RunResult) -> list[str]:
    """The long text, capped: findings, gaps and checks that did not run, then (always, up to
    LEFTOVER_LINES) the interruption and what intrusive probes left behind."""
    findings = [
        _line(f"{r.status.value.upper()} [{r.severity.value}] {_text(r.check)} {_text(r.site)}/"
              f"{_text(r.target)}: {_text(r.message)}")
        for r in sorted(run.results, key=lambda r: -r.severity.rank) if r.status.failing
    ]
    for site in run.sites:
        findings += [_line(f"NOT CHECKED {_text(check)} {_text(site.name)}: required, nothing "
                           "configured for it (coverage gap)") for check in site.coverage_gaps]
        if site.not_run:
            findings.append(_line(f"DID NOT RUN at {_text(site.name)}: {not_run_summary(site)}"))
    pinned: list[str] = []
    if run.run.interrupted:
        pinned.append(f"INTERRUPTED by {_line(_text(run.run.interrupted))}: unfinished checks "
                      "are errors")
    # What an intrusive probe changed and the run could not undo: for someone to undo by hand
    left = [_line(f"LEFT BEHIND {_text(x.describe())}") for x in run.leftovers]
    if len(left) > LEFTOVER_LINES:
        left = [*left[:LEFTOVER_LINES - 1],
                f"LEFT BEHIND and {len(left) - LEFTOVER_LINES + 1} more changes to undo by hand: "
                "the JSON report lists them all"]
    pinned += left
    more = "… and 999999 more lines: the JSON and HTML reports list them all"
    budget = TEXT_BUDGET - sum(_size(line) + 1 for line in pinned)
    kept, cut = _fit(findings, budget, MAX_LINES - len(pinned))
    if cut:
        kept, cut = _fit(findings, budget - _size(more) - 1, MAX_LINES - len(pinned) - 1)
        kept.append(f"… and {cut} more lines: the JSON and HTML reports list them all")
    return kept + pinned


def render(run: RunResult) -> str:
    verdict = run.verdict
    counts = status_counts(run.results)
    per_verdict = ", ".join(
        f"{sum(s.verdict is v for s in run.sites)} {v.value}"
        for v in sorted(Verdict, key=lambda v: -v.rank) if any(s.verdict is v for s in run.sites))
    head = (f"AMT-PREFLIGHT {STATE[verdict]} - {verdict.value}: {len(run.sites)} sites "
            f"({per_verdict}); {counts['fail']} failed, {counts['error']} undecided")
    main_perf = [f"{status}={n};;;0" for status, n in counts.items()]
    main_perf.append(f"run_duration={_seconds(run):.3f}s;;;0")
    head += " | " + " ".join(main_perf)
    details = _details(run)
    # One item per site, the worst first (then by name): what does not fit is not graphed.
    sites = sorted(run.sites, key=lambda s: (-s.verdict.rank, s.name))
    items = [site_item(s) for s in sites]
    room = OUTPUT_LIMIT - _size(head) - 1 - sum(_size(line) + 1 for line in details) - 3
    if sum(_size(i) + 1 for i in items) > room:
        note = (f"PERFDATA for {len(items)} of {len(items)} sites left out (Nagios Core reads "
                "8 KB): the worst sites are graphed")
        room -= _size(note) + 1
        shown: list[str] = []
        for item in items:
            if _size(item) + 1 > room:
                break
            shown.append(item)
            room -= _size(item) + 1
        details.append(f"PERFDATA for {len(items) - len(shown)} of {len(items)} sites left out "
                       "(Nagios Core reads 8 KB): the worst sites are graphed")
        items = shown
    if not details:  # no long text: everything on the status line
        return f"{' '.join([head, *items])}\n"
    # Plugin API: perfdata after a '|' on the last line of the long text continues the first's.
    details[-1] += f" | {' '.join(items)}" if items else ""
    return "\n".join([head, *details]) + "\n"
