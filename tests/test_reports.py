"""Renderers of a RunResult: the JSON contract, the HTML safety rules, the console summary."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from markupsafe import escape
from rich.console import Console

from amt_preflight.model import (
    NO_TARGET,
    Result,
    RunResult,
    Severity,
    Status,
    Verdict,
    Waiver,
)
from amt_preflight.reports import FILE_NAMES, FORMATS, render, visible
from amt_preflight.reports import html as html_report
from amt_preflight.reports.console import print_run
from amt_preflight.reports.html import (
    AREAS,
    FINDINGS_SHOWN,
    MATRIX_ONE_TABLE,
    areas_of,
    changes,
    csp_sha256,
    failure_groups,
    matrix_rows,
    team_findings,
)
from amt_preflight.reports.json_report import ReportInputError, load, schema

from . import runs

SCRIPT_TAG = "<script>alert(1)</script>"
ATTRIBUTE_BREAKOUT = '"><img src=x onerror=alert(1)>'
HOSTILE = [SCRIPT_TAG, ATTRIBUTE_BREAKOUT]
STARTED = "2025-11-28T17:05:00.123+00:00"


def result(
    check: str,
    site: str,
    target: str,
    status: Status,
    severity: Severity = Severity.HIGH,
    *,
    message: str = "observed",
    evidence: dict[str, Any] | None = None,
    waiver: Waiver | None = None,
) -> Result:
    return runs.result(
        check,
        target,
        status,
        site=site,
        severity=severity,
        title=f"title of {check}",
        message=message,
        evidence=evidence if evidence is not None else {"seen": target},
        remediation=f"fix {check}",
        references=["AMT SDK: setup and configuration"],
        started=STARTED,
        duration_ms=12,
        waiver=waiver,
    )


def hostile_run() -> RunResult:
    """Four sites, one per verdict, with hostile and odd strings wherever data goes."""
    results = [
        # not-ready: a critical fail on a hostile target, a waived medium fail
        result(
            "DNS-PROVSERVER-A",
            "hq",
            ATTRIBUTE_BREAKOUT,
            Status.FAIL,
            Severity.CRITICAL,
            message=f"NXDOMAIN {SCRIPT_TAG} from 10.0.0.53",
            evidence={
                "answer": SCRIPT_TAG,
                "nested": {"option15": "corp\x00.example"},
                "list": [ATTRIBUTE_BREAKOUT, 1, None],
            },
        ),
        result("DNS-RESOLVER-ANSWERS", "hq", "10.0.0.53", Status.PASS, Severity.CRITICAL),
        result(
            "CERT-EXPIRY-SOON",
            "hq",
            "corp.example",
            Status.WAIVED,
            Severity.MEDIUM,
            message="expires in 12 days",
            waiver=Waiver(
                "CERT-EXPIRY-SOON",
                f"renewal ordered {SCRIPT_TAG}",
                site="hq",
                target="corp.example",
                owner="pki-team",
                expires="2027-01-31",
            ),
        ),
        # unknown: an error, a skipped consequence
        result(
            "AD-KDC-ANSWERS",
            "branch-ü",
            "10.1.0.5",
            Status.ERROR,
            message="timed out after 3 s\x1b[2J",
        ),
        result(
            "AD-CLOCK-SKEW",
            "branch-ü",
            "10.1.0.5",
            Status.SKIPPED,
            message="skipped because AD-KDC-ANSWERS failed",
        ),
        # at-risk: a medium fail with NUL and non-ASCII
        result(
            "DHCP-OPT15-CLEAN",
            "lab",
            "eth0",
            Status.FAIL,
            Severity.MEDIUM,
            message="option 15 'corp.example\x00' ends in NUL — Ünïcødé \u202eevil",
        ),
        # ready
        result("SNMP-DEVICE-ANSWERS", "dr", "192.0.2.2", Status.PASS, Severity.MEDIUM),
        result("CA-ENTERPRISE-REACHABLE", "dr", NO_TARGET, Status.SKIPPED, Severity.MEDIUM),
    ]
    domains = {
        "hq": ["corp.example"],
        "branch-ü": ["bränch.example"],
        "lab": [SCRIPT_TAG],
        "dr": [],
    }
    return runs.run_of(
        results,
        domains,
        run_id=f"run-{SCRIPT_TAG}",
        started=STARTED,
        finished="2025-11-28T17:05:09Z",
        host="survey01 ✓",
        config="config.yaml",
    )


def previous_run() -> RunResult:
    """The run before hostile_run(): hq's ProvisionServer record still resolved, lab also
    failed a check with a hostile target that is fixed since, branch-ü was ready and a site
    since retired was surveyed too."""
    now = hostile_run()
    results = [
        replace(r, status=Status.PASS) if r.check == "DNS-PROVSERVER-A" else r
        for r in now.results
        if r.site != "branch-ü"
    ]
    results += [
        result("AD-KDC-ANSWERS", "branch-ü", "10.1.0.5", Status.PASS),
        result("DHCP-OPT15-MATCH", "lab", SCRIPT_TAG, Status.FAIL, message=ATTRIBUTE_BREAKOUT),
        result("DNS-PROVSERVER-A", "retired", "old.example", Status.FAIL, Severity.CRITICAL),
    ]
    sites = runs.summaries(results, {**{s.name: s.domains for s in now.sites},
                                     "retired": ["old.example"]})
    info = replace(now.run, id="run-before", finished_at="2025-11-27T17:05:09Z")
    return RunResult(run=info, sites=sites, results=results)


def test_fixture_has_every_verdict() -> None:
    assert {s.verdict for s in hostile_run().sites} == set(Verdict)


def test_registry() -> None:
    assert set(FILE_NAMES) == set(FORMATS)
    with pytest.raises(ValueError, match="nagios-xyz"):
        render("nagios-xyz", hostile_run())


def test_importing_reports_does_not_import_renderer_libraries() -> None:
    code = (
        "import sys, amt_preflight.reports; "
        "print(sorted(m for m in ('jinja2', 'rich', 'jsonschema') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def test_visible_escapes_controls_and_bidi() -> None:
    assert visible("a\x00b\x1b\u202ec\nü") == "a\\x00b\\x1b\\u202ec\nü"


# JSON


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema())


def test_json_validates_and_keeps_contract_key_order() -> None:
    text = render("json", hostile_run())
    doc = json.loads(text)
    Draft202012Validator(schema()).validate(doc)
    assert list(doc) == ["schema_version", "tool", "run", "sites", "results"]
    assert list(doc["results"][0])[:5] == ["check", "site", "target", "status", "severity"]
    assert "Ünïcødé" in text  # ensure_ascii=False


def test_json_round_trips_through_load(tmp_path: Path) -> None:
    run = hostile_run()
    text = render("json", run)
    assert load(text) == run
    path = tmp_path / FILE_NAMES["json"]
    path.write_text(text, encoding="utf-8")
    assert load(path) == run
    assert load(str(path)) == run


def test_json_keeps_lone_surrogates_as_escapes() -> None:
    run = hostile_run()
    odd = RunResult(
        run=run.run,
        sites=run.sites,
        results=[
            replace(
                result("DNS-PROVSERVER-A", "hq", "corp.example", Status.FAIL),
                message="option 15 bad\udc80byte",
            )
        ],
    )
    text = render("json", odd)
    text.encode("utf-8")
    assert load(text) == odd


@pytest.mark.parametrize(
    ("breakage", "json_path"),
    [
        (lambda d: d["results"][2].__setitem__("status", "passed"), "$.results[2].status"),
        (lambda d: d["sites"][1]["counts"].pop("waived"), "$.sites[1].counts"),
        (lambda d: d["results"][0].__setitem__("duration_ms", -1), "$.results[0].duration_ms"),
        (lambda d: d["run"].__setitem__("started_at", "yesterday"), "$.run.started_at"),
        (lambda d: d.__setitem__("schema_version", 2), "$.schema_version"),
        (lambda d: d["results"][1].__setitem__("extra", 1), "$.results[1]"),
        (lambda d: d["results"][2]["waiver"].pop("reason"), "$.results[2].waiver"),
    ],
)
def test_load_rejects_a_broken_document_naming_file_and_path(
    tmp_path: Path, breakage: Any, json_path: str
) -> None:
    doc = json.loads(render("json", hostile_run()))
    breakage(doc)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ReportInputError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"at {json_path}:" in message


@pytest.mark.parametrize("content", ["{not json", "[]"])
def test_load_rejects_non_documents(tmp_path: Path, content: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportInputError, match=re.escape(str(path))):
        load(path)


def test_load_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(ReportInputError, match=re.escape(str(missing))):
        load(missing)


# HTML


class _Document(HTMLParser):
    """Start tags with their attributes, and the bodies of <style> and <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.bodies: dict[str, list[str]] = {"style": [], "script": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag in self.bodies:
            self._open = tag
            self.bodies[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.bodies[self._open][-1] += data


def assert_no_markup_injected(html: str) -> None:
    """No <img> element and no on* handler attribute: nothing hostile became markup."""
    document = _Document()
    document.feed(html)
    assert not [t for t, _ in document.tags if t == "img"]
    assert not [a for _, attrs in document.tags for a, _ in attrs if a.startswith("on")]


@pytest.fixture(scope="module", params=["alone", "with the previous run"])
def html_text(request: pytest.FixtureRequest) -> str:
    """The hostile run rendered alone, and with a previous run (its changes hold hostile
    strings too)."""
    return render("html", hostile_run(), previous_run() if request.param != "alone" else None)


def _section(html_text: str, heading: str, next_heading: str) -> str:
    """The HTML from one section's heading id to the next one's."""
    return html_text.split(f'id="{heading}"')[1].split(f'id="{next_heading}"')[0]


@pytest.fixture(scope="module")
def html_document(html_text: str) -> _Document:
    document = _Document()
    document.feed(html_text)
    document.close()
    return document


def _csp(document: _Document) -> str:
    policies = [
        dict(attrs).get("content") or ""
        for tag, attrs in document.tags
        if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(policies) == 1
    return policies[0]


def test_html_csp_forbids_remote_loads(html_document: _Document) -> None:
    parts = (part.strip().partition(" ") for part in _csp(html_document).split(";"))
    directives = {name: sources for name, _, sources in parts}
    assert directives["default-src"] == "'none'"
    for sources in directives.values():
        assert "http" not in sources and "*" not in sources and "unsafe" not in sources


def test_html_csp_hashes_match_the_one_style_and_one_script(html_document: _Document) -> None:
    policy = _csp(html_document)
    (style,) = html_document.bodies["style"]
    (script,) = html_document.bodies["script"]
    for directive, body in (("style-src", style), ("script-src", script)):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
        assert csp_sha256(body) == digest


def test_html_has_no_event_handler_style_or_remote_attribute(html_document: _Document) -> None:
    for tag, attrs in html_document.tags:
        for name, value in attrs:
            assert not re.fullmatch(r"on[a-z]+", name), (tag, name)
            assert name != "style", tag
            if name in {"src", "href", "action", "srcset", "poster", "data"}:
                assert not re.match(r"\s*(https?:)?//", value or ""), (tag, name, value)
    assert [tag for tag, _ in html_document.tags].count("script") == 1
    assert "img" not in {tag for tag, _ in html_document.tags}


def test_html_shows_hostile_strings_only_escaped(html_text: str) -> None:
    assert "<script>alert(1)" not in html_text
    assert "<img" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html_text
    assert "\x00" not in html_text and "\x1b" not in html_text and "\u202e" not in html_text
    assert "Ünïcødé" in html_text


def test_html_structure(html_text: str, html_document: _Document) -> None:
    run = hostile_run()
    readiness = _section(html_text, "h-readiness", "h-changes")
    for site in run.sites:
        assert re.search(
            rf'<b>{re.escape(str(escape(site.name)))}</b>.*?<span class="badge v-{site.verdict}">',
            readiness,
        ), site.name
    row_classes = [dict(attrs).get("class") or "" for tag, attrs in html_document.tags
                   if tag == "tr"]
    assert sorted(c.split()[0] for c in row_classes if c.startswith("s-")) == sorted(
        f"s-{r.status}" for r in run.results
    )
    filters = [
        dict(attrs)["value"]
        for tag, attrs in html_document.tags
        if tag == "input" and dict(attrs).get("type") == "checkbox"
    ]
    assert filters == [s.value for s in Status]
    failures = html_text.split('id="h-failures"')[1].split('id="h-waived"')[0]
    for r in run.results:
        assert (r.check in failures) == (r.status in {Status.FAIL, Status.ERROR})
    # most severe first
    assert failures.index("DNS-PROVSERVER-A") < failures.index("AD-KDC-ANSWERS")
    waived = html_text.split('id="h-waived"')[1].split('id="h-all"')[0]
    assert "CERT-EXPIRY-SOON" in waived and "pki-team" in waived and "2027-01-31" in waived


TEMPLATES = Path(html_report.__file__).parent / "templates"


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.j2")))
def test_html_templates_only_render_view_models(name: str) -> None:
    """Selecting results by check ID, reading evidence and accumulating in namespace() is
    the section view-models' job (reports/sections/): a template only shows what they
    built."""
    source = re.sub(r"\{#.*?#\}", "", (TEMPLATES / name).read_text(encoding="utf-8"),
                    flags=re.DOTALL)  # comments may name what a view-model reads
    for banned in ("evidence.", "evidence[", 'selectattr("check"', 'attribute="check"',
                   "namespace(", "by_target", "as_map", "as_list", "|maps", ".get("):
        assert banned not in source, f"{name} uses {banned}"
    if name.startswith("_"):  # a section; the findings show a whole evidence as JSON
        assert "evidence" not in source, name


def test_html_renders_an_empty_run() -> None:
    empty = RunResult(run=hostile_run().run, sites=[], results=[])
    assert "v-unknown" in render("html", empty)


def _run_of(results: list[Result]) -> RunResult:
    """A run of the sites these results are about."""
    sites: dict[str, list[str]] = {site: [] for site in sorted({r.site for r in results})}
    return RunResult(run=hostile_run().run, sites=runs.summaries(results, sites), results=results)


def test_html_matrix_shows_each_sites_worst_status_per_area() -> None:
    run = hostile_run()
    areas = areas_of(run.results)
    assert areas == list(AREAS)
    rows = matrix_rows(run, areas)
    # worst verdict first
    assert [row.site.name for row in rows] == ["hq", "branch-ü", "lab", "dr"]
    cells = {row.site.name: {a: c for a, c in zip(areas, row.cells, strict=True) if c}
             for row in rows}
    assert cells == {
        "hq": {"DNS": Status.FAIL, "CERT": Status.WAIVED},
        "branch-ü": {"AD": Status.ERROR},
        "lab": {"DHCP": Status.FAIL},
        "dr": {"SNMP": Status.PASS, "CA": Status.SKIPPED},
    }
    assert [row.failing for row in rows] == [1, 1, 1, 0]


@pytest.mark.parametrize(
    ("statuses", "shown"),
    [
        ([Status.PASS, Status.SKIPPED], Status.PASS),  # skipped only when all were
        ([Status.SKIPPED, Status.SKIPPED], Status.SKIPPED),
        ([Status.PASS, Status.WAIVED, Status.SKIPPED], Status.WAIVED),
        ([Status.WAIVED, Status.ERROR], Status.ERROR),
        ([Status.ERROR, Status.FAIL, Status.PASS], Status.FAIL),
    ],
)
def test_html_matrix_cell_order(statuses: list[Status], shown: Status) -> None:
    run = _run_of(
        [result("DNS-PROVSERVER-A", "hq", f"d{i}.example", s) for i, s in enumerate(statuses)]
    )
    (row,) = matrix_rows(run, list(AREAS))
    assert row.cells == [None, shown] + [None] * (len(AREAS) - 2)


def test_html_matrix_gives_an_unknown_area_its_own_column() -> None:
    run = _run_of([result("NTP-CLOCK-SKEW", "hq", "ntp1", Status.FAIL)])
    assert areas_of(run.results) == [*AREAS, "NTP"]
    assert ">NTP</th>" in render("html", run)


def test_html_groups_findings_by_the_team_that_fixes_them() -> None:
    failing = [
        ("SNMP-IF-UP", Severity.HIGH),
        ("DHCP-OPT15-CLEAN", Severity.MEDIUM),
        ("CA-CRL-FRESH", Severity.HIGH),
        ("CERT-VALIDITY", Severity.CRITICAL),
        ("HS-PROVSERVER-TCP", Severity.CRITICAL),
        ("AD-KDC-ANSWERS", Severity.HIGH),
        ("DNS-AD-SRV", Severity.HIGH),
        ("NTP-CLOCK-SKEW", Severity.LOW),
    ]
    results = [result(check, "hq", "t", Status.FAIL, severity) for check, severity in failing]
    results += [result("DNS-PROVSERVER-A", "hq", "t", Status.PASS),
                result("CERT-EXPIRY-SOON", "hq", "t", Status.WAIVED)]
    teams = team_findings(failure_groups(results))
    # the team with the worst finding first; ties in the order network, DNS, PKI, AD, HS
    assert [(t.team, [g.check for g in t.groups]) for t in teams] == [
        ("PKI", ["CERT-VALIDITY", "CA-CRL-FRESH"]),
        ("Provisioning server", ["HS-PROVSERVER-TCP"]),
        ("Network", ["SNMP-IF-UP", "DHCP-OPT15-CLEAN"]),
        ("DNS", ["DNS-AD-SRV"]),
        ("AD", ["AD-KDC-ANSWERS"]),
        ("Other", ["NTP-CLOCK-SKEW"]),
    ]
    findings = _section(render("html", _run_of(results)), "h-failures", "h-waived")
    for team in teams:
        section = findings.split(f'id="{team.anchor}"')[1].split('<section class="team"')[0]
        shown = [check for check, _ in failing if f">{check}</h4>" in section]
        assert [g.check for g in team.groups] == sorted(
            shown, key=lambda check: section.index(f">{check}</h4>"))


def test_html_changes_since_the_previous_run() -> None:
    found = changes(previous_run(), hostile_run())
    assert [(c.site, c.before, c.now, c.worse) for c in found.verdicts] == [
        ("hq", Verdict.READY, Verdict.NOT_READY, True),
        ("branch-ü", Verdict.READY, Verdict.UNKNOWN, True),
        ("lab", Verdict.NOT_READY, Verdict.AT_RISK, False),
    ]
    assert [(r.check, r.site) for r in found.new] == [
        ("DNS-PROVSERVER-A", "hq"), ("AD-KDC-ANSWERS", "branch-ü")]
    assert [(r.check, r.site) for r in found.resolved] == [
        ("DNS-PROVSERVER-A", "retired"), ("DHCP-OPT15-MATCH", "lab")]
    assert found.unchanged == 1
    shown = _section(render("html", hostile_run(), previous_run()), "h-changes", "h-failures")
    assert "run-before" in shown
    for r in [*found.new, *found.resolved]:
        assert f">{r.check}</td>" in shown and str(escape(r.target)) in shown
    for change in found.verdicts:
        assert f">{escape(change.site)}</td>" in shown


def test_html_says_when_no_previous_run_is_stored() -> None:
    shown = _section(render("html", hostile_run()), "h-changes", "h-failures")
    assert "no previous run stored" in shown.lower()
    assert "<table" not in shown


def _many_sites_run() -> RunResult:
    """More sites than one matrix table holds: 3 not-ready, 2 at-risk, the rest ready;
    DNS-PROVSERVER-A fails at more sites than a check shows unfolded."""
    results = []
    for i in range(MATRIX_ONE_TABLE + 5):
        site = f"site-{i:02d}"
        status = Status.FAIL if i < 3 + FINDINGS_SHOWN else Status.PASS
        results.append(result("DNS-PROVSERVER-A", site, f"{site}.example",
                              status if i < 3 else Status.PASS, Severity.CRITICAL))
        results.append(result("DNS-PROVSERVER-PTR", site, f"{site}.example",
                              status if 3 <= i < 5 else Status.PASS, Severity.LOW))
        results.append(result("SNMP-IF-UP", site, "sw1/Gi1/0/1", status, Severity.MEDIUM))
    return _run_of(results)


def test_html_matrix_folds_all_but_not_ready_and_unknown_sites_when_there_are_many() -> None:
    run = _many_sites_run()
    readiness = _section(render("html", run), "h-readiness", "h-changes")
    folds = re.findall(r'<details class="fold"( open)?>\s*<summary><span class="badge v-([a-z-]+)"',
                       readiness)
    assert folds == [(" open", "not-ready"), ("", "at-risk"), ("", "ready")]
    for site in run.sites:
        assert readiness.count(f"<b>{site.name}</b>") == 1
    small = _section(render("html", hostile_run()), "h-readiness", "h-changes")
    assert "<details" not in small


def test_html_printout_leaves_passes_out_only_of_a_large_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = hostile_run()
    assert 'class="print-no-pass"' not in render("html", run)
    monkeypatch.setattr(html_report, "PRINTED_PASSES_MAX", len(run.results) - 1)
    assert '<table id="all-results" class="print-no-pass">' in render("html", run)


def test_html_folds_findings_of_a_check_beyond_the_first_few() -> None:
    run = _many_sites_run()
    findings = _section(render("html", run), "h-failures", "h-waived")
    failing = [r for r in run.results if r.status is Status.FAIL]
    assert len([r for r in failing if r.check == "SNMP-IF-UP"]) > FINDINGS_SHOWN
    for r in failing:
        assert f'<td class="site">{r.site}</td>' in findings
    assert findings.count('<details class="more">') == 1


# Console


def test_console_text_names_each_verdict_and_failing_check() -> None:
    text = render("console", hostile_run())
    for verdict in Verdict:
        assert verdict.value.upper() in text
    for check in ("DNS-PROVSERVER-A", "AD-KDC-ANSWERS", "DHCP-OPT15-CLEAN", "CERT-EXPIRY-SOON"):
        assert check in text
    assert "DNS-RESOLVER-ANSWERS" not in text  # a pass is listed only when verbose
    assert "\x1b" not in text and "\x00" not in text
    assert text.rstrip().splitlines()[-1].split()[1] == Verdict.NOT_READY.value.upper()


def test_console_verbose_lists_every_result_and_fits_80_columns() -> None:
    console = Console(record=True, width=80, color_system=None, file=io.StringIO())
    print_run(hostile_run(), console, verbose=True)
    text = console.export_text()
    for r in hostile_run().results:
        assert r.check in text
    assert max(len(line) for line in text.splitlines()) <= 80
