"""SNMP observations: each exchange with a device's agent, and the system group, configured
interfaces and running software it reported."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from amt_preflight.observations.base import clipped
from amt_preflight.typed import record

# IF-MIB ifOperStatus (RFC 2863); ifAdminStatus uses its first three values.
IF_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
             7: "lowerLayerDown"}


def if_status_text(value: int | None) -> str | None:
    """"down(2)": the name and the number, as MIB browsers show an enumeration."""
    if value is None:
        return None
    return f"{IF_STATUS.get(value, 'undefined')}({value})"


class SnmpOutcome(StrEnum):
    ANSWER = "answer"
    # Silence for every attempt: what a wrong community, a wrong privacy key, an ACL or a
    # host that is down all look like, since SNMP answers none of them with an error.
    NO_ANSWER = "no-answer"
    AUTH_FAILED = "auth-failed"  # USM refused us: wrong auth key (digest), unknown user
    AGENT_ERROR = "agent-error"  # the response carries an error-status (noAccess, genErr, ...)
    BAD_WALK = "bad-walk"  # a walk stopped by us: its OIDs stopped increasing, or never ended
    NO_SECRET = "no-secret"  # the community or a key could not be read (variable not set, ...)
    PROBE_ERROR = "probe-error"  # the request could not be made (bad address, no AES support)
    NOT_OBSERVED = "not-observed"  # never probed, or unfinished at the run's deadline

    @property
    def answered(self) -> bool:
        """The agent responded (a walk that went wrong had responses too)."""
        return self in (SnmpOutcome.ANSWER, SnmpOutcome.AGENT_ERROR, SnmpOutcome.BAD_WALK)


@record
class SnmpExchange:
    """One GET, or one walk of a column, with one agent: what was asked and how it ended."""

    host: str
    port: int
    security: str  # "v2c, community from $SNMP_COMMUNITY": how we spoke, never a secret
    request: str  # "GET sysDescr.0 sysUpTime.0 sysName.0", "WALK ifName"
    outcome: SnmpOutcome
    detail: str = ""  # why it is not a full answer, in words
    requests: int = 0  # PDUs sent, one per GET or walk step (retries not counted)
    rows: int = 0  # variable bindings received
    started_at: float = 0.0  # epoch seconds
    elapsed_ms: float = 0.0

    def describe(self) -> str:
        """One line for a message: how this exchange with the agent went."""
        said = f"{self.request} at {self.host}: {self.outcome.value}"
        return f"{said} ({self.detail})" if self.detail else said

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "agent": f"{self.host}:{self.port}",
            "security": self.security,
            "request": self.request,
            "outcome": self.outcome.value,
        }
        if self.detail:
            doc["detail"] = clipped(self.detail, 500)
        doc.update(requests=self.requests, rows=self.rows, elapsed_ms=round(self.elapsed_ms, 1))
        return doc


def snmp_not_observed(host: str, request: str) -> SnmpExchange:
    return SnmpExchange(host, 0, "", request, SnmpOutcome.NOT_OBSERVED,
                        "never probed, or not finished before the run's deadline")


# Where each device's system group, interfaces and processes are kept (Observations)
SnmpKey = tuple[str, str]  # site, device host


def snmp_key(site: str, host: str) -> SnmpKey:
    return site, host


@record
class SnmpSystem:
    """sysDescr, sysUpTime and sysName of one device (SNMPv2-MIB system group)."""

    exchange: SnmpExchange
    descr: str | None = None
    uptime_ticks: int | None = None  # hundredths of a second since the agent (re)started
    name: str | None = None
    missing: tuple[str, ...] = ()  # objects the agent answered with an exception, and which

    @classmethod
    def not_observed(cls, host: str) -> SnmpSystem:
        return cls(snmp_not_observed(host, "GET system"))

    STORE: ClassVar[str] = "snmp_systems"  # kept in Observations.snmp_systems
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> SnmpKey:
        return snmp_key(site, self.exchange.host)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"exchange": self.exchange.to_evidence()}
        if self.exchange.outcome is SnmpOutcome.ANSWER:
            doc.update(sysDescr=None if self.descr is None else clipped(self.descr),
                       sysUpTime=self.uptime_ticks, sysName=self.name)
            if self.uptime_ticks is not None:
                doc["uptime"] = uptime_text(self.uptime_ticks)
            if self.missing:
                doc["missing"] = list(self.missing)
        return doc


def uptime_text(ticks: int) -> str:
    """TimeTicks as "12d 03:04:05"."""
    seconds = ticks // 100
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"


@record
class SnmpInterface:
    """One configured interface as the device reports it (IF-MIB)."""

    wanted: str  # as configured: a name, or an ifIndex written as a number
    index: int | None = None  # None: the device has no such interface (or it was not found)
    matched_by: str = ""  # "ifName", "ifDescr" or "ifIndex"
    if_name: str | None = None
    if_descr: str | None = None
    admin_status: int | None = None  # ifAdminStatus: 1 up, 2 down, 3 testing
    oper_status: int | None = None  # ifOperStatus: see IF_STATUS

    def to_evidence(self) -> dict[str, Any]:
        return {
            "interface": self.wanted,
            "ifIndex": self.index,
            "matched_by": self.matched_by or None,
            "ifName": self.if_name,
            "ifDescr": self.if_descr,
            "ifAdminStatus": if_status_text(self.admin_status),
            "ifOperStatus": if_status_text(self.oper_status),
        }


@record
class SnmpInterfaces:
    """The configured interfaces of one device: the name walks, then a GET of their status."""

    host: str
    exchanges: tuple[SnmpExchange, ...]  # in the order they were made
    interfaces: tuple[SnmpInterface, ...] = ()  # one per configured interface, found or not
    names_seen: tuple[str, ...] = ()  # every ifName and ifDescr the walks returned

    @classmethod
    def not_observed(cls, host: str) -> SnmpInterfaces:
        return cls(host, (snmp_not_observed(host, "WALK ifName"),))

    STORE: ClassVar[str] = "snmp_interfaces"  # kept in Observations.snmp_interfaces
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> SnmpKey:
        return snmp_key(site, self.host)

    def interface(self, wanted: str) -> SnmpInterface | None:
        return next((i for i in self.interfaces if i.wanted == wanted), None)

    @property
    def failed(self) -> SnmpExchange | None:
        """The first exchange that did not end in a full answer; None when all did."""
        return next((e for e in self.exchanges if e.outcome is not SnmpOutcome.ANSWER), None)


@record
class SnmpProcesses:
    """The running software of one device: HOST-RESOURCES-MIB hrSWRunName, walked."""

    exchange: SnmpExchange
    names: tuple[str, ...] = ()  # one per running process, in hrSWRunIndex order

    @classmethod
    def not_observed(cls, host: str) -> SnmpProcesses:
        return cls(snmp_not_observed(host, "WALK hrSWRunName"))

    STORE: ClassVar[str] = "snmp_processes"  # kept in Observations.snmp_processes
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> SnmpKey:
        return snmp_key(site, self.exchange.host)
