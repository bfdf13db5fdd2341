"""The DHCP probe's decoder on hand-made frames: what is ours is decoded as far as it goes,
what is not is told apart, and nothing crashes it. No network."""

from __future__ import annotations

import pytest

from amt_preflight.observations.dhcp import ClientFqdn
from amt_preflight.probes import dhcp
from amt_preflight.probes.dhcp import (
    MAX_ANSWERS,
    Collected,
    Rejected,
    Transaction,
    decode_frame,
    parse_options,
)
from lab import hostile_dhcp as wire

SERVER_MAC = b"\x52\x54\x00\x00\x00\x01"
CLIENT = b"\x02\x11\x22\x33\x44\x55"
XID = 0x1234ABCD
SERVER = "10.250.0.1"
OURS = {XID: Transaction(XID, CLIENT, "DISCOVER", sent_at=100.0)}
GOOD = (wire.option(53, b"\x02") + wire.option(54, bytes([10, 250, 0, 1]))
        + wire.option(15, b"corp.example") + wire.option(6, bytes([10, 250, 0, 1])) + b"\xff")


def frame(options: bytes = GOOD, xid: int = XID, chaddr: bytes = CLIENT, **kw: int) -> bytes:
    return wire.frame(SERVER_MAC, SERVER, wire.bootp(2, xid, chaddr, options, "10.250.0.150"),
                      **kw)


def decode(data: bytes) -> object:
    return decode_frame(data, OURS, now=100.25)


def test_a_good_offer_is_decoded_whole() -> None:
    answer = decode(frame())
    assert isinstance(answer, dhcp.DhcpAnswer)
    assert (answer.message_type, answer.answering, answer.server, answer.yiaddr) == (
        "OFFER", "DISCOVER", SERVER, "10.250.0.150")
    assert answer.domain_name == b"corp.example" and answer.dns_servers == (SERVER,)
    assert answer.after_ms == pytest.approx(250.0) and answer.problems == ()
    assert answer.to_evidence()["source_mac"] == "52:54:00:00:00:01"


@pytest.mark.parametrize(("data", "why"), [
    (frame(xid=XID ^ 1), "another transaction (xid)"),
    (frame(chaddr=b"\x02\xba\xdb\xad\xba\xd0"), "another client's hardware address (chaddr)"),
    (wire.frame(SERVER_MAC, SERVER, wire.bootp(1, XID, CLIENT, GOOD)), "not a BOOTREPLY"),
    (wire.frame(SERVER_MAC, SERVER, b"\x02\x01\x06"), "shorter than a BOOTP header"),
])
def test_what_is_not_ours_is_rejected_not_kept(data: bytes, why: str) -> None:
    assert decode(data) == Rejected(why)


def test_a_truncated_answer_to_us_is_kept_as_hex() -> None:
    whole = wire.bootp(2, XID, CLIENT, GOOD)
    rejected = decode(wire.frame(SERVER_MAC, SERVER, whole[:120]))
    assert isinstance(rejected, Rejected) and rejected.ours
    assert rejected.excerpt.startswith(f"from {SERVER}: 120 bytes 0201")


def test_an_option_that_overruns_the_packet_stops_decoding_there() -> None:
    overrun = wire.option(53, b"\x02") + wire.option(54, bytes([10, 250, 0, 1])) + b"\x0f\xc8ab"
    answer = decode(frame(overrun))
    assert isinstance(answer, dhcp.DhcpAnswer)
    assert answer.server_id == SERVER and answer.domain_name is None
    assert "option 15: length 200 overruns the packet by 198 bytes" in answer.problems[0]


def test_lengths_that_claim_more_than_arrived_are_noted() -> None:
    answer = decode(frame(ip_total_extra=64))
    assert isinstance(answer, dhcp.DhcpAnswer) and answer.domain_name == b"corp.example"
    assert "more bytes than arrived" in answer.problems[0]


