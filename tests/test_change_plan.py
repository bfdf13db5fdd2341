"""The change plan (reports/change_plan.py): commands filled with the site's values, checked by
the real tool where one is installed (kea-dhcp4 -t, named-checkzone) and by golden text where
none runs here (PowerShell, certreq)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from amt_preflight.model import Result, RunResult, Status
from amt_preflight.reports import render
from amt_preflight.reports.change_plan import (
    Step,
    certreq_inf,
    inf_quote,
    is_domain,
    plan,
    ps_quote,
)

from . import runs

STARTED = "2026-12-06T21:00:00+00:00"
DOMAIN = "corp.example"
SERVER = "10.0.0.2"


def result(check: str, site: str, target: str, status: Status = Status.FAIL,
           evidence: dict[str, Any] | None = None) -> Result:
    return runs.result(check, target, status, site=site, title=f"title of {check}",
                       evidence=evidence, remediation=f"fix {check}", started=STARTED,
                       duration_ms=5)


def dhcp_evidence(offered: str | None = "10.0.0.150", mask: str | None = "255.255.255.0"
                  ) -> dict[str, Any]:
    options: list[dict[str, Any]] = [{"code": 53, "name": "message type", "value": "OFFER"}]
    if mask:
        options.append({"code": 1, "name": "subnet mask", "value": [mask], "hex": ""})
    answer: dict[str, Any] = {"message": "OFFER", "server_id": SERVER, "options": options}
    if offered:
        answer["offered_address"] = offered
    return {"dhcp_server": {"interface": "eth0", "server": SERVER, "answers": [answer]}}


def run_of(results: list[Result], domains: dict[str, list[str]]) -> RunResult:
    return runs.run_of(results, domains, started=STARTED)


def hq_run() -> RunResult:
    return run_of([
        result("DHCP-OPT15-PRESENT", "hq", SERVER, evidence=dhcp_evidence()),
        result("DHCP-OPT15-MATCH", "hq", SERVER, evidence=dhcp_evidence()),
        result("DHCP-OPT15-PRESENT", "hq", "10.0.0.3", Status.PASS, dhcp_evidence()),
        result("DNS-PROVSERVER-MATCH", "hq", DOMAIN, evidence={
            "expected": ["10.0.0.10"], "unexpected": {"10.0.0.53": ["10.0.0.66"]}}),
        result("CERT-AMT-USAGE", "hq", DOMAIN, evidence={"certificate": "CN=web.corp.example"}),
        result("DEV-SUFFIX-MATCH", "hq", "pc-01", evidence={
            "reason": "suffix-mismatch", "domain": DOMAIN}),
        result("DEV-SUFFIX-MATCH", "hq", "pc-02", evidence={
            "reason": "suffix-empty", "domain": DOMAIN}),
        result("DNS-PROVSERVER-A", "hq", "waived.example", Status.WAIVED),
    ], {"hq": [DOMAIN]})


def step(steps: list[Step], check: str) -> Step:
    return next(s for s in steps if check in s.checks)


def snippet(found: Step, language: str) -> str:
    return next(s.text for s in found.snippets if s.language == language)


def test_plan_has_one_step_per_fix_and_only_for_fails() -> None:
    steps = plan(hq_run())
    assert [(s.checks, s.target) for s in steps] == [
        (["DHCP-OPT15-PRESENT", "DHCP-OPT15-MATCH"], SERVER),  # one change fixes both
        (["DNS-PROVSERVER-MATCH"], DOMAIN),
        (["CERT-AMT-USAGE"], DOMAIN),
        (["DEV-SUFFIX-MATCH"], "corp.example"),
    ]


def test_golden_windows_dhcp_option15() -> None:
    found = step(plan(hq_run()), "DHCP-OPT15-PRESENT")
    assert snippet(found, "powershell") == (
        "Set-DhcpServerv4OptionValue -ComputerName '10.0.0.2' -ScopeId '10.0.0.0' "
        "-OptionId 15 -Value 'corp.example'")
    assert snippet(found, "dnsmasq") == "dhcp-option=option:domain-name,corp.example"
    assert '"option-data": [ {"name": "domain-name", "data": "corp.example"} ]' in snippet(
        found, "json")


def test_option15_without_a_scope_sets_the_server_option_and_says_so() -> None:
    run = run_of([result("DHCP-OPT15-CLEAN", "hq", SERVER, evidence=dhcp_evidence(None))],
                 {"hq": [DOMAIN]})
    found = plan(run)[0]
    assert snippet(found, "powershell") == (
        "Set-DhcpServerv4OptionValue -ComputerName '10.0.0.2' -OptionId 15 "
        "-Value 'corp.example'")
    assert any("server-wide" in n for n in found.notes)


def test_golden_windows_dns_provision_server() -> None:
    found = step(plan(hq_run()), "DNS-PROVSERVER-MATCH")
    assert snippet(found, "powershell") == (
        "Add-DnsServerResourceRecordA -ZoneName 'corp.example' -Name 'ProvisionServer' "
        "-IPv4Address '10.0.0.10'\n"
        "Remove-DnsServerResourceRecord -ZoneName 'corp.example' -RRType 'A' "
        "-Name 'ProvisionServer' -RecordData '10.0.0.66' -Force")
    assert "ProvisionServer IN A 10.0.0.10" in snippet(found, "bind").splitlines()


def test_provision_server_a_takes_its_address_from_the_evidence() -> None:
    run = run_of([result("DNS-PROVSERVER-A", "hq", DOMAIN, evidence={
        "answers": [], "expected": ["10.0.0.11"]})], {"hq": [DOMAIN]})
    found = plan(run)[0]
    assert snippet(found, "powershell") == (
        "Add-DnsServerResourceRecordA -ZoneName 'corp.example' -Name 'ProvisionServer' "
        "-IPv4Address '10.0.0.11'")
    assert not any("192.0.2.1" in n for n in found.notes)


def test_golden_certreq_inf() -> None:
    found = step(plan(hq_run()), "CERT-AMT-USAGE")
    assert snippet(found, "inf") == certreq_inf("provisionserver.corp.example") == (
        '[Version]\n'
        'Signature = "$Windows NT$"\n'
        '\n'
        '[NewRequest]\n'
        'Subject = "CN=provisionserver.corp.example"\n'
        'KeyLength = 2048\n'
        'KeyAlgorithm = RSA\n'
        'Exportable = TRUE\n'
        'MachineKeySet = TRUE\n'
        'HashAlgorithm = SHA256\n'
        'RequestType = PKCS10\n'
        'KeyUsage = 0xa0\n'
        '\n'
        '[EnhancedKeyUsageExtension]\n'
        'OID = 1.3.6.1.5.5.7.3.1\n'
        'OID = 2.16.840.1.113741.1.2.3\n')
    assert any("CN=web.corp.example" in n for n in found.notes)


def test_suffix_step_names_the_devices_and_the_domain() -> None:
    text = snippet(step(plan(hq_run()), "DEV-SUFFIX-MATCH"), "text")
    assert "Devices: pc-01, pc-02" in text
    assert "PKI DNS Suffix = corp.example" in text and "setup.bin" in text


def test_quoting() -> None:
    assert ps_quote("O'Brien") == "'O''Brien'"
    assert ps_quote("a\u2019b") == "'a\u2019\u2019b'"  # PowerShell takes it as a quote too
    assert ps_quote("$(Remove-Item C:\\)") == "'$(Remove-Item C:\\)'"  # no expansion in '…'
    assert inf_quote('CN="x"') == '"CN=""x"""'
    assert is_domain("corp.example") and is_domain("a_b.corp-1.example")
    for bad in ["corp", "corp.example.", "x'.example", "a b.example", "-a.example",
                "a.example;rm", "a.example\x00", "<script>.example", ""]:
        assert not is_domain(bad), bad


