"""What devices report about themselves, as read from the files `amt.devices` names.

`rpc amtinfo -cert -json` (Open AMT rpc-go) prints one device's firmware version, control
mode, DNS suffixes and the root hashes its firmware trusts (AMT-FACTS.md, "What a device
reports about itself"). These are the typed, frozen, bounded observations made of such files;
a file that cannot be used is an observation too (DeviceFileProblem), never an exception.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from amt_preflight.observations.base import clipped
from amt_preflight.typed import record

# controlMode as rpc-go words it (utils.InterpretControlMode)
PRE_PROVISIONING = "pre-provisioning state"
CLIENT_CONTROL_MODE = "activated in client control mode"
ADMIN_CONTROL_MODE = "activated in admin control mode"

HASH_NAMES_SHOWN = 40  # names of a device's trusted roots listed in one result's evidence


# One entry of a device's certificateHashes: (name, algorithm, value, active, default).
# A plain tuple, read by the indexes below: a fleet has hundreds of thousands of them, and a
# tuple is the cheapest immutable record to make (a NamedTuple costs twice the reading time).
#   name       the root's name as the firmware stores it
#   algorithm  lower-case: "sha256", "sha384", "sha1", ...
#   value      lower-case hex
#   active     IsActive: the firmware accepts a chain ending at this root
#   default    IsDefault: a factory default (hashes inserted by hand are not)
DeviceHash = tuple[str, str, str, bool, bool]
HASH_NAME: Final = 0
HASH_ALGORITHM: Final = 1
HASH_VALUE: Final = 2
HASH_ACTIVE: Final = 3
HASH_DEFAULT: Final = 4


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """One device as its `rpc amtinfo -cert -json` output describes it; every text clipped."""

    source: str  # the file, relative to the config file's folder when inside it
    index: int | None  # its place in a JSON array; None for a file of one device
    name: str  # hostnameOS, else uuid, else the file (the target of its DEV-* results)
    uuid: str
    hostname: str  # hostnameOS
    firmware: str  # amt: the firmware version, "16.1.25"
    control_mode: str  # controlMode as reported
    dns_suffix: str  # dnsSuffix as reported: the PKI DNS suffix set in MEBx
    dns_suffix_os: str  # dnsSuffixOS as reported: the operating system's suffix
    hashes: tuple[DeviceHash, ...]
    file_label: str = ""  # the file's name, and the device's place in an array: "fleet.json[3]"

    def to_evidence(self) -> dict[str, Any]:
        """What every result about the device shows of it (not its hashes: a check adds
        what it needs of those)."""
        doc: dict[str, Any] = {"file": self.source, "uuid": self.uuid,
                               "hostname": self.hostname, "firmware": self.firmware,
                               "control_mode": self.control_mode}
        if self.index is not None:
            doc["entry"] = self.index
        return doc

    def hash_names(self, active: bool = True) -> list[str]:
        """The names of the roots it lists (active ones, or inactive ones), for evidence."""
        return [clipped(h[HASH_NAME], 80) for h in self.hashes if h[HASH_ACTIVE] is active][
            :HASH_NAMES_SHOWN]


@dataclass(frozen=True, slots=True)
class DeviceFileProblem:
    """A device file (or an array entry, or a pattern) that gives no device: why, in words."""

    source: str  # the file as shown, or the pattern as configured
    kind: str  # "no-match", "unreadable", "too-large", "not-json", "not-a-report"
    problem: str
    index: int | None = None  # the entry of a JSON array that is not a device report
    pattern: bool = False  # source is a pattern that matched no file

    @property
    def target(self) -> str:
        """The target of its DEV-* results: the file's name (and entry), or the pattern."""
        return self.source if self.pattern else entry_label(self.source, self.index)

    def to_evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"file": self.source, "problem_kind": self.kind,
                               "problem": self.problem}
        if self.index is not None:
            doc["entry"] = self.index
        return doc


@record
class DeviceInventory:
    """Every device one site's `amt.devices` names, and every file that gave none."""

    patterns: tuple[str, ...]  # as configured
    reports: tuple[DeviceReport, ...]
    problems: tuple[DeviceFileProblem, ...]
    files: int = 0  # files read
    started_at: float = 0.0
    elapsed_ms: float = 0.0

    STORE: ClassVar[str] = "devices"  # kept in Observations.devices
    SHARED: ClassVar[Literal[False]] = False  # by site

    def key(self, site: str) -> str:
        """Where it is kept (Observations.devices): by site."""
        return site


def entry_label(source: str, index: int | None) -> str:
    name = os.path.basename(source) or source
    return name if index is None else f"{name}[{index}]"
