"""Whole-site survey benchmark: the measured run beside its critical path.

    sudo .venv/bin/python bench/site_survey.py [--config config.yaml] [--repeat 1]

Starts the lab network as `make demo` does (`python -m lab demo`: the built-in lab, the AD
domain, the DHCP segments, the lab's secrets in the environment), then runs, inside the
lab's client namespace and as a separate process, `--repeat` times,

    amt-preflight run -c CONFIG --allow-intrusive --format json -o DIR --no-history

(every site and every check of the config, as the demo does; JSON only, and no history row,
so the bench leaves nothing behind). It prints the median wall time from spawn to exit, the
run's own span (its started_at to finished_at: probing and judging, without Python's
start-up, the config and the report), and beside them the survey's critical path, each part
taken from that run's own results and evidence:

- the DHCP window of every site that listens on an interface (DHCP-SERVER-ANSWERS,
  window_s), and after it, for a site whose resolvers come from DHCP option 6, the queries
  that wait for those resolvers (DHCP-OPT6-DNS);
- one hello and connect-back per device profile (HS-CONNECT-BACK, HS-TLS-PSK: each attempt's
  timeline, from "connecting to" to its last event). Hellos go one at a time through the one
  synthetic endpoint, and those to one provisioning server are spaced by the site's
  handshake.hello_spacing (the server ignores a new hello from the same address for a while),
  so this part is max(every hello's time, for each server: its hellos' time + (hellos - 1) x
  spacing), after the ProvisionServer lookup when no hello goes to a literal address;
- the slowest chain of dependent queries: ProvisionServer A, then the PTR of its address
  (DNS-PROVSERVER-A, -PTR), ProvisionServer A, then the TCP connection to its hello port
  (HS-PROVSERVER-TCP: an address that does not answer ARP costs the kernel's 3 s), and each
  AD SRV record, then its target's A (DNS-AD-SRV), each link at its slowest resolver.

The critical path is the longest of the three; the ratio measured / critical path is what
DESIGN.md's target (<= 1.1) is about. A link's time is the run's own: a probe slowed by the
tool itself (a busy event loop) lengthens its chain too, so the bench also prints the round
trip of one UDP query to each configured resolver, measured from the client namespace, to
compare the chains' links with. Figures only: nothing is asserted. Runs after the first
wait the sites' hello_spacing first: a provisioning server ignores this host's hellos for a
while after a connect-back.

Needs root (the lab creates network namespaces, binds port 53, sends raw DHCP). All traffic
stays inside the lab's namespaces; the lab is always torn down.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the lab is not installed: it is taken from the checkout

from dns_survey import BenchError, timed_run  # noqa: E402  the same spawn-to-exit clock

from amt_preflight import config as config_module  # noqa: E402
from lab import Lab, LabError, ad, dhcp, netns, provisioning_server, snmp  # noqa: E402

PYTHON = Path(sys.executable)
RUN_TIMEOUT = 900.0  # seconds; the config's own deadline ends a run well before
VERDICT_CODES = range(4)  # `run` exit codes that are verdicts
RATIO_TARGET = 1.1  # DESIGN.md "Performance": a whole site survey within 1.1 x its critical path
CALIBRATION_QUERIES = 10
ROOT_NEEDED = (
    "bench/site_survey.py needs root: it starts the lab network (network namespaces, DNS "
    "servers on port 53, raw DHCP). Run it as root, e.g. `sudo .venv/bin/python "
    "bench/site_survey.py` or `make bench`."
)


# --- the critical path, from one run's results -------------------------------------------


@dataclass(frozen=True)
class Part:
    """One part of the critical path: its length (s) and how it is made up."""

    seconds: float
    how: str


@dataclass
class CriticalPath:
    dhcp: Part
    hellos: Part
    queries: Part
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max(self.dhcp.seconds, self.hellos.seconds, self.queries.seconds)

    @property
    def longest(self) -> str:
        parts = {"DHCP window": self.dhcp, "hellos and connect-backs": self.hellos,
                 "dependent queries": self.queries}
        return max(parts, key=lambda name: parts[name].seconds)


def _by_check(results: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        found[result["check"]].append(result)
    return found


def _answers(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("evidence", {}).get("answers", []))


def _slowest(answers: Iterable[dict[str, Any]]) -> float:
    """The slowest answer's time in seconds (0 when none)."""
    return max((a.get("elapsed_ms", 0.0) for a in answers), default=0.0) / 1000


