"""DNS survey benchmark: amt-preflight against a minimal client, same queries, same server.

    sudo .venv/bin/python bench/dns_survey.py [--domains 10,100,1000] [--delays 0,25] [--repeat 3]

Starts the lab network, adds a dnsmasq on bench_dns (10.250.0.5) serving
ProvisionServer.dNNNN.bench.example for up to 9,999 synthetic domains and logging every query,
and a relay on delay_dns (10.250.0.6) that holds each query for the added delay. For every
(domains, delay) it runs, inside the lab's client namespace and as separate processes,

- the tool: `amt-preflight run --check DNS-RESOLVER-ANSWERS --check 'DNS-PROVSERVER-*'`
  against a one-site config naming that server (timeout 3, retries 1, concurrency 64);
- the minimal client (bench/minimal_dns_client.py): asyncio and dns.asyncquery, the same
  queries, the same concurrency;

alternating them, --repeat times each, and prints the median wall time (process start to
exit: both pay Python's start-up), their ratio, each one's peak RSS (wait4 ru_maxrss) and how
many queries each sent, counted in dnsmasq's query log. Then the start-up figures:
`amt-preflight --help` and `python -c pass`, median of 20.

Needs root (the lab creates network namespaces and binds port 53). All traffic stays inside
the lab's namespaces; the lab is always torn down.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the lab is not installed: it is taken from the checkout

from lab import Lab, LabError, netns, network  # noqa: E402

PYTHON = Path(sys.executable)
TOOL = PYTHON.parent / "amt-preflight"
MINIMAL_CLIENT = Path(__file__).resolve().parent / "minimal_dns_client.py"
CHECKS = ("DNS-RESOLVER-ANSWERS", "DNS-PROVSERVER-*")
TIMEOUT, RETRIES, CONCURRENCY, DEADLINE = 3, 1, 64, 300
RUN_TIMEOUT = 120.0  # seconds; a contender still running then is killed and the bench fails
STARTUP_RUNS = 20
STARTUP_TIMEOUT = 30.0
CALIBRATION_QUERIES = 10
RATIO_TARGET = 1.25  # DESIGN.md "Performance", at 1,000 domains
SMALL_RATIO_TARGET, SMALL = 1.5, 10  # issue 14: at 10 domains start-up is most of the cost


def ratio_target(domains: int) -> float:
    return SMALL_RATIO_TARGET if domains <= SMALL else RATIO_TARGET
PEAK_TARGET_MIB = 200.0
HELP_TARGET = 0.15  # seconds for `amt-preflight --help`
VERDICT_CODES = range(4)  # `run` exit codes that are verdicts
MAX_DOMAINS = 9999  # names are d0001 … d9999
LOG_SETTLE = 0.05  # seconds the query log must stay the same size to count as written
LOG_SETTLE_MAX = 3.0
# dnsmasq's words for work it refused or lost (limits reached, log lines dropped)
DNSMASQ_TROUBLE = ("maximum number", "reached", "lost", "dropped", "refused", "failed")
ROOT_NEEDED = (
    "bench/dns_survey.py needs root: it starts the lab network (network namespaces, a veth "
    "pair, DNS servers on port 53). Run it as root, e.g. `sudo .venv/bin/python "
    "bench/dns_survey.py` or `make bench`."
)


class BenchError(Exception):
    """The benchmark could not measure what it set out to (printed, exit 1)."""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_kib: int  # ru_maxrss of the process
    queries: int  # queries dnsmasq logged while it ran
    summary: str  # what the process found (checked for sanity, not timed)


# --- running one process and measuring it ---------------------------------------------


def timed_run(
    argv: Sequence[str], stdout: Path, stderr: Path, timeout: float
) -> tuple[float, int, int]:
    """(wall seconds from spawn to exit, peak RSS KiB, exit code); killed after `timeout`."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        clock = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    pidfd = os.pidfd_open(process.pid)  # our child: it cannot be reaped (or its PID reused) yet
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):  # readable once the process has exited
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.wait4(process.pid, 0)
            process.returncode = -signal.SIGKILL
            raise BenchError(f"{argv[-1]!r}… still running after {timeout:g} s: killed")
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - clock
    finally:
        os.close(pidfd)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return seconds, usage.ru_maxrss, process.returncode


