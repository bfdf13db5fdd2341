"""Device reports: the files `amt.devices` names, read (no network).

Each inventory format is one pure reader, `(file as shown, its bytes) -> (devices, problems)`,
listed in READERS: another format (MeshCmd's, an SCS export) is one more function. Every
file is bounded before it is parsed, and whatever it holds that is not a device report
(garbage, another JSON document, hostile values) becomes a DeviceFileProblem naming the file
and why, never an exception: one bad file leaves the other devices judged.
"""

from __future__ import annotations

import asyncio
import gc
import glob
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amt_preflight.config import Config
from amt_preflight.observations.base import clipped
from amt_preflight.observations.devices import (
    DeviceFileProblem,
    DeviceHash,
    DeviceInventory,
    DeviceReport,
    entry_label,
)

if TYPE_CHECKING:
    from amt_preflight.probes import SiteProbes

MAX_FILE = 8 * 2**20  # bytes: one device's report is a few kilobytes; an array ~1,000 of them
MAX_FILES = 100_000  # files one site's patterns may name
MAX_ENTRIES = 20_000  # devices of one JSON array
MAX_PROBLEMS = 100  # bad entries of one array described; the rest are counted
MAX_HASHES = 128  # certificateHashes of one device (the firmware has 33 slots)
NAME_LIMIT = 253  # characters kept of a host name or a DNS suffix (a DNS name's length)
TEXT_LIMIT = 100  # of any other text field

Found = tuple[list[DeviceReport], list[DeviceFileProblem]]
Reader = Callable[[str, bytes], Found]


class _NotAReport(Exception):
    """The JSON value is not what the format says a device report is."""


def _kind(value: object) -> str:
    """A JSON value's type, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _parse_json(source: str, data: bytes) -> tuple[Any, DeviceFileProblem | None]:
    """The JSON document of a file (UTF-8, or UTF-16/32 as PowerShell's `>` writes it)."""
    if len(data) > MAX_FILE:
        return None, DeviceFileProblem(source, "too-large", f"larger than {MAX_FILE} bytes: "
                                       "not one device's report (split a big inventory)")
    try:
        return json.loads(data), None
    except RecursionError:
        return None, DeviceFileProblem(source, "not-json", "JSON nested too deeply")
    except UnicodeDecodeError as exc:
        return None, DeviceFileProblem(source, "not-json", f"not UTF-8 (or UTF-16/32) text: "
                                       f"byte {exc.start} cannot be decoded")
    except ValueError as exc:  # json.JSONDecodeError, or a number too long to convert
        return None, DeviceFileProblem(source, "not-json", f"not JSON: {clipped(str(exc), 200)}")


def _text(entry: dict[str, Any], key: str, limit: int = TEXT_LIMIT) -> str:
    """A text field; absent or null is empty."""
    value = entry.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise _NotAReport(f"{key} is a JSON {_kind(value)}, not a string")
    return value if len(value) <= limit else clipped(value, limit)


_HASH = re.compile(r"[0-9a-fA-F]{32,128}")  # MD5 (16 bytes) to SHA-512 (64), in hex
_ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA1": "sha1", "SHA512": "sha512",
               "SHA224": "sha224", "MD5": "md5"}  # as rpc-go names them (HashAlgorithmToString)


def _rpc_hashes(hashes: dict[str, Any]) -> tuple[DeviceHash, ...]:
    """certificateHashes: {name: {"Hash", "Name", "Algorithm", "IsActive", "IsDefault"}}. A
    fleet has hundreds of thousands of entries: the usual one takes the first branch."""
    found: list[DeviceHash] = []
    add = found.append
    for key, item in hashes.items():
        if type(item) is dict:
            value, name, algorithm = item.get("Hash"), item.get("Name"), item.get("Algorithm")
            active, default = item.get("IsActive"), item.get("IsDefault", False)
            if (type(value) is str and _HASH.fullmatch(value) and not len(value) % 2
                    and type(active) is bool and type(default) is bool and type(name) is str
                    and 0 < len(name) <= TEXT_LIMIT and type(algorithm) is str
                    and algorithm in _ALGORITHMS):
                add((name, _ALGORITHMS[algorithm], value.lower(), active, default))
                continue
        add(_rpc_hash_checked(key, item))
    return tuple(found)