def dhcp_part(by_check: dict[str, list[dict[str, Any]]],
              config: config_module.Config) -> Part:
    """Every site's DHCP window, and after it the lookups at the resolvers it hands out
    where the site's own resolvers come from DHCP option 6."""
    windows: dict[str, float] = {}
    for result in by_check.get("DHCP-SERVER-ANSWERS", []):
        window = result.get("evidence", {}).get("window_s")
        if isinstance(window, int | float):
            windows[result["site"]] = float(window)
    if not windows:
        return Part(0.0, "no site listens for DHCP")
    from_option6 = {s.name for s in config.sites if s.interface is not None and not s.resolvers}
    chains: dict[str, float] = dict(windows)
    for result in by_check.get("DHCP-OPT6-DNS", []):
        site = result["site"]
        if site in windows:  # the option 6 resolvers are known once the window has ended
            chains[site] = max(chains[site], windows[site] + _slowest(_answers(result)))
    site = max(chains, key=lambda s: chains[s])
    how = ", ".join(f"{s} {w:.2f} s" for s, w in sorted(windows.items()))
    if chains[site] > windows[site]:
        how += f"; {site}: window, then ProvisionServer A at option 6 resolvers"
    if from_option6:
        how += f" (resolvers from option 6: {', '.join(sorted(from_option6))})"
    return Part(chains[site], how)


@dataclass(frozen=True)
class Hello:
    site: str
    target: str
    profile: str
    address: str
    seconds: float  # from "connecting to" to the attempt's last event
    literal: bool  # sent to an address given as such: no lookup before it


def hellos_of(by_check: dict[str, list[dict[str, Any]]]) -> list[Hello]:
    """Every hello the run sent, once (HS-HELLO-SENT, HS-CONNECT-BACK and
    HS-PRESENTED-CHAIN show the same attempts)."""
    seen: dict[tuple[str, str, str, str], Hello] = {}
    for check in ("HS-HELLO-SENT", "HS-CONNECT-BACK", "HS-PRESENTED-CHAIN", "HS-TLS-PSK"):
        for result in by_check.get(check, []):
            for attempt in result.get("evidence", {}).get("attempts", []):
                events = attempt.get("timeline", [])
                start = next((e["at_ms"] for e in events
                              if str(e.get("event", "")).startswith("connecting to ")), None)
                if start is None:  # never sent (no address, refused before the hello)
                    continue
                key = (result["site"], result["target"], attempt.get("profile", "?"),
                       str(attempt.get("address", "?")))
                literal = bool(events) and "literal address" in str(events[0].get("event"))
                seen[key] = Hello(*key, (events[-1]["at_ms"] - start) / 1000, literal)
    return list(seen.values())


def first_hello(document: dict[str, Any]) -> float | None:
    """When the run's first hello went out, in seconds after the run started."""
    begun = _moment(document["run"]["started_at"])
    starts = []
    for r in document["results"]:
        attempts = r.get("evidence", {}).get("attempts")
        if r["check"].startswith("HS-") and r.get("started_at") and isinstance(attempts, list):
            for attempt in attempts:
                sent = [e["at_ms"] for e in attempt.get("timeline", [])
                        if str(e.get("event", "")).startswith("connecting to ")]
                if sent:
                    starts.append((_moment(r["started_at"]) - begun).total_seconds()
                                  + sent[0] / 1000)
    return min(starts, default=None)


