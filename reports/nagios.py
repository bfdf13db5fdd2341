"""Nagios/Icinga plugin output: one status line with performance data, then the long text.

The exit code of `run` is the plugin's state (CHECKS.md): 0 ready (OK), 1 at-risk (WARNING),
2 not-ready (CRITICAL), 3 unknown (UNKNOWN).
"""

from __future__ import annotations

import re
from datetime import datetime

from amt_preflight.model import RunResult, Status, Verdict, status_counts

from . import not_run_summary, visible

STATE = {Verdict.READY: "OK", Verdict.AT_RISK: "WARNING", Verdict.NOT_READY: "CRITICAL",
         Verdict.UNKNOWN: "UNKNOWN"}
# Evidence keys whose numbers are worth graphing, e.g. a KDC's clock offset in seconds.
GRAPHED_EVIDENCE = ("offset_s", "clock_offset_s", "hello_to_handshake_ms")


def _label(text: str) -> str:
    """A perfdata label: no quotes, equals signs or spaces to confuse the parser."""
    return re.sub(r"[^A-Za-z0-9_.:/-]", "_", text)


def _text(text: str) -> str:
    """Text in the status line or the long text: '|' starts performance data there (plugin
    guidelines), so a '|' in a message (an option 15, a certificate subject) is shown as '¦';
    a line break would start a line of its own, so it is shown as an escape."""
    return visible(text).replace("|", "¦").replace("\n", "\\n").replace("\t", " ")


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


def render(run: RunResult) -> str:
    verdict = run.verdict
    counts = status_counts(run.results)
    per_verdict = ", ".join(
        f"{sum(s.verdict is v for s in run.sites)} {v.value}"
        for v in sorted(Verdict, key=lambda v: -v.rank) if any(s.verdict is v for s in run.sites))
    head = (f"AMT-PREFLIGHT {STATE[verdict]} - {verdict.value}: {len(run.sites)} sites "
            f"({per_verdict}); {counts['fail']} failed, {counts['error']} undecided")
    perf = [f"{status}={n};;;0" for status, n in counts.items()]
    perf.append(f"run_duration={_seconds(run):.3f}s;;;0")
    for r in run.results:
        for key in GRAPHED_EVIDENCE:
            value = r.evidence.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                perf.append(f"'{_label(f'{r.site}/{r.check}/{r.target}/{key}')}'={value}")
        if r.status is not Status.SKIPPED:
            perf.append(f"'{_label(f'{r.site}/{r.check}/{r.target}')}'={r.duration_ms}ms;;;0")
    details = [
        f"{r.status.value.upper()} [{r.severity.value}] {_text(r.check)} {_text(r.site)}/"
        f"{_text(r.target)}: {_text(r.message)}"
        for r in sorted(run.results, key=lambda r: -r.severity.rank) if r.status.failing
    ]
    for site in run.sites:
        details += [f"NOT CHECKED {_text(check)} {_text(site.name)}: required, nothing "
                    "configured for it (coverage gap)" for check in site.coverage_gaps]
        if site.not_run:
            details.append(f"DID NOT RUN at {_text(site.name)}: {not_run_summary(site)}")
    if run.run.interrupted:
        details.append(f"INTERRUPTED by {_text(run.run.interrupted)}: unfinished checks are "
                       "errors")
    # What an intrusive probe changed and the run could not undo: for someone to undo by hand
    details += [f"LEFT BEHIND {_text(x.describe())}" for x in run.leftovers]
    main_perf, more_perf = perf[:len(counts) + 1], perf[len(counts) + 1:]
    if not details:  # no long text: everything on the status line
        return f"{head} | {' '.join(perf)}\n"
    # Plugin API: perfdata after a '|' on the last line of the long text continues the first's.
    details[-1] += f" | {' '.join(more_perf)}" if more_perf else ""
    return "\n".join([f"{head} | {' '.join(main_perf)}", *details]) + "\n"
