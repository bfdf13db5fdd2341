"""Renderers on hostile text and oddly shaped saved runs (review L5, L6, L9): a '|' in a
message never becomes Nagios performance data, no character makes the JUnit XML invalid,
and `report` renders any schema-valid RUN.json, whatever shape its evidence has."""

from __future__ import annotations

import json
import xml.dom.minidom
from pathlib import Path
from typing import Any

import pytest

from amt_preflight.model import Result, RunResult, Severity, Status
from amt_preflight.reports import FORMATS, json_report, render, visible

from . import runs

STARTED = "2026-11-28T12:00:00+00:00"
PIPE = "option 15 is 'corp|evil_metric=999;1;1'"


def result(check: str, status: Status = Status.FAIL, *, target: str = "corp.example",
           **fields: Any) -> Result:
    return runs.result(check, target, status, references=["RFC"], started=STARTED,
                       duration_ms=3, **fields)


def run_of(*results: Result) -> RunResult:
    return runs.run_of(results, started=STARTED, finished="2026-11-28T12:00:09+00:00",
                       host="survey01", config="config.yaml")


# --- Nagios: '|' starts performance data ----------------------------------------------


def test_a_pipe_in_any_message_never_becomes_performance_data() -> None:
    run = run_of(result("DHCP-OPT15-MATCH", message=PIPE, target="eth0|x=1"),
                 result("CERT-DOMAIN-MATCH", message="subject CN=a|b\nCRITICAL fake line"),
                 result("DNS-PROVSERVER-PTR", Status.ERROR, severity=Severity.LOW,
                        message="ptr|y=2;;;", evidence={"offset_s": 1.5}))
    lines = render("nagios", run).splitlines()
    status_line, long_text = lines[0], lines[1:]
    assert status_line.count("|") == 1  # the status line's own performance data only
    assert all("|" not in line for line in long_text[:-1])
    last_text, _, last_perf = long_text[-1].partition(" | ")
    assert "|" not in last_text and "evil_metric" not in last_perf
    assert any("'corp¦evil_metric=999;1;1'" in line for line in long_text)
    assert not any(line.startswith("CRITICAL fake line") for line in lines)
    assert len(long_text) == 3  # one line per failing result, a line break stays in its line


# --- JUnit: only characters XML allows ---------------------------------------------------


@pytest.mark.parametrize("odd", ["\uffff", "\ufffe", "\x00", "\x0b", "\udcff", "\x1b[2J"])
def test_no_character_makes_the_junit_xml_invalid(odd: str) -> None:
    run = run_of(result("CERT-DOMAIN-MATCH", message=f"subject CN=a{odd}b", target=f"t{odd}",
                        title=f"title{odd}"),
                 result("CERT-EXPIRY-SOON", Status.SKIPPED, message=f"skipped{odd}"))
    document = render("junit", run)
    xml.dom.minidom.parseString(document.encode("utf-8"))  # raises on invalid XML
    assert visible(odd) in document or odd == "\x1b[2J"


def test_visible_escapes_the_two_non_characters() -> None:
    assert visible("a\ufffeb\uffffc") == "a\\ufffeb\\uffffc"


# --- report on saved runs of every shape -------------------------------------------------


ODD_EVIDENCE: list[tuple[str, dict[str, Any]]] = [
    ("DHCP-SERVER-ANSWERS", {"servers": ["x"]}),  # review L9
    ("DHCP-SERVER-ANSWERS", {"servers": {"10.0.0.1": "x", "10.0.0.2": [1, {"options": 3}]},
                             "sent": 5, "malformed": {"a": 1}, "ignored": ["x"],
                             "dropped": "many"}),
    ("DHCP-OPT15-MATCH", {"dhcp_server": ["x"]}),
    ("DHCP-OPT15-MATCH", {"dhcp_server": {"server": ["unhashable"], "answers": "x"}}),
    ("DHCP-OPT15-MATCH", {"dhcp_server": {"server": "10.0.0.1", "answers": [
        {"options": [{"code": 6, "value": {"a": 1}}, "x", {"value": 7}], "problems": 3}]}}),
    ("CERT-LOADABLE", {"certificates": ["x"]}),  # review L9
    ("CERT-LOADABLE", {"certificates": [{"san_dns": 5, "eku": [{"x": 1}, "1.2"]}],
                       "keys": "RSA", "certificates_not_shown": "some"}),
    ("CERT-ROOT-TRUSTED", {"matches": ["x"]}),
    ("CERT-DOMAIN-MATCH", {"names": 5}),
    ("HS-CONNECT-BACK", {"attempts": "x"}),
    ("HS-CONNECT-BACK", {"attempts": [5, {"hello": "x", "connect_back": [1],
                                          "endpoint_tls": {"versions": 3},
                                          "timeline": {"a": 1}, "likely_causes": "x",
                                          "announced_hashes": 9, "hello_delivery": "y"}]}),
    ("HS-CONNECT-BACK", {"attempts": [{"connect_back": {"presented_chain": [1, {"san_dns": 2}],
                                                        "certificates_not_shown": []}}]}),
    ("HS-PRESENTED-CHAIN", {"profiles": [{"profile": None, "rules": [1, "x"]}]}),
    ("AD-CLOCK-SKEW", {"kdc": [], "readings": [{"reply_realm": ["x"]}, 4, {}],
                       "offset_s": "soon"}),
    ("AD-LDAP-ROOTDSE", {"rootdse": {"a": 1}}),
    ("AD-LDAP-ROOTDSE", {"rootdse": [1, {"clock_offset_s": "x"}]}),
    ("DEV-ROOT-ACTIVE", {"reason": ["root-active"], "domain": {"a": 1}}),
    ("DEV-ROOT-ACTIVE", {"reason": {"x": 1}}),
]


@pytest.mark.parametrize(("check", "evidence"), ODD_EVIDENCE,
                         ids=[f"{c}-{i}" for i, (c, _) in enumerate(ODD_EVIDENCE)])
def test_report_renders_a_saved_run_whose_evidence_has_an_odd_shape(
        tmp_path: Path, check: str, evidence: dict[str, Any]) -> None:
    run = run_of(result(check, evidence=evidence, target="10.0.0.1"),
                 result("HS-PRESENTED-CHAIN", evidence={"profiles": "x"}, target="10.0.0.1"))
    saved = tmp_path / "run.json"
    saved.write_text(render("json", run), encoding="utf-8")
    loaded = json_report.load(saved)  # schema-valid: evidence is any object
    for fmt in FORMATS:
        assert render(fmt, loaded)


def test_the_review_reproducer_through_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = run_of(result("DHCP-SERVER-ANSWERS", evidence={"servers": ["x"]}, target="eth0"),
                 result("CERT-LOADABLE", evidence={"certificates": ["x"]}))
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(run.to_json()), encoding="utf-8")
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "amt_preflight.cli", "report", str(saved),
                           "--format", "html", "-o", str(out)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and out.read_text().startswith("<!DOCTYPE html>")