def hellos_part(by_check: dict[str, list[dict[str, Any]]],
                config: config_module.Config) -> Part:
    hellos = hellos_of(by_check)
    if not hellos:
        return Part(0.0, "no hello sent")
    spacing = {site.name: site.handshake.hello_spacing for site in config.sites}
    by_server: dict[str, list[Hello]] = defaultdict(list)
    for hello in hellos:
        by_server[hello.address].append(hello)
    one_at_a_time = sum(h.seconds for h in hellos)
    spaced = {
        address: sum(h.seconds for h in sent)
        + (len(sent) - 1) * max(spacing.get(h.site, 0.0) for h in sent)
        for address, sent in by_server.items()
    }
    server = max(spaced, key=lambda a: spaced[a])
    chain = max(one_at_a_time, spaced[server])
    lead = 0.0
    if not any(h.literal for h in hellos):  # every hello waits for its ProvisionServer A
        lead = min((_slowest(_answers(r)) for r in by_check.get("DNS-PROVSERVER-A", [])),
                   default=0.0)
    sent = by_server[server]
    each = ", ".join(f"{h.profile} {h.seconds * 1000:.0f} ms" for h in sent)
    gap = max(spacing.get(h.site, 0.0) for h in sent)
    how = (f"{len(hellos)} hellos; to {server}: {each}, + {len(sent) - 1} x {gap:g} s spacing"
           + (f"; after ProvisionServer A {lead * 1000:.0f} ms" if lead else ""))
    return Part(lead + chain, how)


def _srv_target(value: str) -> str:
    parts = value.split()
    return parts[3].rstrip(".").lower() if len(parts) == 4 else ""


def queries_part(by_check: dict[str, list[dict[str, Any]]],
                 config: config_module.Config) -> Part:
    """The slowest chain of dependent DNS queries, each link at its slowest resolver;
    after the DHCP window at a site whose resolvers come from option 6."""
    windows = {r["site"]: float(r.get("evidence", {}).get("window_s") or 0.0)
               for r in by_check.get("DHCP-SERVER-ANSWERS", [])}
    from_option6 = {s.name for s in config.sites if s.interface is not None and not s.resolvers}
    chains: list[tuple[float, str]] = []
    a_by_target = {(r["site"], r["target"]): _slowest(_answers(r))
                   for r in by_check.get("DNS-PROVSERVER-A", [])}
    for result in by_check.get("DNS-PROVSERVER-PTR", []):
        key = (result["site"], result["target"])
        if key in a_by_target and _answers(result):
            a, ptr = a_by_target[key], _slowest(_answers(result))
            chains.append((a + ptr, f"{key[0]}: ProvisionServer.{key[1]} A {a * 1000:.0f} ms "
                                    f"-> PTR {ptr * 1000:.0f} ms"))
    for (site, domain), a in a_by_target.items():
        chains.append((a, f"{site}: ProvisionServer.{domain} A {a * 1000:.0f} ms"))
    for result in by_check.get("HS-PROVSERVER-TCP", []):  # its A, then the connection
        evidence = result.get("evidence", {})
        elapsed = evidence.get("elapsed_ms")
        if isinstance(elapsed, int | float):
            chains.append((elapsed / 1000, f"{result['site']}: ProvisionServer."
                                           f"{result['target']} A -> TCP port "
                                           f"{evidence.get('port', '?')} "
                                           f"({evidence.get('outcome', '?')}) {elapsed:.0f} ms"))
    for result in by_check.get("DNS-AD-SRV", []):
        answers = _answers(result)
        for srv in (a for a in answers if a.get("query", "").endswith(" SRV")):
            for name in {_srv_target(v) for v in srv.get("records", [])} - {""}:
                follow = [a for a in answers if a.get("query") == f"{name} A"
                          and a.get("resolver") == srv.get("resolver")]
                link = _slowest(follow)
                chains.append((srv.get("elapsed_ms", 0.0) / 1000 + link,
                               f"{result['site']}: {srv['query']} "
                               f"{srv.get('elapsed_ms', 0.0):.0f} ms -> {name} A "
                               f"{link * 1000:.0f} ms"))
    if not chains:
        return Part(0.0, "no dependent DNS query")
    offset_chains = []
    for seconds, how in chains:
        site = how.split(":", 1)[0]
        wait = windows.get(site, 0.0) if site in from_option6 else 0.0
        offset_chains.append((wait + seconds, how + (f" (after the {wait:g} s DHCP window)"
                                                     if wait else "")))
    return Part(*max(offset_chains))


