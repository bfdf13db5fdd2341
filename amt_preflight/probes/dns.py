"""DNS probe: DNS messages over our own asyncio UDP and TCP exchanges.

Own transports instead of dns.asyncquery so that a malformed reply is kept as evidence
(a hex excerpt), an ICMP refusal is told apart from silence, and one attempt costs one
socket and no more. The survey's A and PTR questions, and replies of the common shape,
are made and read by dns_reply (a tenth of dnspython's cost); dnspython makes and reads
every other message and reply.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.update

from amt_preflight.model import Leftover, LeftoverKind
from amt_preflight.observations import Observations
from amt_preflight.observations.base import Outcome, Transport
from amt_preflight.observations.dns import (
    AD_SRV_PREFIXES,
    DHCP_OPTION6,
    DnsAnswer,
    DnsQuestion,
    DnsRecord,
    DnsUpdateAttempt,
    ProvisionResolvers,
    ResolverSet,
    normal_name,
    provision_server_name,
    resolver_probe_question,
    reverse_name,
    reversed_addresses,
    srv_target,
)
from amt_preflight.probes.attempts import after_silence
from amt_preflight.probes.dhcp_trust import option6_of, option6_trust, trusted_answers
from amt_preflight.probes.dns_reply import query_wire, read_reply
from amt_preflight.probes.observer import ProbeObserver
from amt_preflight.probes.undo import undo_within
from amt_preflight.probes.wire import excerpt, os_error

if TYPE_CHECKING:
    from amt_preflight.probes import SiteProbes

DNS_PORT = 53
TRUNCATED = "truncated (TC) reply"  # a DnsAnswer's detail


@dataclass(frozen=True)
class Sent:
    """What came back for one message's bytes, after every attempt: the reply's bytes when
    one came (outcome ANSWER, not yet read)."""

    outcome: Outcome
    reply: bytes | None
    attempts: int
    started_at: float
    elapsed_ms: float
    detail: str = ""


@dataclass(frozen=True)
class Exchange:
    """The outcome of sending one DNS message, after every attempt, its reply read."""

    outcome: Outcome
    response: dns.message.Message | None
    attempts: int
    started_at: float
    elapsed_ms: float
    detail: str = ""

    @classmethod
    def read(cls, query: dns.message.Message, sent: Sent) -> Exchange:
        outcome, response, detail = sent.outcome, None, sent.detail
        if sent.reply is not None:
            outcome, response, detail = _parse(query, sent.reply)
        return cls(outcome, response, sent.attempts, sent.started_at, sent.elapsed_ms, detail)


Attempt = tuple[Outcome, bytes | None, str]


class _UdpReply(asyncio.DatagramProtocol):
    def __init__(self, query_id: int) -> None:
        self.query_id = struct.pack("!H", query_id)
        self.done: asyncio.Future[Attempt] = asyncio.get_running_loop().create_future()
        self.foreign = 0  # replies with another id: late or spoofed, ignored

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.done.done():
            return
        if len(data) >= 2 and data[:2] != self.query_id:
            self.foreign += 1
            return
        self.done.set_result((Outcome.ANSWER, data, ""))

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_result((Outcome.UNREACHABLE, None, os_error(exc)))


def _parse(
    query: dns.message.Message, wire: bytes
) -> tuple[Outcome, dns.message.Message | None, str]:
    try:
        response = dns.message.from_wire(wire)
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        return Outcome.MALFORMED, None, f"{type(exc).__name__}: {excerpt(wire)}"
    if not query.is_response(response):
        return Outcome.MALFORMED, None, f"reply does not answer the query: {excerpt(wire)}"
    return Outcome.ANSWER, response, ""


async def _udp_attempt(wire: bytes, query_id: int, server: str, timeout: float) -> Attempt:
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _UdpReply(query_id), remote_addr=(server, DNS_PORT)
        )
    except OSError as exc:  # no route to the resolver: connecting the socket already fails
        return Outcome.UNREACHABLE, None, os_error(exc)
    try:
        transport.sendto(wire)
        try:
            async with asyncio.timeout(timeout):
                return await protocol.done
        except TimeoutError:
            foreign = protocol.foreign
            extra = f"; ignored {foreign} replies with another id" if foreign else ""
            return Outcome.TIMEOUT, None, f"no reply in {timeout:g} s{extra}"
    finally:
        transport.close()


async def _tcp_attempt(wire: bytes, query_id: int, server: str, timeout: float) -> Attempt:
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(server, DNS_PORT)
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
            header = await reader.readexactly(2)
            (length,) = struct.unpack("!H", header)
            if length < 12:
                return Outcome.MALFORMED, None, f"length prefix {length}, shorter than a header"
            return Outcome.ANSWER, await reader.readexactly(length), ""
    except TimeoutError:
        return Outcome.TIMEOUT, None, f"no reply in {timeout:g} s"
    except asyncio.IncompleteReadError as exc:
        return Outcome.MALFORMED, None, f"connection closed after {len(exc.partial)} bytes"
    except OSError as exc:
        return Outcome.UNREACHABLE, None, os_error(exc)
    finally:
        if writer is not None:
            writer.close()


class DnsProbe:
    """Sends DNS messages with a timeout per attempt, retries after silence, a shared
    limit on probes in flight, and never the same question twice in a run."""

    def __init__(
        self,
        observations: Observations,
        limiter: asyncio.Semaphore,
        timeout: float,
        retries: int,
        observer: ProbeObserver | None = None,
    ) -> None:
        self.observations = observations
        self.limiter = limiter
        self.timeout = timeout
        self.retries = retries
        self.observer = observer or ProbeObserver()
        self._asked: dict[DnsQuestion, asyncio.Task[DnsAnswer]] = {}
        self.in_flight: set[DnsQuestion] = set()

    async def send(self, wire: bytes, query_id: int, server: str, transport: Transport,
                   what: str) -> Sent:
        """A message's bytes sent and retried after silence; the reply's bytes."""
        attempt_once = _udp_attempt if transport == "udp" else _tcp_attempt
        started = time.time()
        clock = time.monotonic()
        (outcome, reply, detail), attempts = await after_silence(
            what, lambda: attempt_once(wire, query_id, server, self.timeout),
            lambda tried: tried[0], retries=self.retries, limiter=self.limiter,
            observer=self.observer)
        elapsed = (time.monotonic() - clock) * 1000
        return Sent(outcome, reply, attempts, started, elapsed, detail)

    async def exchange(
        self, message: dns.message.Message, server: str, transport: Transport, what: str
    ) -> Exchange:
        """Any message (a dynamic update), its reply read by dnspython."""
        return Exchange.read(message, await self.send(
            message.to_wire(), message.id, server, transport, what))

    def ask(self, question: DnsQuestion) -> Awaitable[DnsAnswer]:
        """The answer to a question, asked at most once per run. Every asker awaits the same
        task; only the run's deadline cancels it (stop_at_deadline)."""
        task = self._asked.get(question)
        if task is None:
            task = asyncio.ensure_future(self._ask(question))
            self._asked[question] = task
        return task

    async def _ask(self, question: DnsQuestion) -> DnsAnswer:
        self.in_flight.add(question)
        try:
            answer = await self.ask_again(question)
            self.observations.record(answer)  # as it arrives: a deadline keeps it
            return answer
        finally:
            self.in_flight.discard(question)

    async def ask_again(self, question: DnsQuestion) -> DnsAnswer:
        """The answer now, even if asked before: for waiting until a record shows (a DHCP
        registration). Not recorded as the run's answer to the question (ask does that).

        The common question (A or PTR of a plain name) is made and, when its reply has the
        common shape, read by dns_reply; anything else by dnspython."""
        what = f"{question.name} {question.rdtype} @{question.resolver}/{question.transport}"
        query_id = secrets.randbits(16)
        wire = query_wire(question.name, question.rdtype, query_id)
        query = None
        if wire is None:
            query = dns.message.make_query(question.name, question.rdtype, id=query_id)
            wire = query.to_wire()
        sent = await self.send(wire, query_id, question.resolver, question.transport, what)
        if sent.reply is not None:
            reply = read_reply(sent.reply, query_id, question.name, question.rdtype)
            if reply is not None:
                return DnsAnswer(
                    question, Outcome.ANSWER, rcode=reply.rcode, records=reply.records,
                    cname_chain=reply.cname_chain, authority_soa=reply.authority_soa,
                    attempts=sent.attempts, started_at=sent.started_at,
                    elapsed_ms=sent.elapsed_ms, detail=TRUNCATED if reply.truncated else "")
        if query is None:  # the very query sent, for dnspython to match the reply with
            query = dns.message.make_query(question.name, question.rdtype, id=query_id)
        return _to_answer(question, Exchange.read(query, sent))

    def stop_at_deadline(self, why: str = "the run's deadline ended it") -> None:
        """Every question asked and not answered yet (in flight, or waiting for its turn)
        becomes a DEADLINE answer; nothing more is sent. Called at the deadline itself,
        before the gatherers are cancelled: cancelling them cancels these questions too,
        which would otherwise leave them unrecorded ("never probed")."""
        for question, task in self._asked.items():
            if (not task.done() or question in self.in_flight) and (
                    question not in self.observations.dns):
                self.observations.record(DnsAnswer(question, Outcome.DEADLINE, detail=why))
        self.cancel_leftovers()

    def cancel_leftovers(self) -> None:
        """Stop questions nobody waits for any more (a faster resolver already answered)."""
        for task in self._asked.values():
            task.cancel()


