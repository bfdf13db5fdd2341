"""probes/dns_reply.py against dnspython: the query it makes is dnspython's to the byte, and
a reply it reads gives the very answer dnspython's reading gives (probes/dns.py's other
route); a reply of another shape it leaves to dnspython (None)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import DnsAnswer, DnsQuestion
from amt_preflight.probes import dns as probe_dns
from amt_preflight.probes.dns_reply import query_wire, read_reply

from .test_fuzz import fuzz, mutated

QUERY_ID = 0x4A7B
LABEL = st.text(st.sampled_from("abcXYZ019-_"), min_size=1, max_size=12)


@fuzz(200)
@given(st.lists(LABEL, min_size=1, max_size=6), st.sampled_from(["A", "PTR"]))
def test_a_query_is_the_bytes_dnspython_makes(labels: list[str], rdtype: str) -> None:
    name = ".".join(labels).lower()
    made = dns.message.make_query(name, rdtype, id=QUERY_ID).to_wire()
    assert query_wire(name, rdtype, QUERY_ID) == made


@pytest.mark.parametrize(("name", "rdtype"), [
    ("corp.example", "SRV"), ("corp.example", "AAAA"), (".", "A"), ("a b.example", "A"),
    ("bücher.example", "A"), ("a\\.b.example", "A"), ("x" * 64 + ".example", "A")])
def test_other_questions_are_left_to_dnspython(name: str, rdtype: str) -> None:
    assert query_wire(name, rdtype, QUERY_ID) is None


def _dnspython(question: DnsQuestion, wire: bytes) -> DnsAnswer:
    """The answer by the other route: dnspython reads the reply, probes/dns.py judges it."""
    query = dns.message.make_query(question.name, question.rdtype, id=QUERY_ID)
    sent = probe_dns.Sent(Outcome.ANSWER, wire, 1, 0.0, 1.0)
    return probe_dns._to_answer(question, probe_dns.Exchange.read(query, sent))


def _same(question: DnsQuestion, wire: bytes) -> bool:
    """Whether dns_reply read the reply (True) or left it (False); where it read it, its
    answer is dnspython's."""
    reply = read_reply(wire, QUERY_ID, question.name, question.rdtype)
    expected = _dnspython(question, wire)
    if reply is None:
        return False
    assert expected.outcome is Outcome.ANSWER, expected.detail
    assert (reply.rcode, reply.records, reply.cname_chain, reply.authority_soa) == (
        expected.rcode, expected.records, expected.cname_chain, expected.authority_soa)
    assert (probe_dns.TRUNCATED if reply.truncated else "") == expected.detail
    return True


A_QUESTION = DnsQuestion("10.250.0.1", "provisionserver.corp.example", "A")
PTR_QUESTION = DnsQuestion("10.250.0.1", "10.0.250.10.in-addr.arpa", "PTR")


def _reply(question: DnsQuestion, answer: list[tuple[str, int, str, str]],
           authority: list[tuple[str, int, str, str]] = (), rcode: int = 0,
           tc: bool = False, qname: str | None = None) -> bytes:
    """A reply made by dnspython: each record (owner, ttl, type, value) as its own RRset
    (one_rr_per_rrset), so the wire keeps duplicates, spellings and order as given."""
    query = dns.message.make_query(qname or question.name, question.rdtype, id=QUERY_ID)
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    if tc:
        response.flags |= dns.flags.TC
    for section, records in ((response.answer, answer), (response.authority, authority)):
        for owner, ttl, kind, value in records:
            section.append(dns.rrset.from_text(owner, ttl, "IN", kind, value))
    return response.to_wire()


