"""Markdown for a change ticket: verdicts, blocking findings with their fix, waivers, and what
changed since the previous run when there is one."""

from __future__ import annotations

from amt_preflight.model import Result, RunResult, Status

from . import COVERAGE_GAP, VERDICT_MEANINGS, visible


def _cell(text: str) -> str:
    """Text safe in a table cell: no pipes or line breaks, markup characters escaped."""
    text = visible(text).replace("\\", "\\\\").replace("|", "\\|")
    for char in "`*_<>[]":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render(run: RunResult, previous: RunResult | None = None) -> str:
    verdict = run.verdict
    lines = [
        f"# AMT provisioning preflight: {verdict.value.upper()}",
        "",
        f"{VERDICT_MEANINGS[verdict]} (exit {verdict.exit_code}). Run {_cell(run.run.id)} on "
        f"{_cell(run.run.host)}, finished {run.run.finished_at}.",
        "",
        _row(["Site", "Verdict", "Domains", "Pass", "Fail", "Error", "Skipped", "Waived"]),
        _row(["---"] * 8),
    ]
    for s in sorted(run.sites, key=lambda s: -s.verdict.rank):
        lines.append(_row([_cell(s.name), f"**{s.verdict.value}**",
                           _cell(", ".join(s.domains)),
                           *(str(s.counts.get(k, 0)) for k in
                             ("pass", "fail", "error", "skipped", "waived"))]))
    if run.run.interrupted:
        lines += ["", f"**Interrupted** by {_cell(run.run.interrupted)}: what was unfinished "
                  "is an error (interrupted)."]
    if run.leftovers:  # what an intrusive probe changed and the run could not undo
        lines += ["", "## Left behind by intrusive probes", "",
                  "Undo these by hand:", ""]
        lines += [f"- **{x.kind.value}** {_cell(x.what)}"
                  + (f" at {_cell(x.server)}" if x.server else "") + f": {_cell(x.detail)}"
                  for x in run.leftovers]
    if previous is not None:
        from amt_preflight.diff import diff

        change = diff(previous, run)
        lines += ["", "## Changed since the previous run", ""]
        for site, (old, new) in change.verdicts.items():
            if old != new:
                lines.append(f"- site {_cell(site)}: {old or 'not surveyed'} → **{new}**")
        lines += [f"- new: {_finding(r)}" for r in change.new]
        lines += [f"- resolved: {_finding(r)}" for r in change.resolved]
        if not (change.new or change.resolved or change.changed_sites):
            lines.append("- nothing")
    failing = sorted((r for r in run.results if r.status.failing),
                     key=lambda r: (-r.severity.rank, r.check, r.site, r.target))
    lines += ["", "## Findings to fix", ""]
    if not failing:
        lines.append("None.")
    fixes: dict[str, str] = {}
    for r in failing:
        lines.append(f"- {_finding(r)}")
        fixes.setdefault(r.check, r.remediation)
    if fixes:
        lines += ["", "### How to fix them", ""]
        lines += [f"- **{check}**: {_cell(fix)}" for check, fix in fixes.items()]
    from .change_plan import markdown as plan_markdown
    from .change_plan import plan

    steps = plan(run)
    if steps:
        lines += ["", "## Change plan", "",
                  "Commands that fix the findings above, filled with each site's values: "
                  "review them, then apply the one for the system the site runs."]
        lines += plan_markdown(steps, _cell)
    not_checked = [(s, n) for s in run.sites for n in s.not_run]
    gaps = [(s, c) for s in run.sites for c in s.coverage_gaps]
    if gaps or not_checked:
        lines += ["", "## What was not checked", ""]
        lines += [f"- **coverage gap** at {_cell(s.name)}: `{c}` is {COVERAGE_GAP}"
                  for s, c in gaps]
        if not_checked:
            lines += ["", _row(["Site", "Check", "Why", "Detail"]), _row(["---"] * 4)]
            lines += [_row([_cell(s.name), n.check, n.reason.value, _cell(n.detail)])
                      for s, n in not_checked]
    waived = [r for r in run.results if r.status is Status.WAIVED]
    if waived:
        lines += ["", "## Waivers", "", _row(["Check", "Site", "Target", "Reason", "Owner",
                                              "Expires"]), _row(["---"] * 6)]
        for r, w in ((r, r.waiver) for r in waived if r.waiver):
            lines.append(_row([r.check, _cell(r.site), _cell(r.target), _cell(w.reason),
                               _cell(w.owner or ""), w.expires or "never"]))
    return "\n".join(lines) + "\n"


def _finding(r: Result) -> str:
    return (f"**{r.status.value.upper()}** {r.severity.value} `{r.check}` "
            f"{_cell(r.site)}/{_cell(r.target)}: {_cell(r.message)}")
