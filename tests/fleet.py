"""Hand-made device reports for the DEV-* tests: `rpc amtinfo -cert -json` objects, read by
the probe's own reader, added to hand-made observations."""

from __future__ import annotations

import json
from typing import Any

from amt_preflight.observations.devices import DeviceFileProblem, DeviceInventory, DeviceReport
from amt_preflight.probes.devices import read_rpc_amtinfo
from lab import devices as lab_devices

from .certs import NOW, ROOT, Seen

PRE = lab_devices.PRE_PROVISIONING
CLIENT = lab_devices.CLIENT
ADMIN = lab_devices.ADMIN


def device(name: str = "pc-01", *, suffix: str = "corp.example",
           suffix_os: str = "corp.example", mode: str = PRE, root: str = "active",
           root_hash: str = ROOT, algorithm: str = "SHA256", **fields: Any) -> dict[str, Any]:
    """One device's report: factory defaults plus the lab root's hash (active, inactive or
    missing), in rpc-go's shape; `fields` replace or add top-level keys."""
    hashes = {n: {"Hash": h, "Name": n, "Algorithm": "SHA256", "IsActive": True,
                  "IsDefault": True} for n, h in lab_devices.DEFAULT_HASHES[16]}
    if root != "missing":
        hashes["Lab Root"] = {"Hash": root_hash, "Name": "Lab Root", "Algorithm": algorithm,
                              "IsActive": root == "active", "IsDefault": False}
    doc: dict[str, Any] = {
        "amt": "16.1.27", "buildNumber": "2225", "sku": "16392",
        "features": "AMT Pro Corporate", "uuid": f"uuid-of-{name}", "controlMode": mode,
        "dnsSuffix": suffix, "dnsSuffixOS": suffix_os, "hostnameOS": name,
        "certificateHashes": hashes,
    }
    doc.update(fields)
    return doc


def encode(doc: Any) -> bytes:
    return json.dumps(doc, indent=2).encode()


def read(source: str, doc: Any) -> tuple[list[DeviceReport], list[DeviceFileProblem]]:
    """A file as the reader makes of it: `doc` is JSON-encoded unless it is bytes."""
    return read_rpc_amtinfo(source, doc if isinstance(doc, bytes) else encode(doc))


def inventory(*files: tuple[str, Any]) -> DeviceInventory:
    """The inventory of these files (name, document or raw bytes)."""
    reports: list[DeviceReport] = []
    problems: list[DeviceFileProblem] = []
    for source, doc in files:
        found, bad = read(source, doc)
        reports += found
        problems += bad
    return DeviceInventory(("inventory/*.json",), tuple(reports), tuple(problems), len(files),
                           NOW.timestamp(), 1.0)


def devices(*docs: dict[str, Any]) -> DeviceInventory:
    """One file per device, named after it."""
    return inventory(*((f"inventory/{d.get('hostnameOS') or 'x'}.json", d) for d in docs))


def with_fleet(seen: Seen, fleet: DeviceInventory, site: str = "hq") -> Seen:
    seen.obs.record(fleet, site)
    return seen
