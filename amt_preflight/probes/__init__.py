"""Probes: the only code that touches the network.

Each area's module holds its protocol code and the gatherers that decide what to ask for the
checks' needs. gatherers() below is the one table from a Need to its gatherer: a new area adds
its lines there. Area modules are imported on first use, so start-up stays cheap; a run looks
up the gatherers it needs before its first probe, so no import stalls the event loop. A run gets
its probes as a ProbeKit (that table and the DHCP probe): a test passes stand-ins instead of
patching modules.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from amt_preflight.catalogue import Need
from amt_preflight.config import Config, SiteConfig
from amt_preflight.observations import Observations
from amt_preflight.observations.base import Outcome
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.probes.attempts import after_silence

if TYPE_CHECKING:
    from amt_preflight.observations import Observation
    from amt_preflight.probes.dhcp import DhcpProbe
    from amt_preflight.probes.dns import DnsProbe
    from amt_preflight.probes.observer import ProbeObserver

T = TypeVar("T")


@dataclass
class OncePerRun:
    """Run-wide: a probe asked for twice (by two domains, two sites, two gatherers) runs
    once, and every asker awaits the same result."""

    _tasks: dict[Hashable, asyncio.Task[Any]] = field(default_factory=dict)

    def run(self, key: Hashable, probe: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Task[T]:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.create_task(probe())
            self._tasks[key] = task
        return task


class SetUp:
    """Run-wide: the blocking set-up a probe needs before its first packet (importing scapy
    or pysnmp, making an SNMP engine: tenths of a second of CPU each), off the event loop and
    one piece at a time, in the order asked. Python runs one thread at a time, so pieces in
    threads side by side only slow each other down: in one lane, the piece asked for first
    (the DHCP survey's, which the engine starts early: its window is a long wait) is ready
    first, and the event loop stays free for the probes in flight."""

    def __init__(self) -> None:
        self._lane = ThreadPoolExecutor(1, thread_name_prefix="amt-preflight-setup")
        self._pending: set[asyncio.Future[Any]] = set()

    async def run(self, work: Callable[[], T]) -> T:
        done = asyncio.get_running_loop().run_in_executor(self._lane, work)
        self._pending.add(done)
        done.add_done_callback(self._pending.discard)
        return await done

    async def idle(self) -> None:
        """Once nothing asked for is queued or under way (at once when nothing is)."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    def close(self) -> None:
        """What has not started is dropped; a piece under way ends by itself (no I/O)."""
        self._lane.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class SiteProbes:
    """What a gatherer works with for one site: its config, the run's shared probes (which
    limit concurrency and never send the same question twice), and where to record (record:
    every observation as soon as it is made)."""

    config: Config
    site: SiteConfig
    observations: Observations
    dns: DnsProbe
    resolvers: ResolverSet
    intrusive: bool
    once: OncePerRun
    dhcp: DhcpProbe = field(default_factory=lambda: _new_dhcp_probe())
    resolv_conf: Path = Path("/etc/resolv.conf")  # the host's resolvers, the last resort
    setup: SetUp = field(default_factory=SetUp)  # the run's: one for every site

    def record(self, observation: Observation) -> None:
        """Keep an observation of this site's (Observations.record): what the sites share is
        kept once for all of them."""
        self.observations.record(observation, self.site.name)

    async def retried(self, what: str, attempt: Callable[[], Awaitable[T]],
                      outcome_of: Callable[[T], Outcome]) -> tuple[T, int]:
        """`attempt` again after silence (attempts.after_silence), with the run's retries,
        its limit on probes in flight and its progress observer: (the last result, how
        many attempts ran)."""
        return await after_silence(what, attempt, outcome_of,
                                   retries=self.config.defaults.retries,
                                   limiter=self.dns.limiter, observer=self.dns.observer)


def _new_dhcp_probe() -> DhcpProbe:
    """A DHCP probe of its own, for a SiteProbes made outside a run (tests)."""
    from amt_preflight.probes.dhcp import DhcpProbe

    return DhcpProbe()


Gatherer = Callable[[SiteProbes], Awaitable[None]]

# Gatherers that never read SiteProbes.resolvers: they start at once. Every other one waits
# for the site's resolvers (Need.SITE_RESOLVERS, gathered once per site before them), which
# (none configured) come from the DHCP survey's option 6. SNMP devices are addressed as
# configured (a name resolves at the host's resolver).
RESOLVER_FREE = frozenset({Need.SITE_RESOLVERS, Need.DHCP_SURVEY, Need.DHCP_OPT6_DNS,
                           Need.CERT_FILES,
                           Need.SNMP_SYSTEM, Need.SNMP_INTERFACES, Need.SNMP_PROCESSES,
                           Need.DEVICE_FILES})

# Started first, in this order: the hellos and connect-backs (hellos to one provisioning
# server are spaced by handshake.hello_spacing, so theirs is a run's longest chain), then
# the DHCP window (a site without resolvers waits for its option 6) and the option 81 lease
# (its window, then up to dhcp.register_wait for the records). Every other need after.
STARTED_FIRST = (Need.HS_PKI, Need.HS_PSK, Need.DHCP_SURVEY, Need.DHCP_REGISTRATION)


def start_order(need: Need) -> int:
    """Where a need's gatherer starts among a run's: STARTED_FIRST, then the rest."""
    return STARTED_FIRST.index(need) if need in STARTED_FIRST else len(STARTED_FIRST)


# Needs whose chain is long enough that the rest wait for their head start (engine.gather)
HEAD_START = frozenset({Need.HS_PKI, Need.HS_PSK})


# Need -> (area module under amt_preflight.probes, its gatherer): the one table. A module is
# imported when one of its gatherers is first looked up, so a DNS-only run loads neither the
# TLS, LDAP, Kerberos, SNMP and HTTP probes nor what they import (OpenSSL, pysnmp, asn1crypto).
GATHERERS: dict[Need, tuple[str, str]] = {
    Need.SITE_RESOLVERS: ("dns", "gather_site_resolvers"),
    Need.DHCP_SURVEY: ("dhcp", "gather_survey"),
    Need.DHCP_OPT6_DNS: ("dhcp", "gather_option6_dns"),
    Need.DHCP_REGISTRATION: ("dhcp", "gather_registration"),
    Need.DNS_RESOLVERS: ("dns", "gather_resolvers"),
    Need.DNS_PROVSERVER: ("dns", "gather_provision_servers"),
    Need.DNS_PROVSERVER_PTR: ("dns", "gather_provision_server_ptrs"),
    Need.DNS_AD_SRV: ("dns", "gather_ad_srv"),
    Need.DNS_DYNUPDATE: ("dns", "gather_dynamic_updates"),
    Need.CERT_FILES: ("certificate", "gather_certificates"),
    Need.CA_CRL: ("http", "gather_crls"),
    Need.CA_OCSP: ("http", "gather_ocsp"),
    Need.CA_AIA: ("http", "gather_aia"),
    Need.CA_ENTERPRISE: ("tcp", "gather_enterprise_ca"),
    Need.SNMP_SYSTEM: ("snmp", "gather_system"),
    Need.SNMP_INTERFACES: ("snmp", "gather_interfaces"),
    Need.SNMP_PROCESSES: ("snmp", "gather_processes"),
    Need.AD_KERBEROS: ("kerberos", "gather_kerberos"),
    Need.AD_ROOTDSE: ("ldap", "gather_root_dse"),
    Need.AD_BIND: ("ldap", "gather_binds"),
    Need.HS_HELLO_PORT: ("handshake", "gather_hello_port"),
    Need.HS_PKI: ("handshake", "gather_pki"),
    Need.HS_PSK: ("handshake", "gather_psk"),
    Need.DEVICE_FILES: ("devices", "gather_devices"),
}


class _Gatherers(Mapping[Need, Gatherer]):
    """GATHERERS as a mapping of Need to gatherer, each area's module imported on first use."""

    def __getitem__(self, need: Need) -> Gatherer:
        area, name = GATHERERS[need]
        gatherer: Gatherer = getattr(importlib.import_module(f"{__name__}.{area}"), name)
        return gatherer

    def __iter__(self) -> Iterator[Need]:
        return iter(GATHERERS)

    def __len__(self) -> int:
        return len(GATHERERS)


def gatherers() -> Mapping[Need, Gatherer]:
    """The gatherer behind each Need (GATHERERS), its module imported when it is looked up."""
    return _Gatherers()


@dataclass(frozen=True)
class ProbeKit:
    """The probes a run works with: the gatherer behind each Need, and how to make the run's
    DHCP probe (one per run: a survey of an interface is shared by every need that reads it).
    engine.gather takes one (RunOptions.probes); a test passes stand-ins, nothing sent."""

    gatherers: Mapping[Need, Gatherer]
    dhcp: Callable[[ProbeObserver], DhcpProbe]


def default_kit() -> ProbeKit:
    """The real probes."""
    from amt_preflight.probes.dhcp import DhcpProbe

    return ProbeKit(gatherers(), DhcpProbe)
