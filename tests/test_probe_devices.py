"""The device report reader and the amt.devices gatherer: real rpc-go shapes read, hostile
files turned into problems naming the file and why, never an exception."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from amt_preflight.config import ConfigError, parse
from amt_preflight.observations import Observations
from amt_preflight.observations.devices import HASH_ACTIVE, HASH_ALGORITHM, HASH_VALUE
from amt_preflight.observations.dns import ResolverSet
from amt_preflight.probes import RESOLVER_FREE, SiteProbes, gatherers
from amt_preflight.probes.devices import MAX_FILE, read_inventory, read_rpc_amtinfo
from lab import devices as lab_devices

from .certs import ROOT
from .fleet import device, read


def problem_of(doc: Any) -> tuple[str, str]:
    found, problems = read("inventory/pc-17.json", doc)
    assert not found
    [problem] = problems
    assert problem.source == "inventory/pc-17.json" and problem.target == "pc-17.json"
    return problem.kind, problem.problem


# --- the reader


def test_reads_the_lab_fleet_as_rpc_go_writes_it() -> None:
    files = lab_devices.files(ROOT)
    found, problems = read_rpc_amtinfo("hq-ws001.json", files["hq-ws001.json"])
    assert not problems
    [report] = found
    assert (report.name, report.hostname, report.firmware) == ("hq-ws001", "hq-ws001", "16.1.27")
    assert report.control_mode == "pre-provisioning state"
    assert (report.dns_suffix, report.dns_suffix_os) == ("corp.example", "corp.example")
    lab_root = [h for h in report.hashes if h[HASH_VALUE] == ROOT]
    assert [(h[HASH_ALGORITHM], h[HASH_ACTIVE]) for h in lab_root] == [("sha256", True)]
    assert len(report.hashes) == 24
    # the cut file is a problem, the rest read
    assert read_rpc_amtinfo("hq-ws040.json", files["hq-ws040.json"])[1][0].kind == "not-json"


def test_an_array_of_reports_and_its_bad_entries() -> None:
    found, problems = read("fleet.json", [device("a"), "a string", device("b"), {"amt": 1}])
    assert [r.name for r in found] == ["a", "b"] and [r.file_label for r in found] == [
        "fleet.json[0]", "fleet.json[2]"]
    assert [(p.target, p.kind) for p in problems] == [("fleet.json[1]", "not-a-report"),
                                                      ("fleet.json[3]", "not-a-report")]


def test_many_bad_entries_are_one_problem() -> None:
    found, problems = read("junk.json", [{}] * 5_000)
    assert not found and len(problems) == 1 and "5000" in problems[0].problem


def test_utf16_as_powershell_writes_it() -> None:
    data = "\ufeff".encode("utf-16-le") + json.dumps(device("pc-01")).encode("utf-16-le")
    found, problems = read("pc-01.json", data)
    assert [r.name for r in found] == ["pc-01"] and not problems


@pytest.mark.parametrize("data", [
    b"",
    b"not json at all",
    b'{"controlMode": "pre-provisioning state", "certificateHashes": {}',  # cut short
    b'{"amt": "\xc3\x28"}',  # not UTF-8
    b"\x00\xff\x00\xfe" * 100,
    b"[" * 100_000 + b"]" * 100_000,  # nested deeper than any parser should go
    b'{"controlMode": ' + b"9" * 10_000 + b"}",  # a number too long to convert
])
def test_not_json(data: bytes) -> None:
    kind, _ = problem_of(data)
    assert kind == "not-json"


@pytest.mark.parametrize(("doc", "said"), [
    ("a string", "string"),
    (42, "number"),
    (None, "null"),
    ({"controlMode": "pre-provisioning state"}, "certificateHashes"),
    ({k: v for k, v in device().items() if k != "controlMode"}, "controlMode"),
    (device(certificateHashes=[]), "certificateHashes"),
    (device(certificateHashes=None), "certificateHashes"),
    (device(controlMode=["pre-provisioning state"]), "controlMode"),
    (device(controlMode=""), "controlMode"),
    (device(hostnameOS=17), "hostnameOS"),
    (device(dnsSuffix={"a": 1}), "dnsSuffix"),
    (device(amt=1e999), "amt"),  # infinity
    (device(certificateHashes={"x": "abc"}), "certificateHashes"),
    (device(certificateHashes={"x": {"Hash": 5, "IsActive": True}}), "Hash"),
    (device(certificateHashes={"x": {"Hash": "zz" * 32, "IsActive": True}}), "Hash"),
    (device(certificateHashes={"x": {"Hash": "ab" * 32, "IsActive": "true"}}), "IsActive"),
    (device(certificateHashes={"x": {"Hash": "ab" * 32, "IsActive": True,
                                     "IsDefault": 1}}), "IsDefault"),
    (device(certificateHashes={"x": {"Hash": "ab" * 32, "IsActive": True,
                                     "Algorithm": []}}), "Algorithm"),
    (device(certificateHashes={f"h{i}": {"Hash": "ab" * 32, "IsActive": True}
                               for i in range(500)}), "certificateHashes"),
])
def test_wrong_shapes_and_types_are_problems_naming_the_field(doc: Any, said: str) -> None:
    kind, problem = problem_of(doc)
    assert kind == "not-a-report" and said in problem


def test_hostile_strings_are_clipped() -> None:
    long = "<script>" * 20_000
    found, _ = read("pc.json", device(long, suffix=long, uuid=long, amt=long,
                                      controlMode=long))
    [report] = found
    for text in (report.name, report.dns_suffix, report.uuid, report.firmware,
                 report.control_mode):
        assert len(text) < 400
    entry = {"Hash": ROOT.upper(), "Name": "x" * 10_000, "Algorithm": "S" * 1000,
             "IsActive": True}
    [report], _ = read("pc.json", device(certificateHashes={"k" * 10_000: entry}))
    [(name, algorithm, value, _, default)] = report.hashes
    assert len(name) < 200 and len(algorithm) < 60 and value == ROOT and default is False


def test_optional_fields_may_be_absent_or_null() -> None:
    [report], problems = read("pc.json", {"controlMode": "pre-provisioning state",
                                          "certificateHashes": {}, "dnsSuffix": None})
    assert not problems and report.name == "pc.json" and report.hashes == ()


# --- files


def config_in(folder: Path, patterns: list[str]) -> Any:
    text = f"sites:\n  - name: hq\n    amt: {{devices: {json.dumps(patterns)}}}\n"
    return parse(text, folder / "config.yaml")


def test_inventory_reads_globs_relative_to_the_config_and_names_every_problem(
        tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "pc-01.json").write_text(json.dumps(device("pc-01")))
    (inventory / "pc-02.json").write_text(json.dumps([device("pc-02"), device("pc-03")]))
    (inventory / "pc-17.json").write_bytes(b"\x89PNG\r\n")
    with open(inventory / "huge.json", "wb") as big:  # 50 MB, sparse: refused unread
        big.truncate(50 * 2**20)
    (inventory / "folder.json").mkdir()
    os.mkfifo(inventory / "pipe.json")  # would block a reader that opens it naively
    cfg = config_in(tmp_path, ["inventory/*.json", "inventory/pc-01.json", "missing/*.json",
                               "gone.json"])
    found = read_inventory(cfg, cfg.sites[0].amt.devices)
    assert sorted(r.name for r in found.reports) == ["pc-01", "pc-02", "pc-03"]
    assert found.reports[0].source == "inventory/pc-01.json"  # as the config names it
    kinds = {p.target: p.kind for p in found.problems}
    assert kinds == {"pc-17.json": "not-json", "huge.json": "too-large",
                     "folder.json": "unreadable", "pipe.json": "unreadable",
                     "missing/*.json": "no-match", "gone.json": "unreadable"}
    assert found.files == 7  # pc-01.json named twice, read once


def test_a_file_grown_past_the_bound_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_bytes(b" " * (MAX_FILE + 1))
    cfg = config_in(tmp_path, ["big.json"])
    [problem] = read_inventory(cfg, ["big.json"]).problems
    assert problem.kind == "too-large"


def test_the_gatherer_is_registered_resolver_free_and_records_by_site(tmp_path: Path) -> None:
    from amt_preflight.catalogue import Need
    from amt_preflight.probes import OncePerRun
    from amt_preflight.probes.dns import DnsProbe

    (tmp_path / "pc.json").write_text(json.dumps(device("pc")))
    cfg = config_in(tmp_path, ["pc.json"])
    assert Need.DEVICE_FILES in RESOLVER_FREE
    obs = Observations()

    async def gather() -> None:
        dns = DnsProbe(obs, asyncio.Semaphore(1), 1.0, 0)
        ctx = SiteProbes(cfg, cfg.sites[0], obs, dns, ResolverSet((), "none"), False,
                         OncePerRun())
        await gatherers()[Need.DEVICE_FILES](ctx)

    asyncio.run(gather())
    view = obs.site("hq")
    assert view.devices is not None and [r.name for r in view.devices.reports] == ["pc"]
    assert obs.site("other").devices is None


# --- config


@pytest.mark.parametrize(("value", "said"), [
    ('[""]', "empty path"),
    ("inventory/*.json", "valid list"),
    ("[5]", "string"),
])
def test_config_errors_name_file_line_and_key(tmp_path: Path, value: str, said: str) -> None:
    text = f"sites:\n  - name: hq\n    amt:\n      devices: {value}\n"
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path / "site.yaml")
    assert caught.value.line == 4 and caught.value.key.startswith("sites[0].amt.devices")
    assert said in caught.value.problem


def test_the_lab_publishes_its_fleet_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "retired.json").write_text("{}")
    made = lab_devices.publish(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(made) and len(made) == 40
    cfg = config_in(tmp_path, ["*.json"])
    found = read_inventory(cfg, ["*.json"])
    assert len(found.reports) == 39 and [p.target for p in found.problems] == ["hq-ws040.json"]
