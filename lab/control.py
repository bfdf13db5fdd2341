"""The built-in lab network: two namespaces, a veth pair, and the servers of network.py."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from lab import netns, network, programs, provisioning_server, servers, snmp
from lab.errors import LabError
from lab.state import LabState

ROOT_NEEDED = (
    "the lab network needs root: it creates network namespaces and a veth pair (ip netns), "
    "and its DNS servers bind port 53; run it as root"
)
RUN_TIMEOUT = 60.0  # seconds, default for run_in_client


class Lab:
    """A running lab network. Build one with `Lab.start()`; `stop()` undoes everything."""

    addresses: Mapping[str, str] = network.ADDRESSES

    def __init__(self, state: LabState) -> None:
        self._state = state
        self._running: list[servers.RunningServer] = []
        self._stopped = False

    @property
    def client_ns(self) -> str:
        return self._state.namespaces[0]

    @property
    def infra_ns(self) -> str:
        return self._state.namespaces[1]

    @property
    def workdir(self) -> Path:
        return self._state.workdir

    @classmethod
    def start(cls) -> Lab:
        """Build the lab and wait until every server answers; undo it all if anything fails."""
        if os.geteuid() != 0:
            raise LabError(ROOT_NEEDED)
        tag = secrets.token_hex(3)
        while any(netns.exists(f"{netns.PREFIX}{tag}-{side}") for side in "ci"):
            tag = secrets.token_hex(3)
        workdir = Path(tempfile.mkdtemp(prefix=f"{netns.PREFIX}{tag}-"))
        owner = servers.ProcessRecord.of("owner", os.getpid())
        names = [f"{netns.PREFIX}{tag}-c", f"{netns.PREFIX}{tag}-i"]
        lab = cls(LabState(workdir, names, owner))
        atexit.register(lab.stop)  # a process that exits without stop() still cleans up
        try:
            lab._build()
        except BaseException as exc:
            try:
                lab.stop()
            except LabError as cleanup:
                exc.add_note(f"cleanup after the failed start also failed: {cleanup}")
            raise
        return lab

    def _build(self) -> None:
        lab_servers = network.servers(self.workdir, self.infra_ns)
        lab_servers += snmp.servers(self.workdir, self.infra_ns)
        lab_servers += provisioning_server.servers(self.workdir, self.infra_ns)
        programs.require(["ip", *(s.program for s in lab_servers)])
        self._state.save()  # before creating anything, so `down` can undo what a crash leaves
        netns.add(self.client_ns)
        netns.add(self.infra_ns)
        netns.add_veth(self.client_ns, self.infra_ns, network.INTERFACE)
        netns.configure(self.client_ns, network.INTERFACE, network.CLIENT_CIDRS)
        netns.configure(self.infra_ns, network.INTERFACE, network.INFRA_CIDRS)
        netns.batch(self.infra_ns, snmp.LINK_COMMANDS)
        logdir = self.workdir / "logs"
        logdir.mkdir()
        started = time.monotonic()
        for server in lab_servers:  # start all first, so they initialise in parallel
            running = server.start(logdir)
            self._running.append(running)
            self._state.servers.append(running.record)
            self._state.save()
        for running in self._running:
            running.wait_ready(started + running.server.start_timeout)

    def namespace(self, side: str) -> str:
        """The lab's namespace whose name ends in `side` ("c" client, "i" infra, or one made
        by add_namespace)."""
        return f"{self.client_ns[:-1]}{side}"

    def add_namespace(self, side: str) -> str:
        """Create one more namespace in the running lab, named like its others but ending in
        `side`; recorded first, so `stop()` (and `down`, after a crash) delete it."""
        name = self.namespace(side)
        if self._stopped or name in self._state.namespaces:
            raise LabError(f"cannot add namespace {name}: the lab is stopped or has it")
        self._state.namespaces.append(name)
        self._state.save()
        netns.add(name)
        return name

    def add(self, server: servers.Server) -> None:
        """Start one more server in the running lab and wait until it is ready.

        It is recorded like the built-in servers, so `stop()` (and `python -m
        lab down`, after a crash) stops it with them. If it does not become
        ready, it is stopped at once and LabError says why, with its log's last lines; the
        rest of the lab keeps running.
        """
        if self._stopped:
            raise LabError(f"cannot add {server.name}: the lab is stopped")
        programs.require([server.program])
        if any(r.server.name == server.name for r in self._running):
            # Its log file (named after it) would be overwritten.
            raise LabError(f"cannot add {server.name}: the lab already has a server by that name")
        started = time.monotonic()
        running = server.start(self.workdir / "logs")
        self._running.append(running)
        self._state.servers.append(running.record)
        self._state.save()  # before waiting, so `down` can stop it if we crash meanwhile
        try:
            running.wait_ready(started + server.start_timeout)
        except BaseException:
            try:
                servers.stop_all([running])
            except (OSError, subprocess.SubprocessError):
                pass  # still recorded: stop() and `down` try again
            else:
                self._running.remove(running)
                self._state.servers.remove(running.record)
                self._state.save()
            raise

    @contextmanager
    def in_client(self) -> Iterator[None]:
        """The calling thread's network namespace is the client's inside the block.

        Sockets it opens live there, and so do subprocesses and threads it starts (they
        inherit the namespace of the thread that creates them). Other threads are unaffected.
        """
        with netns.entered(self.client_ns):
            yield

    def run_in_client(
        self, argv: Sequence[str], *, timeout: float = RUN_TIMEOUT, **kwargs: Any
    ) -> subprocess.CompletedProcess[Any]:
        """subprocess.run of argv in the client namespace; killed after `timeout` seconds."""
        return subprocess.run(netns.exec_argv(self.client_ns, argv), timeout=timeout, **kwargs)

    def stop(self) -> None:
        """Stop the servers, delete the namespaces and the folder. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        problems: list[str] = []
        try:
            servers.stop_all(self._running)
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"stopping servers: {exc}")
        for name in self._state.namespaces:
            try:
                self._warn_about_strays(name)
                netns.delete(name)
            except (OSError, subprocess.SubprocessError, LabError) as exc:
                problems.append(f"deleting namespace {name}: {exc}")
        try:
            if os.environ.get("AMT_LAB_KEEP") == "1":
                # Without its state file, `down` will not remove the folder kept for reading.
                self._state.path.unlink(missing_ok=True)
                print(f"lab folder kept (AMT_LAB_KEEP=1): {self.workdir}", file=sys.stderr)
            else:
                shutil.rmtree(self.workdir)
        except OSError as exc:
            problems.append(f"removing {self.workdir}: {exc}")
        if problems:
            raise LabError("lab teardown incomplete: " + "; ".join(problems))

    def _warn_about_strays(self, name: str) -> None:
        """Processes we did not start as servers keep the namespace alive after deletion.

        They are not killed: only recorded servers are. The caller started them and should
        end them; our own PID shows when the main thread is inside the namespace.
        """
        if not netns.exists(name):
            return
        strays = [pid for pid in netns.pids(name) if pid != os.getpid()]
        if strays:
            warnings.warn(
                f"processes {strays} still run in lab namespace {name}", RuntimeWarning, 3
            )

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
