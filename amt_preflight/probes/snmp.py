"""SNMP probe: GETs and bounded walks with pysnmp (SNMPv2c, or SNMPv3 USM), and the traps
that amt_preflight.notify sends.

pysnmp is imported on first use: its import costs 0.15 s and an SnmpEngine 0.1 s of CPU, so
a run whose checks need no SNMP never loads it, and a run that does makes one engine for all
its devices (and one more for each SNMPv3 user name that comes with other keys). Both happen
in a worker thread, never on the event loop, where they would hold up every other probe.

Walks are ours, not pysnmp's walk_cmd (which follows an agent wherever it leads): GETBULK
steps that stop at the end of the column, at an OID that does not increase (an agent that
loops) and after MAX_WALK_ROWS rows (one that never ends), so no agent can hang a run.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amt_preflight.config import Config, SecretRef, SnmpCredentials, SnmpDevice, SnmpTrapConfig
from amt_preflight.observations.snmp import (
    SnmpExchange,
    SnmpInterface,
    SnmpInterfaces,
    SnmpOutcome,
    SnmpProcesses,
    SnmpSystem,
)
from amt_preflight.probes.observer import ProbeObserver
from amt_preflight.secrets import Secret, SecretError, read_secret

if TYPE_CHECKING:
    from amt_preflight.probes import SetUp, SiteProbes

MAX_WALK_ROWS = 10_000  # no real column comes close (a big chassis: a few thousand ports)
BULK_REPETITIONS = 25  # rows per GETBULK: one UDP datagram even with long names
GET_BATCH = 40  # variable bindings per GET
MIN_KEY_LENGTH = 8  # RFC 3414 section 11.2: shorter USM passphrases are refused by agents

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
HR_SW_RUN_NAME = "1.3.6.1.2.1.25.4.2.1.2"

AUTH_PROTOCOLS = {
    "MD5": "usmHMACMD5AuthProtocol",
    "SHA": "usmHMACSHAAuthProtocol",
    "SHA224": "usmHMAC128SHA224AuthProtocol",
    "SHA256": "usmHMAC192SHA256AuthProtocol",
    "SHA384": "usmHMAC256SHA384AuthProtocol",
    "SHA512": "usmHMAC384SHA512AuthProtocol",
}
# AES192 and AES256 with the key extension net-snmp uses (draft-blumenthal-aes-usm-04).
PRIV_PROTOCOLS = {
    "DES": "usmDESPrivProtocol",
    "3DES": "usm3DESEDEPrivProtocol",
    "AES": "usmAesCfb128Protocol",
    "AES128": "usmAesCfb128Protocol",
    "AES192": "usmAesBlumenthalCfb192Protocol",
    "AES256": "usmAesBlumenthalCfb256Protocol",
}
# A trap sender's snmpEngineBoots: seconds since this moment (2020-01-01), so every run is a
# later "boot" than the one before without any state on disk. A receiver drops a v3 trap
# whose boots went back (RFC 3414 section 3.2, step 7), and pysnmp's own counter lives in
# a temporary folder that a reboot empties.
BOOTS_EPOCH = 1_577_836_800

Value = str | int | None  # None: the agent answered noSuchObject, noSuchInstance or endOfMibView


class TrapError(Exception):
    """A trap could not be sent; the message says why (never a secret)."""


@dataclass(frozen=True)
class _LocalFailure:
    """A request that could not be made here (bad address, no socket), as pysnmp's error."""

    text: str


def _hlapi() -> Any:
    import pysnmp.hlapi.v3arch.asyncio

    return pysnmp.hlapi.v3arch.asyncio


def _oid(dotted: str) -> tuple[int, ...]:
    return tuple(int(arc) for arc in dotted.split("."))


def _dotted(oid: Sequence[int]) -> str:
    return ".".join(map(str, oid))


