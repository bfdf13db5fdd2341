"""The lab's SNMP: a net-snmp agent, a trap receiver, a process for hrSWRunName to list, and
(on demand) a fake agent whose walks loop or never end.

What a namespaced snmpd really shows, checked on this machine: its interface table is the
infra namespace's (lo, lab0 and the unplugged pair below: IF-MIB comes from netlink and
ioctls, which are per namespace), while hrSWRunTable lists every process of the machine
(/proc is not namespaced here). So the interface cases are the infra namespace's own links,
and the process cases are a name that a lab process carries (AMTConfigSvc; other labs running
at the same time add theirs) and one that nothing carries. net-snmp reports a link that is up
without a carrier as ifOperStatus down(2), not lowerLayerDown(7), and caches the table for a
few seconds: hence netns.add_veth's distinct interface indexes, which bring lab0 up at once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from amt_preflight.notify import ENGINE_ID
from lab.network import ADDRESSES
from lab.servers import Listening, Server, own_module_env

# The lab's secrets: fixed, since the agent's config holds them, and exported into the demo
# run's environment under the names config.yaml gives.
COMMUNITY = "lab-community-5e1f"
V3_USER = "amtmon"  # SHA-256 / AES-128 (authPriv)
AUTH_KEY = "lab-auth-key-93c0"
PRIV_KEY = "lab-priv-key-2b7d"
# The other site's agent (other_keys_agent): the same user name, its own keys
OTHER_AUTH_KEY = "other-auth-key-77a1"
OTHER_PRIV_KEY = "other-priv-key-c3e9"
TRAP_COMMUNITY = "lab-trap-community-a4e8"
TRAP_USER = "amttrap"  # SHA-256 / AES-128, bound to amt_preflight.notify.ENGINE_ID
TRAP_AUTH_KEY = "lab-trap-auth-61f2"
TRAP_PRIV_KEY = "lab-trap-priv-0d95"
ENVIRONMENT = MappingProxyType({
    "SNMP_COMMUNITY": COMMUNITY,
    "SNMP_AUTH": AUTH_KEY,
    "SNMP_PRIV": PRIV_KEY,
    "SNMP_TRAP_COMMUNITY": TRAP_COMMUNITY,
})

# Both ends of a veth pair inside the infra namespace (no `dummy` links on this kernel):
# ADMIN_DOWN is set down (ifAdminStatus down), so NO_CARRIER is up without a link.
ADMIN_DOWN = "shut0"
NO_CARRIER = "nocarrier0"
LINK_COMMANDS = (f"link add {NO_CARRIER} type veth peer name {ADMIN_DOWN}",
                 f"link set {NO_CARRIER} up")
PROCESS_NAME = "AMTConfigSvc"  # what the provisioning server's service is called here
TRAP_PREFIX = "TRAP "  # each received trap is one line of the receiver's log, after this

# The fakes run as `python -m lab.fake_snmp`: make the package importable even
# when it is not installed (tests run with the repository on sys.path).

@dataclass(frozen=True)
class ListeningUdp:
    """Ready once the process has every address bound on the UDP port."""

    addresses: tuple[str, ...]
    port: int

    def __call__(self, pid: int) -> bool:
        return all(Listening(a, self.port, tcp=False)(pid) for a in self.addresses)


@dataclass(frozen=True)
class NamedProcess:
    """Ready once the process carries its name (what hrSWRunName shows)."""

    name: str

    def __call__(self, pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip() == self.name
        except OSError:
            return False


def _net_snmp_env(folder: Path) -> dict[str, str]:
    # No MIB files read (faster, and nothing of the host's), persistent state in the lab.
    return {"SNMP_PERSISTENT_DIR": str(folder / "persist"), "MIBS": "", "MIBDIRS": ""}


def snmpd(workdir: Path, namespace: str, name: str = "snmpd",
          addresses: tuple[str, ...] = (ADDRESSES["snmp_switch"], ADDRESSES["snmp_server"]),
          keys: tuple[str, str] = (AUTH_KEY, PRIV_KEY)) -> Server:
    """net-snmp's agent on snmp_switch (SNMPv2c) and snmp_server (SNMPv3 authPriv); both
    addresses answer both, with the same data."""
    folder = workdir / name
    conf = folder / "snmpd.conf"
    lines = [
        f"agentAddress {','.join(f'udp:{a}:161' for a in addresses)}",
        "sysName amtp-lab-agent",
        "sysLocation amt-preflight lab",
        f"rocommunity {COMMUNITY} default",
        # With -C, snmpd reads no createUser from its persistent file: it must be here.
        f"createUser {V3_USER} SHA-256 {keys[0]} AES {keys[1]}",
        f"rouser {V3_USER} priv",
    ]
    return Server(
        name=name,
        namespace=namespace,
        # -f: foreground; -C: no config but ours; -Le: log to stderr (the server log)
        argv=("snmpd", "-f", "-C", "-c", str(conf), "-Le", "-p", str(folder / "snmpd.pid")),
        files={conf: "\n".join(lines) + "\n"},
        env=_net_snmp_env(folder),
        ready=ListeningUdp(addresses, 161),
    )


def trap_log(workdir: Path) -> Path:
    return workdir / "snmptrapd" / "traps.log"


def snmptrapd(workdir: Path, namespace: str) -> Server:
    """net-snmp's trap receiver on snmptrapd: SNMPv2c traps with TRAP_COMMUNITY, SNMPv3
    traps from TRAP_USER at amt-preflight's engine ID; one line per trap in trap_log()."""
    folder = workdir / "snmptrapd"
    conf = folder / "snmptrapd.conf"
    lines = [
        f"authCommunity log {TRAP_COMMUNITY}",
        f"createUser -e 0x{ENGINE_ID} {TRAP_USER} SHA-256 {TRAP_AUTH_KEY} AES {TRAP_PRIV_KEY}",
        f"authUser log {TRAP_USER} priv",
        # One line per trap: the variable bindings, numeric OIDs, tab-separated.
        f"format2 {TRAP_PREFIX}%V\\t%v\\n",
    ]
    address = ADDRESSES["snmptrapd"]
    return Server(
        name="snmptrapd",
        namespace=namespace,
        # -n: no reverse lookups (no resolver in the namespace); -On: numeric OIDs
        argv=("snmptrapd", "-f", "-C", "-c", str(conf), "-n", "-On", "-Lf",
              str(trap_log(workdir)), "-p", str(folder / "snmptrapd.pid"), f"udp:{address}:162"),
        files={conf: "\n".join(lines) + "\n"},
        env=_net_snmp_env(folder),
        ready=Listening(address, 162, tcp=False),
    )


