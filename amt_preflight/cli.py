"""The `amt-preflight` command line.

Start-up is kept small: only argparse is imported until a subcommand needs more.
Exit codes follow CHECKS.md: 0 ready, 1 at-risk, 2 not-ready, 3 unknown (worst site wins),
64 usage error, 78 config error, 70 anything unexpected inside the tool (one line saying what
failed; the traceback with --debug). Never 1 for a crash: 1 means at-risk. With --format
nagios each of 64, 70 and 78 is one `AMT-PREFLIGHT UNKNOWN - …` line on stdout and exit 3.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

    from amt_preflight.config import Config
    from amt_preflight.engine import RunOptions
    from amt_preflight.interruption import Interruption
    from amt_preflight.model import RunResult
    from amt_preflight.probes.observer import ProbeObserver

EX_USAGE = 64
EX_SOFTWARE = 70
EX_CONFIG = 78
NAGIOS_UNKNOWN = 3  # the plugin state of every error of the tool itself
# As reports.FORMATS; kept here so that --help imports nothing.
FORMATS = ("console", "json", "html", "junit", "markdown", "nagios", "prometheus")
# Formats whose files hold the evidence: readable by their owner only (CHECKS.md)
PRIVATE_FORMATS = frozenset({"json", "html"})
# Earlier runs of each site (same selection) whose verdicts the HTML report shows as a trend
TREND_RUNS = 11
GC_YOUNG_THRESHOLD = 50_000  # allocations between two young collections (script())


class CliError(Exception):
    """Ends a command: an exit code and one line saying what went wrong."""

    def __init__(self, code: int, message: str, label: str = "", prog: str = "amt-preflight"
                 ) -> None:
        super().__init__(message)
        self.code, self.message, self.label, self.prog = code, message, label, prog

    @property
    def summary(self) -> str:
        """The line without the program's name (Nagios' UNKNOWN line)."""
        return f"{self.label}: {self.message}" if self.label else self.message

    @property
    def line(self) -> str:
        return f"{self.prog}: {self.summary}"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise CliError(EX_USAGE, message, "error", self.prog)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="amt-preflight",
        description="Is this network ready to provision Intel vPro / AMT remotely? "
        "Probes DHCP, DNS, AD, the PKI and the provisioning server, and reports.",
        epilog="Exit codes of run: 0 ready, 1 at-risk, 2 not-ready, 3 unknown, "
        "64 usage error, 78 config error, 70 internal error (--debug shows the traceback); "
        "with --format nagios every error is an UNKNOWN line and exit 3.",
    )
    parser.add_argument("--version", action="version", version="amt-preflight 0.1.0")
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error, print the traceback too")
    parser.add_argument("--no-color", action="store_true",
                        help="no colour on the terminal (as the NO_COLOR variable does)")
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
                     help="write the file formats into this folder (- : one format to "
                     "standard output)")
    run.add_argument("--allow-intrusive", action="store_true",
                     help="also run probes that change state (DHCP lease, DNS update, hello)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="console: list every result, not only those that need attention")
    run.add_argument("--no-progress", action="store_true",
                     help="no progress display, even on a terminal")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="print only when a site's verdict changed since the stored previous "
                     "run of the same checks (for cron); files are still written, the exit "
                     "code is the same")
    run.add_argument("--no-history", action="store_true",
                     help="neither store this run in the history nor compare it with stored "
                     "runs (no SNMP trap; with --quiet every verdict is news)")

    init = sub.add_parser(
        "init", help="a first config from what the network says (non-intrusive probes only)")
    init.add_argument("--interface", required=True, metavar="IF",
                      help="the interface on the AMT VLAN (DHCP is asked there)")
    init.add_argument("-o", "--output", type=Path, metavar="FILE",
                      help="write the config here (default: standard output)")
    init.add_argument("--site", default="site", metavar="NAME", help="the site's name")
    init.add_argument("--certificate", action="append", type=Path, default=[], metavar="FILE",
                      help="a provisioning certificate (PEM) to read the domain, root and CA "
                      "from (repeatable)")
    validate = sub.add_parser(
        "validate", help="check a config without network traffic: secrets, files, interface, "
        "privileges; every problem listed")
    validate.add_argument("-c", "--config", type=Path, default=Path("config.yaml"),
                          help="config file (default: ./config.yaml)")
    validate.add_argument("--check", action="append", default=[], metavar="ID",
                          help="the checks the runs will select (default: all enabled)")
    checks = sub.add_parser("checks", help="list the check catalogue")
    checks.add_argument("--markdown", action="store_true",
                        help="every check whole, as Markdown (docs/checks.md)")
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
    report.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="write into this folder, as run -o does (a FILE name with its "
                        "extension also works; - : standard output, the default)")

    history = sub.add_parser("history", help="list the stored runs, newest first "
                             "(`history prune --keep-days N` deletes older runs)")
    history.add_argument("-c", "--config", type=Path, default=Path("config.yaml"),
                         help="config whose `history` database to read (default: ./config.yaml)")
    history.add_argument("--db", type=Path, help="the history database itself")
    history.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    history_sub = history.add_subparsers(dest="history_command", parser_class=_Parser)
    prune = history_sub.add_parser(
        "prune", help="delete the runs finished more than N days ago; says how many")
    prune.add_argument("--keep-days", type=int, required=True, metavar="N",
                       help="keep the runs of the last N days (at least 1)")
    # also after `prune`; SUPPRESS: not given here, history's own values stand
    prune.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS,
                       help="config whose `history` database to prune")
    prune.add_argument("--db", type=Path, default=argparse.SUPPRESS,
                       help="the history database itself")
    for command in (prune,):
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)
        command.add_argument("--no-color", action="store_true", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)

    diff = sub.add_parser(
        "diff", help="what changed between two runs: new, resolved and unchanged failures")
    diff.add_argument("old", nargs="?", help="run id (or prefix) or RUN.json; default: for "
                      "each site the run before NEW's of the same selection (checks, "
                      "intrusive or not)")
    diff.add_argument("new", nargs="?", help="run id (or prefix) or RUN.json; default: for "
                      "each site its newest run that has an earlier one of its selection")
    diff.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    diff.add_argument("--db", type=Path, help="the history database itself")
    for command in sub.choices.values():  # global, so also after the command's name
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)
        command.add_argument("--no-color", action="store_true", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)
    return parser


def _formats(values: Sequence[str]) -> list[str]:
    chosen: list[str] = []
    for value in values or ["console"]:
        for name in (v.strip().lower() for v in value.split(",")):
            if name not in FORMATS:
                raise _usage(f"--format {name}: unknown format "
                             f"(available: {', '.join(FORMATS)})")
            if name not in chosen:
                chosen.append(name)
    return chosen


def _usage(message: str) -> CliError:
    return CliError(EX_USAGE, message, "error")


def _config_error(exc: Exception) -> CliError:
    return CliError(EX_CONFIG, str(exc), "config error")


def _crash_text(exc: BaseException) -> str:
    """What went wrong and where, in one line: `KeyError: 'x' at history.py:107`."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}" if frame else ""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever it held
    return f"{text}{where}"