def _to_answer(question: DnsQuestion, ex: Exchange) -> DnsAnswer:
    response = ex.response
    if response is None:
        return DnsAnswer(
            question, ex.outcome, attempts=ex.attempts, started_at=ex.started_at,
            elapsed_ms=ex.elapsed_ms, detail=ex.detail,
        )
    rrset: dns.rrset.RRset | None = None
    cnames: tuple[str, ...] = ()
    if isinstance(response, dns.message.QueryMessage):
        try:
            chain = response.resolve_chaining()
            rrset, cnames = chain.answer, tuple(str(c.name).rstrip(".") for c in chain.cnames)
        except dns.exception.DNSException:
            pass  # a broken chain: no records, the rcode still tells
    wanted = dns.rdatatype.from_text(question.rdtype)
    records = _records(rrset) if rrset is not None and rrset.rdtype == wanted else ()
    soa = next(
        (_records(rr)[0] for rr in response.authority if rr.rdtype == dns.rdatatype.SOA), None
    )
    return DnsAnswer(
        question,
        Outcome.ANSWER,
        rcode=dns.rcode.to_text(response.rcode()),
        records=records,
        cname_chain=cnames,
        authority_soa=soa,
        attempts=ex.attempts,
        started_at=ex.started_at,
        elapsed_ms=ex.elapsed_ms,
        detail=TRUNCATED if response.flags & dns.flags.TC else "",
    )


