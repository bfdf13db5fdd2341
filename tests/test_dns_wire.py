"""The DNS probe's hand-made query bytes are dnspython's own, byte for byte."""

from __future__ import annotations

import dns.message
import dns.name
import dns.tsigkeyring
import dns.update
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amt_preflight.probes.dns import _wire

TYPES = ("A", "AAAA", "PTR", "SOA", "SRV", "TXT", "HTTPS", "CNAME")
LABEL = st.text(st.sampled_from("abcXYZ019-_\\.é"), min_size=1, max_size=20)


@given(st.lists(LABEL, min_size=0, max_size=5), st.sampled_from(TYPES))
def test_a_query_is_the_bytes_dnspython_makes(labels: list[str], rdtype: str) -> None:
    try:
        query = dns.message.make_query(".".join(labels) + ".", rdtype)
    except (dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong,
            dns.name.BadEscape, UnicodeError, ValueError):
        return  # not a name dnspython takes; the probe never sends one either
    assert _wire(query) == query.to_wire()


@pytest.mark.parametrize("name", ["provisionserver.corp.example", "10.0.250.10.in-addr.arpa",
                                  "_kerberos._tcp.corp.example", "Corp.Example.", "."])
def test_queries_with_more_than_a_question_go_to_dnspython(name: str) -> None:
    with_edns = dns.message.make_query(name, "A", use_edns=0, want_dnssec=True)
    assert _wire(with_edns) == with_edns.to_wire()
    signed = dns.message.make_query(name, "SOA")
    signed.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0"}), "k.")
    assert len(_wire(signed)) == len(signed.to_wire())  # signed, with a fresh time each
    update = dns.update.UpdateMessage("corp.example")
    update.add("amt-preflight-test", 60, "TXT", '"x"')
    assert _wire(update) == update.to_wire()
