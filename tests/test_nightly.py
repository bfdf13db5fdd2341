"""The shipped cron, systemd and Nagios/Icinga definitions, run as their schedulers would run
them, against the lab: quiet unless a verdict changes, verdict exit codes, stored history; each
as the unprivileged user with only CAP_NET_RAW and CAP_NET_BIND_SERVICE, its secrets read, the
DHCP check passing (and an error naming CAP_NET_RAW without it)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, snmp

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parent.parent
CONTRIB = REPO / "contrib"
BIN = str(Path(sys.executable).parent / "amt-preflight")
# The service user in the tests: the lab has no user amt-preflight; nobody has no privileges.
USER, GROUP, UID = "nobody", "nogroup", 65534
PATH = "/usr/bin:/bin"
# What the DHCP check says without CAP_NET_RAW.
NEEDS_CAP_NET_RAW = "the DHCP probe needs root (CAP_NET_RAW)"
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
# A site whose checks need the privileges and the secret: DHCP on lab0 (a raw socket:
# CAP_NET_RAW) and the lab switch over SNMPv2c, its community from the environment.
PRIVILEGED_SITE = """
history: {history}
defaults: {{timeout: 2, retries: 1}}  # the lab's dnsmasq answers DNS late while it ping-checks
checks:
  disable: ['DHCP-OPT81-*', 'CERT-*', 'CA-*', 'AD-*', 'HS-*', 'DEV-*']
sites:
  - name: lab
    interface: lab0
    resolvers: [10.250.0.1]
    dhcp: {{allowed_servers: [10.250.0.1], window: 2}}
    snmp:
      devices:
        - {{host: 10.250.0.40, community_env: SNMP_COMMUNITY, interfaces: [lab0], processes: []}}
    domains:
      - {{name: corp.example, provision_server: [{address}]}}
"""


class Installed:
    """A contrib command line with its paths pointing into a test folder, and the service user
    amt-preflight replaced by nobody. The config is readable by all, the secrets file root's
    alone (0600), the state folder the service user's."""

    def __init__(self, folder: Path, site: str = SITE) -> None:
        self.site = site
        etc = folder / "etc"
        etc.mkdir(mode=0o755)
        self.config = etc / "config.yaml"
        self.secrets = etc / "secrets.env"
        self.secrets.write_text(f"AMT_BIND_PASSWORD=not-used-here\n"
                                f"SNMP_COMMUNITY={snmp.COMMUNITY}\n")
        self.secrets.chmod(0o600)
        self.state = folder / "var"
        self.state.mkdir(mode=0o750)
        os.chown(self.state, UID, UID)
        self.libexec = folder / "libexec"
        self.libexec.mkdir(mode=0o755)
        self.point_at("10.250.0.10")

    def point_at(self, address: str) -> None:
        """Configure the expected provisioning server: the right one, or a wrong one."""
        self.config.write_text(self.site.format(history=self.state / "history.sqlite",
                                                address=address))
        self.config.chmod(0o644)

    def command(self, text: str) -> str:
        for installed, here in (("/usr/local/bin/amt-preflight", BIN),
                                ("/usr/local/libexec", str(self.libexec)),
                                ("/etc/amt-preflight/config.yaml", str(self.config)),
                                ("/etc/amt-preflight/secrets.env", str(self.secrets)),
                                ("/var/lib/amt-preflight", str(self.state)),
                                ("--reuid=amt-preflight", f"--reuid={USER}"),
                                ("--regid=amt-preflight", f"--regid={GROUP}")):
            text = text.replace(installed, here)
        return text

    def results(self) -> dict[str, dict[str, Any]]:
        """The last run's results by check ID (one target each here)."""
        report = json.loads((self.state / "report" / "amt-preflight.json").read_text())
        return {r["check"]: r for r in report["results"]}


def without_capabilities(command: str) -> str:
    """The same command with setpriv granting no capability at all."""
    assert command.count(",+net_raw,+net_bind_service") == 3
    return command.replace(",+net_raw,+net_bind_service", "")


def assert_privileged_checks_passed(installed: Installed) -> None:
    """DHCP passed (a raw socket: CAP_NET_RAW) and SNMP too (the community from secrets.env)."""
    results = installed.results()
    for check in ("DHCP-SERVER-ANSWERS", "DHCP-OPT15-MATCH", "SNMP-DEVICE-ANSWERS", "SNMP-IF-UP"):
        assert results[check]["status"] == "pass", results[check]["message"]
    history = installed.state / "history.sqlite"
    assert history.stat().st_uid == UID  # written by the service user, not root
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