class QueryLog:
    """dnsmasq's query log: how many queries arrived since the last look, and trouble."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def _settled_size(self) -> int:
        """The log's size once it stops growing (dnsmasq may still be writing the last lines)."""
        deadline = time.monotonic() + LOG_SETTLE_MAX
        size = self.path.stat().st_size
        while time.monotonic() < deadline:
            time.sleep(LOG_SETTLE)
            now = self.path.stat().st_size
            if now == size:
                break
            size = now
        return size

    def take(self) -> tuple[int, list[str]]:
        """(queries logged since the last take, lines that say something was dropped)."""
        size = self._settled_size()
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read(size - self.offset).decode(errors="replace")
        self.offset = size
        lines = text.splitlines()
        trouble = [
            line for line in lines
            if " query[" not in line and any(w in line.lower() for w in DNSMASQ_TROUBLE)
        ]
        return sum(" query[" in line for line in lines), trouble


def udp_drops(namespace: str) -> int:
    """UDP datagrams the kernel dropped in a namespace (InErrors: full receive buffers
    among them); /proc/thread-self/net is the calling thread's namespace."""
    with netns.entered(namespace):
        lines = Path("/proc/thread-self/net/snmp").read_text().splitlines()
    header, values = [line.split()[1:] for line in lines if line.startswith("Udp:")]
    return int(values[header.index("InErrors")])