def critical_path(document: dict[str, Any], config: config_module.Config) -> CriticalPath:
    by_check = _by_check(document["results"])
    path = CriticalPath(dhcp_part(by_check, config), hellos_part(by_check, config),
                        queries_part(by_check, config))
    if "DNS-DYNUPDATE-OPEN" in by_check:
        path.notes.append("the dynamic-update chain (SOA -> primary A -> UPDATE -> delete) is "
                          "not counted: its evidence times only the UPDATE")
    return path


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run_span(document: dict[str, Any]) -> float:
    """The run's own span: started_at to finished_at, in seconds."""
    run = document["run"]
    return (_moment(run["finished_at"]) - _moment(run["started_at"])).total_seconds()


def latest_results(document: dict[str, Any], count: int = 3) -> list[str]:
    """The results that ended last, as seconds after the run started: what it waited for."""
    begun = _moment(document["run"]["started_at"])
    ends: dict[tuple[str, str], float] = {}
    for r in document["results"]:
        if r.get("started_at") and r.get("duration_ms"):  # 0: judged, not probed
            end = (_moment(r["started_at"]) - begun).total_seconds() + r["duration_ms"] / 1000
            key = (r["check"], r["site"])
            ends[key] = max(ends.get(key, 0.0), end)
    latest = sorted(ends.items(), key=lambda item: -item[1])[:count]
    return [f"{check} ({site}) {end:.2f} s" for (check, site), end in latest]


# --- running the survey -----------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    seconds: float  # spawn to exit
    peak_kib: int
    span: float  # the run's own started_at -> finished_at
    path: CriticalPath
    latest: list[str]
    verdicts: str
    first_hello: float | None


def survey(lab: Lab, config_path: Path, config: config_module.Config, env: dict[str, str],
           folder: Path) -> Measurement:
    folder.mkdir(parents=True)
    argv = [str(PYTHON), "-m", "amt_preflight.cli", "run", "-c", str(config_path),
            "--allow-intrusive", "--format", "json", "-o", str(folder / "out"), "--no-history"]
    os.environ.update(env)  # timed_run's child inherits it: the lab's secrets, as the demo's
    seconds, peak, code = timed_run(netns.exec_argv(lab.client_ns, argv), folder / "stdout",
                                    folder / "stderr", RUN_TIMEOUT)
    if code not in VERDICT_CODES:
        stderr = (folder / "stderr").read_text(errors="replace")
        raise BenchError(f"the survey exited with code {code}; its stderr:\n{stderr}")
    document = json.loads((folder / "out" / "amt-preflight.json").read_text())
    verdicts = ", ".join(f"{s['name']} {s['verdict']}" for s in document["sites"])
    return Measurement(seconds, peak, run_span(document), critical_path(document, config),
                       latest_results(document), verdicts, first_hello(document))


def calibrate(lab: Lab, config: config_module.Config) -> list[str]:
    """The median round trip of one UDP query to each configured resolver."""
    lines = []
    with lab.in_client():
        for resolver in sorted({r for site in config.sites for r in site.resolvers}):
            domain = next((s.domain_names[0] for s in config.sites
                           if resolver in s.resolvers and s.domain_names), "example")
            query = dns.message.make_query(f"ProvisionServer.{domain}", "A")
            times = []
            for _ in range(CALIBRATION_QUERIES):
                clock = time.perf_counter()
                try:
                    dns.query.udp(query, resolver, timeout=2)
                except (OSError, dns.exception.DNSException):
                    continue
                times.append((time.perf_counter() - clock) * 1000)
            shown = f"{statistics.median(times):.2f} ms" if times else "no answer"
            lines.append(f"{resolver} {shown}")
    return lines