def _value(value: Any) -> Value:
    """A variable binding's value as plain data: text, a number, or None for an exception."""
    from pysnmp.proto import rfc1902, rfc1905

    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if isinstance(value, rfc1902.IpAddress | rfc1902.ObjectIdentifier):
        return str(value.prettyPrint())
    if isinstance(value, rfc1902.OctetString | rfc1902.Opaque):
        return bytes(value.asOctets()).rstrip(b"\0").decode("utf-8", "replace")
    if isinstance(value, rfc1902.Integer32 | rfc1902.Counter32 | rfc1902.Gauge32
                  | rfc1902.Unsigned32 | rfc1902.TimeTicks | rfc1902.Counter64):
        return int(value)
    return str(value.prettyPrint())


@dataclass(frozen=True)
class Credentials:
    auth: Any  # pysnmp CommunityData or UsmUserData
    security: str  # how we speak to the agent, for the evidence: never a secret
    v3: bool
    # Which engine may carry these credentials: pysnmp keeps one USM entry per user name in
    # an engine, so one user name with other keys (common: one name, keys per site) needs an
    # engine of its own, or one device's keys overwrite another's. In memory only.
    engine_key: tuple[str, ...] = field(default=(), repr=False)


def _key(ref: SecretRef | None, config: Config, key: str) -> Secret:
    secret = read_secret(ref or SecretRef(), config, key)
    if len(secret.value) < MIN_KEY_LENGTH:
        raise SecretError(f"the {key.replace('_', ' ')} from {secret.source} is shorter than "
                          f"{MIN_KEY_LENGTH} characters (RFC 3414)")
    return secret


@dataclass(frozen=True)
class _Secrets:
    """What a device's or a trap receiver's credentials are made of, as read."""

    community: Secret | None = None
    auth_key: Secret | None = None
    priv_key: Secret | None = None


def _read_secrets(spec: SnmpCredentials, config: Config) -> _Secrets:
    """The community, or the USM keys; SecretError when one cannot be read."""
    if spec.community is not None:
        return _Secrets(community=read_secret(spec.community, config, "community"))
    return _Secrets(auth_key=_key(spec.auth_key, config, "auth_key"),
                    priv_key=_key(spec.priv_key, config, "priv_key")
                    if spec.priv_protocol is not None else None)


def credentials(spec: SnmpCredentials, config: Config,
                secrets: _Secrets | None = None) -> Credentials:
    """pysnmp's auth data for a device or a trap receiver; SecretError when a secret cannot
    be read (the message names the variable or file). `secrets`: already read."""
    h = _hlapi()
    read = secrets if secrets is not None else _read_secrets(spec, config)
    if read.community is not None:
        community = read.community
        return Credentials(h.CommunityData(community.value, mpModel=1),
                           f"v2c, community from {community.source}", False)
    assert read.auth_key is not None  # _read_secrets reads it when there is no community
    assert spec.auth_protocol is not None  # the config's validator requires it with a user
    auth = getattr(h, AUTH_PROTOCOLS[spec.auth_protocol])
    sources = [read.auth_key.source]
    priv_key, priv = None, h.usmNoPrivProtocol
    if spec.priv_protocol is not None and read.priv_key is not None:
        priv_key = read.priv_key.value
        priv = getattr(h, PRIV_PROTOCOLS[spec.priv_protocol])
        sources.append(read.priv_key.source)
    level = "authPriv" if priv_key else "authNoPriv"
    protocols = "/".join(p for p in (spec.auth_protocol, spec.priv_protocol) if p)
    return Credentials(
        h.UsmUserData(spec.user, read.auth_key.value, priv_key, authProtocol=auth,
                      privProtocol=priv),
        f"v3 {level}, user {spec.user}, {protocols}, keys from {' and '.join(sources)}", True,
        (spec.user or "", protocols, read.auth_key.value, priv_key or ""))


