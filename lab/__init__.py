"""The built-in lab network: real DNS servers in network namespaces, for demos and tests.

from lab import Lab
with Lab.start() as lab, lab.in_client():
    ...  # sockets made here live in the client namespace, next to the lab servers
"""

from typing import TYPE_CHECKING

from lab.errors import LabError

if TYPE_CHECKING:
    from lab.control import Lab

__all__ = ["Lab", "LabError"]


def __getattr__(name: str) -> object:
    # Lab is imported on first use: every lab start runs `python -m lab.fakes`
    # twice, and importing Lab (dnspython with it) would add 0.1 s to each.
    if name == "Lab":
        from lab.control import Lab

        return Lab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