def print_measurements(runs: Sequence[Measurement], config_path: Path) -> None:
    wall = statistics.median(m.seconds for m in runs)
    span = statistics.median(m.span for m in runs)
    median_run = sorted(runs, key=lambda m: m.seconds)[len(runs) // 2]
    path = median_run.path
    print(f"whole-site survey of {config_path} (--allow-intrusive, every site and check), "
          f"median of {len(runs)} run(s); the critical path from the median run")
    print(f"  verdicts:       {median_run.verdicts}")
    print(f"  measured:       {wall:8.2f} s spawn to exit (each: "
          f"{', '.join(f'{m.seconds:.2f}' for m in runs)}); peak "
          f"{statistics.median(m.peak_kib for m in runs) / 1024:.0f} MiB")
    print(f"  run's own span: {span:8.2f} s (started_at to finished_at: probing and judging)")
    print(f"  critical path:  {path.seconds:8.2f} s, set by the {path.longest}:")
    print(f"    DHCP window                  {path.dhcp.seconds:7.2f} s  {path.dhcp.how}")
    print(f"    hellos and connect-backs     {path.hellos.seconds:7.2f} s  {path.hellos.how}")
    print(f"    slowest dependent queries    {path.queries.seconds:7.2f} s  {path.queries.how}")
    for note in path.notes:
        print(f"    ({note})")
    ratio = wall / path.seconds if path.seconds else float("inf")
    print(f"  measured / critical path: {ratio:.2f} (target <= {RATIO_TARGET}); "
          f"run's span / critical path: {span / path.seconds if path.seconds else 0:.2f}")
    print(f"  ended last:     {'; '.join(median_run.latest)}")
    if median_run.first_hello is not None:
        print(f"  first hello:    {median_run.first_hello:8.2f} s after the run started")


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/site_survey.py",
        description="a whole-site survey of the lab against its critical path (needs root)")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml",
                        help="the sites to survey (default: the demo's config.yaml)")
    parser.add_argument("--repeat", type=int, default=1, help="runs (default 1)")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat: between 1 and 20")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print(ROOT_NEEDED, file=sys.stderr)
        return 2
    config_path = args.config.resolve()
    started = time.monotonic()
    try:
        config = config_module.load(config_path)
    except config_module.ConfigError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    runs: list[Measurement] = []
    try:
        lab = Lab.start()
        try:
            directory = ad.start(lab)  # as `python -m lab demo`: the AD domain of site hq
            dhcp.start(lab)  # the DHCP segments
            env = {**snmp.ENVIRONMENT, **directory.environment(),
                   **provisioning_server.ENVIRONMENT}
            print(f"lab up (AD, DHCP segments) in {time.monotonic() - started:.0f} s",
                  flush=True)
            resolvers = calibrate(lab, config)
            spacing = max((s.handshake.hello_spacing for s in config.sites), default=0.0)
            for run in range(args.repeat):
                if run:  # a provisioning server ignores this host's hellos for a while after
                    time.sleep(spacing)  # a connect-back: a second run waits, as in the field
                runs.append(survey(lab, config_path, config, env,
                                   lab.workdir / "site-bench" / f"run-{run}"))
                print(f"  survey {run + 1}: {runs[-1].seconds:.2f} s", flush=True)
        finally:
            lab.stop()
    except (LabError, BenchError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print()
    print_measurements(runs, args.config)
    if resolvers:
        print(f"  one UDP query from the client namespace, median of {CALIBRATION_QUERIES}: "
              + ", ".join(resolvers))
    print(f"\nbench took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
