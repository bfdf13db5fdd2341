"""The SNMP probe and checks against net-snmp in the lab: every SNMP-* ID passes and fails
where it should, through the engine as a run makes them.

The lab's snmpd (lab/snmp.py) answers SNMPv2c and SNMPv3 on snmp_switch and snmp_server; its
interface table is the infra namespace's (lab0 up, shut0 shut down, nocarrier0 up without a
link), its process table the whole machine's (a lab process is called AMTConfigSvc).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from amt_preflight import engine, notify
from amt_preflight.config import Config
from amt_preflight.model import RunResult, Status
from amt_preflight.probes.snmp import MAX_WALK_ROWS
from lab import Lab, network, snmp

from .observed import config

pytestmark = pytest.mark.lab
SWITCH = network.ADDRESSES["snmp_switch"]
SERVER = network.ADDRESSES["snmp_server"]
ABSENT = network.ADDRESSES["snmp_absent"]
BAD_WALK = network.ADDRESSES["snmp_bad_walk"]
V3 = ("user: amtmon, auth_protocol: SHA256, auth_key_env: SNMP_AUTH, priv_protocol: AES, "
      "priv_key_env: SNMP_PRIV")


@pytest.fixture(autouse=True)
def lab_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in snmp.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def bad_walk_agent(lab: Lab) -> Iterator[str]:
    """The fake agent whose walks loop (community "loop") or never end ("endless")."""
    lab.add(snmp.bad_walk_agent(lab.infra_ns))
    yield BAD_WALK


@pytest.fixture(scope="session")
def other_keys_agent(lab: Lab) -> Iterator[str]:
    """A second snmpd: the same SNMPv3 user name, other keys."""
    lab.add(snmp.other_keys_agent(lab.workdir, lab.infra_ns))
    yield network.ADDRESSES["snmp_other_keys"]


def test_one_user_name_with_other_keys_per_device(lab: Lab, other_keys_agent: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """One user name at every site, keys per site, is common: each device is asked with its
    own keys (the engine's user table would otherwise keep one device's keys for both)."""
    monkeypatch.setenv("OTHER_AUTH", snmp.OTHER_AUTH_KEY)
    monkeypatch.setenv("OTHER_PRIV", snmp.OTHER_PRIV_KEY)
    other = V3.replace("SNMP_AUTH", "OTHER_AUTH").replace("SNMP_PRIV", "OTHER_PRIV")
    got = survey(lab, f"        - {{host: {SERVER}, {V3}}}\n"
                      f"        - {{host: {other_keys_agent}, {other}}}\n")
    assert got[("SNMP-DEVICE-ANSWERS", SERVER)] is Status.PASS
    assert got[("SNMP-DEVICE-ANSWERS", other_keys_agent)] is Status.PASS


def lab_config(devices: str, timeout: float = 1.0, retries: int = 0) -> Config:
    return config(f"defaults: {{timeout: {timeout}, retries: {retries}, deadline: 120}}\n"
                  f"sites:\n  - name: lab\n    snmp:\n      devices:\n{devices}")


def run_checks(lab: Lab, cfg: Config, check: str = "SNMP-*") -> RunResult:
    with lab.in_client():
        return engine.run(cfg, engine.RunOptions(checks=[check]))


def survey(lab: Lab, devices: str, timeout: float = 1.0, retries: int = 0,
           tmp_path: Path | None = None) -> dict[tuple[str, str], Status]:
    cfg = lab_config(devices, timeout, retries)
    if tmp_path is not None:
        cfg = replace(cfg, source=tmp_path / "config.yaml")
    return statuses(run_checks(lab, cfg))


def statuses(run: RunResult) -> dict[tuple[str, str], Status]:
    return {(r.check, r.target): r.status for r in run.results}


def device(host: str, security: str, interfaces: str = "[]", processes: str = "[]") -> str:
    return (f"        - {{host: {host}, {security}, interfaces: {interfaces}, "
            f"processes: {processes}}}\n")


def test_healthy_v2c_switch_and_v3_server(lab: Lab) -> None:
    got = survey(lab, device(SWITCH, "community_env: SNMP_COMMUNITY", "[lab0, 1]")
                 + device(SERVER, V3, processes="[AMTConfigSvc]"))
    assert got == {
        ("SNMP-DEVICE-ANSWERS", SWITCH): Status.PASS,
        ("SNMP-DEVICE-ANSWERS", SERVER): Status.PASS,
        ("SNMP-IF-UP", f"{SWITCH}/lab0"): Status.PASS,
        ("SNMP-IF-UP", f"{SWITCH}/1"): Status.PASS,  # ifIndex 1: lo
        ("SNMP-SERVICE-RUNNING", SERVER): Status.PASS,
    }


def test_interfaces_down_or_missing_fail(lab: Lab) -> None:
    interfaces = f"[{snmp.ADMIN_DOWN}, {snmp.NO_CARRIER}, Gi1/0/24, 999]"
    got = survey(lab, device(SWITCH, "community_env: SNMP_COMMUNITY", interfaces))
    assert got[("SNMP-DEVICE-ANSWERS", SWITCH)] is Status.PASS
    for name in (snmp.ADMIN_DOWN, snmp.NO_CARRIER, "Gi1/0/24", "999"):
        assert got[("SNMP-IF-UP", f"{SWITCH}/{name}")] is Status.FAIL, name


def test_interface_statuses_in_the_evidence(lab: Lab) -> None:
    cfg = lab_config(device(SWITCH, "community_env: SNMP_COMMUNITY",
                            f"[{snmp.ADMIN_DOWN}, {snmp.NO_CARRIER}]"))
    run = run_checks(lab, cfg, "SNMP-IF-UP")
    shown = {r.evidence["ifName"]: (r.evidence["ifAdminStatus"], r.evidence["ifOperStatus"])
             for r in run.results}
    # net-snmp reports no carrier as down(2), not the kernel's lowerLayerDown(7)
    assert shown == {snmp.ADMIN_DOWN: ("down(2)", "down(2)"),
                     snmp.NO_CARRIER: ("up(1)", "down(2)")}


def test_process_missing_fails(lab: Lab) -> None:
    got = survey(lab, device(SERVER, V3, processes="[AMTConfigSvc, amtp-no-such-svc]"))
    assert got[("SNMP-SERVICE-RUNNING", SERVER)] is Status.FAIL


def test_wrong_community_is_no_answer_not_a_crash(lab: Lab,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNMP_COMMUNITY", "not-the-lab-community")
    cfg = lab_config(device(SWITCH, "community_env: SNMP_COMMUNITY", "[lab0]", "[snmpd]"),
                     timeout=0.5, retries=1)
    run = run_checks(lab, cfg)
    assert statuses(run) == {
        ("SNMP-DEVICE-ANSWERS", SWITCH): Status.FAIL,
        ("SNMP-IF-UP", f"{SWITCH}/lab0"): Status.SKIPPED,
        ("SNMP-SERVICE-RUNNING", SWITCH): Status.SKIPPED,
    }
    answers = run.results[0]
    assert answers.evidence["exchange"]["outcome"] == "no-answer"
    assert "wrong community, ACL or host down" in answers.message  # the wording asked for


@pytest.mark.parametrize(("variable", "outcome"), [
    ("SNMP_AUTH", "auth-failed"),  # the agent reports a wrong digest
    ("SNMP_PRIV", "no-answer"),  # the agent drops what it cannot decrypt
])
def test_wrong_v3_key_fails(lab: Lab, monkeypatch: pytest.MonkeyPatch, variable: str,
                            outcome: str) -> None:
    monkeypatch.setenv(variable, "a-wrong-key-of-some-length")
    run = run_checks(lab, lab_config(device(SERVER, V3), timeout=0.5), "SNMP-DEVICE-ANSWERS")
    [result] = run.results
    assert result.status is Status.FAIL
    assert result.evidence["exchange"]["outcome"] == outcome


def test_agent_absent_fails_and_skips_its_dependents(lab: Lab) -> None:
    got = survey(lab, device(ABSENT, "community_env: SNMP_COMMUNITY", "[lab0]", "[x]"),
                 timeout=0.5)
    assert got == {
        ("SNMP-DEVICE-ANSWERS", ABSENT): Status.FAIL,
        ("SNMP-IF-UP", f"{ABSENT}/lab0"): Status.SKIPPED,
        ("SNMP-SERVICE-RUNNING", ABSENT): Status.SKIPPED,
    }


def test_missing_secret_is_an_error_naming_the_variable(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNMP_COMMUNITY")
    run = run_checks(lab, lab_config(device(SWITCH, "community_env: SNMP_COMMUNITY")))
    [answers] = [r for r in run.results if r.check == "SNMP-DEVICE-ANSWERS"]
    assert answers.status is Status.ERROR and "SNMP_COMMUNITY" in answers.message


def test_community_and_keys_from_files(lab: Lab, tmp_path: Path) -> None:
    for name, value in (("community", snmp.COMMUNITY), ("auth", snmp.AUTH_KEY),
                        ("priv", snmp.PRIV_KEY)):
        (tmp_path / f"{name}.txt").write_text(value + "\n")
    v3_files = ("user: amtmon, auth_protocol: SHA256, auth_key_file: auth.txt, "
                "priv_protocol: AES, priv_key_file: priv.txt")
    got = survey(lab, device(SWITCH, "community_file: community.txt")
                 + device(SERVER, v3_files), tmp_path=tmp_path)
    assert got[("SNMP-DEVICE-ANSWERS", SWITCH)] is Status.PASS
    assert got[("SNMP-DEVICE-ANSWERS", SERVER)] is Status.PASS


@pytest.mark.parametrize("community", ["loop", "endless"])
def test_walks_that_loop_or_never_end_are_stopped(lab: Lab, bad_walk_agent: str,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  community: str) -> None:
    monkeypatch.setenv("SNMP_COMMUNITY", community)
    run = run_checks(lab, lab_config(device(bad_walk_agent, "community_env: SNMP_COMMUNITY",
                                            "[Gi1/0/24]", "[AMTConfigSvc]")))
    assert statuses(run) == {
        ("SNMP-DEVICE-ANSWERS", bad_walk_agent): Status.PASS,
        ("SNMP-IF-UP", f"{bad_walk_agent}/Gi1/0/24"): Status.ERROR,
        ("SNMP-SERVICE-RUNNING", bad_walk_agent): Status.ERROR,
    }
    walk = next(r for r in run.results if r.check == "SNMP-SERVICE-RUNNING")
    assert walk.evidence["exchange"]["outcome"] == "bad-walk"
    rows = walk.evidence["exchange"]["rows"]
    assert rows == (3 if community == "loop" else MAX_WALK_ROWS)


LEAK_SITE = f"""
history: {{folder}}/history.sqlite
defaults: {{{{timeout: 0.5, retries: 0}}}}
sites:
  - name: leak
    snmp:
      devices:
        - {{{{host: {SWITCH}, community_env: SWITCH_COMMUNITY, interfaces: [lab0]}}}}
        - {{{{host: {SERVER}, {V3}, processes: [AMTConfigSvc]}}}}
