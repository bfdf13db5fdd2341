"""The shipped cron, systemd and Nagios/Icinga definitions, run as their schedulers would run
them, against the lab: quiet unless a verdict changes, verdict exit codes, stored history."""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lab import Lab

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parent.parent
CONTRIB = REPO / "contrib"
BIN = str(Path(sys.executable).parent / "amt-preflight")
SITE = """
history: {history}
defaults: {{timeout: 1, retries: 0}}
checks:
  disable: ['DHCP-*', 'CERT-*', 'CA-*', 'AD-*', 'HS-*', 'SNMP-*']
sites:
  - name: lab
    resolvers: [10.250.0.1]
    domains:
      - {{name: corp.example, provision_server: [{address}]}}
"""


class Installed:
    """A contrib command line with its paths pointing into a test folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = tmp_path / "etc" / "config.yaml"
        self.config.parent.mkdir()
        self.secrets = tmp_path / "etc" / "secrets.env"
        self.secrets.write_text("AMT_BIND_PASSWORD=not-used-here\n")
        self.state = tmp_path / "var"
        self.state.mkdir()
        self.point_at("10.250.0.10")

    def point_at(self, address: str) -> None:
        """Configure the expected provisioning server: the right one, or a wrong one."""
        self.config.write_text(SITE.format(history=self.state / "history.sqlite",
                                           address=address))

    def command(self, text: str) -> str:
        for installed, here in (("/usr/local/bin/amt-preflight", BIN),
                                ("/etc/amt-preflight/config.yaml", str(self.config)),
                                ("/etc/amt-preflight/secrets.env", str(self.secrets)),
                                ("/var/lib/amt-preflight", str(self.state))):
            text = text.replace(installed, here)
        return text


def cron_command(installed: Installed) -> str:
    line = next(line for line in (CONTRIB / "cron" / "amt-preflight").read_text().splitlines()
                if line and not line.startswith("#") and "=" not in line.split()[0])
    return installed.command(line.split(maxsplit=6)[6])


def as_cron(lab: Lab, command: str) -> subprocess.CompletedProcess[str]:
    """cron's way: sh -c, a bare environment, the root folder as working directory."""
    return lab.run_in_client(["env", "-i", "PATH=/usr/bin:/bin", "sh", "-c", command],
                             capture_output=True, text=True, cwd="/", timeout=120)


def test_cron_job_is_quiet_until_a_verdict_changes(lab: Lab, tmp_path: Path) -> None:
    installed = Installed(tmp_path)
    command = cron_command(installed)
    first = as_cron(lab, command)
    assert first.returncode == 0 and "READY" in first.stdout  # first run: news
    second = as_cron(lab, command)
    assert second.returncode == 0 and second.stdout == ""  # same verdict: silence
    installed.point_at("10.250.0.66")
    third = as_cron(lab, command)
    assert third.returncode == 2 and "DNS-PROVSERVER-MATCH" in third.stdout
    report = installed.state / "report"
    assert {p.name for p in report.iterdir()} >= {
        "amt-preflight.json", "amt-preflight.html", "amt_preflight.prom"}

    listed = lab.run_in_client([BIN, "history", "-c", str(installed.config)],
                               capture_output=True, text=True)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 3
    diff = lab.run_in_client([BIN, "diff", "-c", str(installed.config)],
                             capture_output=True, text=True)
    assert diff.returncode == 0, diff.stderr
    assert "! site lab: ready -> not-ready" in diff.stdout
    assert re.search(r"new failures: 1\n.*DNS-PROVSERVER-MATCH", diff.stdout)


def test_systemd_service_runs_and_verdicts_are_success(lab: Lab, tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(CONTRIB / "systemd" / "amt-preflight.service")
    service = unit["Service"]
    success = {0, *map(int, service["SuccessExitStatus"].split())}
    assert success == {0, 1, 2, 3}
    timer = configparser.ConfigParser(interpolation=None)
    timer.read(CONTRIB / "systemd" / "amt-preflight.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"

    installed = Installed(tmp_path)
    installed.point_at("10.250.0.66")
    argv = shlex.split(installed.command(service["ExecStart"]))
    environment = dict(line.split("=", 1) for line in installed.secrets.read_text().split())
    done = lab.run_in_client(["env", "-i", *(f"{k}={v}" for k, v in environment.items()), *argv],
                             capture_output=True, text=True, timeout=120)
    assert done.returncode in success and done.returncode == 2, done.stderr
    assert (installed.state / "report" / "amt_preflight.prom").read_text().count(
        'amt_preflight_site_verdict{site="lab",verdict="not-ready"} 1') == 1


@pytest.mark.parametrize(("address", "state", "code"), [
    ("10.250.0.10", "OK", 0), ("10.250.0.66", "CRITICAL", 2)])
def test_nagios_check_command(lab: Lab, tmp_path: Path, address: str, state: str,
                              code: int) -> None:
    installed = Installed(tmp_path)
    installed.point_at(address)
    definition = (CONTRIB / "nagios" / "amt-preflight.cfg").read_text()
    line = re.search(r"command_line\s+(.+)", definition)
    assert line is not None
    command = installed.command(line.group(1)).replace("$ARG1$", str(installed.config))
    done = lab.run_in_client(shlex.split(command.replace("$ARG2$", "lab")),
                             capture_output=True, text=True, timeout=120)
    assert done.returncode == code
    status, _, perfdata = done.stdout.splitlines()[0].partition(" | ")
    assert status.startswith(f"AMT-PREFLIGHT {state} - ")
    assert re.search(r"\bfail=\d+;;;0\b", perfdata)


def test_icinga_command_uses_the_nagios_format() -> None:
    definition = (CONTRIB / "icinga2" / "amt-preflight.conf").read_text()
    assert '"--format" = { value = "nagios" }' in definition
    assert 'command = [ "/usr/local/bin/amt-preflight", "run" ]' in definition
