"""The HTML report's DHCP section: every server seen, with its options, and everything a
server sent escaped (a rogue server chooses its option 15)."""

from __future__ import annotations

from typing import Any

from amt_preflight.checks import spec
from amt_preflight.model import Result, RunInfo, RunResult, SiteSummary, Status, Verdict
from amt_preflight.reports import render
from amt_preflight.reports.sections import dhcp

from . import runs
from .observed import R1, Observed, dhcp_answer, site

HOSTILE = b'<script>alert(1)</script>"><img src=x onerror=alert(2)>\x00'
ROGUE = "10.250.0.66"
SITE = site("""
sites:
  - name: hq
    interface: lab0
    dhcp: {allowed_servers: [10.250.0.1]}
    domains: [{name: corp.example}]
""")


def results_of(observed: Observed, check_ids: list[str]) -> list[Result]:
    out = []
    for check_id in check_ids:
        check = spec(check_id)
        for f in check.function(SITE, observed.view()):
            out.append(Result(check_id, "hq", f.target, f.status, check.severity, check.title,
                              f.message, f.evidence, check.remediation, check.references,
                              "2026-11-28T12:00:00Z", 1, f"{check_id}{f.target}"))
    return out


def html_of(results: list[Result]) -> str:
    run = RunResult(RunInfo("r", "2026-11-28T12:00:00Z", "2026-11-28T12:00:05Z", "h", "c"),
                    [SiteSummary("hq", ["corp.example"], Verdict.NOT_READY, {})], results)
    return render("html", run)


def section(html: str) -> str:
    start = html.index('<section class="dhcp"')
    return html[start:html.index("</section>", start)]


def observed() -> Observed:
    return Observed().dhcp(dhcp_answer(), dhcp_answer(ROGUE, option15=HOSTILE),
                           dhcp_answer(message="ACK", answering="INFORM"), allowed=[R1])


def test_every_server_is_listed_with_its_options_and_whether_it_is_allowed() -> None:
    shown = section(html_of(results_of(observed(), ["DHCP-SERVER-ANSWERS",
                                                    "DHCP-SERVER-ALLOWED",
                                                    "DHCP-OPT15-CLEAN"])))
    assert "DHCP servers (2)" in shown
    for text in (R1, ROGUE, ">allowed<", ">rogue<", "domain name", "corp.example",
                 "636f72702e6578616d706c65", "OFFER to the DISCOVER", "ACK to the INFORM"):
        assert text in shown, text


