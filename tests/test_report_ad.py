"""The HTML report's AD section (_ad.html.j2): each KDC and DC with its clock offset, every
value from the network escaped, and no section at all when no AD check ran."""

from __future__ import annotations

from typing import Any

from amt_preflight.model import RunInfo, RunResult, SiteSummary, Status, Verdict
from amt_preflight.reports import render
from amt_preflight.reports.sections import ad

from .test_reports import result

HOSTILE = "<script>alert(1)</script>"


def ad_run() -> RunResult:
    results = [
        result("AD-CLOCK-SKEW", "hq", "10.250.0.22", Status.FAIL,
               message=f"the KDC's clock is +600.0 s from this host's {HOSTILE}",
               evidence={"kdc": {"target": "10.250.0.22", "host_names": [f"kdc.{HOSTILE}"]},
                         "offset_s": 600.04, "max_skew_s": 300,
                         "readings": [{"reply_realm": f"OTHER.EXAMPLE{HOSTILE}"}]}),
        result("AD-LDAP-ROOTDSE", "hq", "10.250.0.20", Status.PASS,
               evidence={"dc": {"target": "10.250.0.20"}, "rootdse": [{
                   "address": "10.250.0.20", "defaultNamingContext": f"DC=corp{HOSTILE}",
                   "dnsHostName": "dc01.corp.example", "clock_offset_s": -0.02}]}),
        result("AD-LDAP-ROOTDSE", "hq", "-", Status.SKIPPED, evidence={}),
    ]
    info = RunInfo("run-1", "2026-11-28T12:00:00Z", "2026-11-28T12:00:05Z", "host", "c.yaml")
    return RunResult(info, [SiteSummary("hq", ["corp.example"], Verdict.NOT_READY,
                                        {"fail": 1, "pass": 1, "skipped": 1})], results)


def section(html: str) -> str:
    start = html.index('<section class="ad"')
    return html[start:html.index("</section>", start)]


def test_each_kdc_and_dc_shows_its_clock_offset() -> None:
    shown = section(render("html", ad_run()))
    assert shown.count("<tr>") == 3  # header, the KDC, the DC; no row for the skipped "-"
    assert "+600.0 s" in shown and "+0.0 s" in shown and "-0.0 s" not in shown
    assert "10.250.0.22" in shown and "dc01.corp.example" in shown


def test_network_values_are_escaped() -> None:
    html = render("html", ad_run())
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html)


def test_no_section_without_ad_results() -> None:
    run = ad_run()
    bare = RunResult(run.run, run.sites, [r for r in run.results if r.target == "-"])
    assert 'class="ad"' not in render("html", bare)


# --- the view-model (reports/sections/ad.py) on hand-made results -------------------------


def test_build_reads_each_kdc_and_each_rootdse_read() -> None:
    view = ad.build([
        result("AD-CLOCK-SKEW", "hq", "10.0.0.22", Status.PASS, evidence={
            "kdc": {"host_names": ["kdc1.corp.example", "kdc.corp.example"]},
            "offset_s": -0.04, "readings": [{"reply_realm": "CORP.EXAMPLE"},
                                            {"reply_realm": "corp.example"}, {},
                                            {"reply_realm": "OTHER"}]}),
        result("AD-LDAP-ROOTDSE", "hq", "dc01.corp.example", Status.PASS, evidence={
            "rootdse": [{"address": "10.0.0.20", "defaultNamingContext": "DC=corp",
                         "dnsHostName": "dc01.corp.example", "clock_offset_s": 1},
                        {"address": "dc01.corp.example"}]}),
        result("AD-LDAP-ROOTDSE", "hq", "-", Status.SKIPPED),
        result("AD-KDC-ANSWERS", "hq", "10.0.0.22", Status.PASS),
    ])
    assert view.results == 2
    kdc, dc, dc_again = view.servers
    assert (kdc.role, kdc.realm, kdc.host_name, kdc.offset_s) == (
        "KDC", "CORP.EXAMPLE, OTHER", "kdc1.corp.example, kdc.corp.example", -0.04)
    assert (dc.role, dc.address, dc.realm, dc.host_name, dc.offset_s) == (
        "DC", "10.0.0.20", "DC=corp", "dc01.corp.example", 1.0)
    assert (dc_again.address, dc_again.realm, dc_again.offset_s) == ("", "", None)


def test_build_takes_any_evidence_without_raising() -> None:
    odd: list[Any] = [None, 5, "x", ["x"], {"a": 1}, True, [None, 3, {"reply_realm": ["x"]}]]
    results = [result(check, "hq", f"10.0.0.{i}", Status.ERROR, evidence={
        key: value for key in ("kdc", "readings", "offset_s", "rootdse")})
        for i, value in enumerate(odd) for check in ("AD-CLOCK-SKEW", "AD-LDAP-ROOTDSE")]
    view = ad.build(results)
    assert view.results == len(results) == len(view.servers)  # a DC without reads: one row
    assert {s.offset_s for s in view.servers} == {None, 5.0}  # a boolean is no offset
    assert {s.realm for s in view.servers} == {"", "['x']"}
    assert ad.build([]) == ad.AdView([], 0)
    assert 'class="ad"' in render("html", RunResult(ad_run().run, ad_run().sites, results))
