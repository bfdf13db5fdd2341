"""The `amt-preflight` command line.

Start-up is kept small: only argparse is imported until a subcommand needs more.
Exit codes follow CHECKS.md: 0 ready, 1 at-risk, 2 not-ready, 3 unknown (worst site wins),
64 usage error, 78 config error.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

    from amt_preflight.config import Config
    from amt_preflight.engine import RunOptions
    from amt_preflight.model import RunResult
    from amt_preflight.observations import ProbeObserver

EX_USAGE = 64
EX_CONFIG = 78
# As reports.FORMATS; kept here so that --help imports nothing.
FORMATS = ("console", "json", "html", "junit", "markdown", "nagios", "prometheus")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="amt-preflight",
        description="Is this network ready to provision Intel vPro / AMT remotely? "
        "Probes DHCP, DNS, AD, the PKI and the provisioning server, and reports.",
        epilog="Exit codes of run: 0 ready, 1 at-risk, 2 not-ready, 3 unknown, "
        "64 usage error, 78 config error.",
    )
    parser.add_argument("--version", action="version", version="amt-preflight 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="survey the sites of a config file")
    run.add_argument("-c", "--config", type=Path, default=Path("config.yaml"),
                     help="config file (default: ./config.yaml)")
    run.add_argument("--site", action="append", default=[], metavar="NAME",
                     help="survey only this site (repeatable)")
    run.add_argument("--check", action="append", default=[], metavar="ID",
                     help="run only checks matching this ID or glob, e.g. 'DNS-*' (repeatable)")
    run.add_argument("--format", action="append", default=[], metavar="F[,F…]",
                     help=f"output formats, comma-separated: {', '.join(FORMATS)} "
                     "(default: console)")
    run.add_argument("-o", "--output", type=Path, metavar="DIR",
                     help="write the file formats into this folder")
    run.add_argument("--allow-intrusive", action="store_true",
                     help="also run probes that change state (DHCP lease, DNS update, hello)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="console: list every result, not only those that need attention")
    run.add_argument("--no-progress", action="store_true",
                     help="no progress display, even on a terminal")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="print only when a site's verdict changed since the stored previous "
                     "run (for cron); files are still written, the exit code is the same")

    sub.add_parser("checks", help="list the check catalogue")
    roots = sub.add_parser(
        "roots", help="the built-in root hash lists per AMT generation, with their sources")
    roots.add_argument("--generation", action="append", type=int, default=[], metavar="N",
                       help="only the list(s) AMT N is judged against (repeatable)")
    explain = sub.add_parser("explain", help="print one check whole")
    explain.add_argument("id", metavar="ID")

    report = sub.add_parser(
        "report", help="render saved runs (RUN.json) again; several are merged into one report")
    report.add_argument("run_json", type=Path, nargs="+", metavar="RUN.json")
    report.add_argument("--format", default="html", choices=list(FORMATS))
    report.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write here instead of standard output")

    history = sub.add_parser("history", help="list the stored runs, newest first")
    history.add_argument("-c", "--config", type=Path, default=Path("config.yaml"),
                         help="config whose `history` database to read (default: ./config.yaml)")
    history.add_argument("--db", type=Path, help="the history database itself")
    history.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")

    diff = sub.add_parser(
        "diff", help="what changed between two runs: new, resolved and unchanged failures")
    diff.add_argument("old", nargs="?", help="run id (or prefix) or RUN.json; default: for "
                      "each site its second newest run")
    diff.add_argument("new", nargs="?", help="run id (or prefix) or RUN.json; default: for "
                      "each site its newest run")
    diff.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    diff.add_argument("--db", type=Path, help="the history database itself")
    return parser


def _formats(values: Sequence[str]) -> list[str]:
    chosen: list[str] = []
    for value in values or ["console"]:
        for name in (v.strip().lower() for v in value.split(",")):
            if name not in FORMATS:
                raise SystemExit(_usage(f"--format {name}: unknown format "
                                        f"(available: {', '.join(FORMATS)})"))
            if name not in chosen:
                chosen.append(name)
    return chosen


def _usage(message: str) -> int:
    print(f"amt-preflight: error: {message}", file=sys.stderr)
    return EX_USAGE


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _write(fmt: str, run: RunResult, target: Path | None, previous: RunResult | None = None,
           *, quiet: bool = False) -> None:
    from amt_preflight import reports

    text = reports.render(fmt, run, previous)
    if target is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    target.write_text(text, encoding="utf-8", newline="")  # CSP hashes cover exact bytes
    if not quiet:
        print(f"wrote {target}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from amt_preflight import config as config_module
    from amt_preflight import engine

    formats = _formats(args.format)
    files = [f for f in formats if f != "console"]
    if args.output is None and files and (len(files) > 1 or "console" in formats):
        return _usage(f"--format {','.join(formats)}: give -o DIR to write several formats")
    try:
        config = config_module.load(args.config)
    except config_module.ConfigError as exc:
        print(f"amt-preflight: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    if args.output is not None:
        try:
            args.output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _usage(f"-o {args.output}: {exc.strerror}")

    gc.freeze()  # the config lives as long as the run: keep it out of every collection
    console = _console() if "console" in formats else None
    show_progress = (console is not None and console.is_terminal and not args.no_progress
                     and not args.quiet)
    try:
        if console is not None and show_progress:
            from amt_preflight.progress import ProgressDisplay

            with ProgressDisplay(console) as observer:
                result = engine.run(config, _options(args, observer))
        else:
            result = engine.run(config, _options(args, None))
    except engine.UsageError as exc:
        return _usage(str(exc))

    previous = _remember(config, result)
    if previous is not None and config.notify.snmp_trap is not None:
        from amt_preflight import notify

        notify.trap_regressions(config, previous, result)  # a failure is a warning only
    if args.quiet:
        from amt_preflight.history import diff

        if not diff(previous, result).changed_sites:
            formats = [f for f in formats if f != "console"]
    if console is not None and "console" in formats:
        from amt_preflight.reports import console as console_report

        console_report.print_run(result, console, verbose=args.verbose)
    from amt_preflight import reports

    for fmt in files:
        target = args.output / reports.FILE_NAMES[fmt] if args.output else None
        _write(fmt, result, target, previous, quiet=args.quiet)
    return result.exit_code


def _remember(config: Config, result: RunResult) -> RunResult | None:
    """Store the run in the history, if configured; the sites' previous runs, if any."""
    if config.history is None:
        return None
    from amt_preflight import history

    path = config.resolve(config.history)
    try:
        previous = history.previous_site_results(
            path, [s.name for s in result.sites], result.run.started_at)
        history.store(path, result)
    except history.HistoryError as exc:
        print(f"amt-preflight: warning: {exc}", file=sys.stderr)
        return None
    return previous


