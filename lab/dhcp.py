"""The lab's DHCP scenarios, added to a running lab by `start(lab)`: one L2 segment each,
and the servers that answer there.

A segment is a veth pair named alike at both ends: the client end in the client namespace,
the other end where the segment's servers run. Segment N is 10.250.N.0/24 (never
10.250.0.0/24: lab0's own DHCP is the main dnsmasq's, network.py), the client is .100 on it,
the servers .1 and .2, so a DHCP probe of one scenario sees only that scenario's servers.

Each kind of server runs in a namespace of its own ("d", "k", "s", "h"), since two DHCP
servers cannot share port 67 in one namespace:

- "d": a dnsmasq for the dm-* segments. It also answers DNS on each of its addresses, with
  the lab's DNS data, and its option 6 names itself: a name it registers for option 81 shows
  in the DNS its clients ask.
- "k": Kea. It says it will update DNS (option 81) where the scenario says so, but no
  kea-dhcp-ddns runs: nothing is ever registered.
- "s": a dnsmasq that ping-checks every address before offering it (its OFFER comes about
  3 s late) and leaves DNS updates to the client (dhcp-client-update: option 81 with N set).
- "h": the hostile server (hostile_dhcp.py); and the far end of the segment with no server.

dm-rogue holds two servers on one segment (dnsmasq, and Kea as the rogue): a bridge in the
dnsmasq namespace joins the client's veth and one from Kea's. Adding it all takes a few tenths
of a second, so only the tests that need it pay (conftest's `dhcp_lab`), and `make demo`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lab import netns, network
from lab.servers import AllReady, DnsAnswers, Listening, Server, own_module_env

if TYPE_CHECKING:
    from lab.control import Lab

DNSMASQ = "dnsmasq"
KEA = "kea"
SLOW_DNSMASQ = "slow-dnsmasq"
HOSTILE = "hostile"
# The namespace of each kind of server, by the last letter of its name.
SIDES = {DNSMASQ: "d", KEA: "k", SLOW_DNSMASQ: "s", HOSTILE: "h"}
NO_SERVER_SIDE = "h"  # where a segment without servers ends
MAIN_DNS = network.ADDRESSES["dnsmasq"]  # resolves ProvisionServer.corp.example
BIND = network.ADDRESSES["bind"]
LEASE_MINUTES = 10
CLIENT_HOST = 100
DNSMASQ_POOL = (150, 199)
KEA_POOL = (200, 249)
FIRST_CLIENT_INDEX = 2000  # client ends' interface indexes: never equal to their peer's


@dataclass(frozen=True)
class DhcpServer:
    kind: str  # DNSMASQ, KEA, SLOW_DNSMASQ, HOSTILE
    host: int  # last octet of its address on the segment: its server identifier
    option15: bytes | None  # exactly what it sends as option 15; None: no option 15
    option6: tuple[str, ...] = ()  # () : its own address (a dnsmasq answers DNS there)
    updates_dns: bool = True  # Kea: option 81 says it updates DNS (ddns-send-updates)


@dataclass(frozen=True)
class Segment:
    name: str  # the interface name, the same at both ends of its veth pair
    number: int  # the third octet of its subnet
    servers: tuple[DhcpServer, ...]

    def address(self, host: int) -> str:
        return f"10.250.{self.number}.{host}"

    @property
    def subnet(self) -> str:
        return f"10.250.{self.number}.0/24"

    @property
    def client_address(self) -> str:
        return self.address(CLIENT_HOST)

    def option6(self, server: DhcpServer) -> tuple[str, ...]:
        return server.option6 or (self.address(server.host),)


def _dnsmasq(option15: bytes | None, option6: tuple[str, ...] = ()) -> DhcpServer:
    return DhcpServer(DNSMASQ, 1, option15, option6)


def _kea(option15: bytes | None, host: int = 1, updates_dns: bool = True) -> DhcpServer:
    return DhcpServer(KEA, host, option15, (MAIN_DNS,), updates_dns)


CORP = b"corp.example"
SEGMENTS: tuple[Segment, ...] = (
    Segment("dm-ok", 11, (_dnsmasq(CORP),)),
    Segment("dm-no15", 12, (_dnsmasq(None),)),
    Segment("dm-wrong", 13, (_dnsmasq(b"wrong.example"),)),
    Segment("dm-dot", 14, (_dnsmasq(b"corp.example."),)),
    # dnsmasq's config strings have no escape for NUL: its hidden character is an ESC.
    Segment("dm-ctrl", 15, (_dnsmasq(b"corp.ex\x1bample"),)),
    # The demo's branch: its dnsmasq (and BIND in option 6), and a rogue Kea with another
    # domain.
    Segment("dm-rogue", 16, (_dnsmasq(b"branch.example", ("10.250.16.1", BIND)),
                             _kea(b"rogue.example", host=2))),
    Segment("dm-slow", 17, (DhcpServer(SLOW_DNSMASQ, 1, CORP, (MAIN_DNS,)),)),
    # Option 6 names the main resolver and one whose ProvisionServer record is stale
    Segment("dm-stale", 18, (_dnsmasq(CORP, (MAIN_DNS, network.ADDRESSES["stale_dns"])),)),
    Segment("kea-ok", 21, (_kea(CORP),)),
    Segment("kea-no15", 22, (_kea(None, updates_dns=False),)),
    Segment("kea-wrong", 23, (_kea(b"wrong.example"),)),
    Segment("kea-dot", 24, (_kea(b"corp.example."),)),
    Segment("kea-nul", 25, (_kea(b"corp.ex\x00ample"),)),
    Segment("dhcp-none", 30, ()),
    Segment("dhcp-hostile", 31, (DhcpServer(HOSTILE, 1, b"hostile.example"),)),
)
BY_NAME = {s.name: s for s in SEGMENTS}


def segment(name: str) -> Segment:
    return BY_NAME[name]


def served_by(kind: str) -> list[tuple[Segment, DhcpServer]]:
    return [(seg, server) for seg in SEGMENTS for server in seg.servers if server.kind == kind]


# --- adding it to a lab ----------------------------------------------------------------------


def start(lab: Lab) -> None:
    """Add the namespaces, the segments and every DHCP server to the running lab."""
    namespaces = {side: lab.add_namespace(side) for side in sorted(set(SIDES.values()))}
    namespaces.update(c=lab.client_ns)
    build(namespaces)
    for server in servers(lab.workdir, namespaces):
        lab.add(server)


def build(namespaces: Mapping[str, str]) -> None:
    """Every segment: veth pairs, the rogue segment's bridge, the addresses; one `ip -batch`
    per namespace for the links, one for the rest."""
    links: dict[str, list[str]] = {}  # namespace -> `ip` lines making its links
    config: dict[str, list[str]] = {}  # namespace -> addresses and `up`, after all links

    def add(batches: dict[str, list[str]], side: str, line: str) -> None:
        batches.setdefault(namespaces[side], []).append(line)

    for seg in SEGMENTS:
        sides = list(dict.fromkeys(SIDES[s.kind] for s in seg.servers)) or [NO_SERVER_SIDE]
        home = sides[0]
        index = FIRST_CLIENT_INDEX + seg.number
        if len(sides) == 1:
            add(links, "c", f"link add {seg.name} index {index} type veth peer name {seg.name} "
                f"netns {namespaces[home]}")
        else:  # several servers' namespaces: a bridge in the first joins them all
            add(links, home, f"link add {seg.name} type bridge")
            add(links, "c", f"link add {seg.name} index {index} type veth peer name "
                f"{seg.name}-c netns {namespaces[home]}")
            add(config, home, f"link set {seg.name}-c master {seg.name} up")
            for side in sides[1:]:
                add(links, side, f"link add {seg.name} type veth peer name {seg.name}-{side} "
                    f"netns {namespaces[home]}")
                add(config, home, f"link set {seg.name}-{side} master {seg.name} up")
        add(config, "c", f"addr add {seg.client_address}/24 dev {seg.name}")
        for server in seg.servers:
            add(config, SIDES[server.kind], f"addr add {seg.address(server.host)}/24 dev "
                f"{seg.name}")
        for side in ("c", *sides):
            add(config, side, f"link set {seg.name} up")
    for side, name in namespaces.items():
        if side != "c":
            config.setdefault(name, []).insert(0, "link set lo up")
    for batches in (links, config):
        for namespace, lines in batches.items():
            netns.batch(namespace, lines)


def servers(workdir: Path, namespaces: Mapping[str, str]) -> list[Server]:
    return [
        dnsmasq(workdir, namespaces[SIDES[DNSMASQ]]),
        kea(workdir, namespaces[SIDES[KEA]]),
        slow_dnsmasq(workdir, namespaces[SIDES[SLOW_DNSMASQ]]),
        hostile(namespaces[SIDES[HOSTILE]]),
    ]


# --- dnsmasq ---------------------------------------------------------------------------------

# The escapes dnsmasq's config reader knows in a quoted string.
_DNSMASQ_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r",
                    0x08: "\\b", 0x1B: "\\e"}


def dnsmasq_string(data: bytes) -> str:
    """`data` as a quoted dnsmasq string, byte for byte."""
    out = []
    for byte in data:
        if byte in _DNSMASQ_ESCAPES:
            out.append(_DNSMASQ_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            raise ValueError(f"dnsmasq cannot send byte 0x{byte:02x} in an option string")
    return '"' + "".join(out) + '"'


def dnsmasq_segment_lines(seg: Segment, server: DhcpServer) -> list[str]:
    """dnsmasq options serving one segment: range, option 15 exactly as given, option 6."""
    first, last = DNSMASQ_POOL
    lines = [f"dhcp-range=set:{seg.name},{seg.address(first)},{seg.address(last)},"
             f"255.255.255.0,{LEASE_MINUTES}m"]
    if server.option15 is not None and re.fullmatch(rb"[a-z0-9-]+(\.[a-z0-9-]+)*",
                                                    server.option15):
        # domain= also names the leases in DNS: option 81 registrations show there.
        lines.append(f"domain={server.option15.decode()},{seg.subnet}")
    elif server.option15 is not None:  # a trailing dot, a control character: as they are
        lines.append(f"dhcp-option-force=tag:{seg.name},15,{dnsmasq_string(server.option15)}")
    lines.append(f"dhcp-option=tag:{seg.name},option:dns-server,"
                 f"{','.join(seg.option6(server))}")
    return lines


def dnsmasq(workdir: Path, namespace: str) -> Server:
    """DHCP on the dm-* segments, and DNS (the lab's data, and its leases) on each."""
    conf = workdir / "dhcp-dnsmasq" / "dnsmasq.conf"
    served = served_by(DNSMASQ)
    lines = [line for line in network.dnsmasq_base_lines(served[0][0].address(1))
             if not line.startswith("listen-address=")]
    lines += [f"listen-address={seg.address(server.host)}" for seg, server in served]
    lines += network.dnsmasq_dns_lines()
    lines += ["dhcp-authoritative", "no-ping", f"dhcp-leasefile={conf.parent / 'leases'}"]
    for seg, server in served:
        lines += dnsmasq_segment_lines(seg, server)
    first = served[0][0].address(served[0][1].host)
    return Server(
        name="dhcp-dnsmasq",
        namespace=namespace,
        argv=("dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"),
        files={conf: "\n".join(lines) + "\n"},
        ready=AllReady((DnsAnswers(first, (("ProvisionServer.corp.example", "A"),)),
                        Listening("0.0.0.0", 67, tcp=False))),
    )


def slow_dnsmasq(workdir: Path, namespace: str) -> Server:
    conf = workdir / "slow-dnsmasq" / "dnsmasq.conf"
    lines = ["port=0", "user=root", "log-facility=-", "pid-file=", "dhcp-authoritative",
             f"dhcp-leasefile={conf.parent / 'leases'}",
             "dhcp-client-update"]  # leave DNS to the client: option 81 comes back with N set
    for seg, server in served_by(SLOW_DNSMASQ):
        lines += [f"interface={seg.name}", *dnsmasq_segment_lines(seg, server)]
    return Server(
        name="slow-dnsmasq",
        namespace=namespace,
        argv=("dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"),
        files={conf: "\n".join(lines) + "\n"},
        ready=Listening("0.0.0.0", 67, tcp=False),
    )


# --- Kea -------------------------------------------------------------------------------------


def kea_config(directory: Path) -> dict[str, object]:
    subnets = []
    interfaces = []
    for seg, server in served_by(KEA):
        address = seg.address(server.host)
        # On a shared segment, Kea takes only its own address (the other is dnsmasq's).
        interfaces.append(f"{seg.name}/{address}" if len(seg.servers) > 1 else seg.name)
        options: list[dict[str, object]] = [
            {"name": "domain-name-servers", "data": ", ".join(seg.option6(server))},
            {"name": "dhcp-server-identifier", "data": address},
        ]
        if server.option15 is not None:  # the bytes as they are, NUL and all
            options.append({"code": 15, "csv-format": False, "data": server.option15.hex()})
        first, last = KEA_POOL
        subnets.append({
            "id": seg.number,
            "subnet": seg.subnet,
            "interface": seg.name,
            "pools": [{"pool": f"{seg.address(first)} - {seg.address(last)}"}],
            "option-data": options,
            "ddns-send-updates": server.updates_dns,
            "ddns-qualifying-suffix": "corp.example",
        })
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": interfaces, "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": True,
                           "name": str(directory / "leases4.csv"), "lfc-interval": 0},
        "valid-lifetime": LEASE_MINUTES * 60,
        "dhcp-ddns": {"enable-updates": True},
        "subnet4": subnets,
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": "stdout"}]}],
    }}