def cron_command(installed: Installed) -> str:
    line = next(line for line in (CONTRIB / "cron" / "amt-preflight").read_text().splitlines()
                if line and not line.startswith("#") and "=" not in line.split()[0])
    return installed.command(line.split(maxsplit=6)[6])


def as_cron(lab: Lab, command: str) -> subprocess.CompletedProcess[str]:
    """cron's way: sh -c as root (the line's user), a bare environment (cron sets HOME, LOGNAME
    and PATH=/usr/bin:/bin), the root folder as working directory."""
    return lab.run_in_client(["env", "-i", f"PATH={PATH}", "HOME=/root", "LOGNAME=root",
                              "SHELL=/bin/sh", "sh", "-c", command],
                             capture_output=True, text=True, cwd="/", timeout=120)


def test_cron_job_is_quiet_until_a_verdict_changes(lab: Lab, folder: Path) -> None:
    installed = Installed(folder)
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


def test_cron_line_exports_its_secrets_and_runs_as_the_service_user(lab: Lab,
                                                                     folder: Path) -> None:
    installed = Installed(folder, PRIVILEGED_SITE)
    command = cron_command(installed)
    assert command.startswith(f"set -a && . {installed.secrets} && set +a && ")
    done = as_cron(lab, command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_privileged_checks_passed(installed)

    bare = as_cron(lab, without_capabilities(command))
    assert bare.returncode == 3, bare.stderr  # unknown: the DHCP checks could not run
    result = installed.results()["DHCP-SERVER-ANSWERS"]
    assert result["status"] == "error" and NEEDS_CAP_NET_RAW in result["message"]
    assert installed.results()["SNMP-DEVICE-ANSWERS"]["status"] == "pass"


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    assert unit.read(CONTRIB / "systemd" / name)
    return unit


def as_systemd(service: configparser.SectionProxy, installed: Installed,
               capabilities: bool = True) -> list[str]:
    """The service's command as systemd starts it: the EnvironmentFile as the environment (PID 1
    reads it as root), the User with the AmbientCapabilities (and nothing more in the bounding
    set), no_new_privs, UMask, WorkingDirectory; and MemoryDenyWriteExecute as the kernel's
    PR_SET_MDWE (systemd 256 sets that itself; older ones a seccomp filter of the same rule)."""
    environment = [line for line in installed.secrets.read_text().splitlines() if "=" in line]
    caps = "".join(f",+{c.removeprefix('CAP_').lower()}"
                   for c in service["AmbientCapabilities"].split()) if capabilities else ""
    assert service["User"] == service["Group"] == "amt-preflight"
    mdwe = ("import ctypes, runpy, sys\n"
            "assert ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) == 0  # PR_SET_MDWE\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    argv = shlex.split(installed.command(service["ExecStart"]))
    return ["env", "-i", f"PATH={PATH}", *environment,
            "sh", "-c", f'umask {service["UMask"]} && cd "$0" && exec "$@"',
            installed.command(service["WorkingDirectory"]),
            "setpriv", f"--reuid={USER}", f"--regid={GROUP}", "--init-groups", "--no-new-privs",
            f"--inh-caps=-all{caps}", f"--ambient-caps=-all{caps}", f"--bounding-set=-all{caps}",
            "--", sys.executable, "-c", mdwe, *argv]


def test_systemd_service_is_least_privilege_and_hardened() -> None:
    service = read_unit("amt-preflight.service")["Service"]
    assert service["AmbientCapabilities"].split() == ["CAP_NET_RAW", "CAP_NET_BIND_SERVICE"]
    assert service["CapabilityBoundingSet"] == service["AmbientCapabilities"]
    assert service["StateDirectory"] == "amt-preflight"
    assert service["WorkingDirectory"] == "/var/lib/amt-preflight"
    assert service["UMask"] == "0077"
    assert service["EnvironmentFile"] == "/etc/amt-preflight/secrets.env"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "ProtectKernelTunables": "yes",
                       "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
                       "RestrictNamespaces": "yes", "LockPersonality": "yes",
                       "MemoryDenyWriteExecute": "yes",
                       "SystemCallArchitectures": "native"}.items():
        assert service[key] == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"}
    assert "-o /var/lib/amt-preflight/report" in service["ExecStart"]
    # The user the unit names is the one the sysusers.d snippet creates.
    sysusers = (CONTRIB / "systemd" / "amt-preflight.sysusers.conf").read_text()
    assert re.search(r"^u amt-preflight - .* /var/lib/amt-preflight ", sysusers, re.M)


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers")
def test_sysusers_snippet_creates_the_user(folder: Path) -> None:
    (folder / "etc").mkdir()
    done = subprocess.run(["systemd-sysusers", f"--root={folder}",
                           str(CONTRIB / "systemd" / "amt-preflight.sysusers.conf")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    passwd = (folder / "etc" / "passwd").read_text()
    assert re.search(r"^amt-preflight:x:\d+:\d+:.*:/var/lib/amt-preflight:/usr/sbin/nologin$",
                     passwd, re.M)
    assert re.search(r"^amt-preflight:x:\d+:", (folder / "etc" / "group").read_text(), re.M)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_and_security(folder: Path) -> None:
    text = (CONTRIB / "systemd" / "amt-preflight.service").read_text()
    unit = folder / "amt-preflight.service"  # ExecStart pointing at this checkout's tool
    unit.write_text(text.replace("/usr/local/bin/amt-preflight", BIN))
    shutil.copy(CONTRIB / "systemd" / "amt-preflight.timer", folder)
    verify = subprocess.run(["systemd-analyze", "verify", str(unit),
                             str(folder / "amt-preflight.timer")],
                            capture_output=True, text=True, timeout=60, cwd=folder)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                               str(unit)], capture_output=True, text=True, timeout=60,
                              cwd=folder)
    score = re.search(r"Overall exposure level for amt-preflight.service: ([\d.]+) (\w+)",
                      security.stdout)
    assert score is not None, security.stdout + security.stderr
    assert float(score.group(1)) <= 3.5 and score.group(2) == "OK", score.group(0)


def test_systemd_service_runs_as_its_user_and_verdicts_are_success(lab: Lab,
                                                                    folder: Path) -> None:
    unit = read_unit("amt-preflight.service")
    service = unit["Service"]
    success = {0, *map(int, service["SuccessExitStatus"].split())}
    assert success == {0, 1, 2, 3}
    timer = read_unit("amt-preflight.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"

    installed = Installed(folder, PRIVILEGED_SITE)
    installed.point_at("10.250.0.66")
    done = lab.run_in_client(as_systemd(service, installed), capture_output=True, text=True,
                             cwd="/", timeout=120)
    assert done.returncode in success and done.returncode == 2, done.stderr
    textfile = (installed.state / "report" / "amt_preflight.prom").read_text()
    assert textfile.count('amt_preflight_site_verdict{site="lab",verdict="not-ready"} 1') == 1
    # one series per site, check and target, the status its value (4 fail), no severity label
    assert re.search(r'^amt_preflight_check_status\{site="lab",check="DNS-PROVSERVER-MATCH",'
                     r'target="[^"]+"\} 4$', textfile, re.M), textfile
    assert re.search(r'^amt_preflight_check_severity\{site="lab",check="DNS-PROVSERVER-MATCH",'
                     r'target="[^"]+"\} [0-4]$', textfile, re.M), textfile
    assert "severity=" not in textfile and "status=" not in textfile
    assert_privileged_checks_passed(installed)
    report = installed.state / "report" / "amt-preflight.json"
    assert report.stat().st_uid == UID and stat.S_IMODE(report.stat().st_mode) == 0o600

    bare = lab.run_in_client(as_systemd(service, installed, capabilities=False),
                             capture_output=True, text=True, cwd="/", timeout=120)
    assert bare.returncode in success, bare.stderr
    result = installed.results()["DHCP-SERVER-ANSWERS"]
    assert result["status"] == "error" and NEEDS_CAP_NET_RAW in result["message"]


def nagios_command_line() -> str:
    definition = (CONTRIB / "nagios" / "amt-preflight.cfg").read_text()
    line = re.search(r"command_line\s+(.+)", definition)
    assert line is not None
    return line.group(1)


def test_sudoers_snippet_parses() -> None:
    if shutil.which("visudo") is None:
        pytest.skip("no visudo (apt-get install sudo)")
    done = subprocess.run(["visudo", "-cf", str(CONTRIB / "sudoers.d" / "amt-preflight")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


class Monitoring:
    """The sudo rule installed in a mount namespace of its own (a copy of contrib/sudoers.d
    bound over /etc/sudoers.d, nothing of the host changed), the wrapper in the test folder,
    and the monitoring user (nobody here) running the check command as Nagios does: sh -c, a
    bare environment, no capabilities."""

    def __init__(self, lab: Lab, installed: Installed) -> None:
        self.lab, self.installed = lab, installed
        wrapper = installed.libexec / "amt-preflight-check"
        wrapper.write_text(installed.command((CONTRIB / "nagios" / wrapper.name).read_text()))
        wrapper.chmod(0o755)
        self.sudoers = installed.libexec.parent / "sudoers.d"
        self.sudoers.mkdir(mode=0o755)
        rule = installed.command((CONTRIB / "sudoers.d" / "amt-preflight").read_text())
        rule = re.sub(r"^nagios ", f"{USER} ", rule, flags=re.M)
        (self.sudoers / "amt-preflight").write_text(rule)
        (self.sudoers / "amt-preflight").chmod(0o440)

    def check(self, command: str, capabilities: bool = True) -> subprocess.CompletedProcess[str]:
        command = self.installed.command(command)
        if not capabilities:
            wrapper = self.installed.libexec / "amt-preflight-check"
            wrapper.write_text(without_capabilities(wrapper.read_text()))
        as_nagios = shlex.join(["setpriv", f"--reuid={USER}", f"--regid={GROUP}", "--init-groups",
                                "--inh-caps=-all", "--ambient-caps=-all", "--",
                                "env", "-i", f"PATH={PATH}", "HOME=/", "sh", "-c", command])
        inside = f"mount --bind {shlex.quote(str(self.sudoers))} /etc/sudoers.d && {as_nagios}"
        return self.lab.run_in_client(["unshare", "--mount", "--propagation", "private",
                                       "sh", "-c", inside],
                                      capture_output=True, text=True, cwd="/", timeout=120)


@pytest.mark.skipif(shutil.which("sudo") is None, reason="no sudo (apt-get install sudo)")
@pytest.mark.parametrize(("address", "state", "code"), [
    ("10.250.0.10", "OK", 0), ("10.250.0.66", "CRITICAL", 2)])
def test_nagios_check_command_through_sudo(lab: Lab, folder: Path, address: str, state: str,
                                           code: int) -> None:
    installed = Installed(folder, PRIVILEGED_SITE)
    installed.point_at(address)
    monitoring = Monitoring(lab, installed)
    done = monitoring.check(nagios_command_line().replace("$ARG1$", "lab"))
    assert done.returncode == code, done.stdout + done.stderr
    status, _, perfdata = done.stdout.splitlines()[0].partition(" | ")
    assert status.startswith(f"AMT-PREFLIGHT {state} - ")
    assert re.search(r"\bfail=\d+;;;0\b", perfdata)
    assert done.stdout.rstrip("\n").endswith(f" site:lab={code}")  # one perfdata item a site
    assert_privileged_checks_passed_in_history(installed)


def assert_privileged_checks_passed_in_history(installed: Installed) -> None:
    """The nagios format writes no JSON: the stored run says which checks passed."""
    history = installed.state / "history.sqlite"
    assert history.stat().st_uid == UID
    shown = subprocess.run([BIN, "history", "-c", str(installed.config)],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 1, shown.stderr


@pytest.mark.skipif(shutil.which("sudo") is None, reason="no sudo (apt-get install sudo)")
def test_sudo_rule_allows_only_the_check(lab: Lab, folder: Path) -> None:
    installed = Installed(folder, PRIVILEGED_SITE)
    monitoring = Monitoring(lab, installed)
    wrapper = installed.libexec / "amt-preflight-check"
    for denied in (f"sudo -n {wrapper} lab --format html", f"sudo -n {wrapper} --site=lab",
                   f"sudo -n {BIN} run -c {installed.config}", "sudo -n id"):
        done = monitoring.check(denied)
        assert done.returncode == 1 and "sudo:" in done.stderr, (denied, done.stderr)
    assert not (installed.state / "history.sqlite").exists()
    # Without CAP_NET_RAW the DHCP checks are errors that say so: UNKNOWN, not a false OK.
    done = monitoring.check(nagios_command_line().replace("$ARG1$", "lab"), capabilities=False)
    assert done.returncode == 3 and done.stdout.startswith("AMT-PREFLIGHT UNKNOWN"), done.stdout
    assert NEEDS_CAP_NET_RAW in done.stdout


def test_icinga_command_is_the_nagios_one() -> None:
    definition = (CONTRIB / "icinga2" / "amt-preflight.conf").read_text()
    command = re.search(r"command = \[ (.+) \]", definition)
    assert command is not None
    argv = [json.loads(word) for word in command.group(1).split(", ")]
    assert nagios_command_line() == shlex.join(argv) + " $ARG1$"
    assert '"site" = { value = "$amt_preflight_site$", skip_key = true, required = true }' \
        in definition


def test_docs_show_the_shipped_cron_line() -> None:
    line = next(line for line in (CONTRIB / "cron" / "amt-preflight").read_text().splitlines()
                if line.startswith("30 2 "))
    assert f"\n{line}\n" in (REPO / "docs" / "nightly.md").read_text()