def _records(rrset: dns.rrset.RRset) -> tuple[DnsRecord, ...]:
    name = str(rrset.name).rstrip(".")
    kind = dns.rdatatype.to_text(rrset.rdtype)
    return tuple(DnsRecord(name, kind, rrset.ttl, rdata.to_text()) for rdata in rrset)


# --- What to ask: one gatherer per Need (see catalogue.Need) -------------------------

async def gather_site_resolvers(ctx: SiteProbes) -> None:
    """Need.SITE_RESOLVERS: config, else the DNS servers of the DHCP option 6 seen on the
    site's interface (from its allowed servers when they answered), else the host's own. The
    engine waits for it before every need outside RESOLVER_FREE."""
    site = ctx.site
    found = None
    if site.resolvers:
        found = ResolverSet(tuple(site.resolvers), "config")
    elif site.interface is not None:
        survey = await ctx.dhcp.survey(site.interface, site.dhcp.window)  # the checks' survey
        offered = option6_of(survey, site.dhcp.allowed_servers)
        if offered:  # the AD bind reads the trust: no password via a rogue server's DNS
            found = ResolverSet(offered, DHCP_OPTION6,
                                option6_trust(survey, site.dhcp.allowed_servers))
    ctx.record(found or host_resolvers(ctx.resolv_conf))


async def gather_resolvers(ctx: SiteProbes) -> None:
    """Each resolver, over UDP and TCP, with a question the survey asks anyway."""
    site = ctx.site
    name, rdtype = resolver_probe_question(site.domain_names, site.ad.domain if site.ad else None)
    await asyncio.gather(
        *(
            ctx.dns.ask(DnsQuestion(address, name, rdtype, transport))
            for address in ctx.resolvers.addresses
            for transport in ("udp", "tcp")
        )
    )


async def gather_provision_servers(ctx: SiteProbes) -> None:
    await _provision_servers(ctx, with_ptr=False)


async def gather_provision_server_ptrs(ctx: SiteProbes) -> None:
    await _provision_servers(ctx, with_ptr=True)  # the A queries are shared, not repeated


