"""JUnit, Nagios, Prometheus and Markdown from one RunResult; merging runs of several hosts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from amt_preflight import reports
from amt_preflight.model import RunResult, Severity, Status, Verdict, merge
from amt_preflight.reports import nagios

from . import runs
from .test_reports import SCRIPT_TAG, hostile_run


def test_junit_one_case_per_result_failures_and_errors_distinct() -> None:
    run = hostile_run()
    root = ET.fromstring(reports.render("junit", run))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(run.results)
    kinds = {c.get("name"): [child.tag for child in c if child.tag != "properties"]
             for c in cases}
    assert kinds['DNS-PROVSERVER-A "><img src=x onerror=alert(1)>'] == ["failure"]
    assert kinds["AD-KDC-ANSWERS 10.1.0.5"] == ["error"]
    waived = next(c for c in cases if c.get("name") == "CERT-EXPIRY-SOON corp.example")
    skipped = waived.find("skipped")
    assert skipped is not None and "pki-team" in (skipped.get("message") or "")
    assert _properties(waived) == {"status": "waived", "severity": "medium",
                                   "title": "title of CERT-EXPIRY-SOON"}
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"hq", "branch-ü", "lab", "dr"}  # the site's name only
    assert suites["hq"].get("failures") == "1"
    assert _properties(suites["hq"]) == {"verdict": "not-ready"}
    failure = suites["hq"].find("./testcase/failure")
    assert failure is not None and failure.get("type") == "critical"
    assert (failure.get("message") or "").startswith("[critical] NXDOMAIN")


def _properties(element: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in element.findall("./properties/property")}


def _names(text: str) -> list[tuple[str | None, str | None]]:
    root = ET.fromstring(text)
    return [(suite.get("name"), case.get("name")) for suite in root.findall("testsuite")
            for case in suite.findall("testcase")]


def test_junit_names_survive_a_changed_severity_status_and_verdict() -> None:
    """CI keeps a test's history by suite and case name: what changes lives elsewhere."""
    run = hostile_run()
    changed = RunResult(run.run, [replace(s, verdict=Verdict.READY) for s in run.sites],
                        [replace(r, severity=Severity.LOW, status=Status.PASS,
                                 title="renamed") for r in run.results])
    assert _names(reports.render("junit", changed)) == _names(reports.render("junit", run))
    assert all("[" not in case and "(" not in (suite or "")
               for suite, case in _names(reports.render("junit", run)) if case)


def test_nagios_state_line_and_perfdata() -> None:
    run = hostile_run()
    text = reports.render("nagios", run)
    first, *rest = text.splitlines()
    assert first.startswith("AMT-PREFLIGHT CRITICAL - not-ready: 4 sites")
    perf = first.split(" | ", 1)[1].split()
    assert {p.split("=")[0] for p in perf} == {
        "pass", "fail", "waived", "skipped", "error", "run_duration"}
    assert all(re.fullmatch(r"'?[^'=\s]+'?=[-0-9.]+(s|ms)?(;[^;\s]*){0,4}", p) for p in perf)
    assert len(rest) == sum(r.status in (Status.FAIL, Status.ERROR) for r in run.results)
    assert SCRIPT_TAG not in text.split(" | ")[0]
    # one perfdata item per site, its verdict as a Nagios code; none per result
    site_perf = rest[-1].rsplit(" | ", 1)[1].split()
    assert site_perf == ["site:hq=2", "site:branch-_=3", "site:lab=1", "site:dr=0"]


def test_nagios_ready_run_is_ok_on_one_line() -> None:
    run = hostile_run()
    ready = RunResult(run.run, [s for s in run.sites if s.verdict is Verdict.READY],
                      [r for r in run.results if r.site == "dr"])
    assert reports.render("nagios", ready).startswith("AMT-PREFLIGHT OK - ready: 1 sites")
    assert len(reports.render("nagios", ready).splitlines()) == 1
    assert reports.render("nagios", ready).split()[-1] == "site:dr=0"


SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(\{(?P<labels>.*)\})? (?P<value>[-0-9.e+]+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Sample = tuple[str, dict[str, str], float]


def _samples(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.split()[1] in ("HELP", "TYPE")
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = dict(LABEL.findall(match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def test_prometheus_textfile_parses_and_escapes_labels() -> None:
    run = hostile_run()
    text = reports.render("prometheus", run)
    samples = _samples(text)
    status = [s for s in samples if s[0] == "amt_preflight_check_status"]
    assert len(status) == len(run.results)  # one series per site, check and target
    assert all(set(lab) == {"site", "check", "target"} for _, lab, _ in status)
    by_key = {(lab["site"], lab["check"], lab["target"]): v for _, lab, v in status}
    assert by_key[("hq", "DNS-PROVSERVER-A", '\\"><img src=x onerror=alert(1)>')] == 4  # fail
    assert by_key[("hq", "DNS-RESOLVER-ANSWERS", "10.0.0.53")] == 0  # pass
    assert by_key[("hq", "CERT-EXPIRY-SOON", "corp.example")] == 1  # waived
    assert by_key[("branch-ü", "AD-CLOCK-SKEW", "10.1.0.5")] == 2  # skipped
    assert by_key[("branch-ü", "AD-KDC-ANSWERS", "10.1.0.5")] == 3  # error
    severity = {(lab["site"], lab["check"], lab["target"]): v for n, lab, v in samples
                if n == "amt_preflight_check_severity"}
    assert severity.keys() == by_key.keys()
    assert severity[("hq", "DNS-RESOLVER-ANSWERS", "10.0.0.53")] == 4  # critical
    assert severity[("lab", "DHCP-OPT15-CLEAN", "eth0")] == 2  # medium
    assert "0 pass, 1 waived, 2 skipped, 3 error, 4 fail" in text  # the HELP says so
    assert "0 info, 1 low, 2 medium, 3 high, 4 critical" in text
    verdicts = {(lab["site"], lab["verdict"]) for n, lab, v in samples
                if n == "amt_preflight_site_verdict" and v}
    assert ("hq", "not-ready") in verdicts and ("dr", "ready") in verdicts
    assert any(n == "amt_preflight_run_timestamp_seconds" and v > 0 for n, _, v in samples)


def test_prometheus_series_survive_a_changed_status_and_severity() -> None:
    """An overridden severity or a fixed finding changes values, never the set of series."""
    run = hostile_run()
    changed = RunResult(run.run, run.sites, [
        replace(r, severity=Severity.CRITICAL, status=Status.PASS) for r in run.results])

    def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {(n, tuple(sorted(lab.items()))) for n, lab, _ in _samples(text)
                if n.startswith("amt_preflight_check_")}

    before, after = (reports.render("prometheus", r) for r in (run, changed))
    assert series(before) == series(after)
    assert before != after


# Targets as a site names them: its domain, its DHCP servers, its resolvers, a device
FLEET_RESULTS: tuple[tuple[str, str], ...] = (
    *((c, "{domain}") for c in (
        "CA-AIA-REACHABLE", "CA-CRL-FRESH", "CA-NOT-REVOKED", "CA-OCSP-ANSWERS",
        "CERT-AMT-USAGE", "CERT-CHAIN-COMPLETE", "CERT-CHAIN-LENGTH", "CERT-CRYPTO",
        "CERT-DOMAIN-MATCH", "CERT-EXPIRY-SOON", "CERT-LOADABLE", "CERT-ROOT-TRUSTED",
        "CERT-SERVER-AUTH", "CERT-VALIDITY", "DNS-DYNUPDATE-OPEN", "DNS-PROVSERVER-A",
        "DNS-PROVSERVER-CONSISTENT", "DNS-PROVSERVER-MATCH", "DNS-PROVSERVER-PTR",
        "HS-CONNECT-BACK", "HS-HELLO-SENT", "HS-PRESENTED-CHAIN", "HS-PROVSERVER-TCP",
        "HS-TLS-PSK")),
    *((c, "-") for c in (
        "AD-AMT-OU", "AD-CLOCK-SKEW", "AD-KDC-ANSWERS", "AD-LDAP-BIND", "AD-LDAP-ROOTDSE",
        "AD-REALM-MATCH", "CA-ENTERPRISE-REACHABLE", "DEV-CONTROL-MODE", "DEV-ROOT-ACTIVE",
        "DEV-SUFFIX-MATCH", "DNS-AD-SRV", "SNMP-SERVICE-RUNNING")),
    *((c, f"{{net}}.{n}") for c in (
        "DHCP-OPT15-CLEAN", "DHCP-OPT15-MATCH", "DHCP-OPT15-PRESENT", "DHCP-OPT6-DNS",
        "DHCP-SERVER-ALLOWED", "DNS-RESOLVER-ANSWERS") for n in (1, 2)),
    *((c, "eth0") for c in ("DHCP-OPT81-ACCEPTED", "DHCP-OPT81-REGISTERS",
                            "DHCP-SERVER-ANSWERS")),
    ("SNMP-DEVICE-ANSWERS", "{net}.40"), ("SNMP-IF-UP", "{net}.40/ge-0/0/1"),
)


def fleet(sites: int = 1000) -> RunResult:
    """`sites` sites of len(FLEET_RESULTS) (~50) results each, every tenth site not ready."""
    run = hostile_run()
    template = run.results[0]
    domains: dict[str, list[str]] = {}
    results = []
    statuses = (Status.PASS, Status.FAIL, Status.ERROR, Status.SKIPPED, Status.WAIVED)
    for i in range(sites):
        name, domain, net = f"site-{i:04d}", f"site{i:04d}.corp.example", f"10.{i // 250}.{i % 250}"
        mine = [replace(template, site=name, check=check,
                        target=target.format(domain=domain, net=net),
                        status=statuses[(i + k) % 5] if i % 10 == 0 else Status.PASS,
                        severity=list(Severity)[k % 5], message=f"observed at {name}: {k}")
                for k, (check, target) in enumerate(FLEET_RESULTS)]
        results += mine
        domains[name] = [domain]
    return RunResult(run.run, runs.summaries(results, domains), results)


def test_prometheus_textfile_stays_small_at_a_thousand_sites() -> None:
    run = fleet()
    size = len(reports.render("prometheus", run).encode())
    figure = (f"prometheus textfile at 1,000 sites x {len(FLEET_RESULTS)} results: "
              f"{size:,} bytes ({size / 1e6:.1f} MB)")
    print(figure)
    assert size < 12_000_000, figure  # one series per status value made it 30 MB and more


def test_nagios_output_fits_nagios_cores_8_kb_at_a_thousand_sites() -> None:
    run = fleet()
    text = reports.render("nagios", run)
    size = len(text.encode())
    lines = text.splitlines()
    figure = f"nagios output at 1,000 sites: {size:,} bytes, {len(lines)} lines"
    print(figure)
    assert size <= nagios.OUTPUT_LIMIT < 8192, figure
    assert lines[0].startswith("AMT-PREFLIGHT CRITICAL - not-ready: 1000 sites")
    assert len(lines) <= nagios.MAX_LINES + 2  # the status line, the capped text, the note
    failing = sum(r.status.failing for r in run.results)
    more = next(line for line in lines if line.startswith("… and "))
    shown = sum(line.startswith(("FAIL ", "ERROR ")) for line in lines)
    assert more.startswith(f"… and {failing - shown} more lines")
    perf = lines[-1].rsplit(" | ", 1)[1].split()
    assert all(re.fullmatch(r"site:site-\d{4}=[0-3]", p) for p in perf)
    # the sites that are not ready are graphed first; the note says how many were left out
    assert {p.split("=")[0] for p in perf} >= {f"site:site-{i:04d}" for i in range(0, 1000, 10)}
    assert f"PERFDATA for {1000 - len(perf)} of 1000 sites left out" in lines[-1]


def test_nagios_long_text_keeps_the_interruption_and_leftovers_when_capped() -> None:
    run = fleet(100)
    run = RunResult(replace(run.run, interrupted="SIGTERM"), run.sites, run.results)
    lines = reports.render("nagios", run).splitlines()
    assert any(line.startswith("INTERRUPTED by SIGTERM") for line in lines)
    assert len(reports.render("nagios", run).encode()) <= nagios.OUTPUT_LIMIT


def test_nagios_one_long_message_is_cut_in_its_line() -> None:
    run = hostile_run()
    long = RunResult(run.run, run.sites, [replace(r, message="x" * 10_000) for r in run.results])
    lines = reports.render("nagios", long).splitlines()
    assert all(len(line.split(" | ")[0]) <= nagios.MAX_LINE for line in lines[1:])


def test_markdown_escapes_and_lists_what_to_fix() -> None:
    text = reports.render("markdown", hostile_run())
    assert text.startswith("# AMT provisioning preflight: NOT-READY")
    assert "<script>" not in text and "\\<script\\>" in text
    assert "DNS-PROVSERVER-A" in text and "## Waivers" in text
    for line in text.splitlines():
        if line.startswith("| "):  # every table row has as many cells as its header
            assert line.count(" | ") - line.count("\\|") in (7, 5)


def test_markdown_says_what_changed_since_the_previous_run() -> None:
    now = hostile_run()
    before = RunResult(now.run, now.sites,
                       [r for r in now.results if r.check != "DNS-PROVSERVER-A"])
    text = reports.render("markdown", now, before)
    assert "## Changed since the previous run" in text
    assert "new: **FAIL** critical `DNS-PROVSERVER-A`" in text


def test_merge_keeps_each_site_from_its_newest_run() -> None:
    run = hostile_run()
    older = RunResult(replace(run.run, id="a", finished_at="2025-11-28T01:00:00Z", host="p1"),
                      run.sites, run.results)
    newer_hq = RunResult(
        runs.info("b", "2025-11-28T02:00:00Z", "2025-11-28T02:00:05Z", host="p2",
                  config="other.yaml"),
        [replace(s, verdict=Verdict.READY) for s in run.sites if s.name == "hq"],
        [replace(r, status=Status.PASS) for r in run.results if r.site == "hq"],
    )
    merged = merge([older, newer_hq])
    assert [s.name for s in merged.sites] == [s.name for s in run.sites if s.name != "hq"] + [
        "hq"]
    assert {r.status for r in merged.results if r.site == "hq"} == {Status.PASS}
    assert merged.run.host == "p1, p2" and merged.run.finished_at == "2025-11-28T02:00:05Z"


def test_json_carries_the_reason_tag_and_the_schema_holds_its_form() -> None:
    import json

    from jsonschema import Draft202012Validator, ValidationError

    from amt_preflight.reports.json_report import load

    from .test_reports import schema

    run = hostile_run()
    tagged = replace(run, results=[replace(run.results[0], reason="NO_RECORD"),
                                   *run.results[1:]])
    doc = json.loads(reports.render("json", tagged))
    Draft202012Validator(schema()).validate(doc)
    assert doc["results"][0]["reason"] == "NO_RECORD"
    assert load(json.dumps(doc)) == tagged
    doc["results"][0]["reason"] = "no record"
    with pytest.raises(ValidationError):
        Draft202012Validator(schema()).validate(doc)