def _failure(error: Any, v3: bool, timeout: float, retries: int) -> tuple[SnmpOutcome, str]:
    """What a pysnmp error indication means, in words a network engineer acts on."""
    from pysnmp.proto import errind

    if isinstance(error, errind.RequestTimedOut):
        causes = "wrong privacy key, ACL or host down" if v3 else (
            "wrong community, ACL or host down")
        return SnmpOutcome.NO_ANSWER, (f"no answer: {causes} (silence for {retries + 1} "
                                       f"attempt{'s' if retries else ''} of {timeout:g} s)")
    if isinstance(error, errind.WrongDigest | errind.AuthenticationFailure):
        return SnmpOutcome.AUTH_FAILED, "authentication failed: wrong auth key or protocol"
    if isinstance(error, errind.UnknownUserName | errind.UnknownSecurityName):
        return SnmpOutcome.AUTH_FAILED, "the agent has no such USM user"
    if isinstance(error, errind.UnsupportedSecurityLevel):
        return SnmpOutcome.AUTH_FAILED, "the agent refuses this security level for the user"
    if isinstance(error, errind.DecryptionError):
        return SnmpOutcome.AUTH_FAILED, "decryption failed: wrong privacy key or protocol"
    return SnmpOutcome.PROBE_ERROR, str(error)


class SnmpProbe:
    """The run's SNMP engine and limits (probes in flight, timeout, retries). The engine is
    made on first use and closed when the last gatherer using it is done: all of them start
    with the run, so one engine serves the whole run."""

    def __init__(self, limiter: asyncio.Semaphore, timeout: float, retries: int,
                 observer: ProbeObserver, setup: SetUp | None = None) -> None:
        self.limiter = limiter
        if setup is None:
            from amt_preflight.probes import SetUp

            setup = SetUp()
        self.setup = setup  # where pysnmp is imported and engines are made
        self.timeout = timeout
        self.retries = retries
        self.observer = observer
        # By Credentials.engine_key: each made once, in a worker thread
        self._engines: dict[tuple[str, ...], asyncio.Future[Any]] = {}
        self._loaded: asyncio.Future[Any] | None = None  # pysnmp imported
        self._users = 0
        # Datagrams pysnmp could not decode, by source address ("192.0.2.2:161")
        self.malformed: Counter[str] = Counter()

    @asynccontextmanager
    async def in_use(self) -> AsyncIterator[None]:
        """Around a gatherer's work: the engine stays open until the last one is done."""
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0:
                for making in self._engines.values():
                    if making.done() and not making.cancelled() and not making.exception():
                        making.result().close_dispatcher()
                    else:
                        making.cancel()
                self._engines.clear()

    async def agent(self, device: SnmpDevice, config: Config) -> Agent:
        """One device to talk to, inside in_use(); SecretError when its credentials cannot
        be read. The secrets, pysnmp's import and its engine are all made off the event loop."""
        if self._loaded is None:  # one thread imports pysnmp: two at once could each see
            self._loaded = asyncio.ensure_future(self.setup.run(_hlapi))  # it half made
        await asyncio.shield(self._loaded)
        creds = await asyncio.to_thread(credentials, device, config)
        making = self._engines.get(creds.engine_key)
        if making is None:
            making = self._engines[creds.engine_key] = asyncio.ensure_future(
                self.setup.run(self._new_engine))
        engine = await asyncio.shield(making)  # one asker cancelled: the others still get it
        return Agent(self, engine, device.host, device.port, creds)

    def _new_engine(self) -> Any:
        """Blocking (a worker thread's): an engine that drops what it cannot decode."""
        engine = _hlapi().SnmpEngine()
        guard_receive(engine, self._count_malformed)
        return engine

    def _count_malformed(self, source: str) -> None:
        self.malformed[source] += 1


# What pysnmp and pyasn1 raise on a datagram they cannot decode (upstream, e.g. the two bytes
# e83e: TypeError from the BER decoder), where a well-behaved decoder would drop it.
_UNDECODABLE: tuple[type[Exception], ...] = (TypeError, IndexError, ValueError, KeyError,
                                             OverflowError)