async def devices_resolvers(ctx: SiteProbes) -> tuple[tuple[str, str], ...]:
    """The site's resolvers and every resolver DHCP option 6 hands to devices (from the
    allowed servers when any answered), each with where it came from: the devices ask
    ProvisionServer there, whatever this host is configured to ask."""
    found: dict[str, list[str]] = {
        a: [f"site resolver ({ctx.resolvers.source})"] for a in ctx.resolvers.addresses}
    site = ctx.site
    if site.interface is not None and ctx.resolvers.source != DHCP_OPTION6:
        survey = await ctx.dhcp.survey(site.interface, site.dhcp.window)
        for answer in trusted_answers(survey, site.dhcp.allowed_servers):
            for resolver in answer.dns_servers:  # at most MAX_OPTION6 of one answer
                source = f"DHCP option 6 from {answer.server}"
                if source not in found.setdefault(resolver, []):
                    found[resolver].append(source)
    resolvers = tuple((a, "; ".join(sources)) for a, sources in found.items())
    ctx.record(ProvisionResolvers(resolvers))
    return resolvers


async def _provision_servers(ctx: SiteProbes, with_ptr: bool) -> None:
    addresses = [a for a, _ in await ctx.once.run(
        ("devices' resolvers", ctx.site.name), lambda: devices_resolvers(ctx))]

    async def one(resolver: str, domain: str) -> None:
        answer = await ctx.dns.ask(DnsQuestion(resolver, provision_server_name(domain), "A"))
        if with_ptr and answer.records:
            # PTRs start as soon as their address is known, at every resolver of the site;
            # at most MAX_REVERSED addresses of one answer (DNS-PROVSERVER-PTR names the rest)
            await asyncio.gather(
                *(
                    ctx.dns.ask(DnsQuestion(r, reverse_name(address), "PTR"))
                    for address in reversed_addresses(answer.values)[0]
                    for r in addresses
                )
            )

    await asyncio.gather(*(one(r, d) for r in addresses for d in ctx.site.domain_names))


async def gather_ad_srv(ctx: SiteProbes) -> None:
    if ctx.site.ad is None:
        return
    ad_domain = ctx.site.ad.domain

    async def one(resolver: str, prefix: str) -> None:
        srv = await ctx.dns.ask(DnsQuestion(resolver, f"{prefix}.{ad_domain}", "SRV"))
        targets = {srv_target(value) for value in srv.values} - {""}
        await asyncio.gather(*(ctx.dns.ask(DnsQuestion(resolver, t, "A")) for t in targets))

    await asyncio.gather(*(one(r, p) for r in ctx.resolvers.addresses for p in AD_SRV_PREFIXES))


async def gather_dynamic_updates(ctx: SiteProbes) -> None:
    if not ctx.intrusive:  # it adds a record to the zone: never unless allowed
        return
    attempts = await asyncio.gather(
        *(dynamic_update(ctx.dns, ctx.resolvers, d, undo=ctx.observations.undo,
                         record=ctx.record, site=ctx.site.name)
          for d in ctx.site.domain_names))
    for attempt in attempts:
        ctx.record(attempt)


