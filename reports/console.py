"""The terminal report: each site's verdict first, then what needs attention and how to fix it."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amt_preflight.model import Result, RunResult, SiteSummary, Status, Verdict

from . import COVERAGE_GAP, VERDICT_MEANINGS, not_run_summary, visible

VERDICT_STYLES: dict[Verdict, str] = {
    Verdict.READY: "bold green",
    Verdict.AT_RISK: "bold yellow",
    Verdict.NOT_READY: "bold red",
    Verdict.UNKNOWN: "bold magenta",
}
STATUS_STYLES: dict[Status, str] = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.ERROR: "magenta",
    Status.SKIPPED: "dim",
    Status.WAIVED: "cyan",
}
ATTENTION = frozenset({Status.FAIL, Status.ERROR, Status.WAIVED})
# Above this many sites, ready ones get only their summary line (-v details them all).
DETAILED_SITES = 10
# Width of the text file written by render(): no terminal to fit, so give messages room.
TEXT_WIDTH = 100


def print_run(run: RunResult, console: Console, *, verbose: bool = False) -> None:
    """Print every site of the run; verbose lists all results, not only those needing attention."""
    by_site: dict[str, list[Result]] = {site.name: [] for site in run.sites}
    for result in run.results:
        by_site.setdefault(result.site, []).append(result)
    many = len(run.sites) > DETAILED_SITES and not verbose
    shown = [s for s in run.sites if not many or s.verdict is not Verdict.READY]
    for site in shown:
        _print_site(site, by_site[site.name], console, verbose=verbose)
    if len(run.sites) > 1:
        _print_summary(run, console, hidden=len(run.sites) - len(shown))
    if run.run.interrupted:
        console.print(Text(f"Interrupted by {visible(run.run.interrupted)}: what was unfinished "
                           "is an error (interrupted).", "bold magenta"))
    if run.leftovers:  # what an intrusive probe changed and the run could not undo
        console.print(Text("Left behind by intrusive probes (undo by hand):", "bold red"))
        for x in run.leftovers:
            console.print(Text(f"  {visible(x.describe())}", "red"))
    if run.run.interrupted or run.leftovers:
        console.print()
    overall = run.verdict
    console.print(
        Text.assemble(
            "Overall: ",
            (overall.value.upper(), VERDICT_STYLES[overall]),
            f"  exit {overall.exit_code}: {VERDICT_MEANINGS[overall]}",
        )
    )


def _print_summary(run: RunResult, console: Console, hidden: int) -> None:
    """One line a site, the worst first: what a reader of 50 sites looks at."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for heading in ("Site", "Verdict", "Fail", "Error", "Pass", "Not checked"):
        table.add_column(heading, no_wrap=heading != "Site", overflow="fold")
    for site in sorted(run.sites, key=lambda s: (-s.verdict.rank, s.name)):
        table.add_row(visible(site.name), Text(site.verdict.value, VERDICT_STYLES[site.verdict]),
                      str(site.counts.get("fail", 0)), str(site.counts.get("error", 0)),
                      str(site.counts.get("pass", 0)), ", ".join(site.coverage_gaps) or "")
    console.print(table)
    if hidden:
        console.print(Text(f"{hidden} ready sites are not detailed above (-v shows every "
                           "site)", "dim"))
    console.print()


def render(run: RunResult) -> str:
    """The console report as plain text, without colour."""
    console = Console(
        record=True,
        file=io.StringIO(),
        width=TEXT_WIDTH,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
    )
    print_run(run, console, verbose=False)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())


def _print_site(
    site: SiteSummary, results: Sequence[Result], console: Console, *, verbose: bool
) -> None:
    console.print(
        Text.assemble(
            (site.verdict.value.upper(), VERDICT_STYLES[site.verdict]),
            "  site ",
            (visible(site.name), "bold"),
            f"  ({', '.join(visible(d) for d in site.domains)})" if site.domains else "",
        )
    )
    console.print(
        Text("  ").join(
            Text(f"{status.value} {site.counts.get(status.value, 0)}", STATUS_STYLES[status])
            for status in Status
        )
    )
    shown = [r for r in results if verbose or r.status in ATTENTION]
    if shown:
        console.print(_results_table(shown))
    _print_remediations([r for r in results if r.status.failing], console)
    _print_coverage(site, console, verbose=verbose)
    console.print()


def _print_coverage(site: SiteSummary, console: Console, *, verbose: bool) -> None:
    """What was not looked at: coverage gaps always, each check that did not run with -v."""
    for check in site.coverage_gaps:
        console.print(Text.assemble(("  not checked ", "bold magenta"), (check, "bold"),
                                    f": {COVERAGE_GAP}"))
    if not site.not_run:
        return
    console.print(Text(f"  did not run: {not_run_summary(site)}"
                       + ("" if verbose else " (-v lists them)"), "dim"))
    if verbose:
        for n in site.not_run:
            console.print(Text(f"    {n.check}: {n.reason.value}"
                               + (f" ({visible(n.detail)})" if n.detail else ""), "dim"))


def _results_table(results: Sequence[Result]) -> Table:
    # Target under the check ID and severity under the status: at 80 columns the message
    # keeps about half the width.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, leading=1)
    table.add_column("Check / target", overflow="fold", max_width=30)
    table.add_column("Status", no_wrap=True)
    table.add_column("Message", overflow="fold", ratio=1)
    for r in sorted(results, key=_attention_order):
        message = Text(visible(r.message))
        if r.waiver is not None:
            waiver = r.waiver
            detail = ", ".join(visible(x) for x in (waiver.owner, waiver.expires) if x)
            message.append(f"\nwaived: {visible(waiver.reason)}", "cyan")
            if detail:
                message.append(f" ({detail})", "cyan")
        table.add_row(
            Text.assemble((r.check, "bold"), "\n", visible(r.target)),
            Text.assemble((r.status.value, STATUS_STYLES[r.status]), "\n", r.severity.value),
            message,
        )
    return table


def _attention_order(result: Result) -> tuple[int, int, str, str]:
    """Failures first, most severe first, then by check and target."""
    return (
        0 if result.status.failing else 1,
        -result.severity.rank,
        result.check,
        result.target,
    )


def _print_remediations(failures: Sequence[Result], console: Console) -> None:
    seen: set[str] = set()
    for r in sorted(failures, key=_attention_order):
        if r.check in seen or not r.remediation:
            continue
        seen.add(r.check)
        console.print(Text.assemble("  fix ", (r.check, "bold"), ": ", visible(r.remediation)))
