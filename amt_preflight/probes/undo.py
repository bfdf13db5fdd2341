"""Undoing what intrusive probes changed (a lease, a DNS test record) when the run stops
early: at its deadline, or on SIGTERM or SIGINT (CHECKS.md, "Interrupted runs").

The undoing must run although the task doing it is being cancelled, and must end in a
bounded time although the server it talks to may be silent: the run ends within 5 s of a
signal. What could not be undone in that time stays in Observations.undo and is named in
every report.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

# Seconds the undoing may take once the run is stopped; the engine waits a little longer
# for the gatherers (engine.STOP_GRACE_S), so every clean-up can record how it ended.
CLEANUP_S = 2.5


def being_cancelled() -> bool:
    """Whether the current task is being cancelled: the run is stopping."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def undo_within(work: Awaitable[T], seconds: float | None = None) -> T | None:
    """Await clean-up work to its end even when the caller is cancelled meanwhile (once or
    again): for `seconds` at most (None: no limit of its own), and once the run is stopping
    (the caller cancelled, now or before) for CLEANUP_S more at most. None when it did not
    finish (it is then cancelled). A cancellation that arrived while waiting is raised once
    the work is over."""
    loop = asyncio.get_running_loop()
    future = asyncio.ensure_future(work)
    end = math.inf if seconds is None else loop.time() + seconds
    if being_cancelled():
        end = min(end, loop.time() + CLEANUP_S)
    cancelled = False
    while not future.done():
        left = end - loop.time()
        if left <= 0:
            break
        try:
            await asyncio.wait({future}, timeout=None if left == math.inf else left)
        except asyncio.CancelledError:
            cancelled = True
            end = min(end, loop.time() + CLEANUP_S)
    if not future.done():
        future.cancel()
    if cancelled:
        if future.done() and not future.cancelled():
            future.exception()  # retrieved: the cancellation wins
        raise asyncio.CancelledError
    if future.cancelled() or not future.done():
        return None
    return future.result()
