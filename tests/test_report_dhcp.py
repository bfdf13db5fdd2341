"""The HTML report's DHCP section: every server seen, with its options, and everything a
server sent escaped (a rogue server chooses its option 15)."""

from __future__ import annotations

from amt_preflight.checks import BY_ID
from amt_preflight.model import Result, RunInfo, RunResult, SiteSummary, Verdict
from amt_preflight.reports import render

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
        spec = BY_ID[check_id]
        for f in spec.function(SITE, observed.view()):
            out.append(Result(check_id, "hq", f.target, f.status, spec.severity, spec.title,
                              f.message, f.evidence, spec.remediation, spec.references,
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