def test_hostile_values_never_reach_a_command() -> None:
    run = run_of([
        result("DHCP-OPT15-MATCH", "hq", "'; Remove-Item C:\\ #", evidence=dhcp_evidence()),
        result("DNS-PROVSERVER-A", "hq", "x'.example", evidence={
            "expected": ["10.0.0.10'; evil"]}),
        result("CERT-AMT-USAGE", "hq", "$(evil).example"),
        result("DNS-PROVSERVER-MATCH", "hq", DOMAIN, evidence={
            "expected": ["not-an-address"], "unexpected": {"r": ["10.0.0.9' -Force; x"]}}),
    ], {"hq": ["corp.example'; evil"]})
    steps = plan(run)
    commands = "\n".join(s.text for found in steps for s in found.snippets)
    for hostile in ["Remove-Item", "x'.example", "$(evil)", "evil", "not-an-address"]:
        assert hostile not in commands, hostile
    assert [found.target for found in steps if not found.snippets] == [
        "'; Remove-Item C:\\ #", "x'.example", "$(evil).example"]
    # the valid domain still gets a command, with the documentation address as a stand-in
    assert "-IPv4Address '192.0.2.1'" in commands


def test_html_shows_the_plan_escaped_in_pre_blocks_and_no_new_script() -> None:
    html = render("html", hq_run())
    plan_html = html.split('id="h-plan"')[1].split("</section>")[0]
    assert ("<pre class=\"snippet lang-powershell\">Set-DhcpServerv4OptionValue -ComputerName "
            "&#39;10.0.0.2&#39;") in plan_html
    assert "&#34;option-data&#34;" in plan_html  # JSON quotes escaped, not raw
    assert html.count("<script") == 1 and "<svg" not in plan_html
    assert '<a href="#h-plan">Change plan</a>' in html


