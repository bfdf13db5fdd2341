"""Certificate rules benchmark: the CERT-* checks on N domains, each with its own PFX-like
bundle (the lab's provisioning chain), as the engine evaluates them.

    .venv/bin/python bench/cert_rules.py [--domains 1000] [--repeat 3]

The bundles are read once (that is the certificate probe's work, not the rules'); then, --repeat
times, every CERT-* check runs on all domains through engine.evaluate (results dressed with
metadata, waivers, fingerprints). Prints the median time, the time per domain against the
target of DESIGN.md (the certificate rules cost at most 5 ms a domain), and the statuses
with their reason tags.
No network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from amt_preflight import engine  # noqa: E402
from amt_preflight.checks import catalogue  # noqa: E402
from amt_preflight.config import parse  # noqa: E402
from amt_preflight.observations import Observations  # noqa: E402
from amt_preflight.probes.certificate import read_bundle  # noqa: E402
from lab import pki  # noqa: E402

TARGET_MS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    now = datetime.now(UTC)
    files = pki.files(now)
    pem = files["bundles/good.pem"]
    domains = [f"d{i}.corp.example" for i in range(args.domains)]
    config = parse(
        "sites:\n  - name: hq\n    amt: {generations: [11, 16], custom_root_hashes: ["
        f"{pki.root_sha256()}]}}\n    domains:\n"
        + "".join(f"      - {{name: {d}, certificate: {{file: corp.pem}}}}\n" for d in domains),
        REPO / "bench-config.yaml")
    observations = Observations()
    for domain in domains:
        observations.certificates[("hq", domain)] = read_bundle(domain, "corp.pem", pem, None,
                                                                None)
    selected = [spec for spec in catalogue() if spec.id.startswith("CERT-")]
    times, statuses = [], Counter[str]()
    for _ in range(args.repeat):
        started = time.perf_counter()
        _, results = engine.evaluate(config, config.sites, selected,
                                     engine.Gathered(observations), False, now)
        times.append(time.perf_counter() - started)
        statuses = Counter(f"{r.check} {r.status.value}" + (f" {r.reason}" if r.reason else "")
                           for r in results)
    median = statistics.median(times)
    per_domain = median / args.domains * 1000
    verdict = "met" if per_domain <= TARGET_MS else "MISSED"
    print(f"{len(selected)} CERT-* checks on {args.domains:,} domains: {median:.3f} s "
          f"(median of {args.repeat}), {per_domain:.2f} ms a domain; target ≤ {TARGET_MS:g} "
          f"ms: {verdict}")
    for key, count in sorted(statuses.items()):
        print(f"  {key:48} {count:>7,}")


if __name__ == "__main__":
    main()