def kea(workdir: Path, namespace: str) -> Server:
    directory = workdir / "kea"
    conf = directory / "kea-dhcp4.json"
    return Server(
        name="kea",
        namespace=namespace,
        argv=("kea-dhcp4", "-c", str(conf)),
        files={conf: json.dumps(kea_config(directory), indent=2) + "\n"},
        # Kea's pid and lock files go into the lab folder, so two labs can run at once.
        env={"KEA_PIDFILE_DIR": str(directory), "KEA_LOCKFILE_DIR": str(directory)},
        ready=AllReady(tuple(Listening(seg.address(server.host), 67, tcp=False)
                             for seg, server in served_by(KEA))),
    )


# --- the hostile server ----------------------------------------------------------------------


def hostile(namespace: str) -> Server:
    [(seg, server)] = served_by(HOSTILE)
    return Server(
        name="hostile-dhcp",
        namespace=namespace,
        argv=(sys.executable, "-m", "lab.hostile_dhcp", "--interface", seg.name,
              "--address", seg.address(server.host), "--domain",
              (server.option15 or b"").decode("ascii")),
        env=own_module_env(),
        ready=PacketSocket(seg.name),
    )


@dataclass(frozen=True)
class PacketSocket:
    """Ready once the process has a packet socket bound to `interface` (what a raw DHCP
    server listens on; /proc/PID/net/packet lists its namespace's, /proc/PID/fd its own)."""

    interface: str

    def __call__(self, pid: int) -> bool:
        try:
            index = str(socket.if_nametoindex(self.interface))  # in the server's namespace
            table = Path(f"/proc/{pid}/net/packet").read_text().splitlines()[1:]
            mine = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            return False
        inodes = {f"socket:[{f[8]}]" for f in (line.split() for line in table)
                  if len(f) > 8 and f[4] == index}
        return bool(inodes & mine)