def guard_receive(engine: Any, malformed: Callable[[str], None]) -> None:
    """Make the engine drop a datagram it cannot decode, and count it by its source, instead
    of letting the exception out of the transport's callback (where asyncio prints it as
    "Exception in callback" with a traceback, and the request just times out)."""
    from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
    from pysnmp.error import PySnmpError

    undecodable = (*_UNDECODABLE, PyAsn1Error, PySnmpError)
    dispatcher = engine.message_dispatcher
    receive = dispatcher.receive_message

    def guarded(snmp_engine: Any, domain: Any, address: Any, message: Any) -> Any:
        try:
            return receive(snmp_engine, domain, address, message)
        except undecodable:
            source = (f"{address[0]}:{address[1]}" if isinstance(address, tuple)
                      and len(address) >= 2 else str(address))
            malformed(source)
            return b""

    dispatcher.receive_message = guarded


class Agent:
    """One device's agent: GETs and bounded walks, each PDU under the run's limit."""

    def __init__(self, probe: SnmpProbe, engine: Any, host: str, port: int,
                 creds: Credentials) -> None:
        self.probe = probe
        self.engine = engine
        self.host = host
        self.port = port
        self.creds = creds
        self._target: Any = None

    def _exchange(self, request: str, outcome: SnmpOutcome, detail: str, requests: int,
                  rows: int, started: float, clock: float) -> SnmpExchange:
        malformed = self._malformed()
        if malformed:
            detail = f"{detail}; {malformed}" if detail else malformed
        return SnmpExchange(self.host, self.port, self.creds.security, request, outcome, detail,
                            requests, rows, started, (time.monotonic() - clock) * 1000)

    def _malformed(self) -> str:
        """How many undecodable datagrams came from this agent's address so far, in words."""
        address = getattr(self._target, "transport_address", None)
        if not isinstance(address, tuple) or len(address) < 2:
            return ""
        count = self.probe.malformed.get(f"{address[0]}:{address[1]}", 0)
        if not count:
            return ""
        return (f"{count} malformed datagram{'s' if count > 1 else ''} from "
                f"{address[0]}:{address[1]} dropped (not SNMP that decodes)")

    async def _send(self, what: str, command: Callable[[Any], Awaitable[Any]]
                    ) -> tuple[Any, Any, Any, Any]:
        """One PDU (pysnmp retries it after silence) under the run's limit on probes."""
        from pysnmp.error import PySnmpError

        h = _hlapi()
        async with self.probe.limiter:
            self.probe.observer.probe_started(what)
            try:
                if self._target is None:
                    self._target = await h.UdpTransportTarget.create(
                        (self.host, self.port), timeout=self.probe.timeout,
                        retries=self.probe.retries)
                result: tuple[Any, Any, Any, Any] = await command(self._target)
                return result
            except (PySnmpError, OSError) as exc:
                return _LocalFailure(f"{type(exc).__name__}: {exc}"), 0, 0, ()
            finally:
                self.probe.observer.probe_finished(what)

    def _problem(self, error: Any, status: Any, index: Any, varbinds: Any
                 ) -> tuple[SnmpOutcome, str] | None:
        if isinstance(error, _LocalFailure):
            return SnmpOutcome.PROBE_ERROR, error.text
        if error:
            return _failure(error, self.creds.v3, self.probe.timeout, self.probe.retries)
        if int(status):
            at = ""
            if int(index) and int(index) <= len(varbinds):
                at = f" at {_dotted(tuple(varbinds[int(index) - 1][0]))}"
            return SnmpOutcome.AGENT_ERROR, f"the agent answered {status.prettyPrint()}{at}"
        return None

    async def get(self, oids: Sequence[str], request: str
                  ) -> tuple[SnmpExchange, dict[str, Value]]:
        """GET the OIDs (in batches); the values by OID, None for an exception value."""
        h = _hlapi()
        started, clock = time.time(), time.monotonic()
        values: dict[str, Value] = {}
        requests = 0
        for start in range(0, len(oids), GET_BATCH):
            batch = [h.ObjectType(h.ObjectIdentity(oid)) for oid in oids[start:start + GET_BATCH]]
            requests += 1

            def command(target: Any, batch: list[Any] = batch) -> Any:
                return h.get_cmd(self.engine, self.creds.auth, target, h.ContextData(), *batch,
                                 lookupMib=False)

            reply = await self._send(f"SNMP {request} @{self.host}", command)
            problem = self._problem(*reply)
            if problem is not None:
                return self._exchange(request, *problem, requests, len(values), started,
                                      clock), values
            for name, value in reply[3]:
                values[_dotted(tuple(name))] = _value(value)
        return self._exchange(request, SnmpOutcome.ANSWER, "", requests, len(values), started,
                              clock), values

    async def walk(self, column: str, request: str
                   ) -> tuple[SnmpExchange, list[tuple[tuple[int, ...], Value]]]:
        """The rows of one column as (index, value), with GETBULK; what came before a
        problem is kept."""
        from pysnmp.proto import rfc1905

        h = _hlapi()
        started, clock = time.time(), time.monotonic()
        root = _oid(column)
        last = root
        rows: list[tuple[tuple[int, ...], Value]] = []
        requests = 0
        while True:
            requests += 1

            def command(target: Any, at: tuple[int, ...] = last) -> Any:
                return h.bulk_cmd(self.engine, self.creds.auth, target, h.ContextData(), 0,
                                  BULK_REPETITIONS, h.ObjectType(h.ObjectIdentity(_dotted(at))),
                                  lookupMib=False)

            reply = await self._send(f"SNMP {request} @{self.host}", command)
            problem = self._problem(*reply)
            if problem is None and not reply[3]:
                problem = SnmpOutcome.ANSWER, ""  # an empty answer ends the walk
            for name, value in () if problem else reply[3]:
                oid = tuple(name)
                if (oid[:len(root)] != root or len(oid) == len(root)
                        or isinstance(value, rfc1905.EndOfMibView)):
                    problem = SnmpOutcome.ANSWER, ""  # past the column: done
                elif oid <= last:
                    problem = SnmpOutcome.BAD_WALK, (
                        f"stopped: the agent's OIDs do not increase ({_dotted(oid)} came "
                        f"after {_dotted(last)}), a walk that loops")
                elif len(rows) >= MAX_WALK_ROWS:
                    problem = SnmpOutcome.BAD_WALK, (
                        f"stopped after {MAX_WALK_ROWS} rows: the column does not end")
                else:
                    rows.append((oid[len(root):], _value(value)))
                    last = oid
                    continue
                break
            if problem is not None:
                return self._exchange(request, *problem, requests, len(rows), started,
                                      clock), rows


