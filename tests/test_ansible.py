"""contrib/ansible run for real: one `ansible-playbook` against three sites, each a real OpenSSH
server in the lab, surveying the lab, its secret from Ansible Vault, merged into one report.

The three sites' sshd run in the lab's client namespace, one per site address (127.0.0.11-13
on the namespace's own loopback), so each site's survey reaches the lab's resolver; the
controller (ansible-playbook) runs there too. Every path the role writes on a "probe host" is
per host, in the test's folder. The dependencies are installed into each site's venv from a
wheelhouse (build/wheelhouse, downloaded from the package index once per checkout), as a site
without Internet access would be set up; the tool's wheel is built from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, snmp
from lab.servers import Listening, Server

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parent.parent
PLAYBOOK = REPO / "contrib" / "ansible" / "site.yml"
VENV_BIN = Path(sys.executable).parent
WHEELHOUSE = REPO / "build" / "wheelhouse"
SSHD = "/usr/sbin/sshd"
SITES = {"site-a": "127.0.0.11", "site-b": "127.0.0.12", "site-c": "127.0.0.13"}
# The service user in the tests, as in test_nightly: the lab has no user amt-preflight.
USER, GROUP = "nobody", "nogroup"
VAULT_PASSWORD = "lab-vault-password-not-a-secret"


def site_config(name: str) -> dict[str, Any]:
    """DNS checks against the lab's resolver only; site-a also asks the lab switch over SNMP
    with the community from the vault, so a passing SNMP check proves the secret arrived."""
    site: dict[str, Any] = {
        "name": name,
        "resolvers": ["10.250.0.1"],
        "domains": [{"name": "corp.example", "provision_server": ["10.250.0.10"]}],
    }
    disabled = ["DHCP-*", "CERT-*", "CA-*", "AD-*", "HS-*", "DEV-*"]
    if name == "site-a":
        site["snmp"] = {"devices": [{"host": "10.250.0.40", "community_env": "SNMP_COMMUNITY",
                                     "interfaces": ["lab0"], "processes": []}]}
    else:
        disabled.append("SNMP-*")
    return {"defaults": {"timeout": 1, "retries": 0}, "checks": {"disable": disabled},
            "sites": [site]}


SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey {folder}/ssh_host_ed25519_key
AuthorizedKeysFile {folder}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
Subsystem sftp internal-sftp
"""


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120,
                          **kwargs)


def wheels(folder: Path) -> Path:
    """The tool's wheel, built from the checkout (offline); its dependencies' wheels in
    build/wheelhouse, fetched from the package index the first time only."""
    if not WHEELHOUSE.is_dir():
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        run([str(VENV_BIN / "pip"), "download", "-q", "-d", str(WHEELHOUSE),
             *project["dependencies"]])
    dist = folder / "dist"
    run([str(VENV_BIN / "pip"), "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(dist), str(REPO)])
    (wheel,) = dist.glob("amt_preflight-*.whl")
    return wheel


def start_sshd(lab: Lab, folder: Path) -> Path:
    """One sshd per site address in the lab's client namespace; root may log in with the
    throw-away key, whose private half is returned."""
    key = folder / "id_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "amt-ansible-test", "-f", str(key)])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
         str(folder / "ssh_host_ed25519_key")])
    shutil.copy(f"{key}.pub", folder / "authorized_keys")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    tag = folder.name.rsplit("-", 1)[-1]
    for name, address in SITES.items():
        config = folder / f"sshd-{name}.conf"
        lab.add(Server(
            name=f"sshd-{name}-{tag}",
            namespace=lab.client_ns,
            argv=(SSHD, "-D", "-e", "-f", str(config)),
            ready=Listening(address, 22, udp=False),
            files={config: SSHD_CONFIG.format(address=address, folder=folder)},
        ))
    return key


