"""Hand-made observations for the unit tests of checks: no network, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from amt_preflight.config import Config, SiteConfig, parse
from amt_preflight.observations import (
    DnsAnswer,
    DnsQuestion,
    DnsRecord,
    DnsUpdateAttempt,
    Observations,
    Outcome,
    ResolverSet,
    Transport,
)

R1, R2 = "10.250.0.1", "10.250.0.2"


def config(text: str) -> Config:
    return parse(text, Path("test.yaml"))


def site(text: str) -> SiteConfig:
    return config(text).sites[0]


class Observed:
    """Builds an Observations object answer by answer."""

    def __init__(self, site_name: str = "hq", resolvers: Iterable[str] = (R1, R2)) -> None:
        self.obs = Observations()
        self.obs.resolvers[site_name] = ResolverSet(tuple(resolvers), "config")
        self.site_name = site_name

    def answer(
        self, resolver: str, name: str, rdtype: str, values: Iterable[str] = (),
        rcode: str = "NOERROR", transport: Transport = "udp", **extra: Any,
    ) -> Observed:
        q = DnsQuestion(resolver, name, rdtype, transport)
        records = tuple(DnsRecord(q.name, q.rdtype, 300, v) for v in values)
        self.obs.dns[q] = DnsAnswer(q, Outcome.ANSWER, rcode=rcode, records=records,
                                    attempts=1, started_at=1_800_000_000.0, elapsed_ms=2.0,
                                    **extra)
        return self

    def silent(
        self, resolver: str, name: str, rdtype: str, transport: Transport = "udp",
        outcome: Outcome = Outcome.TIMEOUT,
    ) -> Observed:
        q = DnsQuestion(resolver, name, rdtype, transport)
        self.obs.dns[q] = DnsAnswer(q, outcome, attempts=2, started_at=1_800_000_000.0,
                                    elapsed_ms=6000.0, detail="no reply in 3 s")
        return self

    def update(self, domain: str, rcode: str | None, outcome: Outcome = Outcome.ANSWER,
               zone: str | None = None) -> Observed:
        self.obs.dns_updates[domain] = DnsUpdateAttempt(
            domain, zone or domain, R1, f"amt-preflight-probe-1.{zone or domain}", outcome,
            rcode=rcode, cleanup="deleted" if rcode == "NOERROR" else "not needed")
        return self

    def view(self) -> Any:
        return self.obs.site(self.site_name)
