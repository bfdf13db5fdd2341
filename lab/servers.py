"""A lab server: a process in a namespace, its config files, log, readiness check and stop.

Adding a server to the lab means writing one function that returns a `Server` (see
network.py); starting, waiting, logging and stopping are the same for every server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from lab import netns, programs
from lab.errors import LabError

POLL = 0.02  # seconds between readiness attempts
# The repository root: our own modules run as lab servers must import even when the project
# is not installed (tests run from the repository).
_SOURCE_ROOT = str(Path(__file__).resolve().parents[1])


def own_module_env() -> dict[str, str]:
    """The environment that lets `python -m lab.…` (and amt_preflight) run as a lab server."""
    return {"PYTHONPATH": os.pathsep.join(
        p for p in (_SOURCE_ROOT, os.environ.get("PYTHONPATH")) if p)}

QUERY_TIMEOUT = 0.2  # seconds; a lab server on this host answers in well under a millisecond
LOG_TAIL_LINES = 20

# Called with the server's PID, inside the server's namespace; True once it serves.
Readiness = Callable[[int], bool]


@dataclass(frozen=True)
class Listening:
    """Ready once the process has address:port bound (UDP and/or TCP listening).

    Reads /proc/PID/net (the process's own namespace) and sends nothing, so it suits servers
    that never answer, and ones that misbehave on a bare connect (openssl ocsp spins).
    """

    address: str
    port: int
    udp: bool = True
    tcp: bool = True

    def __call__(self, pid: int) -> bool:
        family, table = (socket.AF_INET6, "6") if ":" in self.address else (socket.AF_INET, "")
        packed = socket.inet_pton(family, self.address)
        # /proc shows each 32-bit word of the address little-endian
        octets = "".join(packed[i:i + 4][::-1].hex() for i in range(0, len(packed), 4)).upper()
        local = f"{octets}:{self.port:04X}"
        # 07 UNCONN, 0A LISTEN
        wanted = [(f"udp{table}", "07")] * self.udp + [(f"tcp{table}", "0A")] * self.tcp
        return all(_proc_net_has(pid, table, local, state) for table, state in wanted)


def _proc_net_has(pid: int, table: str, local: str, state: str) -> bool:
    try:
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(f[1] == local and f[3] == state for f in (line.split() for line in lines))


@dataclass(frozen=True)
class DnsAnswers:
    """Ready once every query gets NOERROR with an answer, over UDP and over TCP."""

    address: str
    queries: tuple[tuple[str, str], ...]  # (name, type)
    port: int = 53

    def __call__(self, pid: int) -> bool:
        # Ask only once the port is bound: a query sent earlier is lost and costs a timeout.
        if not Listening(self.address, self.port)(pid):
            return False
        for name, rdtype in self.queries:
            query = dns.message.make_query(name, rdtype)
            for send in (dns.query.udp, dns.query.tcp):
                try:
                    reply = send(query, self.address, timeout=QUERY_TIMEOUT, port=self.port)
                except (OSError, dns.exception.DNSException):
                    return False
                if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
                    return False
        return True


@dataclass(frozen=True)
class AllReady:
    """Ready once every one of several readiness checks passes (a server on many ports)."""

    checks: tuple[Readiness, ...]

    def __call__(self, pid: int) -> bool:
        return all(check(pid) for check in self.checks)


@dataclass(frozen=True)
class ProcessRecord:
    """A PID plus its start time (clock ticks since boot), which tells a reused PID apart."""

    name: str
    pid: int
    start_time: int

    @classmethod
    def of(cls, name: str, pid: int) -> ProcessRecord:
        """Record of our own child, which cannot vanish before we reap it."""
        stat = _stat(pid)
        if stat is None:
            raise LabError(f"{name} (PID {pid}) has no /proc entry right after it was started")
        return cls(name, pid, stat[1])

    def is_alive(self) -> bool:
        """Still running, and still the same process (not a later one with a reused PID)."""
        stat = _stat(self.pid)
        # A zombie counts as gone: PID 1 in a container may never reap what it inherits.
        return stat is not None and stat[0] != "Z" and stat[1] == self.start_time

    def terminate(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; for processes that are not our children."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            if not self.is_alive():
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            deadline = time.monotonic() + wait
            while self.is_alive() and time.monotonic() < deadline:
                time.sleep(POLL)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])  # fields 3 and 22 of proc_pid_stat(5)


@dataclass(frozen=True)
class Server:
    """How to run one lab server. argv[0] is a program name or an absolute path."""

    name: str
    namespace: str
    argv: tuple[str, ...]
    ready: Readiness
    files: Mapping[Path, str] = field(default_factory=dict)  # config files to write first
    env: Mapping[str, str] = field(default_factory=dict)  # added to this process's environment
    start_timeout: float = 10.0
    stop_grace: float = 2.0

    @property
    def program(self) -> str:
        return self.argv[0]

    def start(self, logdir: Path) -> RunningServer:
        for path, text in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        log = logdir / f"{self.name}.log"
        argv = netns.exec_argv(self.namespace, [programs.path(self.program), *self.argv[1:]])
        with log.open("wb") as out:
            # Own session: a Ctrl-C in the terminal reaches us, and we stop servers in order.
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        return RunningServer(self, process, log, ProcessRecord.of(self.name, process.pid))


@dataclass(frozen=True)
class RunningServer:
    server: Server
    process: subprocess.Popen[bytes]
    log: Path
    record: ProcessRecord

    def wait_ready(self, deadline: float) -> None:
        """Return once the readiness check passes; LabError (with the log tail) otherwise."""
        with netns.entered(self.server.namespace):
            while True:
                code = self.process.poll()
                if code is not None:
                    raise self._error(f"exited with code {code} while starting")
                if self.server.ready(self.process.pid):
                    return
                if time.monotonic() >= deadline:
                    raise self._error("did not become ready in time")
                time.sleep(POLL)

    def _error(self, what: str) -> LabError:
        return LabError(
            f"lab server {self.server.name} (PID {self.process.pid}) {what}; "
            f"last lines of {self.log}:\n{log_tail(self.log)}"
        )


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"  (log unreadable: {exc})"
    return "\n".join("  " + line for line in text.splitlines()[-lines:]) or "  (log is empty)"


def stop_all(running: Sequence[RunningServer]) -> None:
    """SIGTERM every server at once, SIGKILL those still running after the grace period."""
    for server in running:
        if server.process.poll() is None:
            server.process.terminate()
    grace = max((s.server.stop_grace for s in running), default=0.0)
    deadline = time.monotonic() + grace
    for server in running:
        try:
            server.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(grace)
