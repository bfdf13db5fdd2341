"""HTML report benchmark: how long it takes to write, how big it is, how fast it opens.

    .venv/bin/python bench/html_report.py [--sites 1000] [--repeat 3] [--out FILE]

Builds a synthetic run of --sites sites, each surveyed by the whole catalogue of CHECKS.md
(44 checks, 45 results a site: SNMP-IF-UP has two interfaces) with mixed statuses and
verdicts, and a previous run that differs at a tenth of the sites; renders the HTML report
--repeat times and prints the median render time and the size (raw and gzipped, as it would
travel by mail).
When Chromium is installed it then opens the file headless and prints the time to the load
event and to the first contentful paint, and how long the status filter and the text filter
take over all the rows (the text filter's figure excludes its 150 ms debounce).
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/chromium.py: the DevTools driver the browser test uses

from amt_preflight.model import (  # noqa: E402
    Result,
    RunInfo,
    RunResult,
    Severity,
    SiteSummary,
    Status,
    Waiver,
    fingerprint,
    site_verdict,
    status_counts,
)
from amt_preflight.reports.html import render  # noqa: E402
from tests.chromium import Chromium, executable  # noqa: E402

# The catalogue of CHECKS.md: ID and default severity.
CATALOGUE = """
DHCP-SERVER-ANSWERS critical, DHCP-SERVER-ALLOWED high, DHCP-OPT15-PRESENT critical,
DHCP-OPT15-MATCH high, DHCP-OPT15-CLEAN medium, DHCP-OPT6-DNS medium,
DHCP-OPT81-ACCEPTED medium, DHCP-OPT81-REGISTERS medium,
DNS-RESOLVER-ANSWERS critical, DNS-PROVSERVER-A critical, DNS-PROVSERVER-MATCH high,
DNS-PROVSERVER-CONSISTENT medium, DNS-PROVSERVER-PTR low, DNS-DYNUPDATE-OPEN high,
DNS-AD-SRV high,
AD-KDC-ANSWERS high, AD-REALM-MATCH high, AD-CLOCK-SKEW high, AD-LDAP-ROOTDSE medium,
AD-LDAP-BIND medium, AD-AMT-OU low,
CERT-LOADABLE critical, CERT-AMT-USAGE critical, CERT-SERVER-AUTH high, CERT-VALIDITY critical,
CERT-EXPIRY-SOON medium, CERT-CHAIN-COMPLETE critical, CERT-ROOT-TRUSTED critical,
CERT-DOMAIN-MATCH critical, CERT-CRYPTO high, CERT-CHAIN-LENGTH low,
CA-CRL-FRESH high, CA-NOT-REVOKED critical, CA-OCSP-ANSWERS high, CA-AIA-REACHABLE medium,
CA-ENTERPRISE-REACHABLE medium,
HS-PROVSERVER-TCP critical, HS-HELLO-SENT high, HS-CONNECT-BACK high,
HS-PRESENTED-CHAIN critical, HS-TLS-PSK medium,
SNMP-DEVICE-ANSWERS medium, SNMP-IF-UP high, SNMP-SERVICE-RUNNING high
"""
CHECKS = [
    (check, Severity(severity))
    for check, severity in (item.split() for item in CATALOGUE.replace("\n", " ").split(","))
]
STARTED = "2025-11-28T02:00:00+00:00"
# Share of sites by how they fare; the rest are ready.
PROFILES = (("not-ready", 0.15), ("unknown", 0.06), ("at-risk", 0.14), ("waived", 0.05))
CHANGED_SITES = 0.1  # share of sites whose results differ in the previous run
TEXT_FILTER_DEBOUNCE_MS = 150  # the report's script waits this long after the last keystroke


def site_results(rng: random.Random, site: int) -> tuple[SiteSummary, list[Result]]:
    name = f"site-{site:04d}"
    domain = f"s{site:04d}.corp.example"
    roll, profile = rng.random(), "ready"
    for candidate, share in PROFILES:
        if roll < share:
            profile = candidate
            break
        roll -= share
    wanted = {
        "not-ready": (Status.FAIL, {Severity.CRITICAL, Severity.HIGH}, rng.randint(1, 4)),
        "unknown": (Status.ERROR, set(Severity), rng.randint(1, 3)),
        "at-risk": (Status.FAIL, {Severity.MEDIUM, Severity.LOW}, rng.randint(1, 3)),
        "waived": (Status.WAIVED, {Severity.MEDIUM}, 1),
    }.get(profile)
    picked: dict[str, Status] = {}
    if wanted is not None:
        status, severities, count = wanted
        candidates = [check for check, severity in CHECKS if severity in severities]
        picked = dict.fromkeys(rng.sample(candidates, count), status)
    results = []
    for check, severity in CHECKS:
        targets = [f"10.{site // 250}.{site % 250}.2/Gi1/0/{n}" for n in (24, 48)] \
            if check == "SNMP-IF-UP" else [domain]
        for target in targets:
            status = picked.get(check, Status.PASS)
            if status is Status.PASS and check in ("HS-TLS-PSK", "AD-LDAP-BIND"):
                status = Status.SKIPPED
            results.append(result(check, name, target, status, severity))
    own = SiteSummary(name, [domain], site_verdict(results), status_counts(results))
    return own, results


def result(check: str, site: str, target: str, status: Status, severity: Severity) -> Result:
    messages = {
        Status.PASS: f"{target}: as expected",
        Status.FAIL: f"{target}: ProvisionServer.{target} answered NXDOMAIN from 10.0.0.53 "
                     f"and 10.0.0.54; expected 192.0.2.10",
        Status.ERROR: f"{target}: no answer within 3 s (2 attempts)",
        Status.SKIPPED: "not configured for this site",
        Status.WAIVED: f"{target}: the certificate expires in 12 days",
    }
    evidence = {} if status in (Status.PASS, Status.SKIPPED) else {
        "query": f"ProvisionServer.{target} A",
        "resolvers": {"10.0.0.53": {"rcode": "NXDOMAIN", "ms": 4},
                      "10.0.0.54": {"rcode": "NXDOMAIN", "ms": 6}},
    }
    waiver = Waiver(check, "renewal ordered, CHG-1234", site=site, target=target,
                    owner="pki-team", expires="2026-01-31") if status is Status.WAIVED else None
    return Result(
        check=check, site=site, target=target, status=status, severity=severity,
        title=f"{check.replace('-', ' ').capitalize()}", message=messages[status],
        evidence=evidence,
        remediation="Create the A record ProvisionServer.<domain> on every resolver the "
                    "site's DHCP hands out, pointing at the provisioning server.",
        references=["AMT SDK: setup and configuration"], started_at=STARTED, duration_ms=12,
        fingerprint=fingerprint(check, site, target), waiver=waiver,
    )


def synthetic_runs(sites: int, seed: int = 7) -> tuple[RunResult, RunResult]:
    """This run and the previous one: the same sites, a tenth of them faring differently."""
    now: list[tuple[SiteSummary, list[Result]]] = []
    before: list[tuple[SiteSummary, list[Result]]] = []
    for site in range(1, sites + 1):
        now.append(site_results(random.Random(f"{seed}-{site}"), site))
        changed = random.Random(f"{seed}-changed-{site}").random() < CHANGED_SITES
        before.append(site_results(random.Random(f"{seed}-before-{site}"), site)
                      if changed else now[-1])

    def run(id_: str, pairs: list[tuple[SiteSummary, list[Result]]]) -> RunResult:
        info = RunInfo(id_, STARTED, STARTED, "survey01", "config.yaml")
        return RunResult(info, [s for s, _ in pairs], [r for _, rs in pairs for r in rs])

    return run("bench-now", now), run("bench-before", before)


def browser_figures(path: Path) -> None:
    with tempfile.TemporaryDirectory() as profile, Chromium(Path(profile)) as browser:
        started = time.perf_counter()
        browser.open(path.as_uri())
        loaded = time.perf_counter() - started
        paint = browser.evaluate(
            "performance.getEntriesByName('first-contentful-paint')[0].startTime")
        status_ms = browser.evaluate("""(() => {
            const box = document.querySelector('#status-filter input[value=pass]');
            const t = performance.now();
            box.click();
            document.getElementById('all-results').getBoundingClientRect();
            return performance.now() - t; })()""")
        text_ms = browser.evaluate(f"""new Promise(done => {{
            const search = document.getElementById('text-filter');
            search.value = 'site-0999';
            const t = performance.now();
            search.dispatchEvent(new Event('input'));
            setTimeout(() => {{
                document.getElementById('all-results').getBoundingClientRect();
                done(performance.now() - t - {TEXT_FILTER_DEBOUNCE_MS}); }},
                {TEXT_FILTER_DEBOUNCE_MS + 1}); }})""")
    print(f"chromium: load event {loaded * 1000:,.0f} ms after navigating, "
          f"first contentful paint {paint:,.0f} ms")
    print(f"chromium: status filter (hide pass) {status_ms:,.0f} ms, "
          f"text filter {text_ms:,.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="keep the report here")
    args = parser.parse_args()
    run, previous = synthetic_runs(args.sites)
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        html = render(run, previous)
        times.append(time.perf_counter() - started)
    data = html.encode("utf-8")
    counts = status_counts(run.results)
    print(f"{len(run.sites):,} sites, {len(run.results):,} results "
          f"({', '.join(f'{n:,} {s}' for s, n in counts.items())})")
    print(f"render: median {statistics.median(times):.2f} s of {args.repeat}")
    print(f"size: {len(data) / 1e6:.1f} MB, gzipped {len(gzip.compress(data)) / 1e6:.2f} MB")
    with tempfile.TemporaryDirectory() as folder:
        path = args.out or Path(folder) / "report.html"
        path.write_bytes(data)
        if executable() is None:
            print("chromium: not installed, no browser figures")
        else:
            browser_figures(path.resolve())


if __name__ == "__main__":
    main()
