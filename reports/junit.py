"""JUnit XML for CI: one test suite per site, one test case per result.

A test case is named `[SEVERITY][ID] title (target)`; fail and error stay distinct, waived and
skipped results are skipped test cases whose message says why.

Every text goes through visible() (`_x`), titles and remediation too: `report RUN.json` reads
them from a file, and one U+FFFF or control character would make the whole XML invalid.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from amt_preflight.model import Result, RunResult, Status

from . import COVERAGE_GAP, visible

_x = visible  # every text of the XML: see the module's docstring


def _case(result: Result) -> ET.Element:
    case = ET.Element("testcase", {
        "classname": f"amt-preflight.{_x(result.site)}",
        "name": f"[{result.severity.value.upper()}][{_x(result.check)}] {_x(result.title)} "
                f"({_x(result.target)})",
        "time": f"{result.duration_ms / 1000:.3f}",
    })
    message = _x(result.message)
    if result.status is Status.FAIL:
        ET.SubElement(case, "failure", {"message": message, "type": result.severity.value}
                      ).text = f"{message}\n\nRemediation: {_x(result.remediation)}"
    elif result.status is Status.ERROR:
        ET.SubElement(case, "error", {"message": message, "type": "error"}).text = message
    elif result.status is Status.WAIVED and result.waiver is not None:
        waiver = result.waiver
        why = f"waived: {_x(waiver.reason)}" + "".join(
            f"; {k} {_x(v)}" for k, v in (("owner", waiver.owner),
                                             ("expires", waiver.expires)) if v)
        ET.SubElement(case, "skipped", {"message": f"{why} ({message})"})
    elif result.status is Status.SKIPPED:
        ET.SubElement(case, "skipped", {"message": message})
    return case


def render(run: RunResult) -> str:
    suites = ET.Element("testsuites", {"name": "amt-preflight",
                                       "timestamp": _x(run.run.started_at)})
    by_site: dict[str, list[Result]] = {s.name: [] for s in run.sites}
    for r in run.results:
        by_site.setdefault(r.site, []).append(r)
    for site in run.sites:
        results = by_site[site.name]
        suite = ET.SubElement(suites, "testsuite", {
            "name": f"{_x(site.name)} ({site.verdict.value})",
            "tests": str(len(results)),
            "failures": str(sum(r.status is Status.FAIL for r in results)),
            "errors": str(sum(r.status is Status.ERROR for r in results)),
            "skipped": str(sum(r.status in (Status.SKIPPED, Status.WAIVED) for r in results)),
            "time": f"{sum(r.duration_ms for r in results) / 1000:.3f}",
            "timestamp": _x(run.run.started_at),
            "hostname": _x(run.run.host),
        })
        suite.extend(_case(r) for r in results)
        # What did not run: a coverage gap is an error (the site cannot be called ready),
        # every other check that did not run a skipped case saying why
        for check in site.coverage_gaps:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"amt-preflight.{_x(site.name)}",
                "name": f"[COVERAGE][{_x(check)}] required check not looked at", "time": "0"})
            ET.SubElement(case, "error", {"message": f"{_x(check)}: {COVERAGE_GAP}",
                                          "type": "coverage-gap"})
        for n in site.not_run:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"amt-preflight.{_x(site.name)}",
                "name": f"[NOT RUN][{_x(n.check)}] {n.reason.value}", "time": "0"})
            ET.SubElement(case, "skipped", {"message": f"{n.reason.value}: {_x(n.detail)}"})
        suite.set("tests", str(len(results) + len(site.coverage_gaps) + len(site.not_run)))
        suite.set("errors", str(int(suite.get("errors", "0")) + len(site.coverage_gaps)))
        suite.set("skipped", str(int(suite.get("skipped", "0")) + len(site.not_run)))
    if run.leftovers:  # what an intrusive probe changed and the run could not undo
        suite = ET.SubElement(suites, "testsuite", {
            "name": "left behind by intrusive probes", "tests": str(len(run.leftovers)),
            "failures": "0", "errors": str(len(run.leftovers)), "skipped": "0", "time": "0",
            "timestamp": _x(run.run.started_at), "hostname": _x(run.run.host)})
        for x in run.leftovers:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"amt-preflight.{_x(x.site or 'run')}",
                "name": f"[LEFT BEHIND][{x.kind.value}] {_x(x.what)}", "time": "0"})
            ET.SubElement(case, "error", {"message": _x(x.describe()), "type": "left-behind"}
                          ).text = _x(x.detail)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
