"""The progress display of `run` on a terminal: probes done and in flight, and the newest."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from amt_preflight.probes.observer import ProbeObserver


class ProgressDisplay(ProbeObserver):
    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True,
        )
        self.task = self.progress.add_task("starting probes")
        self.done = 0
        self.in_flight = 0

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def probe_started(self, what: str) -> None:
        self.in_flight += 1
        self._show(what)

    def probe_finished(self, what: str) -> None:
        self.in_flight -= 1
        self.done += 1
        self._show(what)

    def _show(self, what: str) -> None:
        # rich escapes nothing in descriptions: names from the config must not become markup
        from rich.markup import escape

        self.progress.update(
            self.task,
            description=f"probing: {self.done} done, {self.in_flight} in flight  "
            f"[dim]{escape(what)}[/]",
        )
