"""Runs stopped early (CHECKS.md, "Interrupted runs"; review M4, L3): SIGTERM and the deadline
stop the gathering at once, intrusive changes are undone within a bounded time, what could
not be undone is named in every report, and what was unfinished is an error.

No network: the DNS exchanges and the DHCP lease threads are stand-ins (the lab test of a
real `amt-preflight run` killed mid-way is in test_cli_interrupt.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.update
import pytest
from jsonschema import Draft202012Validator

from amt_preflight import engine, probes
from amt_preflight import reports as report_formats
from amt_preflight.catalogue import Need
from amt_preflight.interruption import Interruption
from amt_preflight.model import LeftoverKind, RunResult, Status
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dhcp import DhcpAnswer
from amt_preflight.observations.dns import DnsQuestion, ResolverSet
from amt_preflight.probes import dhcp as probe_dhcp
from amt_preflight.probes import dns as probe_dns
from amt_preflight.probes.undo import CLEANUP_S, undo_within
from amt_preflight.reports.json_report import schema

from .observed import config, dhcp_answer

ZONE = "corp.example"
SERVER = "192.0.2.53"  # documentation addresses: nothing is sent anywhere
SITE = """
defaults: {{timeout: 1, retries: 0, deadline: {deadline}}}
sites:
  - name: hq
    interface: fake0
    resolvers: [192.0.2.53]
    dhcp: {{allowed_servers: [192.0.2.1], window: {window}, register_wait: 60}}
    domains: [{{name: corp.example}}]