def _failed(device: SnmpDevice, request: str, outcome: SnmpOutcome, detail: str
            ) -> SnmpExchange:
    return SnmpExchange(device.host, device.port, "", request, outcome, detail,
                        started_at=time.time())


# --- What to ask: one gatherer per Need (see catalogue.Need) -------------------------
# Each conversation runs once per run (ctx.once), whichever sites list the same device.


def _device_key(device: SnmpDevice) -> str:
    return repr(device)  # every field, in order: two devices alike are one conversation


async def _probe(ctx: SiteProbes) -> SnmpProbe:
    async def make() -> SnmpProbe:
        defaults = ctx.config.defaults
        return SnmpProbe(ctx.dns.limiter, defaults.timeout, defaults.retries, ctx.dns.observer,
                         ctx.setup)

    return await ctx.once.run(("snmp.probe",), make)


async def _system(ctx: SiteProbes, device: SnmpDevice) -> SnmpSystem:
    async def ask() -> SnmpSystem:
        request = "GET sysDescr.0 sysUpTime.0 sysName.0"
        try:
            agent = await (await _probe(ctx)).agent(device, ctx.config)
            exchange, values = await agent.get([SYS_DESCR, SYS_UPTIME, SYS_NAME], request)
        except SecretError as exc:
            return SnmpSystem(_failed(device, request, SnmpOutcome.NO_SECRET, str(exc)))
        descr, uptime, name = (values.get(oid) for oid in (SYS_DESCR, SYS_UPTIME, SYS_NAME))
        missing = tuple(f"{label}: no such object" for label, oid in (
            ("sysDescr", SYS_DESCR), ("sysUpTime", SYS_UPTIME), ("sysName", SYS_NAME))
            if oid in values and values[oid] is None)
        return SnmpSystem(exchange, _text(descr), _number(uptime), _text(name), missing)

    system = await ctx.once.run(("snmp.system", _device_key(device)), ask)
    ctx.record(system)
    return system


