"""How a probe shows what came over the wire when it is not what was asked for: a hex
excerpt of unexpected bytes, and an OS error in a few words. One form for every protocol,
so the evidence reads alike whichever probe wrote it."""

from __future__ import annotations

EXCERPT = 48  # bytes of an unexpected or malformed reply kept, as hex, in the evidence


def excerpt(data: bytes) -> str:
    """'120 bytes 0201…': the size and the first EXCERPT bytes as hex."""
    more = "…" if len(data) > EXCERPT else ""
    return f"{len(data)} bytes {data[:EXCERPT].hex()}{more}"


def os_error(exc: BaseException) -> str:
    """The OS's words for a socket error ("Connection refused"), else the exception's name."""
    return getattr(exc, "strerror", None) or type(exc).__name__