async def dynamic_update(
    probe: DnsProbe, resolvers: ResolverSet, domain: str, *,
    undo: dict[str, Leftover] | None = None,
    record: Callable[[DnsUpdateAttempt], None] | None = None, site: str | None = None,
) -> DnsUpdateAttempt:
    """Try an unsigned update of a throw-away TXT name at the zone's primary; delete
    whatever it added, or may have added (the add's reply lost, the run stopped meanwhile).

    The record's name goes into `undo` (the run's Observations.undo) before the add is
    sent and leaves it once the delete is confirmed; `record` gets the attempt even when the
    run stops it halfway, so its check says how far it went."""
    domain = normal_name(domain)
    soa_questions = [DnsQuestion(r, domain, "SOA") for r in resolvers.addresses]
    answer = await _first(probe, soa_questions, lambda a: bool(a.records or a.authority_soa))
    if answer is None:  # every resolver has answered or given up by now
        replies = await asyncio.gather(*(probe.ask(q) for q in soa_questions))
        answer = next((a for a in replies if a.outcome.answered), None)
    if answer is None:
        return DnsUpdateAttempt(domain, domain, "", "", Outcome.TIMEOUT,
                                detail="no resolver answered the SOA query")
    zone, mname, source = domain, "", "no SOA seen: assumed the domain is the zone"
    soa = answer.records[0] if answer.records else answer.authority_soa
    if soa is not None:
        zone, mname = normal_name(soa.name), normal_name(soa.value.split()[0])
        source = f"SOA {zone} from {answer.question.resolver}, primary {mname}"
    primary = None
    if mname:
        a_questions = [DnsQuestion(r, mname, "A") for r in resolvers.addresses]
        primary = await _first(probe, a_questions, lambda a: bool(a.records))
    if primary is not None:
        server = primary.records[0].value
    else:
        server = answer.question.resolver
        source += f"; primary has no address, sent to resolver {server}"
    label = f"amt-preflight-probe-{secrets.token_hex(4)}"
    name = f"{label}.{zone}"
    pending = {} if undo is None else undo
    key = f"dns-record {name}"
    # Known before the add goes out: whatever happens next, the name is not lost
    pending[key] = Leftover(LeftoverKind.DNS_RECORD, f"{name} TXT", server,
                            f"the run ended before the delete was confirmed: delete {name} "
                            f"TXT in {zone} by hand", site)
    add = dns.update.UpdateMessage(zone)
    add.add(label, 60, "TXT", '"amt-preflight dynamic update probe; safe to delete"')
    started, clock = time.time(), time.monotonic()
    ex: Exchange | None = None
    rcode: str | None = None
    deletion: asyncio.Future[Exchange] | None = None
    try:
        ex = await probe.exchange(add, server, "udp", f"UPDATE {zone} @{server}")
        rcode = dns.rcode.to_text(ex.response.rcode()) if ex.response is not None else None
    finally:
        refused = ex is not None and ex.response is not None and rcode != "NOERROR"
        try:
            if refused:
                pending.pop(key, None)  # refused: nothing was added
            else:  # added, or perhaps (no reply; the run stopped): a delete is idempotent
                delete = dns.update.UpdateMessage(zone)
                delete.delete(label)
                deletion = asyncio.ensure_future(probe.exchange(
                    delete, server, "udp", f"UPDATE {zone} @{server} (delete)"))
                await undo_within(deletion)  # CLEANUP_S at most once the run is stopping
        finally:
            cleanup = "not needed" if refused else _deleted(
                deletion, name, zone, pending, key, answered=rcode is not None)
            attempt = DnsUpdateAttempt(
                domain, zone, server, name,
                ex.outcome if ex is not None else Outcome.DEADLINE, rcode=rcode,
                zone_source=source, cleanup=cleanup,
                started_at=ex.started_at if ex is not None else started,
                elapsed_ms=ex.elapsed_ms if ex is not None else (time.monotonic() - clock) * 1000,
                detail=ex.detail if ex is not None else "the run stopped before the reply came",
            )
            if record is not None:
                record(attempt)
    return attempt


def _deleted(deletion: asyncio.Future[Exchange] | None, name: str, zone: str,
             pending: dict[str, Leftover], key: str, answered: bool) -> str:
    """How the delete of the probe's record ended; off the undo list once the server
    confirmed it, else the undo entry says why it stays."""
    dx = None
    if deletion is not None and deletion.done() and not deletion.cancelled():
        dx = deletion.result() if deletion.exception() is None else None
    drcode = None if dx is None or dx.response is None else dns.rcode.to_text(
        dx.response.rcode())
    unsure = "" if answered else " (the add got no reply: a delete was sent all the same)"
    if drcode == "NOERROR":
        pending.pop(key, None)
        return f"deleted{unsure}"
    got = "no reply before the run ended" if dx is None else drcode or dx.outcome.value
    how = f"delete {name} TXT in {zone} by hand" + ("" if answered else " if it exists")
    pending[key] = replace(pending[key], detail=f"the delete got {got}: {how}")
    return f"delete got {got}{unsure}: {how}"


async def _first(
    probe: DnsProbe, questions: list[DnsQuestion], useful: Callable[[DnsAnswer], bool]
) -> DnsAnswer | None:
    """The first useful answer, without waiting for slower or silent resolvers."""
    for pending in asyncio.as_completed([probe.ask(q) for q in questions]):
        answer = await pending
        if useful(answer):
            return answer
    return None


def host_resolvers(path: Path = Path("/etc/resolv.conf")) -> ResolverSet:
    """The host's own resolvers, the last resort when neither config nor DHCP names any."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ResolverSet((), str(path))
    found = tuple(
        parts[1] for parts in (line.split() for line in lines)
        if len(parts) >= 2 and parts[0] == "nameserver"
    )
    return ResolverSet(found, str(path))