async def gather_system(ctx: SiteProbes) -> None:
    async with (await _probe(ctx)).in_use():
        await asyncio.gather(*(_system(ctx, d) for d in ctx.site.snmp.devices))


def _text(value: Value) -> str | None:
    return None if value is None else str(value)


def _number(value: Value) -> int | None:
    return value if isinstance(value, int) else None


def _match(wanted: str, table: dict[int, str]) -> int | None:
    folded = wanted.casefold()
    return next((index for index, name in sorted(table.items()) if name.casefold() == folded),
                None)


def _locate(device: SnmpDevice, if_names: dict[int, str], if_descrs: dict[int, str]
            ) -> list[tuple[str, int | None, str]]:
    """Each configured interface as (wanted, ifIndex or None, matched by)."""
    located: list[tuple[str, int | None, str]] = []
    for wanted in device.interfaces:
        if isinstance(wanted, int):
            located.append((str(wanted), wanted, "ifIndex"))
        elif (index := _match(wanted, if_names)) is not None:
            located.append((wanted, index, "ifName"))
        else:
            index = _match(wanted, if_descrs)
            located.append((wanted, index, "ifDescr" if index is not None else ""))
    return located


async def _interfaces(ctx: SiteProbes, device: SnmpDevice) -> SnmpInterfaces:
    system = await _system(ctx, device)
    if not system.exchange.outcome.answered:  # one silent wait per device is enough
        return SnmpInterfaces(device.host, (system.exchange,))
    agent = await (await _probe(ctx)).agent(device, ctx.config)
    exchanges: list[SnmpExchange] = []
    if_names: dict[int, str] = {}
    if_descrs: dict[int, str] = {}
    if any(isinstance(w, str) for w in device.interfaces):
        walked = await asyncio.gather(agent.walk(IF_NAME, "WALK ifName"),
                                      agent.walk(IF_DESCR, "WALK ifDescr"))
        for (exchange, rows), table in zip(walked, (if_names, if_descrs), strict=True):
            exchanges.append(exchange)
            table.update({index[0]: str(v) for index, v in rows
                          if len(index) == 1 and v is not None})
    located = _locate(device, if_names, if_descrs)
    indexes = sorted({index for _, index, _ in located if index is not None})
    columns = (IF_NAME, IF_DESCR, IF_ADMIN_STATUS, IF_OPER_STATUS)
    values: dict[str, Value] = {}
    if indexes:
        exchange, values = await agent.get(
            [f"{c}.{i}" for i in indexes for c in columns],
            f"GET ifName ifDescr ifAdminStatus ifOperStatus of ifIndex "
            f"{', '.join(map(str, indexes))}")
        exchanges.append(exchange)
    found = []
    for wanted, index, matched_by in located:
        if index is None:
            found.append(SnmpInterface(wanted))  # in neither walk
            continue
        name, descr, admin, oper = (values.get(f"{c}.{index}") for c in columns)
        if f"{IF_OPER_STATUS}.{index}" in values and admin is None and oper is None:
            found.append(SnmpInterface(wanted))  # the agent has no row with this ifIndex
            continue
        found.append(SnmpInterface(wanted, index, matched_by, _text(name), _text(descr),
                                   _number(admin), _number(oper)))
    seen = tuple(dict.fromkeys([*if_names.values(), *if_descrs.values()]))
    return SnmpInterfaces(device.host, tuple(exchanges), tuple(found), seen)


