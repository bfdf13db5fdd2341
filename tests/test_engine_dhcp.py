"""Option 6 and option 15 flow through the engine: the site's resolvers come from config,
else the DHCP survey's option 6, else the host's; only what reads them waits for DHCP.

The DHCP probe and the DNS gatherer are stand-ins here, passed to the engine as its
ProbeKit: nothing is sent anywhere, and no module is patched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from amt_preflight import engine, probes
from amt_preflight.catalogue import Need
from amt_preflight.config import Config
from amt_preflight.observations.dhcp import DhcpAnswer, DhcpSurvey
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.probes import ProbeKit, SiteProbes
from amt_preflight.probes import dhcp as probe_dhcp
from amt_preflight.probes import dns as probe_dns

from .observed import CLIENT_MAC, R1, R2, config, dhcp_answer

ROGUE = "10.250.0.66"
SITE = """
sites:
  - name: hq
    interface: lab0
    {resolvers}
    dhcp: {{allowed_servers: [10.250.0.1], window: 1}}
    domains: [{{name: corp.example}}]
"""


@dataclass
class Scenario:
    """What the stand-in DHCP probe answers, and which interfaces it surveyed."""

    answers: tuple[DhcpAnswer, ...] = ()
    error: str = ""
    surveys: list[str] = field(default_factory=list)


class StandInDhcp:
    """Answers a survey after a while, as the scenario says; one survey per interface."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.done: dict[str, asyncio.Task[DhcpSurvey]] = {}

    def survey(self, interface: str, window: float) -> asyncio.Future[DhcpSurvey]:
        scenario = self.scenario

        async def later() -> DhcpSurvey:
            await asyncio.sleep(0.05)
            return DhcpSurvey(interface, CLIENT_MAC, window, answers=scenario.answers,
                              error=scenario.error)

        if interface not in self.done:
            scenario.surveys.append(interface)
            self.done[interface] = asyncio.ensure_future(later())
        return asyncio.shield(self.done[interface])

    def stop(self) -> None:
        """Nothing to stop."""


@pytest.fixture
def scenario() -> Scenario:
    return Scenario()


@pytest.fixture
def events() -> list[object]:
    """What the gatherers did, in order; the DNS one records the resolvers it was given."""
    return []


@pytest.fixture
def kit(scenario: Scenario, events: list[object]) -> ProbeKit:
    """The real resolver discovery and DHCP survey gatherers on the stand-in DHCP probe, and
    a DNS gatherer that only notes the resolvers it was given."""
    happened = events

    async def dhcp_gatherer(ctx: SiteProbes) -> None:
        happened.append("dhcp started")
        await probe_dhcp.gather_survey(ctx)
        happened.append("dhcp done")

    async def dns_gatherer(ctx: SiteProbes) -> None:
        happened.append(ctx.resolvers)

    return ProbeKit({Need.SITE_RESOLVERS: probe_dns.gather_site_resolvers,
                     Need.DHCP_SURVEY: dhcp_gatherer, Need.DNS_RESOLVERS: dns_gatherer},
                    lambda observer: StandInDhcp(scenario))


def gather(cfg: Config, checks: list[str], resolv_conf: Path, kit: ProbeKit) -> engine.Gathered:
    selected = engine.select_checks(cfg, checks)
    options = engine.RunOptions(resolv_conf=resolv_conf, probes=kit)
    return asyncio.run(engine.gather(cfg, cfg.sites, selected, options, False))


@pytest.fixture
def resolv_conf(tmp_path: Path) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 10.250.0.53\n")
    return path


def test_without_configured_resolvers_dns_waits_for_option6_of_an_allowed_server(
    events: list[object], scenario: Scenario, resolv_conf: Path, kit: ProbeKit
) -> None:
    scenario.answers = (dhcp_answer(ROGUE, option6=[ROGUE]), dhcp_answer(option6=[R1, R2]))
    cfg = config(SITE.format(resolvers=""))
    gathered = gather(cfg, ["DHCP-SERVER-ANSWERS", "DNS-RESOLVER-ANSWERS"], resolv_conf, kit)
    found = ResolverSet((R1, R2), "dhcp option 6")
    assert events == ["dhcp started", "dhcp done", found]  # DHCP did not wait, DNS did
    assert gathered.observations.resolvers["hq"] == found
    assert scenario.surveys == ["lab0"]  # one survey for the resolvers and the checks
    option15 = gathered.observations.option15["hq"]
    assert (option15.value, option15.server) == ("corp.example", R1)


def test_dns_alone_still_runs_the_survey_for_option6(
    events: list[object], scenario: Scenario, resolv_conf: Path, kit: ProbeKit
) -> None:
    scenario.answers = (dhcp_answer(option6=[R2]),)
    gather(config(SITE.format(resolvers="")), ["DNS-RESOLVER-ANSWERS"], resolv_conf, kit)
    assert events == [ResolverSet((R2,), "dhcp option 6")]
    assert scenario.surveys == ["lab0"]


def test_configured_resolvers_win_and_need_no_survey(
    events: list[object], scenario: Scenario, resolv_conf: Path, kit: ProbeKit
) -> None:
    scenario.answers = (dhcp_answer(option6=[R2]),)
    gather(config(SITE.format(resolvers="resolvers: [10.250.0.1]")), ["DNS-RESOLVER-ANSWERS"],
           resolv_conf, kit)
    assert events == [ResolverSet((R1,), "config")]
    assert scenario.surveys == []


@pytest.mark.parametrize("error", ["", "the DHCP probe needs root"])
def test_no_option6_falls_back_to_the_hosts_resolvers(
    events: list[object], scenario: Scenario, resolv_conf: Path, error: str, kit: ProbeKit
) -> None:
    scenario.answers = () if error else (dhcp_answer(option6=()),)
    scenario.error = error
    gather(config(SITE.format(resolvers="")), ["DNS-RESOLVER-ANSWERS"], resolv_conf, kit)
    assert events == [ResolverSet(("10.250.0.53",), str(resolv_conf))]


def test_every_dhcp_need_is_gathered_before_the_resolvers_are_known() -> None:
    assert {Need.SITE_RESOLVERS, Need.DHCP_SURVEY, Need.DHCP_OPT6_DNS} <= probes.RESOLVER_FREE
    assert Need.DHCP_REGISTRATION not in probes.RESOLVER_FREE  # it looks the name up