def test_what_a_server_sent_is_escaped() -> None:
    html = html_of(results_of(observed(), ["DHCP-SERVER-ANSWERS", "DHCP-SERVER-ALLOWED",
                                           "DHCP-OPT15-PRESENT", "DHCP-OPT15-CLEAN"]))
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "\x00" not in html
    shown = section(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and HOSTILE.hex() in shown
    assert "\\x00" in shown  # the NUL, as an escape


def test_servers_show_even_when_only_per_server_checks_ran() -> None:
    shown = section(html_of(results_of(observed(), ["DHCP-OPT15-MATCH"])))
    assert "DHCP servers (2)" in shown and ROGUE in shown


def test_no_dhcp_results_no_section() -> None:
    assert '<section class="dhcp"' not in html_of([])


# --- the view-model (reports/sections/dhcp.py) on hand-made results -----------------------


def made(check: str, target: str, status: Status = Status.PASS, *, site: str = "hq",
         evidence: dict[str, Any] | None = None) -> Result:
    return runs.result(check, target, status, site=site, message=f"{check} said",
                       evidence=evidence, started="2026-11-28T12:00:00Z")


ANSWER = {"message": "OFFER", "answering": "DISCOVER", "after_ms": 12.5, "source": R1,
          "source_mac": "02:00:00:00:00:01", "relay": "10.0.0.254",
          "options": [{"code": 15, "name": "domain name", "value": "corp.example",
                       "hex": "636f7270"},
                      {"code": 6, "name": "DNS servers", "value": ["10.0.0.2", "10.0.0.3"],
                       "hex": "0a000002"},
                      {"code": 43, "name": "vendor", "hex": "00"}]}


def test_build_lists_each_server_once_per_site() -> None:
    results = [
        made("DHCP-SERVER-ANSWERS", "lab0", evidence={
            "window_s": 5.0, "client_mac": "02:aa", "sent": ["DISCOVER"],
            "ignored": {"not for us": 3}, "dropped": 0,
            "servers": {R1: [ANSWER], ROGUE: [ANSWER, ANSWER]}}),
        made("DHCP-SERVER-ANSWERS", "-", Status.SKIPPED),  # no interface: no survey
        made("DHCP-SERVER-ALLOWED", R1),
        made("DHCP-SERVER-ALLOWED", ROGUE, Status.FAIL),
        # a per-server result of a server the survey listed: not listed again
        made("DHCP-OPT15-MATCH", ROGUE, Status.FAIL, evidence={"dhcp_server": {
            "interface": "lab0", "server": ROGUE, "answers": [ANSWER]}}),
        # one the survey did not list, and the same server at another site
        made("DHCP-OPT15-MATCH", "10.250.0.99", evidence={"dhcp_server": {
            "interface": None, "server": "10.250.0.99", "answers": [ANSWER]}}),
        made("DHCP-OPT15-MATCH", ROGUE, site="branch", evidence={"dhcp_server": {
            "interface": "eth1", "server": ROGUE, "answers": []}}),
        made("DNS-RESOLVER-ANSWERS", R1, evidence={"dhcp_server": {"server": "10.9.9.9"}}),
    ]
    view = dhcp.build(results)
    [survey] = view.surveys
    assert (survey.site, survey.interface, survey.window_s, survey.client_mac) == (
        "hq", "lab0", "5.0", "02:aa")
    assert survey.sent == ["DISCOVER"] and survey.ignored == [("not for us", 3)]
    assert survey.dropped is None  # none dropped: nothing to say
    assert [c.check for c in survey.checks] == ["DHCP-SERVER-ANSWERS"]
    assert [(s.site, s.server, s.interface) for s in view.servers] == [
        ("hq", R1, "lab0"), ("hq", ROGUE, "lab0"), ("hq", "10.250.0.99", ""),
        ("branch", ROGUE, "eth1")]
    first, rogue = view.servers[:2]
    assert first.allowed == ["allowed"] and rogue.allowed == ["rogue"]
    assert [c.check for c in rogue.checks] == ["DHCP-SERVER-ALLOWED", "DHCP-OPT15-MATCH"]
    assert len(rogue.answers) == 2  # the survey's, not the per-server result's
    answer = first.answers[0]
    assert (answer.message, answer.after_ms, answer.relay, answer.offered_address) == (
        "OFFER", "12.5", "10.0.0.254", "")
    assert [(o.code, o.value) for o in answer.options] == [
        ("15", "corp.example"), ("6", "10.0.0.2, 10.0.0.3"), ("43", None)]


def test_build_takes_any_evidence_without_raising() -> None:
    odd: list[Any] = [None, 5, "x", ["x"], {"a": 1}, True]
    results = [made("DHCP-SERVER-ANSWERS", f"if{i}", evidence={
        "servers": value, "window_s": value, "client_mac": value, "sent": value,
        "malformed": value, "ignored": value, "dropped": value}) for i, value in enumerate(odd)]
    results += [made("DHCP-OPT15-MATCH", f"10.0.0.{i}", evidence={"dhcp_server": value})
                for i, value in enumerate(odd)]
    results += [made("DHCP-OPT15-MATCH", "10.0.1.1", evidence={"dhcp_server": {
        "server": ["unhashable"], "answers": "x"}}),
                made("DHCP-OPT15-MATCH", "10.0.1.2", evidence={"dhcp_server": {
                    "server": "10.0.1.2", "answers": [5, {"options": [3, {"value": {"a": 1}}],
                                                          "problems": "x", "after_ms": None}]}})]
    view = dhcp.build(results)
    assert len(view.surveys) == len(odd)
    assert view.surveys[1].window_s == "5" and view.surveys[0].window_s == ""
    assert view.surveys[4].ignored == [("a", 1)] and view.surveys[2].dropped == "x"
    # the survey's server "a" (with no answers), and the one per-server result whose server
    # is text
    assert [s.server for s in view.servers] == ["a", "10.0.1.2"]
    [answer] = view.servers[1].answers
    assert answer.after_ms == "" and answer.problems == []
    assert [o.value for o in answer.options] == ["{'a': 1}"]
    assert dhcp.build([]) == dhcp.DhcpView([], [])
