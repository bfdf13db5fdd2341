"""Probes: the only code that touches the network.

Each area's module holds its protocol code and the gatherers that decide what to ask for the
checks' needs. GATHERERS below is the one table from a Need to its gatherer: a new area adds
its lines there. Area modules are imported on first use, so start-up stays cheap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amt_preflight.catalogue import Need
from amt_preflight.config import Config, SiteConfig
from amt_preflight.observations import Observations, ResolverSet

if TYPE_CHECKING:
    from amt_preflight.probes.dns import DnsProbe


@dataclass(frozen=True)
class SiteProbes:
    """What a gatherer works with for one site: its config, the run's shared probes (which
    limit concurrency and never send the same question twice), and where to record."""

    config: Config
    site: SiteConfig
    observations: Observations
    dns: DnsProbe
    resolvers: ResolverSet
    intrusive: bool


Gatherer = Callable[[SiteProbes], Awaitable[None]]


def gatherers() -> dict[Need, Gatherer]:
    from amt_preflight.probes import dns

    return {
        Need.DNS_RESOLVERS: dns.gather_resolvers,
        Need.DNS_PROVSERVER: dns.gather_provision_servers,
        Need.DNS_PROVSERVER_PTR: dns.gather_provision_server_ptrs,
        Need.DNS_AD_SRV: dns.gather_ad_srv,
        Need.DNS_DYNUPDATE: dns.gather_dynamic_updates,
    }
