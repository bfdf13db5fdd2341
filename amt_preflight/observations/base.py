"""What every area's observations share: how a probe ended (Outcome), its timing, and how
a field from the network is cut and dated for a report.

Errors are data: a timeout, a refused connection or a malformed answer is an observation
with an outcome, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, Protocol

Transport = Literal["udp", "tcp"]


class Outcome(StrEnum):
    ANSWER = "answer"  # a well-formed response, whatever its rcode
    TIMEOUT = "timeout"  # silence for every attempt
    UNREACHABLE = "unreachable"  # refused or no route (ICMP, RST)
    MALFORMED = "malformed"  # something came back that is not a valid response to us
    DEADLINE = "deadline"  # the run's deadline ended the probe
    NOT_OBSERVED = "not-observed"  # never probed (deadline before it started)

    @property
    def answered(self) -> bool:
        return self is Outcome.ANSWER


EVIDENCE_TEXT_LIMIT = 300  # characters of one certificate field shown in evidence (huge subjects)


def clipped(text: str, limit: int = EVIDENCE_TEXT_LIMIT) -> str:
    """A field from a certificate or a server, cut to a length a report can show."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Timed(Protocol):
    """A probe's record of when it started (epoch seconds) and how long it took."""

    @property
    def started_at(self) -> float: ...

    @property
    def elapsed_ms(self) -> float: ...


def answers_timing(answers: Iterable[Timed]) -> tuple[datetime | None, int | None]:
    """When the first of these probes started and how long until the last one ended."""
    seen = [a for a in answers if a.started_at]
    if not seen:
        return None, None
    start = min(a.started_at for a in seen)
    end = max(a.started_at + a.elapsed_ms / 1000 for a in seen)
    return datetime.fromtimestamp(start, UTC), round((end - start) * 1000)
