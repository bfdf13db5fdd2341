"""TCP probe: resolve a host at the site's resolvers and open (then close) a connection.

Also the name resolution the HTTP probe builds on, so a CRL or OCSP host is looked up where
the site's devices and servers would look it up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import TYPE_CHECKING

from amt_preflight.observations.base import Outcome
from amt_preflight.observations.cert import TcpConnect
from amt_preflight.observations.dns import DnsQuestion
from amt_preflight.probes.wire import os_error

if TYPE_CHECKING:
    from amt_preflight.probes import SiteProbes

async def resolve(ctx: SiteProbes, host: str) -> tuple[str | None, str, Outcome]:
    """(an IPv4 address of `host`, how it was found, ANSWER); without an address, the
    outcome says why: UNREACHABLE when the name does not resolve, NOT_OBSERVED when no
    resolver answered (DNS-RESOLVER-ANSWERS tells that story).

    A literal address is used as it is; a name is asked of every resolver of the site at
    once (through the run's DNS probe, so each question goes out once), first answer wins.
    """
    try:
        return str(ipaddress.IPv4Address(host)), "literal address", Outcome.ANSWER
    except ValueError:
        pass
    asked = [ctx.dns.ask(DnsQuestion(r, host, "A")) for r in ctx.resolvers.addresses]
    said, answered = [], False
    for next_answer in asyncio.as_completed(asked):
        answer = await next_answer
        if answer.records:
            return (answer.values[0], f"{host} A {answer.values[0]} from "
                    f"{answer.question.resolver}", Outcome.ANSWER)
        said.append(answer.describe())
        answered = answered or answer.outcome.answered
    if answered:
        return None, f"{host} does not resolve: {'; '.join(said)}", Outcome.UNREACHABLE
    return None, f"{host}: no resolver answered: {'; '.join(said) or 'none to ask'}", (
        Outcome.NOT_OBSERVED)


async def _connect_once(address: str, port: int, timeout: float) -> tuple[Outcome, str]:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return Outcome.TIMEOUT, f"no answer in {timeout:g} s"
    except OSError as exc:
        return Outcome.UNREACHABLE, os_error(exc)
    writer.close()
    return Outcome.ANSWER, "connection accepted"


async def connect(ctx: SiteProbes, host: str, port: int) -> TcpConnect:
    """A connection to host:port, retried after silence only; once per run."""
    key = ("tcp", host, port, ctx.resolvers.addresses)
    return await ctx.once.run(key, lambda: _connect(ctx, host, port))


async def _connect(ctx: SiteProbes, host: str, port: int) -> TcpConnect:
    started, clock = time.time(), time.monotonic()
    address, resolution, failed = await resolve(ctx, host)
    if address is None:
        return TcpConnect(host, port, failed, started_at=started,
                          elapsed_ms=(time.monotonic() - clock) * 1000, detail=resolution)
    timeout = ctx.config.defaults.timeout
    (outcome, detail), count = await ctx.retried(
        f"TCP {host}:{port}", lambda: _connect_once(address, port, timeout),
        lambda tried: tried[0])
    return TcpConnect(host, port, outcome, address, count, started,
                      (time.monotonic() - clock) * 1000, f"{resolution}; {detail}")


async def gather_enterprise_ca(ctx: SiteProbes) -> None:
    """Each configured port of the enterprise CA host (RPC endpoint mapper, HTTPS, ...)."""
    enterprise = ctx.site.ca.enterprise
    if enterprise is None:
        return

    async def one(port: int) -> None:
        ctx.record(await connect(ctx, enterprise.host, port))

    await asyncio.gather(*(one(p) for p in enterprise.ports))
