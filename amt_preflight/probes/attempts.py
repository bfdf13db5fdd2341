"""The one retry rule of every probe that sends and waits: try again after silence only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from amt_preflight.observations.base import Outcome

if TYPE_CHECKING:
    from amt_preflight.probes.observer import ProbeObserver

R = TypeVar("R")


async def after_silence(
    what: str,
    attempt: Callable[[], Awaitable[R]],
    outcome_of: Callable[[R], Outcome],
    *,
    retries: int,
    limiter: asyncio.Semaphore,
    observer: ProbeObserver,
) -> tuple[R, int]:
    """Run `attempt` under the run's limit on probes in flight, again after silence only (a
    refusal, a malformed reply or an answer is final), at most retries + 1 times:
    (the last attempt's result, how many attempts ran)."""
    count = 0
    while True:
        count += 1
        async with limiter:
            observer.probe_started(what)
            try:
                result = await attempt()
            finally:
                observer.probe_finished(what)
        if outcome_of(result) is not Outcome.TIMEOUT or count > retries:
            return result, count
