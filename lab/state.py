"""The state file of a lab, and cleaning up labs that a crashed run left behind."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab import netns
from lab.errors import LabError
from lab.servers import ProcessRecord

STATE_FILE = "lab-state.json"
STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a left-behind server


@dataclass
class LabState:
    """What a lab built, saved in its folder as it builds, so another process can undo it."""

    workdir: Path
    namespaces: list[str]
    owner: ProcessRecord  # the process that runs the lab; while it lives, `down` leaves it be
    servers: list[ProcessRecord] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.workdir / STATE_FILE

    def save(self) -> None:
        document = {
            "workdir": str(self.workdir),
            "namespaces": self.namespaces,
            "owner": asdict(self.owner),
            "servers": [asdict(s) for s in self.servers],
        }
        # Write and rename, so a crash never leaves a half-written state file.
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(document, indent=2) + "\n")
        partial.replace(self.path)

    @classmethod
    def load(cls, path: Path) -> LabState:
        document = json.loads(path.read_text())
        # A copied or moved state file describes some other folder's lab: do not act on it.
        if Path(document["workdir"]) != path.parent:
            raise ValueError(f"state file of {document['workdir']}, found in {path.parent}")
        return cls(
            workdir=path.parent,
            namespaces=[str(n) for n in document["namespaces"]],
            owner=ProcessRecord(**document["owner"]),
            servers=[ProcessRecord(**s) for s in document["servers"]],
        )


def recorded_labs() -> list[Path]:
    """State files of labs on this machine, live or left behind."""
    return sorted(Path(tempfile.gettempdir()).glob(f"{netns.PREFIX}*/{STATE_FILE}"))


def tear_down(state: LabState) -> None:
    """Stop the recorded servers still running, delete the namespaces, remove the folder."""
    for server in state.servers:
        server.terminate(STOP_GRACE)  # checks first that the PID is still that server
    for name in state.namespaces:
        if name.startswith(netns.PREFIX):
            netns.delete(name)
    shutil.rmtree(state.workdir)


def clean_up_left_behind() -> tuple[list[str], bool]:
    """Tear down every recorded lab whose owner process is gone.

    Returns what was done, one line per lab, and whether every teardown succeeded.
    """
    report: list[str] = []
    ok = True
    for path in recorded_labs():
        try:
            state = LabState.load(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            report.append(f"{path}: unreadable state file, left alone ({exc})")
            continue
        if state.owner.is_alive():
            report.append(f"{state.workdir}: in use by PID {state.owner.pid}, left alone")
            continue
        try:
            tear_down(state)
        except (OSError, LabError) as exc:
            report.append(f"{state.workdir}: cleanup failed: {exc}")
            ok = False
        else:
            names = ", ".join(state.namespaces)
            report.append(f"{state.workdir}: removed (namespaces {names})")
    return report, ok
