"""The whole command line, end to end: against the lab network as a user runs it, and its
usage and config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from amt_preflight.reports.json_report import render as render_json
from amt_preflight.reports.json_report import schema
from lab import Lab, ad, provisioning_server, snmp

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "amt_preflight.cli"]


def run_cli(args: list[str], lab: Lab | None = None, timeout: float = 120,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = CLI + args
    if lab is None:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                              env=env)
    return lab.run_in_client(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                             env=env)


def survey(lab: Lab, config: Path, *extra: str, env: Mapping[str, str] | None = None
           ) -> tuple[int, dict[str, Any]]:
    done = run_cli(["run", "-c", str(config), "--format", "json", *extra], lab, env=env)
    assert done.returncode in (0, 1, 2, 3), done.stderr
    document = json.loads(done.stdout)
    jsonschema.Draft202012Validator(schema()).validate(document)
    return done.returncode, document


def statuses(document: dict[str, Any], site: str | None = None) -> dict[tuple[str, str], str]:
    return {(r["check"], r["target"]): r["status"] for r in document["results"]
            if site is None or r["site"] == site}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


# --- against the lab ------------------------------------------------------------------

CERT_AND_CA = ("CERT-LOADABLE", "CERT-AMT-USAGE", "CERT-SERVER-AUTH", "CERT-VALIDITY",
               "CERT-EXPIRY-SOON", "CERT-CHAIN-COMPLETE", "CERT-ROOT-TRUSTED",
               "CERT-DOMAIN-MATCH", "CERT-CRYPTO", "CERT-CHAIN-LENGTH", "CA-CRL-FRESH",
               "CA-NOT-REVOKED", "CA-OCSP-ANSWERS", "CA-AIA-REACHABLE")


@pytest.mark.lab
def test_demo_config_gives_the_expected_verdicts(
    lab: Lab, ad_lab: ad.Directory, dhcp_lab: Lab
) -> None:
    # As `make demo` runs it: with the lab's SNMP community and keys, its AD bind password
    # and CA, and its PID/PPS pair in the environment.
    code, document = survey(lab, REPO / "config.yaml", "--allow-intrusive",
                            env={**os.environ, **snmp.ENVIRONMENT, **ad_lab.environment(),
                                 **provisioning_server.ENVIRONMENT})
    verdicts = {s["name"]: s["verdict"] for s in document["sites"]}
    # hq's network is healthy; a few of its devices are not (amt.devices, lab/devices.py)
    assert verdicts == {"hq": "not-ready", "branch": "not-ready"} and code == 2
    hq = statuses(document, "hq")
    # The devices decide whether the root is trusted (amt.devices): four lack it active
    assert not [(c, t) for (c, t), s in hq.items() if not c.startswith("DEV-")
                and c != "CERT-ROOT-TRUSTED" and s not in ("pass", "skipped", "waived")]
    [trusted] = [r for r in document["results"] if r["site"] == "hq"
                 and r["check"] == "CERT-ROOT-TRUSTED"]
    assert trusted["status"] == "fail" and len(trusted["evidence"]["devices_lacking"]) == 4
    for check in ("DEV-ROOT-ACTIVE", "DEV-SUFFIX-MATCH", "DEV-CONTROL-MODE"):
        assert hq[(check, "hq-ws001")] == "pass", check
        assert hq[(check, "hq-ws040.json")] == "error", check  # the file cut short
    assert hq[("DEV-ROOT-ACTIVE", "hq-ws032")] == "fail"  # the lab root's hash wiped
    assert hq[("DEV-ROOT-ACTIVE", "hq-ws034")] == "fail"  # inactive
    assert hq[("DEV-SUFFIX-MATCH", "hq-ws030")] == "pass"  # dnsSuffixOS stands in
    assert hq[("DEV-SUFFIX-MATCH", "hq-ws036")] == "fail"  # corp.local
    assert hq[("DEV-CONTROL-MODE", "hq-ws038")] == "fail"  # client control mode
    assert hq[("DEV-CONTROL-MODE", "hq-ws039")] == "skipped"  # already admin
    for check in ("DNS-PROVSERVER-A", "DNS-PROVSERVER-MATCH", "DNS-PROVSERVER-CONSISTENT",
                  "DNS-PROVSERVER-PTR", "DNS-DYNUPDATE-OPEN"):
        assert hq[(check, "corp.example")] == "pass", check
    assert hq[("DNS-AD-SRV", "corp.example")] == "pass"
    for check in ("AD-KDC-ANSWERS", "AD-REALM-MATCH", "AD-CLOCK-SKEW", "AD-LDAP-ROOTDSE",
                  "AD-LDAP-BIND", "AD-AMT-OU"):
        assert hq[(check, "10.250.0.20")] == "pass", check  # dc01.corp.example, Samba
    assert hq[("DNS-RESOLVER-ANSWERS", "10.250.0.1")] == "pass"
    assert hq[("DNS-RESOLVER-ANSWERS", "10.250.0.2")] == "pass"
    for check, target in DHCP_HEALTHY:  # the lab's dnsmasq on lab0
        assert hq[(check, target)] == "pass", check
    assert hq[("SNMP-DEVICE-ANSWERS", "10.250.0.40")] == "pass"  # SNMPv2c
    assert hq[("SNMP-DEVICE-ANSWERS", "10.250.0.41")] == "pass"  # SNMPv3 authPriv
    assert hq[("SNMP-IF-UP", "10.250.0.40/lab0")] == "pass"
    assert hq[("SNMP-SERVICE-RUNNING", "10.250.0.41")] == "pass"
    for check in CERT_AND_CA:  # the lab PKI's PFX, its CRLs, OCSP responder and AIA
        if check != "CERT-ROOT-TRUSTED":
            assert hq[(check, "corp.example")] == "pass", check
    assert hq[("CA-ENTERPRISE-REACHABLE", "ca01.corp.example")] == "pass"
    for check in ("HS-PROVSERVER-TCP", "HS-HELLO-SENT", "HS-CONNECT-BACK", "HS-PRESENTED-CHAIN",
                  "HS-TLS-PSK"):  # the lab's reference provisioning server
        assert hq[(check, "corp.example")] == "pass", check
    branch = statuses(document, "branch")
    assert branch[("CERT-AMT-USAGE", "branch.example")] == "fail"  # no AMT OID or OU
    assert branch[("CERT-LOADABLE", "branch.example")] == "pass"  # PEM chain, key apart
    assert branch[("DNS-PROVSERVER-A", "branch.example")] == "pass"
    assert branch[("DNS-PROVSERVER-MATCH", "branch.example")] == "fail"
    assert branch[("DNS-PROVSERVER-PTR", "branch.example")] == "waived"
    assert branch[("DNS-AD-SRV", "-")] == "skipped"
    # dm-rogue: the branch's dnsmasq (allowed) and a rogue Kea handing out rogue.example.
    assert branch[("DHCP-SERVER-ALLOWED", "10.250.16.1")] == "pass"
    assert branch[("DHCP-SERVER-ALLOWED", "10.250.16.2")] == "fail"
    assert branch[("DHCP-OPT15-MATCH", "10.250.16.2")] == "fail"
    assert branch[("DHCP-OPT81-REGISTERS", "dm-rogue")] == "pass"
    # No resolvers configured: those of the allowed server's option 6.
    resolvers = [r for r in document["results"] if r["site"] == "branch"
                 and r["check"] == "DNS-RESOLVER-ANSWERS"]
    assert {r["target"] for r in resolvers} == {"10.250.16.1", "10.250.0.2"}
    assert {r["evidence"]["resolver_source"] for r in resolvers} == {"dhcp option 6"}
    assert branch[("SNMP-IF-UP", "10.250.0.40/lab0")] == "pass"
    assert branch[("SNMP-IF-UP", "10.250.0.40/shut0")] == "fail"  # the relay uplink, shut down


DHCP_HEALTHY = [
    ("DHCP-SERVER-ANSWERS", "lab0"), ("DHCP-SERVER-ALLOWED", "10.250.0.1"),
    ("DHCP-OPT15-PRESENT", "10.250.0.1"), ("DHCP-OPT15-MATCH", "10.250.0.1"),
    ("DHCP-OPT15-CLEAN", "10.250.0.1"), ("DHCP-OPT6-DNS", "10.250.0.1"),
    ("DHCP-OPT81-ACCEPTED", "lab0"), ("DHCP-OPT81-REGISTERS", "lab0"),
]


LAB_SITE = """
defaults: {{timeout: {timeout}, retries: 1, deadline: 60}}
sites:
  - name: lab
    resolvers: {resolvers}
    ad: {{domain: {ad}}}
    domains:
      - {{name: corp.example, provision_server: [10.250.0.10]}}
      - {{name: missing.example, provision_server: [10.250.0.10]}}
      - {{name: split.example, provision_server: [10.250.0.10, 10.250.0.11]}}
      - {{name: open.example, provision_server: [10.250.0.10]}}