def test_html_and_markdown_leave_the_plan_out_when_nothing_is_planned() -> None:
    run = run_of([result("AD-KDC-ANSWERS", "hq", "10.0.0.5")], {"hq": [DOMAIN]})
    assert 'id="h-plan"' not in render("html", run)
    assert "## Change plan" not in render("markdown", run)


def test_markdown_fences_each_snippet() -> None:
    text = render("markdown", hq_run())
    part = text.split("## Change plan")[1]
    assert "```powershell\nSet-DhcpServerv4OptionValue -ComputerName '10.0.0.2'" in part
    assert "```inf\n[Version]" in part


# --- checked by the real tools, where installed -------------------------------------------------

KEA = shutil.which("kea-dhcp4")
NAMED_CHECKZONE = shutil.which("named-checkzone")


def tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(KEA is None, reason="kea-dhcp4 is not installed")
def test_kea_accepts_the_option_data_snippet(tmp_path: Path) -> None:
    assert KEA is not None
    text = snippet(step(plan(hq_run()), "DHCP-OPT15-PRESENT"), "json")
    config = tmp_path / "kea-dhcp4.conf"
    config.write_text(
        '{"Dhcp4": {"interfaces-config": {"interfaces": []},\n'
        '"lease-database": {"type": "memfile", "persist": false},\n'
        '"subnet4": [{"id": 1, "subnet": "10.0.0.0/24",\n' + text + "\n}]}}\n")
    checked = tool(KEA, "-t", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # and a broken snippet is refused: the check is real
    config.write_text(config.read_text().replace('"domain-name"', '"domain-nam"'))
    assert tool(KEA, "-t", str(config)).returncode != 0


@pytest.mark.skipif(NAMED_CHECKZONE is None, reason="named-checkzone is not installed")
def test_named_checkzone_accepts_the_bind_line(tmp_path: Path) -> None:
    assert NAMED_CHECKZONE is not None
    text = snippet(step(plan(hq_run()), "DNS-PROVSERVER-MATCH"), "bind")
    zone = tmp_path / "db.corp.example"
    zone.write_text(
        f"$ORIGIN {DOMAIN}.\n$TTL 3600\n"
        "@ IN SOA ns1 hostmaster 1 3600 600 86400 3600\n"
        "@ IN NS ns1\nns1 IN A 10.0.0.53\n" + text + "\n")
    checked = tool(NAMED_CHECKZONE, "-D", DOMAIN, str(zone))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(r"^ProvisionServer\.corp\.example\.\s+3600\s+IN\s+A\s+10\.0\.0\.10$",
                     checked.stdout, re.M), checked.stdout