"""
REGISTERS, DYNUPDATE = "DHCP-OPT81-REGISTERS", "DNS-DYNUPDATE-OPEN"


@dataclass
class FakeNetwork:
    """A DNS server that accepts unsigned updates (the delete as slow as asked) and a DHCP
    server that leases at once; what each was asked, and what is left in the zone."""

    delete_delay: float = 0.0
    release_works: bool = True
    records: set[str] = field(default_factory=set)
    added: threading.Event = field(default_factory=threading.Event)
    leased: threading.Event = field(default_factory=threading.Event)
    released: list[str] = field(default_factory=list)
    lease_stopped_early: list[bool] = field(default_factory=list)
    lease_wait: float = 0.0  # the lease thread waits this long, or until the run stops

    async def udp(self, wire: bytes, query_id: int, server: str, timeout: float
                  ) -> tuple[Outcome, bytes | None, str]:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        if isinstance(query, dns.update.UpdateMessage):
            rrset = query.update[0]
            name = rrset.name.derelativize(dns.name.from_text(ZONE)).to_text().rstrip(".")
            if rrset.deleting is not None:  # a delete (class ANY on the wire)
                await asyncio.sleep(self.delete_delay)
                self.records.discard(name)
            else:
                self.records.add(name)
                self.added.set()
            return Outcome.ANSWER, response.to_wire(), ""
        question = query.question[0]
        if question.rdtype == dns.rdatatype.SOA and str(question.name) == f"{ZONE}.":
            response.answer.append(dns.rrset.from_text(
                f"{ZONE}.", 60, "IN", "SOA", f"ns1.{ZONE}. h.{ZONE}. 1 2 3 4 5"))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return Outcome.ANSWER, response.to_wire(), ""

    def take_lease(self, interface: str, mac: bytes, host_name: str, window: float,
                   allowed: Any, stop: threading.Event) -> probe_dhcp.LeaseAttempt:
        stopped = stop.wait(self.lease_wait) if self.lease_wait else False
        self.lease_stopped_early.append(stopped)
        ack: DhcpAnswer = replace(dhcp_answer("192.0.2.1", "ACK", "REQUEST"),
                                  yiaddr="192.0.2.150")
        self.leased.set()
        return probe_dhcp.LeaseAttempt(("DISCOVER", "OFFER", "REQUEST"), ack)

    def release_lease(self, interface: str, mac: bytes, ack: DhcpAnswer) -> tuple[bool, str]:
        self.released.append(ack.yiaddr)
        if not self.release_works:
            return False, f"RELEASE not sent: {interface}: Network is down"
        return True, f"RELEASE of {ack.yiaddr} to {ack.server}"


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNetwork]:
    fake = FakeNetwork()

    async def tcp(wire: bytes, query_id: int, server: str, timeout: float
                  ) -> tuple[Outcome, bytes | None, str]:
        return await fake.udp(wire, query_id, server, timeout)

    monkeypatch.setattr(probe_dns, "_udp_attempt", fake.udp)
    monkeypatch.setattr(probe_dns, "_tcp_attempt", tcp)
    monkeypatch.setattr(probe_dhcp, "take_lease", fake.take_lease)
    monkeypatch.setattr(probe_dhcp, "release_lease", fake.release_lease)
    yield fake


def interrupted_run(fake: FakeNetwork, checks: list[str]) -> tuple[RunResult, float]:
    """A whole run, SIGTERM sent to this process once the lease is taken and the record
    added; the run and the seconds from the signal to its end."""
    cfg = config(SITE.format(deadline=60, window=5))
    sent: list[float] = []

    def kill_when_changed() -> None:
        if fake.leased.wait(20) and fake.added.wait(20):
            time.sleep(0.2)  # the delete is on its way now
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=kill_when_changed, daemon=True)
    interruption = Interruption()
    with interruption.noted():  # as the CLI does: a signal outside the loop is noted too
        killer.start()
        run = engine.run(cfg, engine.RunOptions(checks=checks, allow_intrusive=True,
                                                interruption=interruption))
        ended = time.monotonic()
    killer.join(5)
    assert sent, "the lease and the record never came"
    return run, ended - sent[0]


def by_check(run: RunResult) -> dict[str, list[tuple[str, str, str]]]:
    found: dict[str, list[tuple[str, str, str]]] = {}
    for r in run.results:
        found.setdefault(r.check, []).append((r.target, r.status.value, r.message))
    return found


def test_sigterm_undoes_the_lease_and_the_record_and_reports_the_rest_interrupted(
    network: FakeNetwork,
) -> None:
    network.delete_delay = 1.0  # cut by the signal, finished within CLEANUP_S
    run, after_signal = interrupted_run(network, [REGISTERS, DYNUPDATE])
    print(f"SIGTERM to the end of engine.run: {after_signal:.2f} s")
    assert after_signal < 5
    assert run.run.interrupted == "SIGTERM"
    found = by_check(run)
    assert found[REGISTERS] == [("fake0", "error", "interrupted")]
    [(target, status, message)] = found[DYNUPDATE]
    assert (target, status, message) == (ZONE, "error", "interrupted")
    [update] = [r for r in run.results if r.check == DYNUPDATE]
    assert update.evidence["interrupted"] == "SIGTERM"
    assert update.evidence["cleanup"] == "deleted"  # what was seen before the end
    assert network.records == set()  # the record is gone
    assert network.released == ["192.0.2.150"]  # the lease went back
    assert run.leftovers == ()
    assert run.exit_code == 3  # unknown: the verdict of the errors, not a crash code


def test_what_cannot_be_undone_is_named_in_every_report(network: FakeNetwork) -> None:
    network.delete_delay = 60  # the server never confirms the delete
    network.release_works = False
    run, after_signal = interrupted_run(network, [REGISTERS, DYNUPDATE])
    print(f"SIGTERM to the end of engine.run, clean-up cut off: {after_signal:.2f} s")
    assert after_signal < 5
    kinds = {x.kind: x for x in run.leftovers}
    assert set(kinds) == {LeftoverKind.DNS_RECORD, LeftoverKind.DHCP_LEASE}
    [record] = network.records
    assert kinds[LeftoverKind.DNS_RECORD].what == f"{record} TXT"
    assert kinds[LeftoverKind.DNS_RECORD].server == SERVER
    assert "192.0.2.150" in kinds[LeftoverKind.DHCP_LEASE].what
    assert kinds[LeftoverKind.DHCP_LEASE].server == "192.0.2.1"
    document = run.to_json()
    Draft202012Validator(schema()).validate(document)
    assert document["run"]["interrupted"] == "SIGTERM"
    assert {x["kind"] for x in document["leftovers"]} == {"dns-record", "dhcp-lease"}
    assert RunResult.from_json(document) == run
    for fmt in report_formats.FORMATS:
        text = report_formats.render(fmt, run)
        assert record in text, fmt
        assert "192.0.2.150" in text, fmt


def test_a_lost_reply_to_the_add_still_sends_the_delete(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """M4: no reply to the add may still mean the record was added."""
    sent: list[str] = []

    class Probe:
        def ask(self, question: DnsQuestion) -> asyncio.Future[Any]:
            from amt_preflight.observations.dns import DnsAnswer, DnsRecord

            record = DnsRecord(ZONE, "SOA", 60, f"ns1.{ZONE}. h. 1 2 3 4 5")
            answer = DnsAnswer(question, Outcome.ANSWER, "NOERROR",
                               (record,) if question.rdtype == "SOA" else ())
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_result(answer)
            return future

        async def exchange(self, message: dns.message.Message, server: str, transport: str,
                           what: str) -> probe_dns.Exchange:
            sent.append("delete" if "delete" in what else "add")
            if sent[-1] == "add":
                return probe_dns.Exchange(Outcome.TIMEOUT, None, 2, time.time(), 2000.0,
                                          "no reply in 1 s")
            return probe_dns.Exchange(Outcome.ANSWER, dns.message.make_response(message), 1,
                                      time.time(), 1.0)

    undo: dict[str, Any] = {}
    attempt = asyncio.run(probe_dns.dynamic_update(
        Probe(), ResolverSet((SERVER,), "config"), ZONE, undo=undo))  # type: ignore[arg-type]
    assert sent == ["add", "delete"]
    assert attempt.cleanup.startswith("deleted") and "no reply" in attempt.cleanup
    assert undo == {}


def test_the_deadline_releases_the_lease_at_once_not_after_the_window(
    network: FakeNetwork,
) -> None:
    """L3: the lease step stops AT the deadline (the thread is told to stop then), not after
    gather has waited for every gatherer, and the lease still goes back."""
    network.lease_wait = 30  # the DHCP exchange would wait this long, as a silent server
    cfg = config(SITE.format(deadline=0.3, window=30))
    selected = engine.select_checks(cfg, [REGISTERS])
    gathered = asyncio.run(engine.gather(cfg, cfg.sites, selected, engine.RunOptions(), True))
    assert network.lease_stopped_early == [True]  # stopped by the run, not by its window
    assert network.released == ["192.0.2.150"]
    assert gathered.leftovers == [] and gathered.interrupted_by is None


def test_questions_cut_by_the_deadline_are_deadline_not_never_probed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """L3: a question in flight (or waiting for its turn) at the deadline is recorded as cut
    by the deadline; cancelling the gatherers must not lose it."""
    async def silent(wire: bytes, query_id: int, server: str, timeout: float
                     ) -> tuple[Outcome, bytes | None, str]:
        await asyncio.sleep(30)
        raise AssertionError("the deadline did not stop it")

    monkeypatch.setattr(probe_dns, "_udp_attempt", silent)
    monkeypatch.setattr(probe_dns, "_tcp_attempt", silent)
    cfg = config(SITE.format(deadline=0.3, window=1).replace("timeout: 1", "timeout: 20"))
    selected = engine.select_checks(cfg, ["DNS-RESOLVER-ANSWERS"])
    gathered = asyncio.run(engine.gather(cfg, cfg.sites, selected, engine.RunOptions(), False))
    asked = [q for q in gathered.observations.dns if q.resolver == SERVER]
    assert {q.transport for q in asked} == {"udp", "tcp"}
    assert {gathered.observations.dns[q].outcome for q in asked} == {Outcome.DEADLINE}
    _, results = engine.evaluate(cfg, cfg.sites, selected, gathered, False,
                                 datetime.now(UTC))
    [result] = results
    assert result.status is Status.ERROR and "deadline" in result.message
    assert {a["outcome"] for a in result.evidence["answers"]} == {"deadline"}


def test_a_signal_before_the_gathering_stops_it_at_once() -> None:
    """A SIGINT noted before the loop runs (say, while the config loaded) stops the
    gathering as soon as it starts: every check is an error, "interrupted"."""
    started: list[Need] = []

    async def never_ends(ctx: probes.SiteProbes) -> None:
        started.append(Need.DNS_RESOLVERS)
        await asyncio.sleep(30)

    kit = replace(probes.default_kit(),
                  gatherers={**probes.gatherers(), Need.DNS_RESOLVERS: never_ends})
    interruption = Interruption()
    interruption.fire(signal.SIGINT)
    cfg = config(SITE.format(deadline=60, window=1))
    run = engine.run(cfg, engine.RunOptions(checks=["DNS-RESOLVER-ANSWERS"],
                                            interruption=interruption, probes=kit))
    assert run.run.interrupted == "SIGINT"
    assert [(r.status, r.message) for r in run.results] == [(Status.ERROR, "interrupted")]


def test_undo_within_outlives_a_cancellation_but_not_its_bound() -> None:
    async def main() -> tuple[list[str], float]:
        happened: list[str] = []

        async def slow_undo(seconds: float) -> str:
            await asyncio.sleep(seconds)
            happened.append(f"undone after {seconds:g} s")
            return "done"

        async def cancelled_while_undoing(seconds: float) -> None:
            try:
                await asyncio.sleep(30)
            finally:
                happened.append(str(await undo_within(slow_undo(seconds))))

        for seconds in (0.2, CLEANUP_S + 5):
            task = asyncio.ensure_future(cancelled_while_undoing(seconds))
            await asyncio.sleep(0.05)
            task.cancel()
            clock = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await task
        return happened, time.monotonic() - clock

    happened, last = asyncio.run(main())
    assert happened == ["undone after 0.2 s", "done", "None"]
    assert last < CLEANUP_S + 1


def test_the_dns_update_gatherer_changes_nothing_unless_intrusive_probes_are_allowed(
    network: FakeNetwork,
) -> None:
    """L10: its own guard, not only the catalogue's `intrusive` flag."""
    from amt_preflight.observations import Observations
    from amt_preflight.probes import OncePerRun, SiteProbes

    cfg = config(SITE.format(deadline=60, window=1))
    obs = Observations()

    async def main(intrusive: bool) -> None:
        dns_probe = probe_dns.DnsProbe(obs, asyncio.Semaphore(4), 1, 0)
        await probe_dns.gather_dynamic_updates(SiteProbes(
            cfg, cfg.sites[0], obs, dns_probe, ResolverSet((SERVER,), "config"), intrusive,
            OncePerRun()))

    asyncio.run(main(intrusive=False))
    assert not network.added.is_set() and obs.dns_updates == {} and obs.dns == {}
    asyncio.run(main(intrusive=True))
    assert network.added.is_set() and obs.dns_updates["corp.example"].cleanup == "deleted"
    assert network.records == set() and obs.undo == {}
