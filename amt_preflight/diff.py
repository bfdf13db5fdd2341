"""What changed between two runs: pure, on two RunResults, wherever they came from (the
history store, two JSON files on the command line)."""

from __future__ import annotations

from dataclasses import dataclass

from amt_preflight.model import Result, RunResult


@dataclass(frozen=True)
class Diff:
    new: list[Result]  # failing now, not before
    resolved: list[Result]  # failing before (as it was then), not now
    unchanged: list[Result]  # failing then and now (as it is now)
    verdicts: dict[str, tuple[str | None, str]]  # site -> (before, now)

    @property
    def changed_sites(self) -> list[str]:
        return [site for site, (old, new) in self.verdicts.items() if old != new]


def diff(old: RunResult | None, new: RunResult) -> Diff:
    """What changed between two runs, finding by finding (matched by fingerprint)."""
    before = {r.fingerprint: r for r in old.results if r.status.failing} if old else {}
    now = {r.fingerprint: r for r in new.results if r.status.failing}
    old_verdicts = {s.name: s.verdict.value for s in old.sites} if old else {}
    return Diff(
        new=[r for fp, r in now.items() if fp not in before],
        resolved=[r for fp, r in before.items() if fp not in now],
        unchanged=[r for fp, r in now.items() if fp in before],
        verdicts={s.name: (old_verdicts.get(s.name), s.verdict.value) for s in new.sites},
    )