PS = "provisionserver.corp.example."
SOA = ("corp.example.", 300, "SOA", "ns.corp.example. hostmaster.corp.example. 7 2 3 4 5")
SHAPES = {
    "one address": (A_QUESTION, [(PS, 60, "A", "10.250.0.10")], []),
    "several, a duplicate, two TTLs": (A_QUESTION, [
        (PS, 60, "A", "10.250.0.10"), ("ProvisionServer.CORP.example.", 30, "A", "10.250.0.11"),
        (PS, 90, "A", "10.250.0.10")], []),
    "a CNAME chain": (A_QUESTION, [
        (PS, 60, "CNAME", "PS.corp.example."), ("ps.corp.example.", 60, "CNAME", "h.example."),
        ("H.example.", 20, "A", "10.250.0.12")], []),
    "two CNAMEs at one name: the last one counts": (A_QUESTION, [
        (PS, 60, "CNAME", "a.example."), (PS, 60, "CNAME", "b.example."),
        ("a.example.", 60, "A", "10.0.0.1"), ("b.example.", 60, "A", "10.0.0.2")], []),
    "a CNAME loop": (A_QUESTION, [(PS, 60, "CNAME", PS)], []),
    "a dangling CNAME": (A_QUESTION, [(PS, 60, "CNAME", "gone.example.")], [SOA]),
    "NODATA with an SOA": (A_QUESTION, [], [SOA, ("corp.example.", 60, "NS", "ns.corp.example.")]),
    "a PTR, twice in two spellings": (PTR_QUESTION, [
        ("10.0.250.10.in-addr.arpa.", 60, "PTR", "ps.corp.example."),
        ("10.0.250.10.IN-ADDR.arpa.", 60, "PTR", "PS.corp.example.")], []),
    "a huge TTL": (A_QUESTION, [(PS, 0x80000000, "A", "10.250.0.10")], []),
    "two SOAs at one name: the last one counts": (A_QUESTION, [], [
        SOA, ("corp.example.", 60, "SOA", "ns2.corp.example. h.corp.example. 8 2 3 4 5")]),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_common_replies_are_read_as_dnspython_reads_them(shape: str) -> None:
    question, answer, authority = SHAPES[shape]
    assert _same(question, _reply(question, answer, authority))


@pytest.mark.parametrize("rcode", [dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL, dns.rcode.REFUSED])
def test_errors_truncation_and_an_answer_for_nxdomain(rcode: int) -> None:
    assert _same(A_QUESTION, _reply(A_QUESTION, [], [SOA], rcode=rcode))
    assert _same(A_QUESTION, _reply(A_QUESTION, [(PS, 60, "A", "10.0.0.1")], rcode=rcode))
    assert _same(A_QUESTION, _reply(A_QUESTION, [(PS, 60, "A", "10.0.0.1")], tc=True))


@pytest.mark.parametrize("wire", [
    _reply(A_QUESTION, [(PS, 60, "AAAA", "::1")]),  # another type
    _reply(A_QUESTION, [(PS, 60, "A", "10.0.0.1")], qname="other.example"),  # not ours
    _reply(A_QUESTION, [(PS, 60, "A", "10.0.0.1")]) + b"\x00",  # trailing junk
    _reply(A_QUESTION, [(PS, 60, "A", "10.0.0.1")])[:-1],  # cut short
    _reply(A_QUESTION, [("a\\032b.example.", 60, "A", "10.0.0.1")]),  # an escaped name
], ids=["AAAA", "another question", "trailing junk", "cut short", "escaped name"])
def test_other_shapes_are_left_to_dnspython(wire: bytes) -> None:
    assert not _same(A_QUESTION, wire)


def _pointing(to: int) -> bytes:
    """A reply whose one answer's owner is a compression pointer to `to`."""
    wire = _reply(A_QUESTION, [])
    header = bytearray(wire[:12])
    header[7] = 1  # one answer
    return (bytes(header) + wire[12:] + bytes((0xC0 | to >> 8, to & 0xFF))
            + b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01")


def test_compression_pointers_point_backwards_only() -> None:
    start = len(_reply(A_QUESTION, []))  # where the answer's owner name starts
    assert _same(A_QUESTION, _pointing(12))  # the question's name: read here
    for to in (start, start + 1, start + 40):  # itself, forwards: dnspython refuses them
        assert read_reply(_pointing(to), QUERY_ID, A_QUESTION.name, "A") is None
        assert _dnspython(A_QUESTION, _pointing(to)).outcome is Outcome.MALFORMED


def test_a_reply_with_edns_is_left_to_dnspython() -> None:
    query = dns.message.make_query(A_QUESTION.name, "A", id=QUERY_ID, use_edns=0)
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(PS, 60, "IN", "A", "10.0.0.1"))
    assert not _same(A_QUESTION, response.to_wire())


@fuzz(600)
@given(mutated([_reply(q, a, au) for q, a, au in SHAPES.values() if q is A_QUESTION]))
def test_mutated_replies_read_here_are_read_alike(data: bytes) -> None:
    _same(A_QUESTION, data)


@fuzz(300)
@given(mutated([_reply(q, a, au) for q, a, au in SHAPES.values() if q is PTR_QUESTION]))
def test_mutated_ptr_replies_read_here_are_read_alike(data: bytes) -> None:
    _same(PTR_QUESTION, data)
