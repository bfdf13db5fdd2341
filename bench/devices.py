"""Device reports benchmark: 10,000 `rpc amtinfo -cert -json` files read and judged.

    .venv/bin/python bench/devices.py [--devices 10000] [--repeat 3] [--array]

Writes --devices device files (the lab fleet's shapes: mostly ready, some without the lab
root, some with it inactive, some with a foreign suffix, a few in client or admin control
mode, one file in a hundred cut short) into a temporary folder beside a config naming them
and the lab's provisioning certificate (PEM, chain and key), then times, --repeat times:

- reading: the amt.devices gatherer's work (glob, read, parse, validate every file);
- judging: DEV-ROOT-ACTIVE, DEV-SUFFIX-MATCH and DEV-CONTROL-MODE on those observations,
  as the engine evaluates them (results dressed with metadata, waivers, fingerprints).

It prints the median of each, their sum against the target of DESIGN.md (10,000 device
reports read and judged in at most 2 s), and the statuses. With --array the devices go into
files of 500 devices each (JSON arrays) instead of one file per device. No network.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from amt_preflight import engine  # noqa: E402
from amt_preflight.checks import spec  # noqa: E402
from amt_preflight.config import load  # noqa: E402
from amt_preflight.observations import Observations  # noqa: E402
from amt_preflight.probes import certificate  # noqa: E402
from amt_preflight.probes.devices import read_inventory  # noqa: E402
from lab import devices, pki  # noqa: E402

TARGET_S = 2.0
DEV_CHECKS = ("DEV-ROOT-ACTIVE", "DEV-SUFFIX-MATCH", "DEV-CONTROL-MODE")
ARRAY_SIZE = 500


def _device(number: int) -> devices.LabDevice:
    """The lab fleet's cases, spread over the numbers."""
    cases = {
        7: {"lab_root": "missing"},
        11: {"lab_root": "inactive"},
        13: {"dns_suffix": "corp.local", "dns_suffix_os": "corp.local"},
        17: {"dns_suffix": ""},
        19: {"control_mode": devices.CLIENT},
        23: {"control_mode": devices.ADMIN},
    }
    base = devices.LabDevice(number, generation=11 if number % 4 == 0 else 16)
    for modulus, changes in cases.items():
        if number % modulus == 0:
            return replace(base, **changes)  # type: ignore[arg-type]
    return base


def write_fleet(folder: Path, count: int, array: bool) -> tuple[int, int]:
    """The device files; (files, bytes)."""
    root = pki.root_sha256()
    inventory = folder / "inventory"
    inventory.mkdir()
    written = files = 0
    if array:
        for start in range(1, count + 1, ARRAY_SIZE):
            docs = [devices.report(_device(n), root)
                    for n in range(start, min(start + ARRAY_SIZE, count + 1))]
            data = devices.encode(docs)
            (inventory / f"fleet-{start:06d}.json").write_bytes(data)
            written, files = written + len(data), files + 1
        return files, written
    for number in range(1, count + 1):
        data = devices.encode(devices.report(_device(number), root))
        if number % 100 == 0:
            data = data[: len(data) // 2]  # an interrupted copy
        (inventory / f"ws{number:06d}.json").write_bytes(data)
        written, files = written + len(data), files + 1
    return files, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--array", action="store_true",
                        help=f"JSON arrays of {ARRAY_SIZE} devices instead of a file each")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="amt-preflight-bench-") as temp:
        folder = Path(temp)
        (folder / "corp.pem").write_bytes(pki.files(now)["bundles/good.pem"])
        (folder / "config.yaml").write_text(
            "sites:\n  - name: hq\n    amt: {devices: [inventory/*.json]}\n"
            "    domains: [{name: corp.example, certificate: {file: corp.pem}}]\n")
        files, size = write_fleet(folder, args.devices, args.array)
        config = load(folder / "config.yaml")
        site = config.sites[0]
        selected = [spec(c) for c in DEV_CHECKS]
        reads, judgements = [], []
        statuses: Counter[str] = Counter()
        for _ in range(args.repeat):
            obs = Observations()
            obs.certificates[("hq", "corp.example")] = certificate.load(
                config, "corp.example", site.domains[0].certificate)  # type: ignore[arg-type]
            gc.collect()  # the previous round's garbage is not this round's cost
            clock = time.perf_counter()
            inventory = read_inventory(config, site.amt.devices)
            reads.append(time.perf_counter() - clock)
            obs.devices["hq"] = inventory
            gc.collect()
            clock = time.perf_counter()
            _, results = engine.evaluate(config, [site], selected, engine.Gathered(obs), False,
                                         now)
            judgements.append(time.perf_counter() - clock)
            statuses = Counter(f"{r.check} {r.status.value}" for r in results)
    read, judge = statistics.median(reads), statistics.median(judgements)
    total = read + judge
    print(f"{args.devices:,} devices in {files:,} files ({size / 2**20:.1f} MiB): "
          f"{len(inventory.reports):,} reports, {len(inventory.problems):,} problem files")
    print(f"read   {read:6.3f} s  ({read / args.devices * 1e6:5.1f} µs a device)")
    print(f"judge  {judge:6.3f} s  ({judge / args.devices * 1e6:5.1f} µs a device, "
          f"{sum(statuses.values()):,} results)")
    print(f"total  {total:6.3f} s  target ≤ {TARGET_S:.1f} s: "
          f"{'met' if total <= TARGET_S else 'MISSED'}  (median of {args.repeat})")
    for key, count in sorted(statuses.items()):
        print(f"  {key:28} {count:7,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
