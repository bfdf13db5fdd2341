"""Which KDCs and DCs the AD checks ask: ad.kdcs as configured, else the targets of the
domain's SRV records, found through the run's DNS probe (so no question is asked twice) and
handed on address by address as their answers arrive."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from amt_preflight.observations.ad import AdRole, AdServer, AdServers
from amt_preflight.observations.dns import DnsQuestion, normal_name, srv_target

if TYPE_CHECKING:
    from amt_preflight.probes import SiteProbes

# The SRV records whose targets are the domain's KDCs or DCs (a subset of AD_SRV_PREFIXES).
SRV_PREFIXES = {
    AdRole.KDC: ("_kerberos._tcp", "_kerberos._udp"),
    AdRole.DC: ("_ldap._tcp.dc._msdcs",),
}

Found = Callable[[str], None]  # called once per address, as soon as it is known


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _address_order(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


async def discover(ctx: SiteProbes, role: AdRole, found: Found) -> AdServers:
    """The site's KDCs or DCs; `found` hears of each address as soon as it is known, so
    probing starts before the slowest resolver has answered."""
    ad = ctx.site.ad
    assert ad is not None  # gatherers return early for a site without AD
    if ad.kdcs:
        servers = await asyncio.gather(*(_configured(ctx, entry, found) for entry in ad.kdcs))
        return AdServers(role, tuple(servers), "ad.kdcs")
    return await _from_srv(ctx, role, normal_name(ad.domain), found)


async def _configured(ctx: SiteProbes, entry: str, found: Found) -> AdServer:
    """A configured KDC: an address as it is, a name resolved at every resolver of the site."""
    if is_address(entry):
        found(entry)
        return AdServer(entry, (entry,))
    answers = await asyncio.gather(
        *(ctx.dns.ask(DnsQuestion(r, entry, "A")) for r in ctx.resolvers.addresses))
    addresses = sorted({v for a in answers for v in a.values if is_address(v)},
                       key=_address_order)
    for address in addresses:
        found(address)
    detail = ""
    if not answers:
        detail = "no resolver to ask"
    elif not addresses:
        detail = "no resolver gave an address: " + "; ".join(a.describe() for a in answers)
    return AdServer(entry, tuple(addresses), (normal_name(entry),), detail)


async def _from_srv(ctx: SiteProbes, role: AdRole, domain: str, found: Found) -> AdServers:
    names: dict[str, set[str]] = {}  # address -> the SRV targets that resolve to it

    async def target(resolver: str, name: str) -> None:
        answer = await ctx.dns.ask(DnsQuestion(resolver, name, "A"))
        for address in (v for v in answer.values if is_address(v)):
            if address not in names:
                names[address] = set()
                found(address)
            names[address].add(name)

    async def srv(resolver: str, prefix: str) -> None:
        answer = await ctx.dns.ask(DnsQuestion(resolver, f"{prefix}.{domain}", "SRV"))
        targets = {srv_target(value) for value in answer.values} - {""}
        await asyncio.gather(*(target(resolver, t) for t in sorted(targets)))

    prefixes = SRV_PREFIXES[role]
    resolvers = ctx.resolvers.addresses
    await asyncio.gather(*(srv(r, p) for r in resolvers for p in prefixes))
    servers = tuple(
        AdServer(address, (address,), tuple(sorted(names[address])))
        for address in sorted(names, key=_address_order)
    )
    asked = ", ".join(f"{p}.{domain}" for p in prefixes)
    return AdServers(role, servers, f"SRV {asked} at {', '.join(resolvers) or 'no resolver'}")