def received_traps(workdir: Path) -> list[dict[str, str]]:
    """The traps snmptrapd has logged, oldest first: each as {OID: value as logged}."""
    try:
        lines = trap_log(workdir).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    traps = []
    for line in lines:
        if not line.startswith(TRAP_PREFIX):
            continue
        varbinds = {}
        for binding in line.removeprefix(TRAP_PREFIX).split("\t"):
            oid, _, value = binding.partition(" = ")
            varbinds[oid.strip().lstrip(".")] = value.strip()
        traps.append(varbinds)
    return traps


def _python_fake(*args: str) -> tuple[tuple[str, ...], dict[str, str]]:
    return (sys.executable, "-m", "lab.fake_snmp", *args), own_module_env()


def named_process(namespace: str) -> Server:
    """A process called PROCESS_NAME, for the agent's hrSWRunName to list."""
    argv, env = _python_fake("process", "--name", PROCESS_NAME)
    return Server(name="amt-config-service", namespace=namespace, argv=argv, env=env,
                  ready=NamedProcess(PROCESS_NAME))


def bad_walk_agent(namespace: str) -> Server:
    """The fake agent of fake_snmp.py on snmp_bad_walk: walked with community "loop" its OIDs
    loop, with "endless" they never end. Not in the built-in lab: started with Lab.add()."""
    address = ADDRESSES["snmp_bad_walk"]
    argv, env = _python_fake("agent", "--listen", f"{address}:161")
    return Server(name="snmp-bad-walk", namespace=namespace, argv=argv, env=env,
                  ready=Listening(address, 161, tcp=False))


def other_keys_agent(workdir: Path, namespace: str) -> Server:
    """A second snmpd on snmp_other_keys whose SNMPv3 user has the same name as the first's
    (V3_USER) and other keys, as one user name with keys per site. Started with Lab.add()."""
    return snmpd(workdir, namespace, "snmpd-other-keys", (ADDRESSES["snmp_other_keys"],),
                 (OTHER_AUTH_KEY, OTHER_PRIV_KEY))


def servers(workdir: Path, namespace: str) -> list[Server]:
    """The SNMP servers of the built-in lab."""
    return [snmpd(workdir, namespace), snmptrapd(workdir, namespace), named_process(namespace)]
