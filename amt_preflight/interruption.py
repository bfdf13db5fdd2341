"""SIGTERM and SIGINT during a run (CHECKS.md, "Interrupted runs"): `systemctl stop`, a
monitoring timeout, Ctrl-C. The run ends within 5 s: the gathering stops at once (intrusive
changes are undone, within probes.undo.CLEANUP_S), what was unfinished becomes an error
("interrupted"), and the reports and the history row are still written.

The first signal stops the gathering; later ones are only noted (the undoing and the
writing are bounded in time, and cutting them short would leave a lease or a record behind
unreported). Outside the event loop a signal is noted and the run goes on to write what it
has; inside it, asyncio's loop.add_signal_handler delivers it to the engine, which cancels
the gatherers so that their clean-up code runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# What is left of the run's tasks once the engine is done gets this long to end (they were
# cancelled; a clean-up still running is bounded by CLEANUP_S already).
SETTLE_S = 0.5

_Handler = Callable[[int, FrameType | None], Any] | int | None


class Interruption:
    """The run's record of SIGTERM / SIGINT: which came first, and whom to tell."""

    def __init__(self) -> None:
        self.signal: str | None = None  # the first signal's name, e.g. "SIGTERM"
        self.count = 0
        self._stop: Callable[[], None] | None = None

    def fire(self, signum: int) -> None:
        """A signal arrived: note it; the first one stops the gathering if it runs."""
        self.count += 1
        name = signal.Signals(signum).name
        if self.signal is None:
            self.signal = name
            _say(f"amt-preflight: {name}: stopping: undoing intrusive changes, then writing "
                 "the reports\n")
        if self._stop is not None:
            self._stop()

    @contextmanager
    def noted(self) -> Iterator[Interruption]:
        """Inside the block SIGTERM and SIGINT are noted instead of ending the process (or
        raising KeyboardInterrupt), so a signal between the survey and the last report
        written still leaves every file and the history row. Only in the main thread."""
        previous: dict[signal.Signals, _Handler] = {}
        try:
            for sig in SIGNALS:
                previous[sig] = signal.signal(sig, self._noted)
        except ValueError:  # not the main thread: signals are someone else's business
            pass
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)

    def _noted(self, signum: int, frame: FrameType | None) -> None:
        self.fire(signum)

    @contextmanager
    def delivered(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], None]
                  ) -> Iterator[None]:
        """Inside the block a signal calls `stop` in the event loop (loop.add_signal_handler);
        one that came earlier calls it at once. The handlers before are restored after."""
        installed: list[tuple[signal.Signals, _Handler]] = []
        for sig in SIGNALS:
            before = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, self.fire, sig)
            except (ValueError, RuntimeError, NotImplementedError):
                break  # not the main thread: no signal handling here
            installed.append((sig, before))
        self._stop = stop
        try:
            if self.signal is not None:
                stop()
            yield
        finally:
            self._stop = None
            for sig, before in installed:
                loop.remove_signal_handler(sig)
                if before is not None:  # remove_signal_handler set the default one
                    signal.signal(sig, before)


def _say(text: str) -> None:
    """A line on stderr straight to its descriptor: this may run in a signal handler, while
    the interrupted code is inside a write to sys.stderr (a reentrant write would raise)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no stderr: reports say it
        os.write(sys.stderr.fileno(), text.encode("utf-8", "replace"))


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main), except that the run's threads (its default executor: name lookups,
    LDAP, certificate files) are not waited for at the end: a thread stuck in a read must
    not hold the process past the deadline or a signal. Tasks still running are cancelled
    and get SETTLE_S to end."""
    loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(thread_name_prefix="amt-preflight")
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_the_rest(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            executor.shutdown(wait=False, cancel_futures=True)
            loop.close()


def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.wait(left, timeout=SETTLE_S))
    for task in left:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a task cancelled at the end has nothing to report
