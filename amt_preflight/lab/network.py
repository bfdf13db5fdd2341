"""The lab network: its addresses, its DNS data, and the servers that publish that data.

The DNS data is defined once, below, and rendered into each server's own config format, so
dnsmasq and BIND serve the same records except where a record says otherwise (`at`).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from amt_preflight.lab.servers import DnsAnswers, Listening, Server

INTERFACE = "lab0"
PREFIXLEN = 24

# Fixed: the repository's config.yaml refers to these.
ADDRESSES = MappingProxyType(
    {
        "client": "10.250.0.100",
        "dnsmasq": "10.250.0.1",
        "bind": "10.250.0.2",
        "silent_dns": "10.250.0.3",
        "garbage_dns": "10.250.0.4",
        "provision_server": "10.250.0.10",
        "provision_server_split": "10.250.0.11",  # what BIND says for split.example
        "dc": "10.250.0.20",
    }
)
CLIENT_CIDRS = (f"{ADDRESSES['client']}/{PREFIXLEN}",)
INFRA_CIDRS = tuple(f"{a}/{PREFIXLEN}" for role, a in ADDRESSES.items() if role != "client")

# --- DNS data --------------------------------------------------------------------------------

DNSMASQ = "dnsmasq"
BIND = "bind"
BOTH = frozenset({DNSMASQ, BIND})
TTL = 300
# Out-of-zone NS/SOA name: BIND needs one, and an in-zone one would add an A record to zones
# whose contents are specified exactly.
NAMESERVER = "ns.lab.invalid"


@dataclass(frozen=True)
class A:
    name: str
    address: str
    at: frozenset[str] = BOTH  # which DNS servers publish this record


@dataclass(frozen=True)
class Srv:
    name: str
    target: str
    port: int
    priority: int = 0
    weight: int = 100
    at: frozenset[str] = BOTH


@dataclass(frozen=True)
class Ptr:
    address: str
    target: str
    at: frozenset[str] = BOTH

    @property
    def name(self) -> str:
        return ipaddress.ip_address(self.address).reverse_pointer


Record = A | Srv | Ptr


@dataclass(frozen=True)
class Zone:
    name: str
    records: tuple[Record, ...]
    served_by: frozenset[str] = BOTH
    open_to_updates: bool = False  # accepts unsigned RFC 2136 updates from anyone (BIND only)

    def records_at(self, server: str) -> list[Record]:
        return [r for r in self.records if server in r.at]


_PS = ADDRESSES["provision_server"]
_DC = ADDRESSES["dc"]

ZONES: tuple[Zone, ...] = (
    Zone(  # healthy
        "corp.example",
        (
            A("ProvisionServer.corp.example", _PS),
            A("dc01.corp.example", _DC),
            Srv("_ldap._tcp.dc._msdcs.corp.example", "dc01.corp.example", 389),
            Srv("_kerberos._tcp.corp.example", "dc01.corp.example", 88),
            Srv("_kerberos._udp.corp.example", "dc01.corp.example", 88),
            Srv("_kpasswd._tcp.corp.example", "dc01.corp.example", 464),
        ),
    ),
    # Broken: the wrong address, with no PTR for it, and no SRV records.
    Zone("branch.example", (A("ProvisionServer.branch.example", "10.250.0.99"),)),
    # No ProvisionServer at all (NXDOMAIN), though the zone itself answers.
    Zone("missing.example", (A("www.missing.example", "10.250.0.30"),)),
    Zone(  # split-brain on purpose: the only difference between the two servers
        "split.example",
        (
            A("ProvisionServer.split.example", _PS, at=frozenset({DNSMASQ})),
            A(
                "ProvisionServer.split.example",
                ADDRESSES["provision_server_split"],
                at=frozenset({BIND}),
            ),
        ),
    ),
    Zone(
        "open.example",
        (A("ProvisionServer.open.example", _PS),),
        served_by=frozenset({BIND}),
        open_to_updates=True,
    ),
    Zone(
        "0.250.10.in-addr.arpa",
        (Ptr(_PS, "provisionserver.corp.example"), Ptr(_DC, "dc01.corp.example")),
    ),
)


def zones_at(server: str) -> list[Zone]:
    return [z for z in ZONES if server in z.served_by]


# --- dnsmasq ---------------------------------------------------------------------------------


def dnsmasq_base_lines(listen: str) -> list[str]:
    return [
        "port=53",
        "bind-interfaces",
        f"listen-address={listen}",
        "no-resolv",
        "no-hosts",
        "user=root",  # keep root so it can write into the lab folder (DHCP leases)
        "log-facility=-",
        "pid-file=",  # none: we track the PID, and two labs must not share /run/dnsmasq.pid
        f"local-ttl={TTL}",
    ]


def dnsmasq_dns_lines() -> list[str]:
    """DNS data as dnsmasq options, records exactly as in ZONES.

    `host-record` always adds a PTR and `address=` also matches subdomains, so an A record
    becomes a host-record only when ZONES has that very PTR; any other A record is a raw
    `dns-rr` (type 1), which adds nothing else.
    """
    zones = zones_at(DNSMASQ)
    records = [r for z in zones for r in z.records_at(DNSMASQ)]
    ptrs = {(r.address, r.target.lower()) for r in records if isinstance(r, Ptr)}
    with_ptr = {(r.address, r.name.lower()) for r in records if isinstance(r, A)} & ptrs
    # local=: names under these zones that are not defined are NXDOMAIN, never forwarded.
    lines = [f"local=/{z.name}/" for z in zones]
    for r in records:
        if isinstance(r, A) and (r.address, r.name.lower()) in with_ptr:
            lines.append(f"host-record={r.name},{r.address}")
        elif isinstance(r, A):
            lines.append(f"dns-rr={r.name},1,{ipaddress.ip_address(r.address).packed.hex()}")
        elif isinstance(r, Srv):
            lines.append(f"srv-host={r.name},{r.target},{r.port},{r.priority},{r.weight}")
        elif (r.address, r.target.lower()) not in with_ptr:
            lines.append(f"ptr-record={r.name},{r.target}")
    return lines


def dnsmasq(workdir: Path, namespace: str) -> Server:
    conf = workdir / "dnsmasq" / "dnsmasq.conf"
    listen = ADDRESSES["dnsmasq"]
    lines = dnsmasq_base_lines(listen) + dnsmasq_dns_lines()
    first_a = next(r for z in zones_at(DNSMASQ) for r in z.records_at(DNSMASQ) if isinstance(r, A))
    return Server(
        name="dnsmasq",
        namespace=namespace,
        # --conf-file replaces /etc/dnsmasq.conf, so nothing of the host's config leaks in.
        argv=("dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"),
        files={conf: "\n".join(lines) + "\n"},
        ready=DnsAnswers(listen, ((first_a.name, "A"),)),
    )


# --- BIND 9 ----------------------------------------------------------------------------------


def bind_zone_file(zone: Zone) -> str:
    lines = [
        f"$TTL {TTL}",
        f"{zone.name}. IN SOA {NAMESERVER}. hostmaster.{NAMESERVER}. 1 3600 600 86400 {TTL}",
        f"{zone.name}. IN NS {NAMESERVER}.",
    ]
    for r in zone.records_at(BIND):
        if isinstance(r, A):
            lines.append(f"{r.name}. IN A {r.address}")
        elif isinstance(r, Srv):
            lines.append(f"{r.name}. IN SRV {r.priority} {r.weight} {r.port} {r.target}.")
        else:
            lines.append(f"{r.name}. IN PTR {r.target}.")
    return "\n".join(lines) + "\n"


def bind_conf(directory: Path, listen: str) -> str:
    zones = "".join(
        f'zone "{z.name}" {{ type primary; file "{z.name}.zone"; '
        f"allow-update {{ {'any' if z.open_to_updates else 'none'}; }}; }};\n"
        for z in zones_at(BIND)
    )
    # Every file BIND writes (journals, keys, pid, lock) goes into the lab folder, so two labs
    # can run side by side and nothing is left on the host.
    return f"""options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    lock-file "{directory}/named.lock";
    session-keyfile "{directory}/session.key";
    listen-on port 53 {{ {listen}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
{zones}"""


def bind(workdir: Path, namespace: str) -> Server:
    directory = workdir / "bind"
    conf = directory / "named.conf"
    listen = ADDRESSES["bind"]
    files = {directory / f"{z.name}.zone": bind_zone_file(z) for z in zones_at(BIND)}
    files[conf] = bind_conf(directory, listen)
    return Server(
        name="bind",
        namespace=namespace,
        # -g: foreground, log to stderr; -4: no IPv6 sockets. Runs as root (no -u).
        argv=("named", "-g", "-4", "-c", str(conf)),
        files=files,
        ready=DnsAnswers(listen, tuple((z.name, "SOA") for z in zones_at(BIND))),
    )


# --- misbehaving DNS servers (fakes.py) ------------------------------------------------------

# The fakes run as `python -m amt_preflight.lab.fakes`: make the package importable even when
# it is not installed (tests run with the repository on sys.path).
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


def fake_dns(kind: str, role: str, namespace: str) -> Server:
    address = ADDRESSES[role]
    pythonpath = os.pathsep.join(p for p in (_SOURCE_ROOT, os.environ.get("PYTHONPATH")) if p)
    return Server(
        name=role,
        namespace=namespace,
        argv=(sys.executable, "-m", "amt_preflight.lab.fakes", kind, "--listen", f"{address}:53"),
        env={"PYTHONPATH": pythonpath},
        ready=Listening(address, 53),
    )


def servers(workdir: Path, infra_ns: str) -> list[Server]:
    """Every server of the lab, all in the infra namespace."""
    return [
        dnsmasq(workdir, infra_ns),
        bind(workdir, infra_ns),
        fake_dns("silent", "silent_dns", infra_ns),
        fake_dns("garbage", "garbage_dns", infra_ns),
    ]
