"""Network namespaces: create, wire with a veth pair, enter from a thread, delete."""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lab import programs
from lab.errors import LabError

PREFIX = "amtp-"  # every namespace the lab creates starts with this; `down` touches no other
NETNS_DIR = Path("/var/run/netns")
IP_TIMEOUT = 10.0  # seconds; `ip` normally answers in milliseconds
FIRST_END_INDEX = 1000  # add_veth: the first end's interface index, unlike the peer's
_CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def _ip(args: Sequence[str], batch: str | None = None) -> str:
    proc = subprocess.run(
        [programs.path("ip"), *args],
        input=batch,
        capture_output=True,
        text=True,
        timeout=IP_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def add(name: str) -> None:
    _ip(["netns", "add", name])


def delete(name: str) -> None:
    """Delete the namespace if it exists; its veth end goes with it."""
    if exists(name):
        _ip(["netns", "delete", name])


def add_veth(ns_a: str, ns_b: str, ifname: str) -> None:
    """A veth pair with one end in each namespace, both named `ifname`.

    Created directly inside the namespaces, so no interface ever appears in the host's. The
    ns_a end gets interface index FIRST_END_INDEX: in two new namespaces both ends would get
    index 2, and the kernel then delays their carrier by its one-second link-watch interval
    (equal indexes look like a device that is its own link), during which they are not
    running (snmpd, starting then, reports ifOperStatus down for seconds: it caches it).
    """
    _ip(["-n", ns_a, "link", "add", ifname, "index", str(FIRST_END_INDEX), "type", "veth",
         "peer", "name", ifname, "netns", ns_b])


def configure(ns: str, ifname: str, cidrs: Sequence[str]) -> None:
    """Bring up lo and `ifname` in `ns` and give `ifname` the addresses (one `ip` call)."""
    commands = ["link set lo up", *(f"addr add {c} dev {ifname}" for c in cidrs)]
    commands.append(f"link set {ifname} up")
    _ip(["-n", ns, "-batch", "-"], batch="\n".join(commands) + "\n")


def batch(ns: str, commands: Sequence[str]) -> None:
    """Run `ip` commands inside `ns`, all in one `ip -batch` process."""
    _ip(["-n", ns, "-batch", "-"], batch="\n".join(commands) + "\n")


def pids(name: str) -> list[int]:
    """PIDs of the processes whose network namespace is `name`."""
    return [int(p) for p in _ip(["netns", "pids", name]).split()]


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """argv that runs `argv` inside namespace `name` (`ip netns exec` execs, keeping the PID)."""
    return [programs.path("ip"), "netns", "exec", name, *argv]


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextmanager
def entered(name: str) -> Iterator[None]:
    """The calling thread's network namespace is `name` inside the block.

    setns(CLONE_NEWNET) changes only the calling thread, so other threads are unaffected.
    thread-self (not self, which is the main thread) saves the namespace of *this* thread.
    """
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(original)