@pytest.mark.parametrize("data", [
    frame(version_ihl=0x43),  # IP header shorter than 20 bytes
    frame(version_ihl=0x65),  # not IPv4
    frame()[:30],  # cut inside the IP header
    frame()[:12] + b"\x86\xdd" + frame()[14:],  # IPv6 ethertype
    b"",
])
def test_what_is_not_dhcp_to_a_client_is_none(data: bytes) -> None:
    assert decode(data) is None


def test_a_fragment_is_not_reassembled() -> None:
    data = bytearray(frame())
    data[14 + 6] |= 0x20  # more fragments
    assert decode(bytes(data)) is None


def test_a_vlan_tagged_frame_is_decoded() -> None:
    plain = frame()
    tagged = plain[:12] + b"\x81\x00\x00\x0a" + plain[12:]
    assert isinstance(decode(tagged), dhcp.DhcpAnswer)


def test_options_are_joined_when_repeated_and_overload_is_followed() -> None:
    split = wire.option(15, b"corp.") + wire.option(15, b"example")
    found, problems = parse_options(split + b"\xff")
    assert found == {15: b"corp.example"} and problems == []
    bootp = bytearray(wire.bootp(2, XID, CLIENT, wire.option(53, b"\x02")
                                 + wire.option(52, b"\x01") + b"\xff"))
    in_file = wire.option(15, b"corp.example") + b"\xff"
    bootp[108:108 + len(in_file)] = in_file  # RFC 2132 9.3: options continue in `file`
    answer = decode(wire.frame(SERVER_MAC, SERVER, bytes(bootp)))
    assert isinstance(answer, dhcp.DhcpAnswer) and answer.domain_name == b"corp.example"


@pytest.mark.parametrize(("options", "problem"), [
    (wire.option(53, b"\x02"), "no end option"),
    (wire.option(53, b"\x02") + b"\x0f", "option 15: the packet ends before its length byte"),
    (wire.option(54, b"\x0a\xfa\x00\x01") + b"\xff", "no DHCP message type (option 53)"),
])
def test_what_cannot_be_decoded_is_said(options: bytes, problem: str) -> None:
    answer = decode(frame(options))
    assert isinstance(answer, dhcp.DhcpAnswer) and problem in answer.problems


def test_a_flood_is_counted_not_kept() -> None:
    collected = Collected()
    for _ in range(MAX_ANSWERS + 50):
        collected.take(decode(frame()))
    collected.take(decode(frame(xid=1)))
    assert len(collected.answers) == MAX_ANSWERS and collected.dropped == 50
    assert collected.ignored == {"another transaction (xid)": 1}


@pytest.mark.parametrize(("data", "name", "updates"), [
    (b"\x05\xff\xff\x0aamtp-test1\x04corp\x07example\x00", "amtp-test1.corp.example.", True),
    (b"\x05\x00\x00\x0aamtp-test1", "amtp-test1", True),  # partial name, wire format
    (b"\x01\x00\x00amtp-test1.corp.example", "amtp-test1.corp.example", True),  # ASCII
    (b"\x0e\x00\x00\x0aamtp-test1\x00", "amtp-test1.", False),  # N set: no updates
    (b"\x05\x00\x00\x3famtp", "amtp", True),  # a label that overruns: what is there
])
def test_option81_as_servers_send_it(data: bytes, name: str, updates: bool) -> None:
    fqdn = ClientFqdn.decode(data)
    assert fqdn is not None and (fqdn.name, fqdn.server_updates) == (name, updates)


def test_client_mac_is_local_unicast_and_stable_per_run_and_interface() -> None:
    key = b"k" * 16
    mac = dhcp.client_mac(key, "lab0")
    assert mac[0] & 0x03 == 0x02 and len(mac) == 6  # locally administered, unicast
    assert dhcp.client_mac(key, "lab0") == mac != dhcp.client_mac(key, "dm-ok")
    assert dhcp.client_mac(b"x" * 16, "lab0") != mac


def test_option81_sent_asks_the_server_to_update_a_partial_name() -> None:
    # flags S and E (canonical wire format), RCODEs 0, one label, no root label
    assert dhcp.fqdn_option("amtp-1") == b"\x05\x00\x00\x06amtp-1"
