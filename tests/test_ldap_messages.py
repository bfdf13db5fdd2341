"""The LDAP probe's messages and reads without a network: the requests it encodes, the replies
it decodes, and the bounds it keeps against a hostile server (size, time, nesting, TLS)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from amt_preflight.observations.ad import LDAP_VALUE_LIMIT
from amt_preflight.observations.base import Outcome
from amt_preflight.probes import ldap
from amt_preflight.probes.ldap import (
    OCTET_STRING,
    SEARCH_DONE,
    SEARCH_ENTRY,
    SEQUENCE,
    SET,
    LdapError,
    LdapSession,
    ber_integer,
    ber_tlv,
)
from lab.fake_ldap import DRIP_HEADER, HUGE_HEADER

# ldap3 2.9's encoding of the same rootDSE search, message ID 1 (pinned: servers take it)
ROOT_DSE_SEARCH = (
    "3076020101637104000a01000a0100020100020103010100870b6f626a656374436c6173733051041464"
    "656661756c744e616d696e67436f6e74657874040b646e73486f73744e616d65040f6c64617053657276"
    "6963654e616d65040e6e616d696e67436f6e7465787473040b63757272656e7454696d65")


class Writer:
    """Stands in for the StreamWriter of a plaintext connection: keeps what is written."""

    def __init__(self) -> None:
        self.sent = b""
        self.aborted = False
        self.transport = self

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        """Nothing to wait for."""

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted

    def get_extra_info(self, name: str) -> Any:
        return None  # no ssl_object: plaintext


def session(fed: bytes, eof: bool = False, timeout: float = 0.3) -> tuple[LdapSession, Writer]:
    """A session reading `fed` (inside a running event loop, as a StreamReader must be)."""
    reader = asyncio.StreamReader()
    reader.feed_data(fed)
    if eof:
        reader.feed_eof()
    writer = Writer()
    return LdapSession("192.0.2.1", reader, cast(asyncio.StreamWriter, writer), timeout), writer


def reply(message_id: int, op: bytes) -> bytes:
    return ber_tlv(SEQUENCE, ber_integer(message_id) + op)


def done(code: int = 0) -> bytes:
    return ber_tlv(SEARCH_DONE, ber_integer(code, 0x0A) + ber_tlv(OCTET_STRING, b"")
                   + ber_tlv(OCTET_STRING, b""))


def entry(attributes: dict[str, list[bytes]]) -> bytes:
    return ber_tlv(SEARCH_ENTRY, ber_tlv(OCTET_STRING, b"") + ber_tlv(SEQUENCE, b"".join(
        ber_tlv(SEQUENCE, ber_tlv(OCTET_STRING, name.encode())
                + ber_tlv(SET, b"".join(ber_tlv(OCTET_STRING, v) for v in values)))
        for name, values in attributes.items())))


def exchange(fed: bytes, eof: bool = False, timeout: float = 0.3) -> Any:
    async def run() -> Any:
        probe, _ = session(fed, eof, timeout)
        return await probe.exchange(ldap.search_request("", ldap.ROOT_DSE_ATTRIBUTES, 3),
                                    SEARCH_DONE)

    return asyncio.run(run())


def refused(fed: bytes, eof: bool = False, timeout: float = 0.3) -> LdapError:
    with pytest.raises(LdapError) as caught:
        exchange(fed, eof, timeout)
    return caught.value


def test_root_dse_search_is_encoded_as_ldap3_encodes_it() -> None:
    async def run() -> bytes:
        probe, writer = session(reply(1, done()))
        await probe.exchange(ldap.search_request("", ldap.ROOT_DSE_ATTRIBUTES, 3), SEARCH_DONE)
        return writer.sent

    assert asyncio.run(run()).hex() == ROOT_DSE_SEARCH


def test_a_reply_is_decoded_with_its_entry() -> None:
    fed = reply(1, entry({"defaultNamingContext": [b"DC=corp,DC=example"],
                          "dnsHostName": [b"dc01.corp.example"]})) + reply(1, done())
    result, replies = exchange(fed)
    assert result.description == "success"
    assert ldap.decode_entry(replies[0].body) == {
        "defaultnamingcontext": ("DC=corp,DC=example",), "dnshostname": ("dc01.corp.example",)}


def test_untrusted_values_are_clipped_as_they_are_read() -> None:
    values = [b"DC=corp" + b" " * 400_000 + b"x"] + [b"v"] * 100
    [(_, body)] = ldap.ber_elements(reply(1, entry({"namingContexts": values})))
    message = ldap.decode_message(body)
    [kept] = ldap.decode_entry(message.body).values()
    assert len(kept) == ldap.MAX_VALUES and len(kept[0]) == LDAP_VALUE_LIMIT


@pytest.mark.parametrize(("header", "says"), [
    (HUGE_HEADER, "1073741824 bytes"),
    (b"\x30\xff" + b"\xff" * 127, "about 2^1015 bytes"),  # the longest BER length field
    (b"\x30\x83\x10\x00\x01", "1048577 bytes"),  # one byte more than a session may send
])
def test_a_reply_announcing_more_than_the_cap_is_refused_at_once(header: bytes,
                                                                 says: str) -> None:
    """Refused from its header alone: nothing more is read (the stream never ends here)."""
    error = refused(header, timeout=30)
    assert error.outcome is Outcome.MALFORMED and says in error.detail


def test_a_dripped_reply_ends_at_the_timeout_as_a_partial_reply() -> None:
    error = refused(DRIP_HEADER + b"\x02\x01")
    assert error.outcome is Outcome.MALFORMED and "did not end within 0.3 s" in error.detail


def test_silence_is_a_timeout() -> None:
    assert refused(b"").outcome is Outcome.TIMEOUT


def test_a_connection_closed_in_the_middle_of_a_reply_is_malformed() -> None:
    error = refused(reply(1, done())[:5], eof=True)
    assert error.outcome is Outcome.MALFORMED and "closed the connection" in error.detail


@pytest.mark.parametrize("fed", [
    b"\x04\x00",  # no LDAP message
    reply(1, b""),  # no operation
    ber_tlv(SEQUENCE, b"\x02\x00" + done()),  # an empty message ID
    reply(1, ber_tlv(SEARCH_DONE, b"\x0a\x01")),  # a result cut short
    reply(1, ber_tlv(SEARCH_DONE, b"\x0a\x84\xff\xff\xff\xff")),  # longer than its message
    reply(1, ber_tlv(SEARCH_DONE, b"\x1f\x81\x01\x00")),  # a multi-byte tag
], ids=["not-ldap", "no-operation", "empty-id", "short-result", "overlong", "long-tag"])
def test_malformed_replies_are_errors_not_crashes(fed: bytes) -> None:
    assert refused(fed).outcome is Outcome.MALFORMED


def test_deep_nesting_costs_nothing() -> None:
    """The decoder walks the known structure only: 100,000 SETs nested in a value are never
    entered, the value is only clipped."""
    heads: list[bytes] = []
    size = 0
    for _ in range(100_000):  # built inside out, each header after the size of its content
        length = size.to_bytes((size.bit_length() + 7) // 8, "big")
        heads.append(bytes((SET, size)) if size < 0x80 else bytes((SET, 0x80 | len(length)))
                     + length)
        size += len(heads[-1])
    nested = b"".join(reversed(heads))
    result, replies = exchange(reply(1, entry({"x": [nested]})) + reply(1, done()))
    assert result.code == 0
    [value] = ldap.decode_entry(replies[0].body)["x"]
    assert len(value) == LDAP_VALUE_LIMIT


def test_notice_of_disconnection_ends_the_exchange() -> None:
    notice = reply(0, ber_tlv(0x78, ber_integer(52, 0x0A) + ber_tlv(OCTET_STRING, b"")
                              + ber_tlv(OCTET_STRING, b"going down")))
    error = refused(notice)
    assert "ended the session: unavailable (going down)" in error.detail


def test_no_password_over_a_session_without_verified_tls() -> None:
    """The check right before the bind (ldap3 would re-open in plaintext and bind there)."""
    async def run() -> list[str]:
        probe, writer = session(b"")
        said = [probe.safe_for_password()]
        probe.verified_for = "dc01.corp.example"  # even if the flag said otherwise
        said.append(probe.safe_for_password())
        writer.aborted = True
        return [*said, probe.safe_for_password()]

    assert asyncio.run(run()) == [
        "TLS is not up", "TLS is not up", "the connection closed after StartTLS"]
