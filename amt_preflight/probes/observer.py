"""The progress protocol: what a probe tells while it works (the console's progress display
subclasses it)."""

from __future__ import annotations


class ProbeObserver:
    """Told when a probe starts and ends; the console's progress display subclasses it."""

    def probe_started(self, what: str) -> None:
        """A probe attempt began."""

    def probe_finished(self, what: str) -> None:
        """A probe attempt ended, however it ended."""