def _rpc_hash_checked(key: str, item: object) -> DeviceHash:
    """An entry that is not plainly what rpc-go writes: every field judged, and why not."""
    where = f"certificateHashes[{clipped(key, 60)!r}]"
    if type(item) is not dict:
        raise _NotAReport(f"{where} is a JSON {_kind(item)}, not an object")
    value = item.get("Hash")
    if type(value) is not str:
        raise _NotAReport(f"{where}.Hash is a JSON {_kind(value)}, not a string")
    value = value.strip().replace(":", "").replace(" ", "")  # as some tools print them
    if not _HASH.fullmatch(value) or len(value) % 2:
        raise _NotAReport(f"{where}.Hash is not a hex SHA-1, SHA-256 or SHA-384 hash")
    active, default = item.get("IsActive"), item.get("IsDefault", False)
    if type(active) is not bool:
        raise _NotAReport(f"{where}.IsActive is a JSON {_kind(active)}, not true or false")
    if type(default) is not bool:
        raise _NotAReport(f"{where}.IsDefault is a JSON {_kind(default)}, not true or false")
    name = _text(item, "Name") or clipped(key, TEXT_LIMIT)
    algorithm = _text(item, "Algorithm", 20).strip().upper().replace("-", "")
    return (name, _ALGORITHMS.get(algorithm, algorithm.lower()), value.lower(), active, default)


def _rpc_device(source: str, index: int | None, entry: object) -> DeviceReport:
    if type(entry) is not dict:
        raise _NotAReport(f"a JSON {_kind(entry)}, not an object")
    if "controlMode" not in entry:
        raise _NotAReport("no controlMode: not the output of rpc amtinfo -json")
    hashes = entry.get("certificateHashes")
    if hashes is None:
        raise _NotAReport("no certificateHashes: run rpc amtinfo with -cert (and -json)")
    if type(hashes) is not dict:
        raise _NotAReport(f"certificateHashes is a JSON {_kind(hashes)}, not an object")
    if len(hashes) > MAX_HASHES:
        raise _NotAReport(f"{len(hashes)} certificateHashes: a device holds far fewer")
    control_mode = _text(entry, "controlMode")
    if not control_mode.strip():
        raise _NotAReport("controlMode is empty")
    uuid, hostname = _text(entry, "uuid"), _text(entry, "hostnameOS", NAME_LIMIT)
    return DeviceReport(
        source=source, index=index,
        name=hostname.strip() or uuid.strip() or entry_label(source, index),
        uuid=uuid, hostname=hostname, firmware=_text(entry, "amt"),
        control_mode=control_mode, dns_suffix=_text(entry, "dnsSuffix", NAME_LIMIT),
        dns_suffix_os=_text(entry, "dnsSuffixOS", NAME_LIMIT),
        hashes=_rpc_hashes(hashes), file_label=entry_label(source, index))


def read_rpc_amtinfo(source: str, data: bytes) -> Found:
    """`rpc amtinfo -cert -json` output: one device's JSON object, or a JSON array of them
    (several outputs gathered into one file). Fields used: amt, uuid, hostnameOS,
    controlMode, dnsSuffix, dnsSuffixOS and certificateHashes (controlMode and
    certificateHashes are required)."""
    doc, problem = _parse_json(source, data)
    if problem is not None:
        return [], [problem]
    if type(doc) is dict:
        try:
            return [_rpc_device(source, None, doc)], []
        except _NotAReport as exc:
            return [], [DeviceFileProblem(source, "not-a-report", str(exc))]
    if type(doc) is not list:
        return [], [DeviceFileProblem(source, "not-a-report", f"a JSON {_kind(doc)}, not an "
                                      "object (one device) or an array of them")]
    if len(doc) > MAX_ENTRIES:
        return [], [DeviceFileProblem(source, "too-large", f"{len(doc)} entries: at most "
                                      f"{MAX_ENTRIES} devices in one file")]
    reports: list[DeviceReport] = []
    problems: list[DeviceFileProblem] = []
    for index, entry in enumerate(doc):
        try:
            reports.append(_rpc_device(source, index, entry))
        except _NotAReport as exc:
            problems.append(DeviceFileProblem(source, "not-a-report", str(exc), index))
    if len(problems) > MAX_PROBLEMS:  # described once, not a result per junk entry
        problems = [DeviceFileProblem(source, "not-a-report", f"{len(problems)} of its "
                                      f"{len(doc)} entries are not device reports; the first: "
                                      f"entry {problems[0].index}: {problems[0].problem}")]
    return reports, problems