async def gather_interfaces(ctx: SiteProbes) -> None:
    async def one(device: SnmpDevice) -> None:
        found = await ctx.once.run(("snmp.interfaces", _device_key(device)),
                                   lambda: _interfaces(ctx, device))
        ctx.record(found)

    async with (await _probe(ctx)).in_use():
        await asyncio.gather(*(one(d) for d in ctx.site.snmp.devices if d.interfaces))


async def _processes(ctx: SiteProbes, device: SnmpDevice) -> SnmpProcesses:
    system = await _system(ctx, device)
    if not system.exchange.outcome.answered:
        return SnmpProcesses(system.exchange)
    agent = await (await _probe(ctx)).agent(device, ctx.config)
    exchange, rows = await agent.walk(HR_SW_RUN_NAME, "WALK hrSWRunName")
    return SnmpProcesses(exchange, tuple(str(v) for _, v in rows if v is not None))


async def gather_processes(ctx: SiteProbes) -> None:
    async def one(device: SnmpDevice) -> None:
        found = await ctx.once.run(("snmp.processes", _device_key(device)),
                                   lambda: _processes(ctx, device))
        ctx.record(found)

    async with (await _probe(ctx)).in_use():
        await asyncio.gather(*(one(d) for d in ctx.site.snmp.devices if d.processes))


# --- Traps -------------------------------------------------------------------------------


def _trap_engine(engine_id: str) -> Any:
    """An engine that sends as `engine_id` (hex), its boots taken from the clock."""
    from pysnmp.proto import rfc1902

    # Not SnmpEngine(snmpEngineID=...): that keeps a boots counter in the temporary folder.
    engine = _hlapi().SnmpEngine()
    engine_id_object, boots = engine.get_mib_builder().import_symbols(
        "__SNMP-FRAMEWORK-MIB", "snmpEngineID", "snmpEngineBoots")
    engine_id_object.syntax = engine_id_object.syntax.clone(
        rfc1902.OctetString(hexValue=engine_id))
    boots.syntax = boots.syntax.clone(max(1, int(time.time()) - BOOTS_EPOCH))
    engine.snmpEngineID = engine_id_object.syntax
    return engine


async def send_trap(
    receiver: SnmpTrapConfig, config: Config, engine_id: str, notification: str,
    values: Sequence[tuple[str, str | int]], timeout: float,
) -> str:
    """Send one SNMPv2c or v3 trap; how it was sent (no secret) or TrapError."""
    from pysnmp.error import PySnmpError
    from pysnmp.proto import rfc1902

    h = _hlapi()
    try:
        creds = credentials(receiver, config, await asyncio.to_thread(
            _read_secrets, receiver, config))
    except SecretError as exc:
        raise TrapError(str(exc)) from None
    engine = _trap_engine(engine_id) if creds.v3 else h.SnmpEngine()
    varbinds = [h.ObjectType(h.ObjectIdentity(oid), rfc1902.Unsigned32(value)
                             if isinstance(value, int) else rfc1902.OctetString(value))
                for oid, value in values]
    try:
        async with asyncio.timeout(timeout):
            target = await h.UdpTransportTarget.create((receiver.host, receiver.port),
                                                       timeout=timeout, retries=0)
            error, _, _, _ = await h.send_notification(
                engine, creds.auth, target, h.ContextData(), "trap",
                h.NotificationType(h.ObjectIdentity(notification)).add_varbinds(*varbinds))
    except (PySnmpError, OSError, TimeoutError) as exc:
        raise TrapError(f"{type(exc).__name__}: {exc}") from None
    finally:
        engine.close_dispatcher()
    if error:
        raise TrapError(str(error))
    return f"{creds.security} to {receiver.host}:{receiver.port}"
