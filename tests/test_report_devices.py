"""The HTML report's Devices section: per site and domain, how many devices will activate and
the others grouped by reason; every value from a device file escaped."""

from __future__ import annotations

from dataclasses import replace

import pytest

from amt_preflight import engine
from amt_preflight.model import Result, RunInfo, RunResult, Status
from amt_preflight.reports import render
from amt_preflight.reports.html import AREAS, TEAM_OF_AREA
from amt_preflight.reports.sections import devices

from . import runs
from .certs import NOW, Seen, bundle
from .fleet import ADMIN, CLIENT, device, inventory, with_fleet
from .observed import config
from .test_reports import assert_no_markup_injected

pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length")
HOSTILE = '<img src=x onerror=alert(1)>'
CONFIG = config("""
sites:
  - name: hq
    amt: {devices: [inventory/*.json]}
    domains: [{name: corp.example, certificate: {file: corp.pem}}]
""")


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
    [corp, nowhere] = devices.build(fleet_run().results).fleets
    assert (corp.site, corp.domain, corp.devices) == ("hq", "corp.example", 30)
    assert len(corp.ready) == 13 and corp.admin == 1 and corp.blocked == 17
    groups = {g.reason: sorted(line.device for line in g.devices) for g in corp.groups}
    assert groups == {
        "CLIENT_CONTROL_MODE": sorted([f"client-{n}" for n in range(12)] + ["both"]),
        "ROOT_NOT_LISTED": ["both", "no-root-1", "no-root-2"],
        "ROOT_INACTIVE": ["off-1"],
        "SUFFIX_EMPTY": [HOSTILE],
    }
    assert corp.groups[0].reason == "CLIENT_CONTROL_MODE"  # the biggest first
    assert (nowhere.domain, nowhere.devices) == (None, 1)
    # an unreadable file is an error of all three checks: one line in its group
    assert [(g.reason, len(g.devices)) for g in nowhere.groups] == [("UNREADABLE_FILE", 1)]


def test_devices_section_shows_the_groups_and_escapes_device_values() -> None:
    html = render("html", fleet_run())
    section = html.split('id="h-devices"')[1].split("</section>")[0]
    assert "13</b> of 30 devices will activate" in section
    for text in ("CLIENT_CONTROL_MODE", "ROOT_NOT_LISTED", "ROOT_INACTIVE", "SUFFIX_EMPTY",
                 "UNREADABLE_FILE", "no-root-2", "pc-17.json", "1 already in admin"):
        assert text in section, text
    assert "3 more devices" in section  # 13 in client control mode, 10 shown
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in section
    assert_no_markup_injected(html)


def test_devices_have_a_matrix_column_and_a_team() -> None:
    assert AREAS["DEV"] == "Devices" and TEAM_OF_AREA["DEV"] == "Endpoint"
    assert list(AREAS).index("DEV") == list(AREAS).index("SNMP") - 1


def test_no_devices_no_section() -> None:
    selected = engine.select_checks(CONFIG, ["DEV-*"])
    bare = config("sites: [{name: hq, domains: [{name: corp.example}]}]")
    sites, results = engine.evaluate(bare, bare.sites, selected, engine.Gathered(Seen().obs),
                                     False, NOW)
    assert {r.status for r in results} == {Status.SKIPPED}
    assert devices.build(results).fleets == []
    assert 'id="h-devices"' not in render("html", RunResult(RunInfo("r", "", "", "h", "c"),
                                                           sites, results))


# --- the view-model (reports/sections/devices.py) on hand-made results --------------------


def made(check: str, target: str, status: Status, reason: object, *,
         domain: object = "corp.example") -> Result:
    return runs.result(check, target, status, message=f"{target}: {reason}",
                       evidence={"reason": reason, "domain": domain}, started="")


def test_device_reason_prefers_the_results_own_field() -> None:
    r = made("DEV-ROOT-ACTIVE", "pc-1", Status.FAIL, "root-not-listed")
    assert devices.device_reason(r) == "ROOT_NOT_LISTED"  # from the evidence (a run saved before)
    assert devices.device_reason(made("DEV-ROOT-ACTIVE", "pc", Status.FAIL, ["x"])) is None
    assert devices.device_reason(replace(r, reason="ROOT_NOT_LISTED")) == "ROOT_NOT_LISTED"
    assert devices.device_reason(replace(r, reason=None)) == "ROOT_NOT_LISTED"


def test_a_device_skipped_for_its_domains_certificate_is_grouped_by_what_it_lacks() -> None:
    r = made("DEV-ROOT-ACTIVE", "pc-1", Status.SKIPPED, "x")
    for prerequisite, group in (("CERT-LOADABLE", "NO_CERTIFICATE"),
                                ("CERT-CHAIN-COMPLETE", "NO_ROOT"), ("CERT-OTHER", "PREREQUISITE")):
        skipped = replace(r, reason="PREREQUISITE", evidence={"prerequisite": prerequisite})
        assert devices.device_reason(skipped) == group


def test_build_counts_ready_devices_and_groups_the_others() -> None:
    view = devices.build([
        made("DEV-ROOT-ACTIVE", "pc-1", Status.PASS, "root-active"),
        made("DEV-CONTROL-MODE", "pc-1", Status.SKIPPED, "admin-control-mode"),
        made("DEV-ROOT-ACTIVE", "pc-2", Status.PASS, "root-active"),
        made("DEV-CONTROL-MODE", "pc-2", Status.FAIL, "client-control-mode"),
        made("DEV-ROOT-ACTIVE", "pc-3", Status.FAIL, "root-not-listed"),
        made("DEV-CONTROL-MODE", "pc-3", Status.FAIL, "client-control-mode"),
        made("DEV-ROOT-ACTIVE", "pc-4", Status.FAIL, "a-new-tag"),
        # a file that gave no device: an error of every DEV-* check, one line
        made("DEV-ROOT-ACTIVE", "pc-5.json", Status.ERROR, "unreadable-file", domain=None),
        made("DEV-CONTROL-MODE", "pc-5.json", Status.ERROR, "unreadable-file", domain=None),
        made("DEV-ROOT-ACTIVE", "-", Status.ERROR, "not-read", domain=None),
        made("DEV-ROOT-ACTIVE", "-", Status.SKIPPED, None),  # no target here
        made("DEV-ROOT-ACTIVE", "pc-6", Status.FAIL, {"odd": 1}),  # no text: left out
        made("CERT-LOADABLE", "pc-7", Status.FAIL, "root-not-listed"),
    ])
    corp, nowhere = view.fleets
    assert (corp.domain, corp.devices, corp.ready, corp.admin) == (
        "corp.example", 4, ["pc-1"], 1)
    # a run saved before Result.reason: its tags read as the checks give them now
    assert [(g.reason, [line.device for line in g.devices]) for g in corp.groups] == [
        ("CLIENT_CONTROL_MODE", ["pc-2", "pc-3"]), ("ROOT_NOT_LISTED", ["pc-3"]),
        ("A_NEW_TAG", ["pc-4"])]
    assert corp.groups[2].text == "A_NEW_TAG"  # a tag without a meaning shows as it is
    assert (nowhere.domain, nowhere.devices, nowhere.blocked) == (None, 2, 2)
    assert [(g.reason, len(g.devices)) for g in nowhere.groups] == [
        ("UNREADABLE_FILE", 1), ("NOT_READ", 1)]
    assert (view.devices, view.ready) == (6, 1)
    assert devices.build([]) == devices.DevicesView([])
