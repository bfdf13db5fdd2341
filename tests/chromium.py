"""Headless Chromium driven over the DevTools protocol, with no Python dependency.

`--remote-debugging-pipe` makes Chromium read protocol commands from its fd 3 and write
replies and events to its fd 4, each a JSON text ended by NUL: no websocket, no TCP port.
Every event of the page is kept in `events`, so a test can ask afterwards what the page
logged, threw, requested or tried to show in a dialog.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

# Deb package `chromium` (scripts/install-debian-packages).
EXECUTABLE = "chromium"
# Everything Chromium would fetch or start for itself off: the page's requests are the only
# ones, and the profile is fresh per launch.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
# The page's domains whose events the tests read.
DOMAINS = ("Page", "Runtime", "Log", "Network")
REPLY_TIMEOUT = 60.0  # seconds; a 1,000-site report loads in a few
SCREENSHOT_MAX_HEIGHT = 16_000  # pixels; Chromium's texture limit is 16,384
SCREENSHOT_SETTLE_ROUNDS = 10
SCREENSHOT_SETTLE_MS = 100  # a few frames: long enough for content to lay out


class ChromiumError(Exception):
    """Chromium exited, stalled or answered a command with an error."""


def executable() -> str | None:
    """Chromium's path, or None when it is not installed."""
    return shutil.which(EXECUTABLE)


def _above_nine(fd: int) -> int:
    """A copy of fd numbered 10 or more, the original closed."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Chromium:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, profile: Path, *, width: int = 1280, height: int = 900) -> None:
        self.profile = profile
        self.width = width
        self.height = height
        self.log = profile / "chromium.log"  # its stderr, quoted when it fails
        self.events: list[tuple[str, Mapping[str, Any]]] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._to_browser = -1
        self._from_browser = -1
        self._buffer = b""
        self._last_id = 0
        self._session: str | None = None

    def __enter__(self) -> Chromium:
        path = executable()
        if path is None:
            raise ChromiumError(f"{EXECUTABLE} is not installed")
        self.profile.mkdir(parents=True, exist_ok=True)
        commands_read, self._to_browser = os.pipe()
        self._from_browser, replies_write = os.pipe()
        # Moved above 9: then neither is fd 3 or 4 itself, which the redirections overwrite.
        commands_read, replies_write = (_above_nine(fd) for fd in (commands_read, replies_write))
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                # bash (dash takes only one-digit fds) puts the pipe ends on fds 3 and 4,
                # where --remote-debugging-pipe expects them.
                ["bash", "-c", f'exec "$0" "$@" 3<&{commands_read} 4>&{replies_write}', path,
                 *FLAGS, f"--user-data-dir={self.profile}",
                 f"--window-size={self.width},{self.height}", "about:blank"],
                pass_fds=(commands_read, replies_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # its own process group, killed whole if it hangs
            )
        os.close(commands_read)
        os.close(replies_write)
        try:
            targets = self._command("Target.getTargets")["targetInfos"]
            page = next(t["targetId"] for t in targets if t["type"] == "page")
            attached = self._command("Target.attachToTarget", {"targetId": page, "flatten": True})
            self._session = attached["sessionId"]
            for domain in DOMAINS:
                self.call(f"{domain}.enable")
            self.call("Emulation.setDeviceMetricsOverride", {
                "width": self.width, "height": self.height, "deviceScaleFactor": 1,
                "mobile": False})
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A command to the page; its result."""
        return self._command(method, params, self._session)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        reply = self.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise ChromiumError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, method: str) -> Mapping[str, Any]:
        """The next event named `method` (events before it are kept in `events`)."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            message = self._receive(deadline)
            if message.get("method") == method:
                return message["params"]  # type: ignore[no-any-return]

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page, at the window's width."""
        # Content laid out only when on screen (content-visibility) changes the height as the
        # window grows: grow it until the height holds.
        height = self.height
        for _ in range(SCREENSHOT_SETTLE_ROUNDS):
            measured = min(int(self.evaluate(
                f"new Promise(done => setTimeout(() => done(document.body.scrollHeight),"
                f" {SCREENSHOT_SETTLE_MS}))")), SCREENSHOT_MAX_HEIGHT)
            if measured == height:
                break
            height = measured
            self.call("Emulation.setDeviceMetricsOverride", {
                "width": self.width, "height": height, "deviceScaleFactor": 1,
                "mobile": False})
        shot = self.call("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": self.width, "height": self.height, "deviceScaleFactor": 1,
            "mobile": False})

    def events_named(self, method: str) -> list[Mapping[str, Any]]:
        return [params for name, params in self.events if name == method]

    def _command(
        self, method: str, params: Mapping[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error']}")
                return reply["result"]  # type: ignore[no-any-return]

    def _receive(self, deadline: float) -> dict[str, Any]:
        """The next message; events are recorded on the way."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise ChromiumError(f"no answer from Chromium within {REPLY_TIMEOUT} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ChromiumError("Chromium closed its DevTools pipe (it exited); its log "
                                    f"ends:\n{self._log_tail()}")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(text)
        if "method" in message:
            self.events.append((message["method"], message.get("params", {})))
        return message

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"({self.log}: {exc})"

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        with contextlib.suppress(ChromiumError, OSError):  # it is ended below either way
            self._command("Browser.close")
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the browser and its helpers: one group
            process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
