"""The survey's commonest DNS exchange without dnspython: the query's bytes, and the reply
read straight into what the probe records, when the reply has the shape nearly every reply
to an A or PTR question has (A, CNAME and PTR answers, SOA and NS authority, nothing
additional, names of letters, digits, `-` and `_`).

dnspython builds a Message of Name, Rdata and RRset objects for every reply, some 150 us
apiece: at 1,000 domains that is most of a survey's own work. Anything of another shape
(another record type, an EDNS or TSIG record, an escaped name, a reply cut short, anything
malformed, a question that is not ours) is not read here: `read_reply` gives None and the
probe hands the bytes to dnspython, which decides as it always did. Where this module does
read a reply, it reads it as dnspython would, to the byte: the records merged into RRsets
(owner names compared without case, the first owner's spelling kept, duplicates dropped,
the least TTL, the last of a CNAME or SOA kept), the CNAME chain followed as
`Message.resolve_chaining` follows it, TTLs above 2^31 - 1 read as 0, compression pointers
only backwards, nothing after the last record. tests/test_dns_reply.py holds the two
readers to the same answer on generated and mutated replies.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import dns.rcode

from amt_preflight.observations.dns import DnsRecord

A, NS, CNAME, SOA, PTR = 1, 2, 5, 6, 12
IN = 1
TYPE_TEXT = {A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR"}
TYPE_OF = {text: value for value, text in TYPE_TEXT.items()}
_ANSWER_TYPES = frozenset({A, CNAME, PTR})
_AUTHORITY_TYPES = frozenset({SOA, NS})
_SINGLETONS = frozenset({CNAME, SOA})  # dnspython keeps one rdata of these per RRset
_MAX_CHAIN = 16  # dns.message.MAX_CHAIN
_MAX_TTL = 0x7FFFFFFF  # above it, dnspython reads 0
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_RCODE_TEXT = {value: dns.rcode.to_text(dns.rcode.Rcode(value)) for value in range(16)}
_HEADER = struct.Struct("!6H")
_QUESTION_END = struct.Struct("!HH")
_RR = struct.Struct("!HHIH")
_SOA_NUMBERS = struct.Struct("!5I")
RD = 0x0100
_QR, _TC = 0x8000, 0x0200
NXDOMAIN = 3


class Reply(NamedTuple):
    """What the probe records of a reply (DnsAnswer's fields)."""

    rcode: str
    records: tuple[DnsRecord, ...]  # of the asked type, at the end of any CNAME chain
    cname_chain: tuple[str, ...]
    authority_soa: DnsRecord | None
    truncated: bool


class _NotHere(Exception):
    """A reply of another shape: dnspython reads it."""


def query_wire(name: str, rdtype: str, query_id: int) -> bytes | None:
    """The bytes dnspython's make_query(name, rdtype) makes with this id (RD set, no EDNS),
    for an A or PTR question about a plain name; None for anything else."""
    kind = TYPE_OF.get(rdtype)
    if kind not in (A, PTR) or name == ".":
        return None
    labels = name.rstrip(".").encode("ascii", "replace").split(b".")
    if (sum(len(label) + 1 for label in labels) + 1 > 255
            or not all(0 < len(label) < 64 and _NAME_BYTES.issuperset(label)
                       for label in labels)):
        return None
    name_wire = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    return _HEADER.pack(query_id, RD, 1, 0, 0, 0) + name_wire + _QUESTION_END.pack(kind, IN)


def read_reply(wire: bytes, query_id: int, name: str, rdtype: str) -> Reply | None:
    """The reply to the question `name rdtype` sent with `query_id`, as the probe records
    it; None when it is not of the shape read here."""
    try:
        return _read(wire, query_id, name.rstrip(".").lower().encode("ascii"), TYPE_OF[rdtype])
    except (_NotHere, IndexError, struct.error, KeyError, UnicodeError):
        return None


def _read(wire: bytes, query_id: int, qname: bytes, qtype: int) -> Reply:
    reply_id, flags, questions, answers, authorities, additionals = _HEADER.unpack_from(wire)
    if (reply_id != query_id or not flags & _QR or (flags >> 11) & 0xF
            or questions != 1 or additionals):
        raise _NotHere
    labels, at = _name(wire, 12, len(wire))
    asked_type, asked_class = _QUESTION_END.unpack_from(wire, at)
    if _key(labels) != qname or asked_type != qtype or asked_class != IN:
        raise _NotHere
    at += 4
    answer: dict[tuple[bytes, int], _RRset] = {}
    authority: dict[tuple[bytes, int], _RRset] = {}
    for section, count, types in ((answer, answers, _ANSWER_TYPES),
                                  (authority, authorities, _AUTHORITY_TYPES)):
        for _ in range(count):
            at = _record(wire, at, section, types)
    if at != len(wire):  # dnspython: TrailingJunk
        raise _NotHere
    rcode = flags & 0xF
    found, cnames = _chain(answer, qname, qtype)
    if rcode == NXDOMAIN and found is not None:  # dnspython: AnswerForNXDOMAIN
        found, cnames = None, []
    soa = next((rrset for (_, kind), rrset in authority.items() if kind == SOA), None)
    return Reply(
        _RCODE_TEXT[rcode],
        found.records() if found is not None else (),
        tuple(c.owner_text() for c in cnames),
        soa.records()[0] if soa is not None else None,
        bool(flags & _TC),
    )


class _RRset:
    """Records of one owner (without case) and type: the first owner's spelling, the least
    TTL, each value once (compared as dnspython compares them), in the order they came."""

    def __init__(self, owner: tuple[bytes, ...], kind: int) -> None:
        self.owner, self.kind = owner, kind
        self.ttl: int | None = None
        self.values: dict[object, str] = {}  # compared form -> text
        self.targets: list[bytes] = []  # CNAME: the target's compared form

    def add(self, ttl: int, same: object, text: str, target: bytes = b"") -> None:
        self.ttl = ttl if self.ttl is None else min(self.ttl, ttl)
        if self.kind in _SINGLETONS:
            self.values.clear()
            self.targets.clear()
        if same not in self.values:
            self.values[same] = text
            self.targets.append(target)

    def owner_text(self) -> str:
        return _text(self.owner).rstrip(".")

    def records(self) -> tuple[DnsRecord, ...]:
        owner, kind, ttl = self.owner_text(), TYPE_TEXT[self.kind], self.ttl or 0
        return tuple(DnsRecord(owner, kind, ttl, text) for text in self.values.values())


def _record(wire: bytes, at: int, section: dict[tuple[bytes, int], _RRset],
            types: frozenset[int]) -> int:
    """Read one resource record into its RRset; where the next one starts."""
    owner, at = _name(wire, at, len(wire))
    kind, klass, ttl, length = _RR.unpack_from(wire, at)
    at += _RR.size
    end: int = at + length
    if kind not in types or klass != IN or end > len(wire):
        raise _NotHere
    if ttl > _MAX_TTL:
        ttl = 0
    target = b""
    if kind == A:
        if length != 4:
            raise _NotHere
        text = ".".join(str(b) for b in wire[at:end])
        same: object = text
    elif kind == SOA:
        mname, after = _name(wire, at, end)
        rname, after = _name(wire, after, end)
        if after + _SOA_NUMBERS.size != end:
            raise _NotHere
        numbers = _SOA_NUMBERS.unpack_from(wire, after)
        text = " ".join([_text(mname), _text(rname), *map(str, numbers)])
        same = (_key(mname), _key(rname), numbers)
    else:  # a name: CNAME, PTR, NS
        pointed, after = _name(wire, at, end)
        if after != end:
            raise _NotHere
        text, target = _text(pointed), _key(pointed)
        same = target
    rrset = section.get((_key(owner), kind))
    if rrset is None:
        rrset = section[(_key(owner), kind)] = _RRset(owner, kind)
    rrset.add(ttl, same, text, target)
    return end


def _name(wire: bytes, at: int, limit: int) -> tuple[tuple[bytes, ...], int]:
    """A name at `at` (compression pointers only backwards, as dnspython demands), read
    within wire[:limit]: its labels, and where what follows it starts."""
    labels: list[bytes] = []
    lowest = at  # every pointer must point below the last one (and below the name)
    after = None
    length = 1
    while True:
        if at >= limit:
            raise _NotHere
        count = wire[at]
        if count == 0:
            at += 1
            break
        if count < 64:
            label = wire[at + 1:at + 1 + count]
            if at + 1 + count > limit or not _NAME_BYTES.issuperset(label):
                raise _NotHere
            labels.append(label)
            length += count + 1
            at += 1 + count
        elif count >= 192:
            if at + 1 >= limit:
                raise _NotHere
            pointer = (count & 0x3F) * 256 + wire[at + 1]
            if pointer >= lowest:
                raise _NotHere
            if after is None:
                after = at + 2
            lowest = at = pointer
        else:
            raise _NotHere
    if length > 255:
        raise _NotHere
    return tuple(labels), at if after is None else after


def _key(labels: tuple[bytes, ...]) -> bytes:
    """A name as dnspython compares names: without case."""
    return b".".join(labels).lower()


def _text(labels: tuple[bytes, ...]) -> str:
    """A name as dnspython writes it (str(name)): absolute, with its spelling."""
    return ".".join(label.decode("ascii") for label in labels) + "." if labels else "."


def _chain(answer: dict[tuple[bytes, int], _RRset], qname: bytes, qtype: int
           ) -> tuple[_RRset | None, list[_RRset]]:
    """Message.resolve_chaining: the RRset of the asked type at the end of the CNAMEs from
    the question's name, and those CNAMEs; a chain of 16 or more is broken (no records)."""
    cnames: list[_RRset] = []
    name = qname
    while len(cnames) < _MAX_CHAIN:
        found = answer.get((name, qtype))
        if found is not None:
            return found, cnames
        cname = answer.get((name, CNAME)) if qtype != CNAME else None
        if cname is None:
            return None, cnames
        cnames.append(cname)
        name = cname.targets[0]
    return None, []