"""


@pytest.mark.lab
def test_broken_domains_and_resolvers_fail_where_they_should(lab: Lab, tmp_path: Path) -> None:
    config = write(tmp_path, LAB_SITE.format(
        timeout=0.5, ad="branch.example",
        resolvers="[10.250.0.2, 10.250.0.1, 10.250.0.3, 10.250.0.4]"))
    code, document = survey(lab, config, "--allow-intrusive", "--check", "DNS-*")
    got = statuses(document)
    assert code == 2
    assert got[("DNS-RESOLVER-ANSWERS", "10.250.0.1")] == "pass"
    assert got[("DNS-RESOLVER-ANSWERS", "10.250.0.3")] == "fail"  # silent
    assert got[("DNS-RESOLVER-ANSWERS", "10.250.0.4")] == "fail"  # garbage
    assert got[("DNS-PROVSERVER-A", "corp.example")] == "pass"
    assert got[("DNS-PROVSERVER-A", "missing.example")] == "fail"
    assert got[("DNS-PROVSERVER-A", "open.example")] == "fail"  # dnsmasq does not serve it
    assert got[("DNS-PROVSERVER-MATCH", "missing.example")] == "skipped"
    assert got[("DNS-PROVSERVER-CONSISTENT", "corp.example")] == "pass"
    assert got[("DNS-PROVSERVER-CONSISTENT", "split.example")] == "fail"
    assert got[("DNS-PROVSERVER-MATCH", "split.example")] == "pass"
    assert got[("DNS-PROVSERVER-PTR", "corp.example")] == "pass"
    assert got[("DNS-DYNUPDATE-OPEN", "corp.example")] == "pass"
    assert got[("DNS-DYNUPDATE-OPEN", "open.example")] == "fail"
    assert got[("DNS-AD-SRV", "branch.example")] == "fail"
    garbage = next(r for r in document["results"] if r["target"] == "10.250.0.4")
    assert {a["outcome"] for a in garbage["evidence"]["answers"]} == {"malformed"}


@pytest.mark.lab
def test_a_silent_resolver_costs_one_timeout_per_attempt_not_per_query(
    lab: Lab, tmp_path: Path
) -> None:
    config = write(tmp_path, LAB_SITE.format(timeout=1, ad="corp.example",
                                             resolvers="[10.250.0.3]"))
    started = time.monotonic()
    code, document = survey(lab, config)
    elapsed = time.monotonic() - started
    print(f"silent resolver, timeout 1 s x 2 attempts: run took {elapsed:.2f} s")
    got = statuses(document)
    assert code == 2 and got[("DNS-RESOLVER-ANSWERS", "10.250.0.3")] == "fail"
    assert got[("DNS-PROVSERVER-A", "corp.example")] == "skipped"
    assert got[("DNS-AD-SRV", "corp.example")] == "skipped"


@pytest.mark.lab
def test_deadline_turns_unfinished_probes_into_errors(lab: Lab, tmp_path: Path) -> None:
    text = LAB_SITE.format(timeout=5, ad="corp.example", resolvers="[10.250.0.3, 10.250.0.1]")
    config = write(tmp_path, text.replace("deadline: 60", "deadline: 1"))
    code, document = survey(lab, config)
    got = statuses(document)
    assert got[("DNS-RESOLVER-ANSWERS", "10.250.0.3")] == "error"
    assert got[("DNS-RESOLVER-ANSWERS", "10.250.0.1")] == "pass"
    assert code == 3 or code == 2


@pytest.mark.lab
def test_formats_written_to_a_folder_and_rendered_again(
    lab: Lab, dhcp_lab: Lab, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run_cli(["run", "-c", str(REPO / "config.yaml"), "--site", "branch", "--check",
                    "DNS-PROVSERVER-*", "--format", "console,json,html", "-o", str(out)], lab)
    assert done.returncode == 2, done.stderr
    assert "NOT-READY" in done.stdout and "DNS-PROVSERVER-MATCH" in done.stdout
    document = json.loads((out / "amt-preflight.json").read_text())
    assert {r["check"] for r in document["results"]} == {
        "DNS-PROVSERVER-A", "DNS-PROVSERVER-MATCH", "DNS-PROVSERVER-CONSISTENT",
        "DNS-PROVSERVER-PTR"}
    html = (out / "amt-preflight.html").read_text()
    assert "Content-Security-Policy" in html and "branch.example" in html
    again = tmp_path / "again.html"
    redone = run_cli(["report", str(out / "amt-preflight.json"), "--format", "html", "-o",
                      str(again)])
    assert redone.returncode == 0, redone.stderr
    # The table of every result is the same; "changed since the previous run" is not, as the
    # run that wrote the HTML compared itself with the history and `report` has none.
    def all_results(page: str) -> str:
        return page[page.index('<h2 id="h-all">'):]

    assert all_results(again.read_text()) == all_results(html)


# --- without a network ----------------------------------------------------------------


def test_config_error_exits_78_naming_file_line_and_key(tmp_path: Path) -> None:
    config = write(tmp_path, "sites:\n  - name: hq\n    resolvers: [10.250.0.1]\n    dns: {}\n")
    done = run_cli(["run", "-c", str(config)])
    assert done.returncode == 78
    assert f"{config}:4: sites[0].dns: unknown key" in done.stderr


def test_missing_config_exits_78(tmp_path: Path) -> None:
    done = run_cli(["run", "-c", str(tmp_path / "nope.yaml")])
    assert done.returncode == 78 and "nope.yaml" in done.stderr


@pytest.mark.parametrize("args", [
    ["run", "--format", "pdf"],
    ["run", "--check", "NOPE-*"],
    ["run", "--site", "atlantis"],
    ["run", "--format", "json,html"],  # several formats need -o
    ["explain", "NOPE-1"],
    ["frobnicate"],
])
def test_usage_errors_exit_64(args: list[str]) -> None:
    done = run_cli(args)
    assert done.returncode == 64, (done.stdout, done.stderr)


def test_checks_and_explain() -> None:
    listing = run_cli(["checks"])
    assert listing.returncode == 0 and "DNS-DYNUPDATE-OPEN" in listing.stdout
    explained = run_cli(["explain", "dns-provserver-match"])
    assert explained.returncode == 0
    assert "DNS-PROVSERVER-MATCH" in explained.stdout and "DNS-PROVSERVER-A" in explained.stdout


def test_report_rejects_a_file_that_is_not_a_run(tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text('{"schema_version": 2}')
    done = run_cli(["report", str(bad), "--format", "html"])
    assert done.returncode == 64 and "run.json" in done.stderr


# --- failures of the tool itself: 70, one line; UNKNOWN under --format nagios ------------


def saved_run(tmp_path: Path) -> Path:
    from .test_reports import hostile_run

    path = tmp_path / "run.json"
    path.write_text(render_json(hostile_run()))
    return path


def test_an_unwritable_output_exits_70_with_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "adir"
    (folder / "amt-preflight.json").mkdir(parents=True)  # where the report would go
    done = run_cli(["report", str(saved_run(tmp_path)), "--format", "json", "-o", str(folder)])
    assert done.returncode == 70
    assert done.stderr.splitlines() == [
        f"amt-preflight: cannot write {folder / 'amt-preflight.json'}: it is a folder"]
    done = run_cli(["report", str(saved_run(tmp_path)), "--format", "json", "-o", "-"])
    assert done.returncode == 0 and json.loads(done.stdout)["schema_version"] == 1
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    done = run_cli(["report", str(saved_run(tmp_path)), "--format", "html", "-o",
                    str(blocked / "amt-preflight.html")])
    assert done.returncode == 70
    assert done.stderr.splitlines() == [
        f"amt-preflight: cannot write {blocked / 'amt-preflight.html'}: Not a directory"]


@pytest.mark.parametrize(("args", "says"), [
    (["report", "{run}", "--format", "nagios", "-o", "{folder}"],
     "cannot write {folder}/amt-preflight.nagios.txt: "),
    (["run", "-c", "{config}", "--format", "nagios"], "config error: {config}:4: "),
    (["run", "--format", "nagios", "--no-such-option"], "error: unrecognized arguments"),
    (["run", "--format=json,nagios"], "error: --format json,nagios: give -o DIR"),
])
def test_with_format_nagios_every_error_is_one_unknown_line_and_exit_3(
    tmp_path: Path, args: list[str], says: str
) -> None:
    (tmp_path / "adir" / "amt-preflight.nagios.txt").mkdir(parents=True)
    names = {"run": str(saved_run(tmp_path)), "folder": str(tmp_path / "adir"),
             "config": str(write(tmp_path, "sites:\n  - name: hq\n    resolvers: [10.0.0.1]\n"
                                           "    dns: {}\n"))}
    done = run_cli([a.format(**names) for a in args])
    assert done.returncode == 3, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith("AMT-PREFLIGHT UNKNOWN - " + says.format(**names)), line
    assert "|" not in line and "Traceback" not in done.stderr


def test_a_crash_inside_exits_70_with_one_line_and_the_traceback_only_with_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from amt_preflight import cli, history

    def broken(*args: object, **kwargs: object) -> list[history.StoredRun]:
        raise KeyError("sites")  # a bug, as a corrupt row once raised

    monkeypatch.setattr(history, "runs", broken)
    db = ["history", "--db", str(tmp_path / "h.sqlite")]
    assert cli.main(db) == 70
    err = capsys.readouterr().err
    assert err.splitlines() == ["amt-preflight: internal error: KeyError: 'sites' at "
                                f"test_cli.py:{broken.__code__.co_firstlineno + 1} "
                                "(--debug shows the traceback)"]
    assert cli.main(["--debug", *db]) == 70
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert cli.main([*db, "--debug"]) == 70  # after the command's name too
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_renderer_meeting_the_unexpected_exits_70_naming_the_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from amt_preflight import cli, reports

    def odd_evidence(fmt: str, run: object, previous: object = None) -> str:
        raise TypeError("'str' object is not a mapping")

    monkeypatch.setattr(reports, "render", odd_evidence)
    code = cli.main(["report", str(saved_run(tmp_path)), "--format", "html"])
    assert code == 70
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("amt-preflight: cannot render the html report: TypeError: ")


def test_an_alias_bomb_is_refused_at_once_naming_line_and_key(tmp_path: Path) -> None:
    """L7: nine lines that expand to 8**9 nodes: refused before anything walks them."""
    from amt_preflight import config as config_module

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 8)}]" for i in range(1, 9)]
    bomb = write(tmp_path, "\n".join(lines) + "\n")
    clock = time.perf_counter()
    with pytest.raises(config_module.ConfigError) as refused:
        config_module.load(bomb)
    elapsed = time.perf_counter() - clock
    print(f"alias bomb refused in {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0  # unrefused it took 27 s and 3 GiB at 8 lines
    assert refused.value.line is not None and refused.value.key.startswith("a")
    assert "alias" in refused.value.problem
    done = run_cli(["run", "-c", str(bomb)])
    assert done.returncode == 78
    assert done.stderr.startswith(f"amt-preflight: config error: {bomb}:")


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("sites:\n  - name: hq\nwaivers: !!timestamp soon\n", 3, "invalid value"),
    ("sites: &s\n  - name: hq\n    again: *s\n", 3, "recursive alias"),
])
def test_yaml_the_constructor_chokes_on_is_a_config_error(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    done = run_cli(["run", "-c", str(write(tmp_path, text))])
    assert done.returncode == 78, done.stderr
    assert f"site.yaml:{line}:" in done.stderr and problem in done.stderr
    assert "Traceback" not in done.stderr