def _options(args: argparse.Namespace, observer: ProbeObserver | None) -> RunOptions:
    from amt_preflight.engine import RunOptions
    from amt_preflight.observations import ProbeObserver

    return RunOptions(
        sites=args.site, checks=args.check, allow_intrusive=args.allow_intrusive,
        observer=observer or ProbeObserver(),
    )


def cmd_checks(args: argparse.Namespace) -> int:
    from rich.table import Table

    from amt_preflight.checks import CATALOGUE

    table = Table("ID", "severity", "title", box=None, pad_edge=False)
    for spec in CATALOGUE:
        title = spec.title + (" [dim](intrusive)[/]" if spec.intrusive else "")
        table.add_row(spec.id, spec.severity.value, title)
    _console().print(table)
    return 0


def cmd_roots(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from amt_preflight import firmware, pki

    if any(g < 2 or g > 99 for g in args.generation):
        return _usage("--generation: AMT 2 to 99 (remote configuration exists from AMT 2.2 on)")
    console = _console()
    if args.generation:
        shown = [(label, choice.root_list, note)
                 for label, choice, note in firmware.root_lists(args.generation)]
    else:
        shown = [(firmware.generation_label(range(lst.first, (lst.last or lst.first) + 1),
                                            lst.last is None), lst, "")
                 for lst in pki.builtin_root_lists()]
    console.print("Built-in root hash lists: hint data with provenance. A device's real list "
                  "decides (rpc amtinfo -cert -json, then amt.devices).\n")
    for label, listed, note in shown:
        console.print(f"[bold]{escape(label)}[/]: {escape(listed.label)} "
                      f"({len(listed.roots)} roots, {listed.algorithm}, {listed.confidence})")
        console.print(f"  source: {escape(listed.source)}")
        if note:
            console.print(f"  [yellow]{escape(note)}[/]")
    if not args.generation:
        for gap in pki.list_gaps():
            label = firmware.generation_label(range(gap.first, gap.last + 1))
            console.print(f"[bold]{label}[/]: [yellow]{escape(gap.why)}: "
                          f"{escape(pki.list_for(gap.first).root_list.label)}[/]")
    table = Table("root", "SHA-256", *(label for label, _, _ in shown), "in every list",
                  box=None, pad_edge=False)
    roots = {r.name: r for _, listed, _ in shown for r in listed.roots}
    for root in roots.values():
        present = [root in listed.roots for _, listed, _ in shown]
        table.add_row(escape(root.name), root.hashes["sha256"][:16] + "…",
                      *("yes" if p else "[red]no[/]" for p in present),
                      "yes" if all(present) else "[red]no[/]")
    console.print()
    console.print(table)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from amt_preflight.checks import BY_ID

    spec = BY_ID.get(args.id.upper())
    if spec is None:
        return _usage(f"{args.id}: no such check (`amt-preflight checks` lists them)")
    lines = [
        f"{spec.id}: {spec.title}",
        f"  area:        {spec.area}",
        f"  severity:    {spec.severity.value} (override in config.yaml: checks.severity)",
        f"  intrusive:   {'yes: runs only with --allow-intrusive' if spec.intrusive else 'no'}",
        f"  passes when: {spec.passes_when}",
        f"  needs:       {', '.join(n.value for n in spec.needs)}",
    ]
    if spec.requires:
        lines.append(f"  requires:    {', '.join(spec.requires)} (skipped when they do not pass)")
    lines.append(f"  remediation: {spec.remediation}")
    lines += [f"  reference:   {ref}" for ref in spec.references]
    print("\n".join(lines))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from amt_preflight.model import merge
    from amt_preflight.reports import json_report

    try:
        run = merge([json_report.load(path) for path in args.run_json])
    except json_report.ReportInputError as exc:
        print(f"amt-preflight: {exc}", file=sys.stderr)
        return EX_USAGE
    if args.format == "console" and args.output is None:
        from amt_preflight.reports import console as console_report

        console_report.print_run(run, _console())
        return 0
    _write(args.format, run, args.output)
    return 0


def _history_path(args: argparse.Namespace) -> Path | int:
    """The history database: --db, else the config's `history` key; or an exit code."""
    if args.db is not None:
        return Path(args.db)
    from amt_preflight import config as config_module

    try:
        config = config_module.load(args.config)
    except config_module.ConfigError as exc:
        print(f"amt-preflight: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    if config.history is None:
        return _usage(f"{args.config} has no `history` key; give --db FILE")
    return config.resolve(config.history)


def cmd_history(args: argparse.Namespace) -> int:
    from amt_preflight import history

    path = _history_path(args)
    if isinstance(path, int):
        return path
    try:
        stored = history.runs(path, args.limit)
    except history.HistoryError as exc:
        return _usage(str(exc))
    if not stored:
        print(f"no runs stored in {path}")
    for run in stored:
        sites = ", ".join(f"{name} {verdict}" for name, verdict in run.sites.items())
        print(f"{run.id[:12]}  {run.finished_at}  {run.verdict:9}  {run.host}  {sites}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from amt_preflight import history
    from amt_preflight.reports import json_report, visible

    from_files = bool(args.old and args.new and _is_file(args.old) and _is_file(args.new))
    path = Path() if from_files else _history_path(args)
    if isinstance(path, int):
        return path
    try:
        if args.old and args.new:
            old, new = (json_report.load(x) if _is_file(x) else history.load(path, x)
                        for x in (args.old, args.new))
        elif args.old or args.new:
            return _usage("give both OLD and NEW, or neither (the last two runs of each site)")
        else:
            pair = history.latest_two(path)
            if pair is None:
                print(f"fewer than two runs of any site in {path}: nothing to compare")
                return 0
            old, new = pair
    except (history.HistoryError, json_report.ReportInputError) as exc:
        return _usage(str(exc))
    change = history.diff(old, new)
    for site, (before, now) in change.verdicts.items():
        marker = "  " if before == now else "! "
        print(f"{marker}site {visible(site)}: {before or 'not surveyed'} -> {now}")
    for label, found in (("new", change.new), ("resolved", change.resolved),
                         ("unchanged", change.unchanged)):
        print(f"{label} failures: {len(found)}")
        for r in found:
            print(f"  {r.status.value:5} {r.severity.value:8} {r.check} {visible(r.site)}/"
                  f"{visible(r.target)}: {visible(r.message)}")
    return 0


def _is_file(name: str) -> bool:
    return name.endswith(".json") and Path(name).is_file()


COMMANDS = {
    "run": cmd_run, "checks": cmd_checks, "roots": cmd_roots, "explain": cmd_explain,
    "report": cmd_report,
    "history": cmd_history, "diff": cmd_diff,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("amt-preflight: interrupted", file=sys.stderr)
        return 130


def script() -> NoReturn:
    """The console script: main(), then exit without tearing down a big survey's heap
    object by object (a tenth of a second at 1,000 domains); every file is closed by then."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    script()