# --- the two contenders -----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    domains: int
    delay_ms: int
    resolver: str
    folder: Path

    @property
    def names(self) -> list[str]:
        return [network.bench_domain(i) for i in range(1, self.domains + 1)]

    def write(self) -> None:
        self.folder.mkdir(parents=True)
        (self.folder / "domains.txt").write_text("\n".join(self.names) + "\n")
        config = {
            "defaults": {
                "timeout": TIMEOUT, "retries": RETRIES, "concurrency": CONCURRENCY,
                "deadline": DEADLINE,
            },
            "sites": [{
                "name": "bench",
                "resolvers": [self.resolver],
                "domains": [
                    {"name": name, "provision_server": [network.ADDRESSES["provision_server"]]}
                    for name in self.names
                ],
            }],
        }
        (self.folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def tool_argv(self, out: Path) -> list[str]:
        checks = [arg for check in CHECKS for arg in ("--check", check)]
        return [
            str(PYTHON), "-m", "amt_preflight.cli", "run", "-c", str(self.folder / "config.yaml"),
            *checks, "--format", "json", "-o", str(out),
        ]

    def client_argv(self) -> list[str]:
        return [
            str(PYTHON), str(MINIMAL_CLIENT), "--resolver", self.resolver,
            "--domains", str(self.folder / "domains.txt"), "--concurrency", str(CONCURRENCY),
            "--timeout", str(TIMEOUT), "--retries", str(RETRIES),
        ]


def tool_summary(report: Path) -> str:
    """What the tool found, in the client's terms: DNS-PROVSERVER-A passes and the PTR seen."""
    document = json.loads(report.read_text())
    results = document["results"]
    a_results = [r for r in results if r["check"] == "DNS-PROVSERVER-A"]
    passed = sum(r["status"] == "pass" for r in a_results)
    resolver = [r for r in results if r["check"] == "DNS-RESOLVER-ANSWERS"]
    return (
        f"answered {passed}/{len(a_results)} "
        f"resolver {','.join(r['status'] for r in resolver)}"
    )


def measure(lab: Lab, case: Case, who: str, run: int, log: QueryLog) -> Measurement:
    folder = case.folder / f"{who}-{run}"
    folder.mkdir()
    argv = case.tool_argv(folder / "out") if who == "tool" else case.client_argv()
    log.take()  # anything before this run is not its queries
    drops = udp_drops(lab.client_ns) + udp_drops(lab.infra_ns)
    seconds, peak, code = timed_run(
        netns.exec_argv(lab.client_ns, argv), folder / "stdout", folder / "stderr", RUN_TIMEOUT
    )
    queries, trouble = log.take()
    dropped = udp_drops(lab.client_ns) + udp_drops(lab.infra_ns) - drops
    stderr = (folder / "stderr").read_text(errors="replace")
    if code not in (VERDICT_CODES if who == "tool" else (0,)):
        raise BenchError(f"the {who} exited with code {code}; its stderr:\n{stderr}")
    if trouble or dropped:
        raise BenchError(
            f"{who} run with {case.domains} domains, {case.delay_ms} ms: "
            f"{dropped} UDP datagrams dropped; dnsmasq said:\n" + "\n".join(trouble)
        )
    if who == "tool":
        summary = tool_summary(folder / "out" / "amt-preflight.json")
    else:
        summary = (folder / "stdout").read_text().strip()
    return Measurement(seconds, peak, queries, summary)


# --- the survey table -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    case: Case
    tool: list[Measurement]
    client: list[Measurement]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def run_case(lab: Lab, case: Case, repeat: int, log: QueryLog) -> Row:
    case.write()
    tool: list[Measurement] = []
    client: list[Measurement] = []
    for run in range(repeat):
        order = ("tool", "client") if run % 2 == 0 else ("client", "tool")  # alternate
        for who in order:
            (tool if who == "tool" else client).append(measure(lab, case, who, run, log))
    return Row(case, tool, client)


def expected_queries(domains: int) -> int:
    """One UDP A per domain (the resolver's UDP probe is the first of them), one TCP A, and
    one PTR for the one address all the domains share."""
    return domains + 1 + 1


def check_row(row: Row) -> list[str]:
    """Problems with a row's measurements: unequal query counts, wrong answers."""
    problems: list[str] = []
    expected = expected_queries(row.case.domains)
    counts = {m.queries for m in row.tool + row.client}
    if counts != {expected}:
        problems.append(
            f"QUERY COUNT MISMATCH at {row.case.domains} domains, {row.case.delay_ms} ms: "
            f"tool {[m.queries for m in row.tool]}, client {[m.queries for m in row.client]}, "
            f"expected {expected} each"
        )
    n = row.case.domains
    if any(not m.summary.startswith(f"answered {n}/{n} resolver pass") for m in row.tool):
        problems.append(f"the tool did not find every record: {row.tool[0].summary}")
    if any(not m.summary.startswith(f"answered {n}/{n} tcp 1/1") for m in row.client):
        problems.append(f"the client did not find every record: {row.client[0].summary}")
    return problems


def calibrate(lab: Lab, direct: str, relayed: str) -> tuple[float, float]:
    """Median round trip (ms) of one UDP query straight to the bench server and via the relay."""
    query = dns.message.make_query(f"ProvisionServer.{network.bench_domain(1)}", "A")
    medians = []
    with lab.in_client():
        for server in (direct, relayed):
            times = []
            for _ in range(CALIBRATION_QUERIES):
                clock = time.perf_counter()
                dns.query.udp(query, server, timeout=TIMEOUT)
                times.append((time.perf_counter() - clock) * 1000)
            medians.append(median(times))
    return medians[0], medians[1]


def print_table(rows: Sequence[Row]) -> None:
    header = (
        f"{'N':>5} {'delay':>6} {'client s':>9} {'tool s':>8} {'tool/client':>11} "
        f"{'tool MiB':>9} {'client MiB':>10} {'queries tool/client':>20}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        client_s = median([m.seconds for m in row.client])
        tool_s = median([m.seconds for m in row.tool])
        ratio = tool_s / client_s
        target = ratio_target(row.case.domains)
        flag = f"  > {target}" if ratio > target else ""
        queries = f"{row.tool[0].queries}/{row.client[0].queries}"
        print(
            f"{row.case.domains:>5} {row.case.delay_ms:>4} ms {client_s:>9.3f} {tool_s:>8.3f} "
            f"{ratio:>11.2f} {median([m.peak_kib for m in row.tool]) / 1024:>9.1f} "
            f"{median([m.peak_kib for m in row.client]) / 1024:>10.1f} {queries:>20}{flag}"
        )


# --- start-up ---------------------------------------------------------------------------


def startup(argv: Sequence[str], runs: int, scratch: Path) -> float:
    times = []
    for _ in range(runs):
        seconds, _, code = timed_run(
            argv, scratch / "startup.out", scratch / "startup.err", STARTUP_TIMEOUT
        )
        if code != 0:
            err = (scratch / "startup.err").read_text(errors="replace")
            raise BenchError(f"{' '.join(argv)} exited with code {code}:\n{err}")
        times.append(seconds)
    return median(times)


def print_startup(scratch: Path) -> float:
    tool_help = startup([str(TOOL), "--help"], STARTUP_RUNS, scratch)
    bare = startup([str(PYTHON), "-c", "pass"], STARTUP_RUNS, scratch)
    print(f"start-up, median of {STARTUP_RUNS} runs:")
    target = "  (target <= 0.150)" + ("  OVER" if tool_help > 0.15 else "")
    print(f"  amt-preflight --help  {tool_help:.3f} s{target}")
    print(f"  python -c pass        {bare:.3f} s")
    return tool_help


def print_targets(rows: Sequence[Row], help_seconds: float) -> None:
    """The targets, met or not: DESIGN.md's for the largest domain count measured, and the
    one for a survey of 10 domains or fewer (start-up dominates it)."""
    largest = max(row.case.domains for row in rows)
    print(f"targets (DESIGN.md), at {largest} domains, and at {SMALL} domains or fewer:")
    for row in (r for r in rows if r.case.domains == largest or r.case.domains <= SMALL):
        ratio = median([m.seconds for m in row.tool]) / median([m.seconds for m in row.client])
        peak = median([m.peak_kib for m in row.tool]) / 1024
        target = ratio_target(row.case.domains)
        print(f"  {row.case.domains:>4} domains +{row.case.delay_ms:>2} ms: tool/client "
              f"{ratio:.2f} {'met' if ratio <= target else 'MISSED'} (<= {target}); "
              f"tool peak {peak:.0f} MiB {'met' if peak <= PEAK_TARGET_MIB else 'MISSED'} "
              f"(<= {PEAK_TARGET_MIB:.0f})")
    print(f"  amt-preflight --help {help_seconds:.3f} s "
          f"{'met' if help_seconds <= HELP_TARGET else 'MISSED'} (<= {HELP_TARGET})")


# --- main -------------------------------------------------------------------------------


def _numbers(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("an empty list")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/dns_survey.py",
        description="amt-preflight against a minimal dnspython client in the lab network "
        "(needs root).",
    )
    parser.add_argument("--domains", type=_numbers, default=[10, 100, 1000],
                        help="domain counts to survey, comma-separated (default 10,100,1000)")
    parser.add_argument("--delays", type=_numbers, default=[0, 25],
                        help="added round-trip delays in ms, comma-separated (default 0,25); "
                        "at most one of them non-zero")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args(argv)
    if not all(1 <= n <= MAX_DOMAINS for n in args.domains):
        parser.error(f"--domains: each between 1 and {MAX_DOMAINS}")
    if not all(0 <= d <= 1000 for d in args.delays) or len(set(args.delays) - {0}) > 1:
        parser.error("--delays: between 0 and 1000 ms, at most one of them non-zero "
                     "(there is one relay address)")
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat: between 1 and 20")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print(ROOT_NEEDED, file=sys.stderr)
        return 2
    bench_dns = network.ADDRESSES["bench_dns"]
    started = time.monotonic()
    rows: list[Row] = []
    problems: list[str] = []
    try:
        lab = Lab.start()
        try:
            log_path = lab.workdir / "bench-queries.log"
            lab.add(network.bench_dnsmasq(lab.workdir, lab.infra_ns, max(args.domains), log_path))
            delays = {d for d in args.delays if d}
            for delay in delays:
                lab.add(network.delay_relay(lab.infra_ns, bench_dns, delay))
            log = QueryLog(log_path)
            print(f"lab up; bench zone of {max(args.domains)} domains on {bench_dns}", flush=True)
            for delay in delays:
                direct, relayed = calibrate(lab, bench_dns, network.ADDRESSES["delay_dns"])
                log.take()  # the calibration queries are no contender's
                print(f"relay on {network.ADDRESSES['delay_dns']} (+{delay} ms asked): one UDP "
                      f"query {direct:.2f} ms direct, {relayed:.2f} ms relayed "
                      f"(median of {CALIBRATION_QUERIES})", flush=True)
            for n in args.domains:
                for delay in args.delays:
                    resolver = network.ADDRESSES["delay_dns"] if delay else bench_dns
                    case = Case(n, delay, resolver, lab.workdir / "bench" / f"n{n}-d{delay}")
                    row = run_case(lab, case, args.repeat, log)
                    rows.append(row)
                    problems += check_row(row)
                    print(f"  measured {n} domains, +{delay} ms", flush=True)
        finally:
            lab.stop()
        print()
        print(f"DNS survey, median of {args.repeat} runs each (tool and client alternating); "
              f"timeout {TIMEOUT}, retries {RETRIES}, concurrency {CONCURRENCY}; wall time is "
              "process start to exit; peak = ru_maxrss")
        print_table(rows)
        print()
        print("dnsmasq query log: no limit reached and no line lost; kernel UDP drops "
              "(InErrors, both namespaces): 0 in every run")
        print()
        with tempfile.TemporaryDirectory(prefix="amtp-bench-") as scratch:
            help_seconds = print_startup(Path(scratch))
        print()
        print_targets(rows, help_seconds)
    except (LabError, BenchError) as exc:
        if rows:
            print_table(rows)
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(f"\nbench took {time.monotonic() - started:.0f} s")
    if problems:
        print("\n!!! " + "\n!!! ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