notify:
  snmp_trap: {{{{host: 10.250.0.42, community_env: SNMP_TRAP_COMMUNITY}}}}
"""
SITE_OID = notify.SITE
WRONG_COMMUNITY = "wrong-community-Zq81x"
WRONG_AUTH = "wrong-auth-key-Pm42v"


def leak_traps(lab: Lab) -> list[dict[str, str]]:
    return [t for t in snmp.received_traps(lab.workdir) if t.get(SITE_OID) == 'STRING: "leak"']


def test_secrets_appear_in_no_output(lab: Lab, tmp_path: Path) -> None:
    """Every format, the console, stderr and the history, of a run that passes and one that
    fails and sends a trap: none holds a community or key, right or wrong."""
    config_file = tmp_path / "config.yaml"
    config_file.write_text(LEAK_SITE.format(folder=tmp_path))
    seen = []
    # ready, then at-risk (wrong community, wrong auth key): the second run sends a trap
    for number, (community, auth) in enumerate(((snmp.COMMUNITY, snmp.AUTH_KEY),
                                                (WRONG_COMMUNITY, WRONG_AUTH))):
        out = tmp_path / f"out-{number}"
        argv = [sys.executable, "-m", "amt_preflight.cli", "run", "-c", str(config_file), "-v",
                "--check", "SNMP-*", "--format",
                "console,json,html,junit,markdown,nagios,prometheus", "-o", str(out)]
        env = {**os.environ, **snmp.ENVIRONMENT, "SWITCH_COMMUNITY": community,
               "SNMP_AUTH": auth}
        done = lab.run_in_client(argv, capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == number, done.stderr
        seen += [done.stdout, done.stderr]
        seen += [p.read_text(errors="replace") for p in out.iterdir()]
    seen.append((tmp_path / "history.sqlite").read_bytes().decode("utf-8", "replace"))
    deadline = time.monotonic() + 10  # for snmptrapd to log it; no timing is asserted
    while not leak_traps(lab) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(leak_traps(lab)) == 1
    secrets = [snmp.COMMUNITY, snmp.AUTH_KEY, snmp.PRIV_KEY, snmp.TRAP_COMMUNITY,
               WRONG_COMMUNITY, WRONG_AUTH]
    for text in seen:
        for secret in secrets:
            assert secret not in text
