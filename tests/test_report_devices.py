"""The HTML report's Devices section: per site and domain, how many devices will activate and
the others grouped by reason; every value from a device file escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from amt_preflight import engine
from amt_preflight.model import RunInfo, RunResult, Status
from amt_preflight.reports import render
from amt_preflight.reports.html import AREAS, TEAM_OF_AREA, device_fleets

from .certs import NOW, Seen, bundle
from .fleet import ADMIN, CLIENT, device, inventory, with_fleet
from .observed import config

pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length")
HOSTILE = '<img src=x onerror=alert(1)>'
CONFIG = config("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json]}
    domains: [{name: corp.example, certificate: {file: corp.pem}}]
""")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def fleet_run() -> RunResult:
    docs = [device(f"ok-{n}") for n in range(12)] + [
        device("admin-1", mode=ADMIN),
        device("no-root-1", root="missing"), device("no-root-2", root="missing"),
        device("off-1", root="inactive"),
        device("both", root="missing", mode=CLIENT),
        device(HOSTILE, suffix="", suffix_os=""),
    ] + [device(f"client-{n}", mode=CLIENT) for n in range(12)]
    fleet = inventory(*((f"inventory/{n}.json", d) for n, d in enumerate(docs)),
                      ("inventory/pc-17.json", b"\x00garbage"))
    seen = with_fleet(Seen().certificate(bundle("good.pem")), fleet)
    selected = engine.select_checks(CONFIG, ["DEV-*"])
    sites, results = engine.evaluate(CONFIG, CONFIG.sites, selected, engine.Gathered(seen.obs),
                                     False, NOW)
    return RunResult(RunInfo("r", "", "", "h", "c"), sites, results)


def test_fleets_count_the_ready_and_group_the_others_by_reason() -> None:
    [corp, nowhere] = device_fleets(fleet_run().results)
    assert (corp.site, corp.domain, corp.devices) == ("hq", "corp.example", 30)
    assert len(corp.ready) == 13 and corp.admin == 1 and corp.blocked == 17
    groups = {g.reason: sorted(line.device for line in g.devices) for g in corp.groups}
    assert groups == {
        "client-control-mode": sorted([f"client-{n}" for n in range(12)] + ["both"]),
        "root-not-listed": ["both", "no-root-1", "no-root-2"],
        "root-inactive": ["off-1"],
        "suffix-empty": [HOSTILE],
    }
    assert corp.groups[0].reason == "client-control-mode"  # the biggest first
    assert (nowhere.domain, nowhere.devices) == (None, 1)
    # an unreadable file is an error of all three checks: one line in its group
    assert [(g.reason, len(g.devices)) for g in nowhere.groups] == [("unreadable-file", 1)]


def test_devices_section_shows_the_groups_and_escapes_device_values() -> None:
    html = render("html", fleet_run())
    section = html.split('id="h-devices"')[1].split("</section>")[0]
    assert "13</b> of 30 devices will activate" in section
    for text in ("client-control-mode", "root-not-listed", "root-inactive", "suffix-empty",
                 "unreadable-file", "no-root-2", "pc-17.json", "1 already in admin"):
        assert text in section, text
    assert "3 more devices" in section  # 13 in client control mode, 10 shown
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in section
    parser = Tags()
    parser.feed(html)
    assert not [t for t, _ in parser.tags if t == "img"]
    assert not [a for _, attrs in parser.tags for a, _ in attrs if a.startswith("on")]


def test_devices_have_a_matrix_column_and_a_team() -> None:
    assert AREAS["DEV"] == "Devices" and TEAM_OF_AREA["DEV"] == "Endpoint"
    assert list(AREAS).index("DEV") == list(AREAS).index("SNMP") - 1


def test_no_devices_no_section() -> None:
    selected = engine.select_checks(CONFIG, ["DEV-*"])
    bare = config("sites: [{name: hq, domains: [{name: corp.example}]}]")
    sites, results = engine.evaluate(bare, bare.sites, selected, engine.Gathered(Seen().obs),
                                     False, NOW)
    assert {r.status for r in results} == {Status.SKIPPED}
    assert device_fleets(results) == []
    assert 'id="h-devices"' not in render("html", RunResult(RunInfo("r", "", "", "h", "c"),
                                                           sites, results))