def _console() -> Console:
    from rich.console import Console

    # --no-color (or NO_COLOR): no escape sequence at all, not even bold
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(highlight=False, color_system=None if plain else "auto")


def _write(fmt: str, run: RunResult, target: Path | None, previous: RunResult | None = None,
           *, quiet: bool = False, trend: Mapping[str, Sequence[str]] | None = None) -> None:
    """Render one format to stdout or to a file, written whole or not at all (files.py)."""
    from amt_preflight import files, reports

    try:
        text = reports.render(fmt, run, previous, trend)
    except Exception as exc:  # a renderer meeting what it did not expect: say which
        raise CliError(EX_SOFTWARE, f"cannot render the {fmt} report: {_crash_text(exc)}"
                       ) from exc
    if target is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    mode = files.PRIVATE if fmt in PRIVATE_FORMATS else files.SHARED
    try:
        files.write_text(target, text, mode)  # exact bytes: CSP hashes cover them
    except OSError as exc:
        why = str(exc) if isinstance(exc, files.OutputError) else (
            f"cannot write {target}: {exc.strerror or exc}")
        raise CliError(EX_SOFTWARE, why) from exc
    if not quiet:
        print(f"wrote {target}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from amt_preflight.interruption import Interruption

    formats = _formats(args.format)
    files = [f for f in formats if f != "console"]
    args.output = _output(args.output)
    if args.output is None and files and (len(files) > 1 or "console" in formats):
        raise _usage(f"--format {','.join(formats)}: give -o DIR to write several formats "
                     "(-o - writes one format to standard output)")
    # From here to the last file written, SIGTERM and SIGINT stop the survey (engine) and
    # the run still writes every report and the history row (CHECKS.md, "Interrupted runs").
    interruption = Interruption()
    with interruption.noted():
        return _survey(args, formats, files, interruption)


def _survey(args: argparse.Namespace, formats: list[str], files: list[str],
            interruption: Interruption) -> int:
    from amt_preflight import config as config_module
    from amt_preflight import engine
    from amt_preflight import files as output

    # A big config is tens of thousands of objects, made without garbage and all living as
    # long as the run: a collection while they are made (some 15 ms at 1,000 domains) walks
    # them all and frees next to nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        config = config_module.load(args.config)
    except config_module.ConfigError as exc:
        raise _config_error(exc) from None
    finally:
        if collecting:
            gc.enable()
    if args.output is not None:
        try:
            output.make_folder(args.output)
        except OSError as exc:
            raise CliError(EX_SOFTWARE, str(exc)) from exc

    gc.freeze()  # the config lives as long as the run: keep it out of every collection
    console = _console() if "console" in formats else None
    show_progress = (console is not None and console.is_terminal and not args.no_progress
                     and not args.quiet)
    try:
        if console is not None and show_progress:
            from amt_preflight.progress import ProgressDisplay

            with ProgressDisplay(console) as observer:
                result = engine.run(config, _options(args, observer, interruption))
        else:
            result = engine.run(config, _options(args, None, interruption))
    except engine.UsageError as exc:
        raise _usage(str(exc)) from None

    previous, trend = (None, None) if args.no_history else _remember(
        config, result, quiet=args.quiet)
    if previous is not None and config.notify.snmp_trap is not None:
        from amt_preflight import notify

        try:
            notify.trap_regressions(config, previous, result)  # a failure is a warning only
        except Exception as exc:  # the survey's reports matter more than its trap
            print(f"amt-preflight: warning: no SNMP trap sent: {_crash_text(exc)}",
                  file=sys.stderr)
    if args.quiet:
        from amt_preflight.diff import diff

        if not diff(previous, result).changed_sites:
            formats = [f for f in formats if f != "console"]
    if console is not None and "console" in formats:
        from amt_preflight.reports import console as console_report

        console_report.print_run(result, console, verbose=args.verbose)
    from amt_preflight import reports

    failed: list[CliError] = []
    for fmt in files:  # one file that cannot be written does not keep the others from disk
        target = args.output / reports.FILE_NAMES[fmt] if args.output else None
        try:
            _write(fmt, result, target, previous, quiet=args.quiet, trend=trend)
        except CliError as exc:
            failed.append(exc)
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise CliError(failed[0].code, failed[0].message + more) from failed[0].__cause__
    return result.exit_code


def _remember(config: Config, result: RunResult, *, quiet: bool = False
              ) -> tuple[RunResult | None, dict[str, list[str]] | None]:
    """Store the run in the history, if configured, then prune it (history_keep_days); the
    sites' previous runs of the same selection (checks, intrusive flag), if any, and each
    site's verdicts in its last TREND_RUNS runs of that selection (the HTML's trend)."""
    if config.history is None:
        return None, None
    from amt_preflight import history

    path = config.resolve(config.history)
    sites = [s.name for s in result.sites]
    trend: dict[str, list[str]] | None = None
    try:
        previous = history.previous_site_results(
            path, sites, result.run.started_at, selection=result.run.selection)
        trend = history.site_verdicts(path, sites, result.run.started_at,
                                      selection=result.run.selection, limit=TREND_RUNS)
    except history.HistoryError as exc:
        print(f"amt-preflight: warning: {exc}", file=sys.stderr)
        previous = None
    try:
        history.store(path, result)
    except history.HistoryError as exc:
        print(f"amt-preflight: warning: {exc}", file=sys.stderr)
        return None, None
    if config.history_keep_days is not None:
        try:
            deleted = history.prune(path, config.history_keep_days)
        except history.HistoryError as exc:
            print(f"amt-preflight: warning: {exc}", file=sys.stderr)
        else:
            if deleted and not quiet:
                print(f"{path}: deleted {deleted} runs older than "
                      f"{config.history_keep_days} days (history_keep_days)", file=sys.stderr)
    return previous, trend


def _options(args: argparse.Namespace, observer: ProbeObserver | None,
             interruption: Interruption | None = None) -> RunOptions:
    from amt_preflight.engine import RunOptions
    from amt_preflight.probes.observer import ProbeObserver

    return RunOptions(
        sites=args.site, checks=args.check, allow_intrusive=args.allow_intrusive,
        observer=observer or ProbeObserver(), interruption=interruption,
    )


def cmd_checks(args: argparse.Namespace) -> int:
    from rich.table import Table

    from amt_preflight.catalogue import markdown
    from amt_preflight.checks import catalogue

    if args.markdown:
        sys.stdout.write(markdown(catalogue()))
        return 0
    table = Table("ID", "severity", "title", box=None, pad_edge=False)
    for spec in catalogue():
        title = spec.title + (" [dim](intrusive)[/]" if spec.intrusive else "")
        table.add_row(spec.id, spec.severity.value, title)
    _console().print(table)
    return 0


def cmd_roots(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from amt_preflight import firmware, pki

    if any(g < 2 or g > 99 for g in args.generation):
        raise _usage("--generation: AMT 2 to 99 (remote configuration exists from AMT 2.2 on)")
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


def _defined_in(function: Callable[..., object]) -> str:
    """Where a check's function is, relative to the repository or site-packages."""
    import inspect

    try:
        path = Path(inspect.getsourcefile(function) or "?")
        line = inspect.getsourcelines(function)[1]
    except (OSError, TypeError):
        return "?"
    parts = path.parts
    shown = "/".join(parts[-2:]) if len(parts) >= 2 else str(path)
    return f"{shown}:{line}"


def cmd_explain(args: argparse.Namespace) -> int:
    from amt_preflight import checks

    if args.id.upper() not in checks.IDS:
        raise _usage(f"{args.id}: no such check (`amt-preflight checks` lists them)")
    spec = checks.spec(args.id.upper())
    lines = [
        f"{spec.id}: {spec.title}",
        f"  area:        {spec.area}",
        f"  defined in:  {_defined_in(spec.function)}",
        f"  severity:    {spec.severity.value} (override in config.yaml: checks.severity)",
        f"  intrusive:   {'yes: runs only with --allow-intrusive' if spec.intrusive else 'no'}",
        f"  passes when: {spec.passes_when}",
        f"  needs:       {', '.join(n.value for n in spec.needs)}",
    ]
    from amt_preflight.probes import gatherers

    table = gatherers()
    lines += [f"  probe:       {need.value} -> {table[need].__name__} in "
              f"{_defined_in(table[need])}" for need in spec.needs]
    if spec.requires:
        lines.append(f"  requires:    {', '.join(spec.requires)} (a result resting on one "
                     "that did not pass is skipped)")
    lines += [f"  reason {tag}: {meaning}" for tag, meaning in spec.reasons.items()]
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
        raise CliError(EX_USAGE, str(exc)) from None
    target = _output(args.output)
    if args.format == "console" and target is None:
        from amt_preflight.reports import console as console_report

        console_report.print_run(run, _console())
        return 0
    if target is not None and (target.is_dir() or not target.suffix):  # a folder, as for run
        from amt_preflight import files as output
        from amt_preflight import reports

        try:
            output.make_folder(target)
        except OSError as exc:
            raise CliError(EX_SOFTWARE, str(exc)) from exc
        target = target / reports.FILE_NAMES[args.format]
    _write(args.format, run, target)
    return 0


def _output(value: Path | None) -> Path | None:
    """-o: a folder (or, for report, a file), or `-` for standard output (None)."""
    return None if value is None or str(value) == "-" else value


def _history_path(args: argparse.Namespace) -> Path:
    """The history database: --db, else the config's `history` key."""
    if args.db is not None:
        return Path(args.db)
    from amt_preflight import config as config_module

    try:
        config = config_module.load(args.config)
    except config_module.ConfigError as exc:
        raise _config_error(exc) from None
    if config.history is None:
        raise _usage(f"{args.config} has no `history` key; give --db FILE")
    return config.resolve(config.history)


def cmd_history(args: argparse.Namespace) -> int:
    from amt_preflight import history

    if args.history_command == "prune":
        return _prune(args)
    path = _history_path(args)
    try:
        stored = history.runs(path, args.limit)
    except history.HistoryError as exc:
        raise _usage(str(exc)) from None
    if not stored:
        print(f"no runs stored in {path}")
    for run in stored:
        sites = ", ".join(f"{name} {verdict}" for name, verdict in run.sites.items())
        selection = run.selection or "selection not recorded"
        print(f"{run.id[:12]}  {run.finished_at}  {run.verdict:9}  {run.host}  {sites}  "
              f"[{selection}]")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from amt_preflight import history

    if args.keep_days < 1:
        raise _usage(f"--keep-days {args.keep_days}: keep at least 1 day")
    path = _history_path(args)
    try:
        deleted = history.prune(path, args.keep_days)
    except history.HistoryError as exc:
        raise _usage(str(exc)) from None
    print(f"{path}: deleted {deleted} runs finished more than {args.keep_days} days ago")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from amt_preflight import history
    from amt_preflight.diff import diff
    from amt_preflight.reports import json_report, visible

    from_files = bool(args.old and args.new and _is_file(args.old) and _is_file(args.new))
    path = Path() if from_files else _history_path(args)
    try:
        if args.old and args.new:
            old, new = (json_report.load(x) if _is_file(x) else history.load(path, x)
                        for x in (args.old, args.new))
        elif args.old or args.new:
            raise _usage("give both OLD and NEW, or neither (the last two runs of each site)")
        else:
            pair = history.latest_two(path)
            if pair is None:
                print(f"fewer than two runs of any site in {path}: nothing to compare")
                return 0
            old, new = pair
    except (history.HistoryError, json_report.ReportInputError) as exc:
        raise _usage(str(exc)) from None
    change = diff(old, new)
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


def cmd_init(args: argparse.Namespace) -> int:
    from amt_preflight import discover
    from amt_preflight import files as output

    target = args.output
    folder = (target.parent if target is not None else Path(".")).resolve()
    for path in args.certificate:
        if not path.is_file():
            raise _usage(f"--certificate {path}: no such file")
    if not Path("/sys/class/net", args.interface).exists():
        raise _usage(f"--interface {args.interface}: not a network interface of this host")
    found = discover.survey(args.interface, args.certificate, folder)
    text = discover.render(found, args.site)
    if target is None:
        sys.stdout.write(text)
        shown = "<the file>"
    else:
        try:
            output.write_text(target, text)
        except OSError as exc:
            raise CliError(EX_SOFTWARE, f"cannot write {target}: {exc}") from exc
        shown = str(target)
        print(f"wrote {target}", file=sys.stderr)
    if found.dhcp_problem:
        print(f"DHCP: {found.dhcp_problem}", file=sys.stderr)
    print(f"next: review it (CONFIRM marks what to confirm), then\n"
          f"  amt-preflight validate -c {shown} && amt-preflight run -c {shown}",
          file=sys.stderr)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from amt_preflight import config as config_module
    from amt_preflight import engine
    from amt_preflight.validate import problems

    try:
        config = config_module.load(args.config)
    except config_module.ConfigError as exc:
        raise _config_error(exc) from None
    try:
        selected = {spec.id for spec in engine.select_checks(config, args.check)}
    except engine.UsageError as exc:
        raise _usage(str(exc)) from None
    found = problems(config, selected)
    for problem in found:
        print(f"{args.config}: {problem}")
    if found:
        print(f"{len(found)} problems", file=sys.stderr)
        return EX_CONFIG
    print(f"{args.config}: valid: {len(config.sites)} sites, {len(selected)} checks selected")
    return 0


COMMANDS = {
    "init": cmd_init, "validate": cmd_validate,
    "run": cmd_run, "checks": cmd_checks, "roots": cmd_roots, "explain": cmd_explain,
    "report": cmd_report,
    "history": cmd_history, "diff": cmd_diff,
}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    nagios = _asks_for_nagios(arguments)
    try:
        args = _parser().parse_args(arguments)
        if args.no_color:
            os.environ["NO_COLOR"] = "1"  # rich, and whatever it starts, honour it
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(exc.line, file=sys.stderr)
        if "--debug" in arguments and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        code, summary = exc.code, exc.summary
    except KeyboardInterrupt:  # outside a run (which notes signals and writes its reports)
        print("amt-preflight: interrupted", file=sys.stderr)
        code, summary = 130, "interrupted"
    except Exception as exc:  # a bug, a full disk: one line, never a traceback, never exit 1
        if "--debug" in arguments:
            traceback.print_exc()
        summary = f"internal error: {_crash_text(exc)}" + (
            "" if "--debug" in arguments else " (--debug shows the traceback)")
        print(f"amt-preflight: {summary}", file=sys.stderr)
        code = EX_SOFTWARE
    if nagios:  # the plugin guidelines: every error is UNKNOWN, one line on stdout
        from amt_preflight.reports.nagios import unknown

        sys.stdout.write(unknown(summary))
        return NAGIOS_UNKNOWN
    return code


def _asks_for_nagios(arguments: Sequence[str]) -> bool:
    """Whether the command line asks for the nagios format (looked at before parsing, so a
    usage error is an UNKNOWN line too)."""
    values = [b for a, b in itertools.pairwise(arguments) if a == "--format"]
    values += [a.split("=", 1)[1] for a in arguments if a.startswith("--format=")]
    return any("nagios" in (v.strip().lower() for v in value.split(",")) for value in values)


def script() -> NoReturn:
    """The console script: main(), then exit without tearing down a big survey's heap
    object by object (a tenth of a second at 1,000 domains); every file is closed by then."""
    # A short-lived process that allocates much and frees little (imports, then a survey's
    # observations and results): the default threshold (700) runs some 300 collections at
    # 1,000 domains, a tenth of a second; young garbage is still collected every 50,000.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    script()
