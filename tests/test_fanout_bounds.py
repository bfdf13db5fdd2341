"""Fan-out driven by network data is bounded, and the evidence says what was left out
(review L1): the PTR queries one ProvisionServer answer makes, and the resolvers one DHCP
answer's option 6 adds. No network: the DNS exchange is answered here."""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from datetime import UTC, datetime

import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from amt_preflight.checks import spec
from amt_preflight.config import ChecksConfig
from amt_preflight.model import Status
from amt_preflight.observations import Observations
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dhcp import MAX_OPTION6, DhcpAnswer, DhcpSurvey, option6_questions
from amt_preflight.observations.dns import MAX_REVERSED, ResolverSet
from amt_preflight.probes import OncePerRun, SiteProbes
from amt_preflight.probes import dns as probe_dns
from amt_preflight.probes.dhcp import Transaction, decode_frame
from amt_preflight.probes.dhcp_trust import option6_of
from amt_preflight.probes.observer import ProbeObserver
from lab import hostile_dhcp as wire

from .observed import config

RESOLVERS = ("10.250.0.1", "10.250.0.2")
MANY = 4000  # A records in one answer: one UDP datagram of about 62 KiB holds them


def _addresses(count: int) -> list[str]:
    return [str(ipaddress.IPv4Address(0x0A000000 + i)) for i in range(1, count + 1)]


def _answering(asked: Counter[str]) -> object:
    """A stand-in for one UDP attempt: ProvisionServer has MANY addresses, every PTR names
    a host inside corp.example."""

    async def attempt(wire: bytes, query_id: int, server: str, timeout: float
                      ) -> tuple[Outcome, bytes | None, str]:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        kind = dns.rdatatype.to_text(question.rdtype)
        asked[kind] += 1
        response = dns.message.make_response(query)
        values = _addresses(MANY) if kind == "A" else ["ps.corp.example."]
        rrset = response.find_rrset(response.answer, question.name, question.rdclass,
                                    question.rdtype, create=True)
        rrset.update(dns.rrset.from_text_list(question.name, 60, "IN", kind, values))
        return Outcome.ANSWER, response.to_wire(), ""

    return attempt


def test_ptr_queries_of_one_answer_are_bounded_and_the_rest_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: Counter[str] = Counter()
    monkeypatch.setattr(probe_dns, "_udp_attempt", _answering(asked))
    cfg = config("sites: [{name: hq, domains: [{name: corp.example}]}]")
    obs = Observations()
    obs.record(ResolverSet(RESOLVERS, "config"), "hq")

    async def survey() -> None:
        probe = probe_dns.DnsProbe(obs, asyncio.Semaphore(64), 1.0, 0, ProbeObserver())
        ctx = SiteProbes(cfg, cfg.sites[0], obs, probe, obs.resolvers["hq"], False,
                         OncePerRun())
        await probe_dns.gather_provision_server_ptrs(ctx)

    asyncio.run(survey())
    # before: 2 A queries and 8,000 PTR queries (4,000 addresses x 2 resolvers)
    assert asked == {"A": len(RESOLVERS), "PTR": MAX_REVERSED * len(RESOLVERS)}

    view = obs.site("hq", datetime.now(UTC), ChecksConfig())
    [finding] = spec("DNS-PROVSERVER-PTR").judge(cfg.sites[0], view)
    assert finding.status is Status.PASS
    assert len(finding.evidence["not_reversed"]) == MANY - MAX_REVERSED


def _frame(addresses: list[str]) -> bytes:
    option6 = b"".join(ipaddress.IPv4Address(a).packed for a in addresses)
    options = (wire.option(53, b"\x02") + wire.option(54, bytes([10, 250, 0, 1]))
               + wire.option(15, b"corp.example"))
    for start in range(0, len(option6), 252):  # RFC 3396: a long option in parts
        options += wire.option(6, option6[start:start + 252])
    client = b"\x02\x11\x22\x33\x44\x55"
    return wire.frame(b"\x52\x54\x00\x00\x00\x01", "10.250.0.1",
                      wire.bootp(2, 0x1234, client, options + b"\xff", "10.250.0.150"))


def test_option6_of_one_answer_is_bounded_and_the_survey_says_how_many_were_dropped() -> None:
    many = _addresses(300)  # what one rogue frame can carry
    answer = decode_frame(_frame(many), {0x1234: Transaction(0x1234, b"\x02\x11\x22\x33\x44\x55",
                                                             "DISCOVER", 0.0)}, 0.1)
    assert isinstance(answer, DhcpAnswer)
    assert answer.dns_servers == tuple(many[:MAX_OPTION6])
    assert answer.dns_servers_dropped == 300 - MAX_OPTION6
    assert answer.to_evidence()["option6_dropped"] == 300 - MAX_OPTION6
    survey = DhcpSurvey("eth0", "02:11:22:33:44:55", 1.0, answers=(answer,))
    assert option6_of(survey, []) == tuple(many[:MAX_OPTION6])
    assert len(option6_questions(answer, ["corp.example"])) == MAX_OPTION6


def test_repeated_option6_addresses_count_once() -> None:
    answer = decode_frame(_frame(["10.0.0.1"] * 40 + ["10.0.0.2"]),
                          {0x1234: Transaction(0x1234, b"\x02\x11\x22\x33\x44\x55",
                                               "DISCOVER", 0.0)}, 0.1)
    assert isinstance(answer, DhcpAnswer)
    assert answer.dns_servers == ("10.0.0.1", "10.0.0.2") and answer.dns_servers_dropped == 0
    assert "option6_dropped" not in answer.to_evidence()
