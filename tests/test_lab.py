"""The lab network serves exactly the DNS data the specification asks for, and cleans up.

Expected records are written out here from the specification, not read from network.py, so a
mistake in the lab's data shows up as a failure rather than being compared with itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update
import pytest

from lab import Lab, LabError, netns, network, programs
from lab.servers import DnsAnswers, Listening, Server
from lab.state import STATE_FILE, LabState

pytestmark = pytest.mark.lab

DNS_SERVERS = {"dnsmasq": "10.250.0.1", "bind": "10.250.0.2"}
SILENT = "10.250.0.3"
GARBAGE = "10.250.0.4"
TIMEOUT = 2.0
REPO = Path(__file__).resolve().parents[1]

# (name, type, exact answer) served by both dnsmasq and BIND
RECORDS = [
    ("ProvisionServer.corp.example", "A", {"10.250.0.10"}),
    ("10.0.250.10.in-addr.arpa", "PTR", {"provisionserver.corp.example."}),
    ("dc01.corp.example", "A", {"10.250.0.20"}),
    ("20.0.250.10.in-addr.arpa", "PTR", {"dc01.corp.example."}),
    ("_ldap._tcp.dc._msdcs.corp.example", "SRV", {"0 100 389 dc01.corp.example."}),
    ("_kerberos._tcp.corp.example", "SRV", {"0 100 88 dc01.corp.example."}),
    ("_kerberos._udp.corp.example", "SRV", {"0 100 88 dc01.corp.example."}),
    ("_kpasswd._tcp.corp.example", "SRV", {"0 100 464 dc01.corp.example."}),
    ("ProvisionServer.branch.example", "A", {"10.250.0.99"}),
    ("www.missing.example", "A", {"10.250.0.30"}),
    ("ca01.corp.example", "A", {"10.250.0.31"}),  # the lab CA's web server: CRLs, AIA
    ("ocsp.corp.example", "A", {"10.250.0.32"}),  # the lab CA's OCSP responder
]
PER_SERVER = {
    "dnsmasq": [("ProvisionServer.split.example", "A", {"10.250.0.10"})],
    "bind": [
        ("ProvisionServer.split.example", "A", {"10.250.0.11"}),
        ("ProvisionServer.open.example", "A", {"10.250.0.10"}),
    ],
}
NXDOMAIN = [
    ("99.0.250.10.in-addr.arpa", "PTR"),  # the wrong address has no PTR
    ("ProvisionServer.missing.example", "A"),
    ("_ldap._tcp.dc._msdcs.branch.example", "SRV"),
    ("_kerberos._tcp.branch.example", "SRV"),
    ("_kerberos._udp.branch.example", "SRV"),
    ("_kpasswd._tcp.branch.example", "SRV"),
    ("unknown.corp.example", "A"),
    ("x.ProvisionServer.branch.example", "A"),  # a record is not a wildcard (dnsmasq address=)
]
CASES = [
    (server, name, rdtype, expected)
    for server in DNS_SERVERS
    for name, rdtype, expected in RECORDS + PER_SERVER[server]
]


def ask(
    lab: Lab, server: str, name: str, rdtype: str, transport: str = "udp"
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    with lab.in_client():
        return send(query, server, timeout=TIMEOUT)


def answer(reply: dns.message.Message, rdtype: str) -> set[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    rrsets = [rrset for rrset in reply.answer if rrset.rdtype == wanted]
    return {rr.to_text().lower() for rrset in rrsets for rr in rrset}


def net_namespace() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(("server", "name", "rdtype", "expected"), CASES)
def test_record(
    lab: Lab, server: str, name: str, rdtype: str, expected: set[str], transport: str
) -> None:
    reply = ask(lab, DNS_SERVERS[server], name, rdtype, transport)
    assert reply.rcode() == dns.rcode.NOERROR
    assert answer(reply, rdtype) == expected


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("server", DNS_SERVERS)
@pytest.mark.parametrize(("name", "rdtype"), NXDOMAIN)
def test_nxdomain(lab: Lab, server: str, name: str, rdtype: str, transport: str) -> None:
    reply = ask(lab, DNS_SERVERS[server], name, rdtype, transport)
    assert reply.rcode() == dns.rcode.NXDOMAIN


def test_dnsmasq_does_not_serve_open_example(lab: Lab) -> None:
    reply = ask(lab, DNS_SERVERS["dnsmasq"], "ProvisionServer.open.example", "A")
    assert not reply.answer


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_silent_server_times_out(lab: Lab, transport: str) -> None:
    with pytest.raises(dns.exception.Timeout):
        ask(lab, SILENT, "ProvisionServer.corp.example", "A", transport)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_garbage_server_reply_does_not_parse(lab: Lab, transport: str) -> None:
    with pytest.raises(dns.exception.FormError):
        ask(lab, GARBAGE, "ProvisionServer.corp.example", "A", transport)


def test_open_zone_accepts_unsigned_update(lab: Lab) -> None:
    bind = DNS_SERVERS["bind"]
    add = dns.update.Update("open.example")
    add.add("amtp-test", 60, "A", "10.250.0.77")
    delete = dns.update.Update("open.example")
    delete.delete("amtp-test")
    with lab.in_client():
        assert dns.query.tcp(add, bind, timeout=TIMEOUT).rcode() == dns.rcode.NOERROR
        try:
            assert answer(ask(lab, bind, "amtp-test.open.example", "A"), "A") == {"10.250.0.77"}
        finally:
            assert dns.query.tcp(delete, bind, timeout=TIMEOUT).rcode() == dns.rcode.NOERROR
    assert ask(lab, bind, "amtp-test.open.example", "A").rcode() == dns.rcode.NXDOMAIN


def test_other_zones_refuse_updates(lab: Lab) -> None:
    update = dns.update.Update("corp.example")
    update.add("amtp-test", 60, "A", "10.250.0.77")
    with lab.in_client():
        reply = dns.query.tcp(update, DNS_SERVERS["bind"], timeout=TIMEOUT)
    assert reply.rcode() == dns.rcode.REFUSED
    check = ask(lab, DNS_SERVERS["bind"], "amtp-test.corp.example", "A")
    assert check.rcode() == dns.rcode.NXDOMAIN


def test_dnsmasq_does_not_accept_updates(lab: Lab) -> None:
    update = dns.update.Update("corp.example")
    update.add("amtp-test", 60, "A", "10.250.0.77")
    with lab.in_client():
        reply = dns.query.udp(update, DNS_SERVERS["dnsmasq"], timeout=TIMEOUT)
    # dnsmasq 2.90 answers REFUSED; what matters is that it is not NOERROR.
    assert reply.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTIMP)


def test_addresses(lab: Lab) -> None:
    infra = subprocess.run(
        [programs.path("ip"), "-n", lab.infra_ns, "-4", "-o", "addr", "show", "dev", "lab0"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    for last in (1, 2, 3, 4, 10, 11, 20):
        assert f" 10.250.0.{last}/24 " in infra
    client = lab.run_in_client(
        [programs.path("ip"), "-4", "-o", "addr", "show", "dev", "lab0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert " 10.250.0.100/24 " in client
    assert lab.addresses["client"] == "10.250.0.100"


def test_in_client_switches_only_this_thread_and_restores(lab: Lab) -> None:
    original = net_namespace()
    go = threading.Event()
    seen_by_other_thread: list[int] = []

    def other_thread() -> None:
        go.wait(TIMEOUT)
        seen_by_other_thread.append(net_namespace())

    # Started before in_client: a thread started inside would inherit the client namespace.
    other = threading.Thread(target=other_thread)
    other.start()
    with lab.in_client():
        assert net_namespace() == os.stat(netns.NETNS_DIR / lab.client_ns).st_ino
        go.set()
        other.join(TIMEOUT)
    assert net_namespace() == original
    assert seen_by_other_thread == [original]
    with pytest.raises(RuntimeError), lab.in_client():
        raise RuntimeError("inside the client namespace")
    assert net_namespace() == original


def test_two_labs_coexist_and_stop_leaves_nothing(lab: Lab) -> None:
    second = Lab.start()
    try:
        state = LabState.load(second.workdir / STATE_FILE)
        assert {second.client_ns, second.infra_ns}.isdisjoint({lab.client_ns, lab.infra_ns})
        reply = ask(second, DNS_SERVERS["dnsmasq"], "ProvisionServer.corp.example", "A")
        assert answer(reply, "A") == {"10.250.0.10"}
        assert all(server.is_alive() for server in state.servers)
    finally:
        second.stop()
    second.stop()  # idempotent

    assert not any(netns.exists(name) for name in state.namespaces)
    assert not any(server.is_alive() for server in state.servers)
    assert not second.workdir.exists()
    # The first lab is untouched.
    reply = ask(lab, DNS_SERVERS["dnsmasq"], "ProvisionServer.corp.example", "A")
    assert answer(reply, "A") == {"10.250.0.10"}


def test_down_cleans_up_after_a_crashed_run(lab: Lab, tmp_path: Path) -> None:
    output = tmp_path / "up.out"
    with output.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "lab", "up"], cwd=REPO, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while "lab is up" not in output.read_text() and time.monotonic() < deadline:
            assert up.poll() is None, output.read_text()
            time.sleep(0.05)
        printed = output.read_text()
        assert "lab is up" in printed, printed
        workdir = Path(printed.split("lab folder:")[1].split()[0])
        state = LabState.load(workdir / STATE_FILE)
    finally:
        up.kill()  # a crash: no chance to clean up
        up.wait(10)
    assert all(server.is_alive() for server in state.servers)

    down = subprocess.run(
        [sys.executable, "-m", "lab", "down"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert down.returncode == 0, down.stdout + down.stderr
    assert f"{workdir}: removed" in down.stdout
    assert not any(netns.exists(name) for name in state.namespaces)
    assert not any(server.is_alive() for server in state.servers)
    assert not workdir.exists()
    assert netns.exists(lab.infra_ns)  # a live lab is left alone


def test_failed_start_says_why_and_cleans_up(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Path | str] = {}

    def broken_servers(workdir: Path, infra_ns: str) -> list[Server]:
        built.update(workdir=workdir, infra_ns=infra_ns)
        argv = ("dnsmasq", "--keep-in-foreground", "--no-such-option")
        return [Server("broken", infra_ns, argv, ready=Listening("10.250.0.1", 53))]

    monkeypatch.setattr(network, "servers", broken_servers)
    with pytest.raises(LabError, match="broken") as failure:
        Lab.start()
    assert "exited with code" in str(failure.value)
    assert "bad command line options" in str(failure.value)  # dnsmasq's log tail
    assert not Path(built["workdir"]).exists()
    assert not netns.exists(str(built["infra_ns"]))


def test_refuses_to_start_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="root"):
        Lab.start()


def test_missing_program_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(programs.PACKAGES, "amtp-no-such-program", "amtp-some-package")
    with pytest.raises(LabError, match="amtp-some-package"):
        programs.require(["ip", "amtp-no-such-program"])


def test_add_starts_a_server_that_stop_ends(lab: Lab) -> None:
    bench_dns = network.ADDRESSES["bench_dns"]
    extra = Lab.start()
    try:
        conf = extra.workdir / "extra" / "dnsmasq.conf"
        lines = [
            *network.dnsmasq_base_lines(bench_dns),
            "local=/extra.example/",
            "dns-rr=one.extra.example,1,0afa0063",  # 10.250.0.99
        ]
        server = Server(
            "extra-dnsmasq",
            extra.infra_ns,
            ("dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"),
            ready=DnsAnswers(bench_dns, (("one.extra.example", "A"),)),
            files={conf: "\n".join(lines) + "\n"},
        )
        extra.add(server)
        state = LabState.load(extra.workdir / STATE_FILE)
        added = next(s for s in state.servers if s.name == "extra-dnsmasq")
        assert added.is_alive()
        for transport in ("udp", "tcp"):
            reply = ask(extra, bench_dns, "one.extra.example", "A", transport)
            assert answer(reply, "A") == {"10.250.0.99"}
        with pytest.raises(LabError, match="already has a server"):
            extra.add(server)
    finally:
        extra.stop()
    assert not added.is_alive()
    assert not extra.workdir.exists()


def test_add_of_a_server_that_fails_says_why_and_leaves_the_lab_running(lab: Lab) -> None:
    argv = ("dnsmasq", "--keep-in-foreground", "--no-such-option")
    broken = Server("broken-extra", lab.infra_ns, argv, ready=Listening("10.250.0.5", 53))
    with pytest.raises(LabError, match="broken-extra") as failure:
        lab.add(broken)
    assert "bad command line options" in str(failure.value)  # dnsmasq's log tail
    state = LabState.load(lab.workdir / STATE_FILE)
    assert "broken-extra" not in {s.name for s in state.servers}
    reply = ask(lab, DNS_SERVERS["dnsmasq"], "ProvisionServer.corp.example", "A")
    assert answer(reply, "A") == {"10.250.0.10"}


def test_delay_relay_adds_its_delay_once_per_query(lab: Lab) -> None:
    """The bench servers: ProvisionServer of synthetic domains, straight and 50 ms later."""
    bench_dns, delay_dns = network.ADDRESSES["bench_dns"], network.ADDRESSES["delay_dns"]
    delay = 0.05
    extra = Lab.start()
    try:
        log = extra.workdir / "bench-queries.log"
        extra.add(network.bench_dnsmasq(extra.workdir, extra.infra_ns, 3, log))
        extra.add(network.delay_relay(extra.infra_ns, bench_dns, delay * 1000))
        name = "ProvisionServer.d0003.bench.example"
        for transport in ("udp", "tcp"):
            clock = time.monotonic()
            direct = ask(extra, bench_dns, name, "A", transport)
            straight = time.monotonic() - clock
            clock = time.monotonic()
            relayed = ask(extra, delay_dns, name, "A", transport)
            late = time.monotonic() - clock
            assert answer(direct, "A") == answer(relayed, "A") == {"10.250.0.10"}
            assert delay <= late < straight + delay + 0.04, (transport, straight, late)
        reverse = ask(extra, delay_dns, "10.0.250.10.in-addr.arpa", "PTR")
        assert answer(reverse, "PTR") == {"provisionserver.bench.example."}
        assert ask(extra, bench_dns, "ProvisionServer.d0004.bench.example", "A").rcode() == (
            dns.rcode.NXDOMAIN
        )
        # Every query is logged once, relayed or not (the readiness check asks for d0001).
        queries = [line for line in log.read_text().splitlines() if " query[" in line]
        assert sum("ProvisionServer.d0003." in q for q in queries) == 4
        assert sum("in-addr.arpa" in q for q in queries) == 1
        assert sum("ProvisionServer.d0004." in q for q in queries) == 1
    finally:
        extra.stop()
