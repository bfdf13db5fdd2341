"""JUnit, Nagios, Prometheus and Markdown from one RunResult; merging runs of several hosts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

from amt_preflight import reports
from amt_preflight.model import RunInfo, RunResult, Status, Verdict, merge

from .test_reports import SCRIPT_TAG, hostile_run


def test_junit_one_case_per_result_failures_and_errors_distinct() -> None:
    run = hostile_run()
    root = ET.fromstring(reports.render("junit", run))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(run.results)
    kinds = {c.get("name"): [child.tag for child in c] for c in cases}
    assert any("[CRITICAL][DNS-PROVSERVER-A]" in n and k == ["failure"] for n, k in kinds.items())
    assert any("[HIGH][AD-KDC-ANSWERS]" in n and k == ["error"] for n, k in kinds.items())
    waived = next(c for c in cases if "[CERT-EXPIRY-SOON]" in (c.get("name") or ""))
    skipped = waived.find("skipped")
    assert skipped is not None and "pki-team" in (skipped.get("message") or "")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert suites["hq (not-ready)"].get("failures") == "1"


def test_nagios_state_line_and_perfdata() -> None:
    run = hostile_run()
    text = reports.render("nagios", run)
    first, *rest = text.splitlines()
    assert first.startswith("AMT-PREFLIGHT CRITICAL - not-ready: 4 sites")
    perf = first.split(" | ", 1)[1].split()
    assert {p.split("=")[0] for p in perf} >= {"pass", "fail", "error", "run_duration"}
    assert all(re.fullmatch(r"'?[^'=\s]+'?=[-0-9.]+(s|ms)?(;[^;\s]*){0,4}", p) for p in perf)
    assert len(rest) == sum(r.status in (Status.FAIL, Status.ERROR) for r in run.results)
    assert SCRIPT_TAG not in text.split(" | ")[0]


def test_nagios_ready_run_is_ok_on_one_line() -> None:
    run = hostile_run()
    ready = RunResult(run.run, [s for s in run.sites if s.verdict is Verdict.READY],
                      [r for r in run.results if r.site == "dr"])
    assert reports.render("nagios", ready).startswith("AMT-PREFLIGHT OK - ready: 1 sites")
    assert len(reports.render("nagios", ready).splitlines()) == 1


SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(\{(?P<labels>.*)\})? (?P<value>[-0-9.e+]+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def test_prometheus_textfile_parses_and_escapes_labels() -> None:
    run = hostile_run()
    text = reports.render("prometheus", run)
    samples = []
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.split()[1] in ("HELP", "TYPE")
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = dict(LABEL.findall(match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    status = [s for s in samples if s[0] == "amt_preflight_check_status"]
    assert len(status) == len(run.results) * len(Status)
    assert sum(v for _, _, v in status) == len(run.results)  # one status per result
    hostile = [lab for _, lab, v in status if v and lab["check"] == "DNS-PROVSERVER-A"]
    assert hostile[0]["target"] == '\\"><img src=x onerror=alert(1)>'
    verdicts = {(lab["site"], lab["verdict"]) for n, lab, v in samples
                if n == "amt_preflight_site_verdict" and v}
    assert ("hq", "not-ready") in verdicts and ("dr", "ready") in verdicts
    assert any(n == "amt_preflight_run_timestamp_seconds" and v > 0 for n, _, v in samples)


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
        RunInfo("b", "2025-11-28T02:00:00Z", "2025-11-28T02:00:05Z", "p2", "other.yaml"),
        [replace(s, verdict=Verdict.READY) for s in run.sites if s.name == "hq"],
        [replace(r, status=Status.PASS) for r in run.results if r.site == "hq"],
    )
    merged = merge([older, newer_hq])
    assert [s.name for s in merged.sites] == [s.name for s in run.sites if s.name != "hq"] + [
        "hq"]
    assert {r.status for r in merged.results if r.site == "hq"} == {Status.PASS}
    assert merged.run.host == "p1, p2" and merged.run.finished_at == "2025-11-28T02:00:05Z"
