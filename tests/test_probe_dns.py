"""The DNS probe against real servers in the lab: dnsmasq, BIND 9, a silent and a garbage
resolver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from amt_preflight.observations import Observations
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import DnsAnswer, DnsQuestion, ResolverSet, srv_target
from amt_preflight.probes import OncePerRun, SiteProbes
from amt_preflight.probes import dns as probe_dns
from amt_preflight.probes.observer import ProbeObserver
from lab import Lab

from .observed import config

pytestmark = pytest.mark.lab
T = TypeVar("T")
DNSMASQ, BIND, SILENT, GARBAGE = "10.250.0.1", "10.250.0.2", "10.250.0.3", "10.250.0.4"
NOBODY = "10.250.0.10"  # an address in the lab with nothing on port 53: ICMP refuses


class Counter(ProbeObserver):
    def __init__(self) -> None:
        self.started: list[str] = []

    def probe_started(self, what: str) -> None:
        self.started.append(what)


def make_probe(timeout: float = 1.0, retries: int = 1) -> tuple[probe_dns.DnsProbe, Counter]:
    counter = Counter()
    probe = probe_dns.DnsProbe(Observations(), asyncio.Semaphore(16), timeout, retries, counter)
    return probe, counter


def in_lab(lab: Lab, work: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine that work() makes inside the client namespace, in a fresh loop."""

    async def main() -> T:
        return await work()

    with lab.in_client():
        return asyncio.run(main())


def site_probes(probe: probe_dns.DnsProbe, resolvers: tuple[str, ...], *domains: str
                ) -> SiteProbes:
    listed = ", ".join(f"{{name: {d}}}" for d in domains)
    cfg = config(f"sites: [{{name: lab, domains: [{listed}]}}]")
    return SiteProbes(cfg, cfg.sites[0], probe.observations, probe,
                      ResolverSet(resolvers, "config"), intrusive=True, once=OncePerRun())


def ask(lab: Lab, question: DnsQuestion, timeout: float = 1.0, retries: int = 1) -> DnsAnswer:
    probe, _ = make_probe(timeout, retries)
    return in_lab(lab, lambda: probe.ask(question))


@pytest.mark.parametrize("server", [DNSMASQ, BIND])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_provision_server_record_at_both_implementations(
    lab: Lab, server: str, transport: str
) -> None:
    answer = ask(lab, DnsQuestion(server, "ProvisionServer.corp.example", "A", transport))  # type: ignore[arg-type]
    assert answer.outcome is Outcome.ANSWER and answer.rcode == "NOERROR"
    assert answer.values == ("10.250.0.10",)


@pytest.mark.parametrize("server", [DNSMASQ, BIND])
def test_nxdomain_and_srv_and_ptr(lab: Lab, server: str) -> None:
    missing = ask(lab, DnsQuestion(server, "ProvisionServer.missing.example", "A"))
    assert (missing.outcome, missing.rcode, missing.values) == (Outcome.ANSWER, "NXDOMAIN", ())
    srv = ask(lab, DnsQuestion(server, "_kerberos._udp.corp.example", "SRV"))
    assert [srv_target(v) for v in srv.values] == ["dc01.corp.example"]
    ptr = ask(lab, DnsQuestion(server, "10.0.250.10.in-addr.arpa", "PTR"))
    assert [v.rstrip(".") for v in ptr.values] == ["provisionserver.corp.example"]


def test_silent_resolver_times_out_after_every_attempt(lab: Lab) -> None:
    answer = ask(lab, DnsQuestion(SILENT, "ProvisionServer.corp.example", "A"), 0.5, 2)
    assert answer.outcome is Outcome.TIMEOUT and answer.attempts == 3


def test_silent_resolver_over_tcp_times_out(lab: Lab) -> None:
    answer = ask(lab, DnsQuestion(SILENT, "ProvisionServer.corp.example", "A", "tcp"), 0.5, 0)
    assert answer.outcome is Outcome.TIMEOUT and answer.attempts == 1


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_garbage_is_malformed_with_a_hex_excerpt(lab: Lab, transport: str) -> None:
    answer = ask(lab, DnsQuestion(GARBAGE, "ProvisionServer.corp.example", "A", transport))  # type: ignore[arg-type]
    assert answer.outcome is Outcome.MALFORMED and answer.attempts == 1
    assert "bytes" in answer.detail or "closed" in answer.detail or "length" in answer.detail


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_nothing_listening_is_unreachable_not_silence(lab: Lab, transport: str) -> None:
    answer = ask(lab, DnsQuestion(NOBODY, "ProvisionServer.corp.example", "A", transport))  # type: ignore[arg-type]
    assert answer.outcome is Outcome.UNREACHABLE and answer.attempts == 1


def test_the_same_question_is_sent_once(lab: Lab) -> None:
    probe, counter = make_probe()
    question = DnsQuestion(DNSMASQ, "ProvisionServer.corp.example", "A")
    other_spelling = DnsQuestion(DNSMASQ, "provisionserver.CORP.example.", "a")

    async def twice() -> list[DnsAnswer]:
        return list(await asyncio.gather(probe.ask(question), probe.ask(other_spelling),
                                         probe.ask(question)))

    answers = in_lab(lab, twice)
    assert len(counter.started) == 1 and answers[0] == answers[1] == answers[2]


def test_ptr_queries_follow_the_a_answers(lab: Lab) -> None:
    probe, counter = make_probe()
    ctx = site_probes(probe, (DNSMASQ, BIND), "corp.example", "branch.example")
    in_lab(lab, lambda: probe_dns.gather_provision_server_ptrs(ctx))
    asked = {(q.resolver, q.name, q.rdtype) for q in probe.observations.dns}
    assert (BIND, "10.0.250.10.in-addr.arpa", "PTR") in asked
    assert (DNSMASQ, "99.0.250.10.in-addr.arpa", "PTR") in asked
    assert len(counter.started) == len(asked) == 2 * 2 + 2 * 2  # A per domain, PTR per address


def test_open_zone_accepts_an_unsigned_update_and_it_is_deleted(lab: Lab) -> None:
    probe, _ = make_probe()
    resolvers = ResolverSet((BIND,), "config")
    attempt = in_lab(lab, lambda: probe_dns.dynamic_update(probe, resolvers, "open.example"))
    assert (attempt.outcome, attempt.rcode, attempt.cleanup) == (Outcome.ANSWER, "NOERROR",
                                                                 "deleted")
    assert attempt.zone == "open.example" and attempt.server == BIND
    after = ask(lab, DnsQuestion(BIND, attempt.name, "TXT"))
    assert after.rcode == "NXDOMAIN"


@pytest.mark.parametrize("resolvers", [(BIND,), (DNSMASQ, BIND), (DNSMASQ,)])
def test_closed_zones_refuse_the_update(lab: Lab, resolvers: tuple[str, ...]) -> None:
    probe, _ = make_probe()
    attempt = in_lab(lab, lambda: probe_dns.dynamic_update(
        probe, ResolverSet(resolvers, "config"), "corp.example"))
    assert attempt.outcome is Outcome.ANSWER and attempt.rcode not in (None, "NOERROR")
    assert attempt.cleanup == "not needed"


def test_dynamic_update_with_only_a_silent_resolver_gives_up(lab: Lab) -> None:
    probe, _ = make_probe(0.3, 0)
    attempt = in_lab(lab, lambda: probe_dns.dynamic_update(
        probe, ResolverSet((SILENT,), "config"), "corp.example"))
    assert attempt.outcome is Outcome.TIMEOUT and attempt.server == ""