# The inventory formats: amt.devices files are read by the first (and so far only) one.
READERS: dict[str, Reader] = {"rpc-amtinfo": read_rpc_amtinfo}
FORMAT = "rpc-amtinfo"


# --- files -------------------------------------------------------------------------------


def _read(path: str, shown: str) -> bytes | DeviceFileProblem:
    """The file's bytes, bounded: never more than MAX_FILE, never a FIFO or a device (opened
    without blocking, then judged by what the descriptor is)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return DeviceFileProblem(shown, "unreadable", exc.strerror or str(exc))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return DeviceFileProblem(shown, "unreadable", "a folder: name its files, e.g. "
                                     f"{shown.rstrip('/')}/*.json")
        if not stat.S_ISREG(info.st_mode):
            return DeviceFileProblem(shown, "unreadable", "not a regular file")
        if info.st_size > MAX_FILE:
            return DeviceFileProblem(shown, "too-large", f"{info.st_size} bytes, larger than "
                                     f"{MAX_FILE}: not a device report (split a big inventory)")
        chunks, size = [], 0
        while size <= MAX_FILE:  # a file may grow after fstat: never read past the bound
            chunk = os.read(fd, MAX_FILE + 1 - size if size else info.st_size + 1)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return DeviceFileProblem(shown, "unreadable", exc.strerror or str(exc))
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _matches(path: str, pattern: str) -> list[str]:
    if not glob.has_magic(pattern):
        return [path]  # a file named outright: if it is missing, reading it says so
    return sorted(islice(glob.iglob(path, recursive=True), MAX_FILES + 1))


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """A fleet's files parse into hundreds of thousands of short-lived JSON containers
    without a reference cycle among them; scanning them for cycles costs a quarter of the
    reading time. Restored as it was (another thread may have paused it too)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_inventory(config: Config, patterns: Sequence[str],
                   reader: Reader = read_rpc_amtinfo) -> DeviceInventory:
    """Every file the patterns name (relative to the config file), each read once. A file
    is named in evidence relative to the config file's folder when it lies inside."""
    with _cycle_collector_paused():
        return _read_inventory(config, patterns, reader)


def _read_inventory(config: Config, patterns: Sequence[str], reader: Reader
                    ) -> DeviceInventory:
    started, clock = time.time(), time.monotonic()
    inside = os.path.join(str(config.source.parent), "")
    reports: list[DeviceReport] = []
    problems: list[DeviceFileProblem] = []
    seen: set[str] = set()
    for pattern in patterns:
        paths = _matches(str(config.resolve(Path(pattern))), pattern)
        if not paths:
            problems.append(DeviceFileProblem(pattern, "no-match", "the pattern matches no "
                                              "file", pattern=True))
        if len(seen) + len(paths) > MAX_FILES:
            problems.append(DeviceFileProblem(pattern, "too-large", f"more than {MAX_FILES} "
                                              "files: not read", pattern=True))
            continue
        for path in paths:
            if path in seen:  # two patterns may name one file
                continue
            seen.add(path)
            shown = path[len(inside):] if path.startswith(inside) and inside != "/" else path
            data = _read(path, shown)
            if isinstance(data, DeviceFileProblem):
                problems.append(data)
                continue
            found, bad = reader(shown, data)
            reports.extend(found)
            problems.extend(bad)
    return DeviceInventory(tuple(patterns), tuple(reports), tuple(problems), len(seen),
                           started, (time.monotonic() - clock) * 1000)


async def gather_devices(ctx: SiteProbes) -> None:
    """The site's amt.devices, read off the event loop."""
    patterns = tuple(ctx.site.amt.devices)
    if patterns:
        ctx.record(await asyncio.to_thread(read_inventory, ctx.config, patterns,
                                           READERS[FORMAT]))
