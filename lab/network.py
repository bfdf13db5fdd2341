"""The lab network: its addresses, its DNS data, and the servers that publish that data.

The DNS data is defined once, below, and rendered into each server's own config format, so
dnsmasq and BIND serve the same records except where a record says otherwise (`at`).
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from lab import devices, pki, programs
from lab.servers import DnsAnswers, Listening, Server, own_module_env

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
        "stale_dns": "10.250.0.7",  # its ProvisionServer.corp.example is a retired address
        "provision_server": "10.250.0.10",
        "provision_server_split": "10.250.0.11",  # what BIND says for split.example
        "dc": "10.250.0.20",
        # The lab PKI (lab/pki.py): the CA's web server for CRLs and CA certificates (also
        # the enterprise CA host of the demo), and the issuing CA's OCSP responder.
        "ca": "10.250.0.31",  # ca01.corp.example
        "ocsp": "10.250.0.32",  # ocsp.corp.example
        "bench_dns": "10.250.0.5",  # bench/dns_survey.py: a dnsmasq with many domains
        "delay_dns": "10.250.0.6",  # bench/dns_survey.py: a delaying relay in front of it
        # Active Directory and Kerberos (lab/ad.py, started with ad.start): "dc" above is the
        # Samba AD DC of corp.example (dc01.corp.example); the rest are outside that domain.
        "mit_kdc": "10.250.0.21",  # MIT krb5kdc, realm OTHER.EXAMPLE
        "skewed_kdc": "10.250.0.22",  # the same KDC run with its clock 10 minutes ahead
        "other_dc": "10.250.0.23",  # slapd whose rootDSE names other.example
        "tcp_only_kdc": "10.250.0.24",  # the MIT KDC, listening on TCP only
        "garbage_kdc": "10.250.0.25",  # fake_kdc.py: replies that are not Kerberos
        "truncated_kdc": "10.250.0.26",  # fake_kdc.py: replies cut short
        "huge_kdc": "10.250.0.27",  # fake_kdc.py: replies far larger than any real one
        "picky_kdc": "10.250.0.28",  # fake_kdc.py: silent for realms other than CORP.EXAMPLE
        # fake_ldap.py (lab/ad.py): LDAP servers that misbehave, and a "DC" outside its domain
        "huge_ldap": "10.250.0.33",  # announces a 1 GiB LDAP message, then drips bytes
        "drip_ldap": "10.250.0.34",  # announces a 200-byte message, then drips it slowly
        "outside_dc": "10.250.0.35",  # dc.attacker.example: the SRV target of outside-srv.example
        # SNMP (lab/snmp.py): one net-snmp agent on two addresses, the trap receiver, the fake
        # agent whose walks loop or never end (on demand), and an address with no agent.
        "snmp_switch": "10.250.0.40",  # snmpd: the switch of the demo, SNMPv2c
        "snmp_server": "10.250.0.41",  # snmpd: the provisioning server of the demo, SNMPv3
        "snmptrapd": "10.250.0.42",
        "snmp_bad_walk": "10.250.0.43",  # fake_snmp.py agent, started with Lab.add()
        "snmp_absent": "10.250.0.44",  # nothing listens: an agent that is not there
        # A second snmpd whose SNMPv3 user has the first's name and other keys (on demand)
        "snmp_other_keys": "10.250.0.45",
        # Handshake (lab/provisioning_server.py): "provision_server" above is the healthy
        # provisioning server; each of these misbehaves in one way, as the ProvisionServer of
        # <way>.hs.corp.example (handshake_domain).
        "provision_silent": "10.250.0.50",  # never connects back
        "provision_slow": "10.250.0.51",  # connects back 4 s after the hello
        "provision_garbage": "10.250.0.52",  # connects back and sends what is not TLS
        "provision_idle": "10.250.0.53",  # connects back and sends nothing
        "provision_wrong_cert": "10.250.0.54",  # presents a certificate not marked for AMT
        "provision_long_chain": "10.250.0.55",  # presents a chain of 50 certificates
        "provision_no_cert": "10.250.0.56",  # TLS without a client certificate
        "provision_reset": "10.250.0.57",  # resets the hello connection, never connects back
        "provision_wrong_psk": "10.250.0.58",  # TLS-PSK with the wrong key
        "provision_closed": "10.250.0.59",  # nothing listens on the hello port
        "provision_tls13_only": "10.250.0.60",  # connects back speaking TLS 1.3 only
        "provision_tls12_only": "10.250.0.61",  # connects back speaking TLS 1.2 only
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
# An AD domain whose DC SRV record names a host outside it (lab/ad.py's fake DC there shows
# the domain in its rootDSE and a lab-CA certificate for that host): it must not get the
# bind password (CHECKS.md, AD-LDAP-BIND).
OUTSIDE_SRV_DOMAIN = "outside-srv.example"
OUTSIDE_DC_HOST = "dc.attacker.example"
HANDSHAKE_ZONE = "hs.corp.example"
# The handshake scenarios: <way>.hs.corp.example, its ProvisionServer at this address.
_HANDSHAKE_SERVERS = {
    "second": _PS,  # a second domain on the healthy server
    **{way: ADDRESSES[f"provision_{way.replace('-', '_')}"]
       for way in ("silent", "slow", "garbage", "idle", "wrong-cert", "long-chain", "no-cert",
                   "reset", "wrong-psk", "closed", "tls13-only", "tls12-only")},
}


def handshake_domain(way: str) -> str:
    """The domain of one handshake scenario: silent -> silent.hs.corp.example."""
    return f"{way}.{HANDSHAKE_ZONE}"


def handshake_address(way: str) -> str:
    """The address of one handshake scenario's provisioning server."""
    return _HANDSHAKE_SERVERS[way]


