"""Traps on regressions: when a site's verdict is worse than in its previous stored run, one
SNMP trap (v2c or v3, `notify.snmp_trap` in config.yaml) naming the site, the old and the new
verdict and the failing check IDs. Nothing when a verdict is the same or better, or a site
has no previous run.

The OIDs are those of contrib/AMT-PREFLIGHT-MIB.txt, under enterprise 32473: the number
RFC 5612 reserves for documentation and examples. They are a placeholder until amt-preflight
has a Private Enterprise Number of its own; a receiver that filters on them must be updated
then.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import TextIO

from amt_preflight.config import Config
from amt_preflight.diff import diff
from amt_preflight.model import RunResult, Verdict

ENTERPRISE = "1.3.6.1.4.1.32473"  # RFC 5612 documentation PEN: a placeholder
MIB_ROOT = f"{ENTERPRISE}.1"  # amtPreflightMIB
VERDICT_WORSE = f"{MIB_ROOT}.0.1"  # amtPreflightVerdictWorse (NOTIFICATION-TYPE)
SITE = f"{MIB_ROOT}.1.1"  # amtPreflightSite
OLD_VERDICT = f"{MIB_ROOT}.1.2"  # amtPreflightOldVerdict
NEW_VERDICT = f"{MIB_ROOT}.1.3"  # amtPreflightNewVerdict
FAILING_CHECKS = f"{MIB_ROOT}.1.4"  # amtPreflightFailingChecks: IDs, comma-separated
FAILING_COUNT = f"{MIB_ROOT}.1.5"  # amtPreflightFailingCount: failing results
RUN_ID = f"{MIB_ROOT}.1.6"  # amtPreflightRunId: `amt-preflight diff` and `report` find it
# The SNMPv3 engine ID traps are sent from, when notify.snmp_trap.engine_id does not say:
# RFC 3411 format 4 (text) under the same enterprise, "amt-preflight".
ENGINE_ID = "80007ed904" + b"amt-preflight".hex()
FAILING_TEXT_LIMIT = 1024  # characters of the ID list (SIZE in the MIB): one UDP datagram


@dataclass(frozen=True)
class Regression:
    site: str
    old: Verdict
    new: Verdict
    failing: tuple[str, ...]  # check IDs with a fail or error result, in report order
    failing_results: int


def regressions(previous: RunResult | None, result: RunResult) -> list[Regression]:
    """The sites whose verdict is worse (higher rank) than in their previous run."""
    found = []
    for site, (old, new) in diff(previous, result).verdicts.items():
        if old is None or Verdict(new).rank <= Verdict(old).rank:
            continue
        failing = [r for r in result.results if r.site == site and r.status.failing]
        ids = tuple(dict.fromkeys(r.check for r in failing))
        found.append(Regression(site, Verdict(old), Verdict(new), ids, len(failing)))
    return found


def trap_values(regression: Regression, run_id: str) -> list[tuple[str, str | int]]:
    """The variable bindings of one amtPreflightVerdictWorse trap."""
    checks = ",".join(regression.failing)
    if len(checks) > FAILING_TEXT_LIMIT:
        checks = checks[:checks.rfind(",", 0, FAILING_TEXT_LIMIT - 4)] + ",..."
    return [
        (SITE, regression.site),
        (OLD_VERDICT, regression.old.value),
        (NEW_VERDICT, regression.new.value),
        (FAILING_CHECKS, checks),
        (FAILING_COUNT, regression.failing_results),
        (RUN_ID, run_id),
    ]


def trap_regressions(config: Config, previous: RunResult | None, result: RunResult,
                     stderr: TextIO = sys.stderr) -> int:
    """Send one trap per site whose verdict got worse; a trap that cannot be sent is a
    warning on `stderr`, never an exception. How many were sent."""
    receiver = config.notify.snmp_trap
    found = regressions(previous, result)
    if receiver is None or not found:
        return 0
    from amt_preflight.probes.snmp import TrapError, send_trap

    engine_id = receiver.engine_id or ENGINE_ID
    sent = 0
    for regression in found:
        try:
            asyncio.run(send_trap(receiver, config, engine_id, VERDICT_WORSE,
                                  trap_values(regression, result.run.id),
                                  config.defaults.timeout))
        except TrapError as exc:
            print(f"amt-preflight: warning: SNMP trap for site {regression.site} to "
                  f"{receiver.host}:{receiver.port} not sent: {exc}", file=stderr)
        else:
            sent += 1
    return sent

