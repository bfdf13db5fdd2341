"""A real `amt-preflight run --allow-intrusive` against the lab, stopped with SIGTERM once its
DHCP lease is taken and its DNS test record added (CHECKS.md, "Interrupted runs"; review M4):
it ends within 5 s with the verdicts' exit code, the JSON report and the history row are
written with "interrupted" errors, the lease is released and the record deleted.

The DNS update goes through the lab's delay relay in front of BIND (open.example accepts
unsigned updates), so the record stays in the zone long enough to stop the run while it is
there; the registration waits for a name BIND never has, so the lease is held until the end.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from amt_preflight import history
from amt_preflight.reports.json_report import load as load_run
from lab import Lab, netns, network

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "amt_preflight.cli"]
BIND = network.ADDRESSES["bind"]
RELAY = network.ADDRESSES["delay_dns"]
DELAY_S = 1.5  # per query through the relay: the delete reaches BIND this long after the add
OPEN_ZONE = "open.example"  # BIND accepts unsigned updates there (lab/network.py)
CHECKS = ["DHCP-OPT81-REGISTERS", "DNS-DYNUPDATE-OPEN"]
SITE = """
history: {history}
defaults: {{timeout: 4, retries: 0, deadline: 120}}
sites:
  - name: lab
    interface: lab0
    resolvers: [{relay}]
    dhcp: {{allowed_servers: [{dhcp}], window: 5, register_wait: 90}}
    domains:
      - {{name: {zone}, provision_server: [10.250.0.10]}}
"""


@pytest.fixture(scope="module")
def slow_bind(lab: Lab) -> str:
    """The lab's delay relay in front of BIND, started once (it stops with the lab)."""
    lab.add(network.delay_relay(lab.infra_ns, BIND, DELAY_S * 1000))
    return RELAY


def ask_bind(lab: Lab, name: str, rdtype: str) -> dns.message.Message:
    with lab.in_client():
        return dns.query.udp(dns.message.make_query(name, rdtype), BIND, timeout=2)


def serial(lab: Lab) -> int:
    reply = ask_bind(lab, OPEN_ZONE, "SOA")
    return int(reply.answer[0][0].serial)


def leases(lab: Lab) -> list[str]:
    path = lab.workdir / "dnsmasq" / "leases"
    return sorted(path.read_text().splitlines()) if path.exists() else []


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {seconds:g} s")
        time.sleep(0.05)


def test_sigterm_mid_run_undoes_the_lease_and_the_record_and_writes_everything(
    lab: Lab, slow_bind: str, tmp_path: Path
) -> None:
    db = tmp_path / "state" / "history.sqlite"
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(history=db, relay=slow_bind, zone=OPEN_ZONE,
                                  dhcp=network.ADDRESSES["dnsmasq"]))
    out = tmp_path / "report"
    leases_before, serial_before = leases(lab), serial(lab)
    argv = [*CLI, "run", "-c", str(config), "--allow-intrusive", "--format", "console,json",
            "-o", str(out), *(f"--check={c}" for c in CHECKS)]
    run = subprocess.Popen(netns.exec_argv(lab.client_ns, argv), cwd=REPO, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Mid-way: the lease is in dnsmasq's table, the record in BIND's zone
        wait_for(lambda: any("amtp-" in line for line in set(leases(lab)) - set(leases_before)),
                 30, "the lease")
        wait_for(lambda: serial(lab) == serial_before + 1, 30, "the DNS test record")
        assert run.poll() is None, run.communicate()
        clock = time.monotonic()
        os.kill(run.pid, signal.SIGTERM)  # `ip netns exec` execs: this is the tool itself
        stdout, stderr = run.communicate(timeout=30)
        after_signal = time.monotonic() - clock
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    print(f"SIGTERM to exit: {after_signal:.2f} s")
    assert after_signal < 5, stderr
    assert "SIGTERM: stopping" in stderr and "Traceback" not in stderr

    # The exit code follows the verdicts: errors make the site unknown
    assert run.returncode == 3, stderr
    saved = out / "amt-preflight.json"
    document = json.loads(saved.read_text())
    load_run(saved)  # valid against the schema
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert document["run"]["interrupted"] == "SIGTERM"
    assert "leftovers" not in document  # everything was undone
    found = {r["check"]: r for r in document["results"]}
    assert set(found) == set(CHECKS)
    assert all(r["status"] == "error" and r["reason"] == "INTERRUPTED"
               for r in found.values()), found
    assert document["sites"][0]["verdict"] == "unknown"
    assert "Interrupted by SIGTERM" in stdout

    # The history row is written, privately
    [stored] = history.runs(db)
    assert stored.id == document["run"]["id"] and stored.verdict == "unknown"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600

    # The record is gone from the zone (its name from the evidence), the lease released
    update = found["DNS-DYNUPDATE-OPEN"]["evidence"]
    name = update["update"].removeprefix("add ").split()[0]
    assert name.startswith("amt-preflight-probe-") and name.endswith(f".{OPEN_ZONE}")
    assert update["cleanup"] == "deleted"
    assert ask_bind(lab, name, "TXT").rcode() == dns.rcode.NXDOMAIN
    assert serial(lab) >= serial_before + 2  # the add, then the delete
    wait_for(lambda: leases(lab) == leases_before, 3, "the lease table as before")
