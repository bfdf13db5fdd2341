"""JUnit XML for CI: one test suite per site, one test case per result.

A test case is named `[SEVERITY][ID] title (target)`; fail and error stay distinct, waived and
skipped results are skipped test cases whose message says why.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from amt_preflight.model import Result, RunResult, Status

from . import COVERAGE_GAP, visible


def _case(result: Result) -> ET.Element:
    case = ET.Element("testcase", {
        "classname": f"amt-preflight.{visible(result.site)}",
        "name": f"[{result.severity.value.upper()}][{result.check}] {result.title} "
                f"({visible(result.target)})",
        "time": f"{result.duration_ms / 1000:.3f}",
    })
    message = visible(result.message)
    if result.status is Status.FAIL:
        ET.SubElement(case, "failure", {"message": message, "type": result.severity.value}
                      ).text = f"{message}\n\nRemediation: {result.remediation}"
    elif result.status is Status.ERROR:
        ET.SubElement(case, "error", {"message": message, "type": "error"}).text = message
    elif result.status is Status.WAIVED and result.waiver is not None:
        waiver = result.waiver
        why = f"waived: {visible(waiver.reason)}" + "".join(
            f"; {k} {visible(v)}" for k, v in (("owner", waiver.owner),
                                                  ("expires", waiver.expires)) if v)
        ET.SubElement(case, "skipped", {"message": f"{why} ({message})"})
    elif result.status is Status.SKIPPED:
        ET.SubElement(case, "skipped", {"message": message})
    return case


def render(run: RunResult) -> str:
    suites = ET.Element("testsuites", {"name": "amt-preflight", "timestamp": run.run.started_at})
    by_site: dict[str, list[Result]] = {s.name: [] for s in run.sites}
    for r in run.results:
        by_site.setdefault(r.site, []).append(r)
    for site in run.sites:
        results = by_site[site.name]
        suite = ET.SubElement(suites, "testsuite", {
            "name": f"{visible(site.name)} ({site.verdict.value})",
            "tests": str(len(results)),
            "failures": str(sum(r.status is Status.FAIL for r in results)),
            "errors": str(sum(r.status is Status.ERROR for r in results)),
            "skipped": str(sum(r.status in (Status.SKIPPED, Status.WAIVED) for r in results)),
            "time": f"{sum(r.duration_ms for r in results) / 1000:.3f}",
            "timestamp": run.run.started_at,
            "hostname": visible(run.run.host),
        })
        suite.extend(_case(r) for r in results)
        # What did not run: a coverage gap is an error (the site cannot be called ready),
        # every other check that did not run a skipped case saying why
        for check in site.coverage_gaps:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"amt-preflight.{visible(site.name)}",
                "name": f"[COVERAGE][{check}] required check not looked at", "time": "0"})
            ET.SubElement(case, "error", {"message": f"{check}: {COVERAGE_GAP}",
                                          "type": "coverage-gap"})
        for n in site.not_run:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"amt-preflight.{visible(site.name)}",
                "name": f"[NOT RUN][{n.check}] {n.reason.value}", "time": "0"})
            ET.SubElement(case, "skipped", {"message": f"{n.reason.value}: {visible(n.detail)}"})
        suite.set("tests", str(len(results) + len(site.coverage_gaps) + len(site.not_run)))
        suite.set("errors", str(int(suite.get("errors", "0")) + len(site.coverage_gaps)))
        suite.set("skipped", str(int(suite.get("skipped", "0")) + len(site.not_run)))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
