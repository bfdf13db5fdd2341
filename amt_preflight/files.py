"""Files the tool writes: whole or not at all, never through a planted symlink, and readable
by their owner only where they may hold evidence (CHECKS.md, "Interrupted runs").

The tool runs as root from cron or systemd, often into folders another account can write
(node_exporter's textfile folder): a symlink planted where a report goes must never make it
overwrite some other file, and a reader must never see half a report. So every file is
written to a fresh temporary file in the same folder (O_EXCL: never an existing name, never
a symlink), synced, given its mode, and renamed over the target; rename replaces a name, it
never follows one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

PRIVATE = 0o600  # the history database, JSON and HTML reports: they hold the evidence
SHARED = 0o644  # verdicts and messages only (the Prometheus textfile is read by node_exporter)
FOLDER = 0o700  # folders the tool creates


class OutputError(OSError):
    """A file cannot be written (or a folder made); str() says which and why, in one line."""

    def __init__(self, path: Path | str, why: str) -> None:
        super().__init__(f"cannot write {path}: {why}")
        self.path = str(path)
        self.why = why

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.why}"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def make_folder(path: Path) -> None:
    """The folder and any missing parents, each created with mode 0700 (a folder that exists
    is left as it is, a symlink to one included: that is the administrator's choice)."""
    missing: list[Path] = []
    here = path
    while not here.is_dir():
        if here.is_symlink() or here.exists():
            raise OutputError(here, "not a folder")
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER)
        except FileExistsError:
            if not folder.is_dir():
                raise OutputError(folder, "not a folder") from None
        except OSError as exc:
            raise OutputError(folder, _why(exc)) from None


def refuse_symlink(path: Path) -> None:
    """OutputError when `path` is a symbolic link or anything but a regular file."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(path, _why(exc)) from None
    if stat.S_ISLNK(found.st_mode):
        raise OutputError(path, "it is a symbolic link (refused: it could point at any file)")
    if stat.S_ISDIR(found.st_mode):
        raise OutputError(path, "it is a folder")
    if not stat.S_ISREG(found.st_mode):
        raise OutputError(path, "not a regular file")


def write_bytes(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Replace `path` with a file holding exactly `data` and this mode, in one rename."""
    refuse_symlink(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        # mkstemp: O_CREAT|O_EXCL|O_NOFOLLOW, a random name, mode 0600 from the start
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=folder)
    except OSError as exc:
        raise OutputError(path, _why(exc)) from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view):]
            os.fchmod(handle, mode)
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)  # nothing half-written stays behind
        if isinstance(exc, OSError):
            raise OutputError(path, _why(exc)) from None
        raise
    _sync_folder(folder)


def write_text(path: Path, text: str, mode: int = PRIVATE) -> None:
    """write_bytes of the text as UTF-8, line ends as given (CSP hashes cover exact bytes); a
    lone surrogate (bytes from the network decoded with surrogateescape) as an escape."""
    write_bytes(path, text.encode("utf-8", "backslashreplace"), mode)


def _sync_folder(folder: Path) -> None:
    """The rename survives a power cut (best effort: some file systems refuse)."""
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)


def private_file(path: Path, companions: Iterable[str] = ()) -> None:
    """Create `path` empty with mode 0600 unless it exists, refuse it (and each of
    `path` + suffix in companions, e.g. SQLite's -wal and -shm) as a symlink or non-file,
    and take group and other permissions away from each that exists (older versions made
    them 0644). For a database that another library then opens by name."""
    for suffix in ("", *companions):
        refuse_symlink(Path(f"{path}{suffix}"))
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(path, "it is a symbolic link (refused)") from None
        raise OutputError(path, _why(exc)) from None
    try:
        _owner_only(handle)
    finally:
        os.close(handle)
    for suffix in companions:
        try:
            handle = os.open(f"{path}{suffix}", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(f"{path}{suffix}", _why(exc)) from None
        try:
            _owner_only(handle)
        finally:
            os.close(handle)


def _owner_only(handle: int) -> None:
    found = os.fstat(handle)
    if found.st_mode & 0o077 and found.st_uid == os.geteuid():
        os.fchmod(handle, stat.S_IMODE(found.st_mode) & 0o700)