ZONES: tuple[Zone, ...] = (
    Zone(  # healthy
        "corp.example",
        (
            A("ProvisionServer.corp.example", _PS),
            A("dc01.corp.example", _DC),
            A(pki.CA_HOST, ADDRESSES["ca"]),
            A(pki.OCSP_HOST, ADDRESSES["ocsp"]),
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
        HANDSHAKE_ZONE,
        tuple(A(f"ProvisionServer.{handshake_domain(way)}", address)
              for way, address in _HANDSHAKE_SERVERS.items()),
    ),
    Zone(
        OUTSIDE_SRV_DOMAIN,
        (Srv(f"_ldap._tcp.dc._msdcs.{OUTSIDE_SRV_DOMAIN}", OUTSIDE_DC_HOST, 389),),
    ),
    Zone("attacker.example", (A(OUTSIDE_DC_HOST, ADDRESSES["outside_dc"]),)),
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


def dnsmasq_dhcp_lines(directory: Path) -> list[str]:
    """DHCP on lab0, for the demo's site hq: option 15 corp.example, option 6 this dnsmasq;
    offers at once (no ping). The DHCP scenarios are on segments of their own (dhcp.py)."""
    subnet = ipaddress.ip_network(f"{ADDRESSES['client']}/{PREFIXLEN}", strict=False)
    return [
        "dhcp-authoritative",
        "no-ping",
        f"dhcp-leasefile={directory / 'leases'}",
        f"dhcp-range={subnet[150]},{subnet[199]},{subnet.netmask},10m",
        f"domain=corp.example,{subnet}",  # option 15, and the domain of lease names in DNS
        f"dhcp-option=option:dns-server,{ADDRESSES['dnsmasq']}",
    ]


def dnsmasq(workdir: Path, namespace: str) -> Server:
    conf = workdir / "dnsmasq" / "dnsmasq.conf"
    listen = ADDRESSES["dnsmasq"]
    lines = dnsmasq_base_lines(listen) + dnsmasq_dns_lines() + dnsmasq_dhcp_lines(conf.parent)
    first_a = next(r for z in zones_at(DNSMASQ) for r in z.records_at(DNSMASQ) if isinstance(r, A))
    return Server(
        name="dnsmasq",
        namespace=namespace,
        # --conf-file replaces /etc/dnsmasq.conf, so nothing of the host's config leaks in.
        argv=("dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"),
        files={conf: "\n".join(lines) + "\n"},
        ready=DnsAnswers(listen, ((first_a.name, "A"),)),
    )


# --- bench servers (bench/dns_survey.py adds them to a running lab with Lab.add) ------------

BENCH_ZONE = "bench.example"


def bench_domain(index: int) -> str:
    """The index-th (from 1) synthetic domain of the bench zone: d0001.bench.example, …"""
    return f"d{index:04d}.{BENCH_ZONE}"


def bench_dnsmasq(workdir: Path, namespace: str, domains: int, query_log: Path) -> Server:
    """A dnsmasq on bench_dns serving ProvisionServer.<domain> A provision_server for
    `domains` synthetic domains, one PTR for that address, and logging every query it gets.

    Started with `Lab.add()` by the benchmark; not part of the built-in lab.
    """
    conf = workdir / "bench-dnsmasq" / "dnsmasq.conf"
    listen = ADDRESSES["bench_dns"]
    address = ADDRESSES["provision_server"]
    packed = ipaddress.ip_address(address).packed.hex()
    reverse = ipaddress.ip_address(address).reverse_pointer
    base = [line for line in dnsmasq_base_lines(listen) if not line.startswith("log-facility=")]
    lines = [
        *base,
        f"log-facility={query_log}",  # one line per query, so the benchmark can count them
        "log-queries",
        # No limit may throttle 64 queries in flight: dns-forward-max (default 150) counts
        # forwarded queries (none here: local data is answered at once, and not cached, so the
        # cache size plays no part), max-tcp-connections (default 20) TCP connections.
        "dns-forward-max=1000",
        "max-tcp-connections=128",
        f"local=/{BENCH_ZONE}/",
        f"local=/{reverse.split('.', 1)[1]}/",  # 0.250.10.in-addr.arpa
        f"ptr-record={reverse},provisionserver.{BENCH_ZONE}",
    ]
    # Raw A records (dns-rr type 1): a host-record would imply a PTR per name.
    lines += [
        f"dns-rr=ProvisionServer.{bench_domain(i)},1,{packed}" for i in range(1, domains + 1)
    ]
    return Server(
        name="bench-dnsmasq",
        namespace=namespace,
        argv=("dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"),
        files={conf: "\n".join(lines) + "\n"},
        ready=DnsAnswers(listen, ((f"ProvisionServer.{bench_domain(1)}", "A"),)),
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


def fake_dns(kind: str, role: str, namespace: str) -> Server:
    address = ADDRESSES[role]
    return Server(
        name=role,
        namespace=namespace,
        argv=(sys.executable, "-m", "lab.fakes", kind, "--listen", f"{address}:53"),
        env=own_module_env(),
        ready=Listening(address, 53),
    )


def delay_relay(namespace: str, upstream: str, delay_ms: float) -> Server:
    """The `delay` fake on delay_dns: relays DNS to upstream:53, each query delay_ms later.

    Not part of the built-in lab: the benchmark starts it with `Lab.add()`.
    """
    address = ADDRESSES["delay_dns"]
    argv = (
        sys.executable, "-m", "lab.fakes", "delay", "--listen", f"{address}:53",
        "--to", f"{upstream}:53", "--delay-ms", f"{delay_ms:g}",
    )
    return Server(
        name="delay_dns",
        namespace=namespace,
        argv=argv,
        env=own_module_env(),
        ready=Listening(address, 53),
    )


# --- the lab PKI's servers --------------------------------------------------------------

PKI_DIR = "pki"  # in the lab folder: what lab/pki.py writes
OCSP_CPU_SECONDS = 60  # openssl ocsp can spin on a bare connection: this ends it if it does


def ca_web(workdir: Path, namespace: str) -> Server:
    """The CA's web server (lab/httpd.py) on port 80 of `ca`: CRLs and CA certificates."""
    address = ADDRESSES["ca"]
    return Server(
        name="ca_web",
        namespace=namespace,
        argv=(sys.executable, "-m", "lab.httpd", "--listen", f"{address}:80",
              "--root", str(workdir / PKI_DIR / "www")),
        env=own_module_env(),
        ready=Listening(address, 80, udp=False),
    )


def ocsp_responder(workdir: Path, namespace: str) -> Server:
    """openssl ocsp for the issuing CA. It listens on every address of the namespace (it
    takes a port only), IPv6 and IPv4; `ocsp` is the address the certificates name. One
    process (with -multi, SIGTERM leaves its children running), under a CPU limit."""
    folder = workdir / PKI_DIR / "ocsp"
    ca, key = str(folder / "issuing.pem"), str(folder / "issuing.key")
    return Server(
        name="ocsp",
        namespace=namespace,
        argv=("prlimit", f"--cpu={OCSP_CPU_SECONDS}", "--", programs.path("openssl"), "ocsp",
              "-index", str(folder / "index.txt"), "-CA", ca, "-rsigner", ca, "-rkey", key,
              "-port", str(pki.OCSP_PORT), "-nmin", "60", "-ignore_err"),
        # Never a TCP probe: a bare connection can leave openssl ocsp spinning (LAB.md).
        ready=Listening("::", pki.OCSP_PORT, udp=False),
    )


def servers(workdir: Path, infra_ns: str) -> list[Server]:
    """Every server of the lab, all in the infra namespace. The lab PKI is made first, into
    the lab folder, and the demo's certificate files and its fleet's device reports are
    published where config.yaml names them."""
    made = pki.write(workdir / PKI_DIR, datetime.now(UTC))
    pki.publish(pki.PUBLISHED, made)
    devices.publish(devices.FOLDER)
    return [
        dnsmasq(workdir, infra_ns),
        bind(workdir, infra_ns),
        fake_dns("silent", "silent_dns", infra_ns),
        fake_dns("garbage", "garbage_dns", infra_ns),
        fake_dns("stale", "stale_dns", infra_ns),
        ca_web(workdir, infra_ns),
        ocsp_responder(workdir, infra_ns),
    ]
