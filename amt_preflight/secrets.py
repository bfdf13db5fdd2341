"""Reading the secrets that config.yaml points at, for every area that needs one.

A secret is never written in the config: `*_env` names an environment variable, `*_file` a
file that holds it (relative to the config's folder). A value read here goes only to the
protocol that needs it; what may be shown anywhere is its `source`, and an error names the
variable or file, never a value (not one byte of it: a value that is not UTF-8 is refused by
where it came from, never echoed by a codec's error message).

Files named by the config are read with `read_small_file`: opened without blocking, refused
unless they are regular files (a FIFO would block the run forever, /dev/zero never ends), and
read up to a size bound.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from amt_preflight.config import Config, SecretRef

MAX_SECRET_FILE = 64 * 1024  # bytes: a password, a community or a key is a line


class SecretError(Exception):
    """A configured secret cannot be read; the message names where it was looked for."""


@dataclass(frozen=True)
class Secret:
    value: str = field(repr=False)  # never in a repr, a log line or a traceback
    source: str  # "$SNMP_COMMUNITY" or "file secrets/community.txt": safe to show


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_special(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"{_kind(mode)}, not a regular file", str(path))


def read_small_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; OSError (with a strerror that
    holds no byte of the file) otherwise. Never blocks on a FIFO or a device: those are refused
    before they are opened, and opened with O_NONBLOCK should one be put in the file's place
    between the look and the open."""
    _refuse_special(path, os.stat(path).st_mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        _refuse_special(path, info.st_mode)
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the file may grow while it is read: the bound holds anyway
            chunk = os.read(descriptor, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def strip_line_break(data: bytes) -> bytes:
    """A file's one trailing line break is not part of the secret."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    return data.removesuffix(b"\n")


def read_secret(
    ref: SecretRef, config: Config, key: str, environ: Mapping[str, str] | None = None
) -> Secret:
    """The secret `ref` points at: the environment variable when it is set, else the file.

    `key` is the config key's stem ("community", "auth_key") for the messages. A file's one
    trailing line break is not part of the secret. An empty secret is an error: it is a
    forgotten export more often than a real empty password. So is one that is not UTF-8 text.
    """
    env = os.environ if environ is None else environ
    problems = []
    if ref.env is not None:
        value = env.get(ref.env)
        if value and not _is_text(value):
            problems.append(f"{key}_env: {ref.env} is not UTF-8 text")
        elif value:
            return Secret(value, f"${ref.env}")
        else:
            problems.append(f"{key}_env: {ref.env} is {'empty' if value == '' else 'not set'}")
    if ref.file is not None:
        path = config.resolve(ref.file)
        try:
            value = _read(path)
        except OSError as exc:
            problems.append(f"{key}_file: cannot read {path}: {exc.strerror or type(exc).__name__}")
        except UnicodeDecodeError:
            problems.append(f"{key}_file: {path} is not UTF-8 text")
        else:
            if value:
                return Secret(value, f"file {ref.file}")
            problems.append(f"{key}_file: {path} is empty")
    if not problems:
        problems.append(f"no {key}_env or {key}_file configured")
    raise SecretError("; ".join(problems))


async def read_secret_async(
    ref: SecretRef, config: Config, key: str, environ: Mapping[str, str] | None = None
) -> Secret:
    """read_secret off the event loop: a file on a slow or hung file system stalls a thread,
    not every probe of the run."""
    return await asyncio.to_thread(read_secret, ref, config, key, environ)


def _is_text(value: str) -> bool:
    """Whether an environment value was valid UTF-8: Python keeps undecodable bytes as lone
    surrogates, which would fail (and be quoted) wherever the value is encoded again."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _read(path: Path) -> str:
    return strip_line_break(read_small_file(path, MAX_SECRET_FILE)).decode("utf-8")