def write_inventory(folder: Path, key: Path, wheel: Path) -> Path:
    """Three sites at the sshd addresses; site-c's config copied as a file, the others'
    rendered; the SNMP community in a vault file encrypted with ansible-vault."""
    inventory = folder / "inventory"
    group_vars = inventory / "group_vars" / "amt_preflight_sites"
    group_vars.mkdir(parents=True)
    hosts: dict[str, Any] = {}
    for name, address in SITES.items():
        host = folder / "hosts" / name
        hosts[name] = {
            "ansible_host": address,
            "amt_preflight_venv": str(host / "venv"),
            "amt_preflight_etc": str(host / "etc"),
            "amt_preflight_state": str(host / "var"),
        }
        if name == "site-c":
            given = folder / "site-c.yaml"
            given.write_text(json.dumps({"history": str(host / "var" / "history.sqlite"),
                                         **site_config(name)}))
            hosts[name]["amt_preflight_config_file"] = str(given)
        else:
            hosts[name]["amt_preflight_config"] = site_config(name)
    (inventory / "hosts.yml").write_text(json.dumps({"amt_preflight_sites": {"hosts": hosts}}))
    (group_vars / "vars.yml").write_text(json.dumps({
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": (f"-o StrictHostKeyChecking=accept-new "
                                    f"-o UserKnownHostsFile={folder / 'known_hosts'}"),
        "ansible_python_interpreter": "/usr/bin/python3",
        "amt_preflight_install": "wheel",
        "amt_preflight_wheel": str(wheel),
        "amt_preflight_pip_args": ["--no-index", "--find-links", str(WHEELHOUSE)],
        "amt_preflight_python": "/usr/bin/python3",
        "amt_preflight_user": USER,
        "amt_preflight_group": GROUP,
        "amt_preflight_create_user": False,
        "amt_preflight_secrets": {"SNMP_COMMUNITY": "{{ vault_snmp_community }}"},
    }))
    password = folder / "vault-password"
    password.write_text(VAULT_PASSWORD)
    vault = group_vars / "vault.yml"
    vault.write_text(f"vault_snmp_community: {snmp.COMMUNITY}\n")
    run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password),
         str(vault)], env=ansible_env(folder))
    assert snmp.COMMUNITY not in vault.read_text()
    return inventory


def ansible_env(folder: Path) -> dict[str, str]:
    """Ansible's own files (its home, temporary files, ssh control sockets) in the folder."""
    return {**os.environ, "ANSIBLE_HOME": str(folder / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(folder / "ansible-local-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(folder / "ansible-remote-tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(folder / "cp"),
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_PIPELINING": "1",
            "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin"}


def end_ssh_masters(folder: Path) -> None:
    """Ansible leaves one ssh master per host running (ControlPersist): ask each to exit."""
    for socket in (folder / "cp").glob("*"):
        subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "master"],
                       capture_output=True, timeout=10, check=False)


def test_playbook_surveys_three_sites_into_one_report(lab: Lab, folder: Path) -> None:
    for program in ("ansible-playbook", "ansible-vault"):
        assert (VENV_BIN / program).exists(), f"{program}: pip install -e '.[dev]' (ansible-core)"
    assert Path(SSHD).exists(), "sshd: scripts/install-debian-packages (openssh-server)"
    wheel = wheels(folder)
    key = start_sshd(lab, folder)
    inventory = write_inventory(folder, key, wheel)
    reports = folder / "reports"

    started = time.monotonic()
    try:
        played = lab.run_in_client(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK),
             "--vault-password-file", str(folder / "vault-password"),
             "-e", f"amt_preflight_reports_dir={reports}",
             "-e", f"amt_preflight_controller_bin={VENV_BIN / 'amt-preflight'}"],
            timeout=110, capture_output=True, text=True, env=ansible_env(folder), check=False)
    finally:
        end_ssh_masters(folder)
    elapsed = time.monotonic() - started
    print(f"ansible-playbook took {elapsed:.1f} s")
    output = played.stdout + played.stderr
    assert played.returncode == 0, output[-6000:]
    assert snmp.COMMUNITY not in output  # no_log: the secret is in no task's output

    merged = json.loads((reports / "merged" / "amt-preflight.json").read_text())
    assert {site["name"] for site in merged["sites"]} == set(SITES)
    results = {(r["site"], r["check"]): r for r in merged["results"]}
    # the vaulted community reached site-a's survey through the task's environment
    snmp_answers = results[("site-a", "SNMP-DEVICE-ANSWERS")]
    assert snmp_answers["status"] == "pass", snmp_answers["message"]
    for name in SITES:  # every site surveyed the lab's DNS from its probe host
        assert any(site == name and r["check"].startswith("DNS-")
                   for (site, _), r in results.items()), name
    assert (reports / "merged" / "amt-preflight.html").stat().st_size > 0
    prometheus = (reports / "merged" / "amt_preflight.prom").read_text()
    for name in SITES:
        assert f'amt_preflight_site_exit_code{{site="{name}"}}' in prometheus
    for name in SITES:  # each site's JSON was fetched to the controller
        assert (reports / "sites" / f"{name}.json").exists()
        history = folder / "hosts" / name / "var" / "history.sqlite"
        assert history.exists()  # written by the service user, in the site's state folder
