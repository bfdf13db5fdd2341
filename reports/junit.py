"""JUnit XML for CI: one test suite per site, one test case per result.

Stable identity, so CI keeps each test's history: a suite is named by its site only, a test case
`CHECK-ID target` only; the verdict, the severity, the status and the title change from run to
run and live in properties, attributes and messages. Fail and error stay distinct (the failure's
type is the severity, its message starts with it), waived and skipped results are skipped test
cases whose message says why. A coverage gap is the error case `CHECK-ID (coverage gap)`, a
check that did not run the skipped case `CHECK-ID (did not run)`, the reason in its message.

Every text goes through visible() (`_x`), titles and remediation too: `report RUN.json` reads
them from a file, and one U+FFFF or control character would make the whole XML invalid.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from amt_preflight.model import Result, RunResult, Status

from . import COVERAGE_GAP, visible

_x = visible  # every text of the XML: see the module's docstring


def _properties(element: ET.Element, **values: str) -> None:
    """What changes from run to run, out of the names: `<properties>` of a suite or case."""
    properties = ET.SubElement(element, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", {"name": name, "value": value})


def _case(result: Result) -> ET.Element:
    case = ET.Element("testcase", {
        "classname": f"amt-preflight.{_x(result.site)}",
        "name": f"{_x(result.check)} {_x(result.target)}",
        "time": f"{result.duration_ms / 1000:.3f}",
    })
    _properties(case, status=result.status.value, severity=result.severity.value,
                title=_x(result.title))
    message = f"[{result.severity.value}] {_x(result.message)}"
    if result.status is Status.FAIL:
        ET.SubElement(case, "failure", {"message": message, "type": result.severity.value}
                      ).text = (f"{_x(result.title)}: {message}\n\n"
                                f"Remediation: {_x(result.remediation)}")
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
            "name": _x(site.name),
            "tests": str(len(results)),
            "failures": str(sum(r.status is Status.FAIL for r in results)),
            "errors": str(sum(r.status is Status.ERROR for r in results)),
            "skipped": str(sum(r.status in (Status.SKIPPED, Status.WAIVED) for r in results)),
            "time": f"{sum(r.duration_ms for r in results) / 1000:.3f}",
            "timestamp": _x(run.run.started_at),
            "hostname": _x(run.run.host),
        })
        _properties(suite, verdict=site.verdict.value)
        suite.extend(_case(r) for r in results)
        # What did not run: a coverage gap is an error (the site cannot be called ready),
        # every other check that did not run a skipped case saying why
        for check in site.coverage_gaps:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"amt-preflight.{_x(site.name)}",
                "name": f"{_x(check)} (coverage gap)", "time": "0"})
            ET.SubElement(case, "error", {"message": f"{_x(check)}: {COVERAGE_GAP}",
                                          "type": "coverage-gap"})
        for n in site.not_run:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"amt-preflight.{_x(site.name)}",
                "name": f"{_x(n.check)} (did not run)", "time": "0"})
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
