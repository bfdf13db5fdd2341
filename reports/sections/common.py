"""What the section builders share: tolerant evidence accessors, and a check's line in a
section's table of verdicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from amt_preflight.model import Result, Status

# A count as evidence gives it: a number (shown with thousands separated), else its text.
Count = int | float | str


def as_map(value: object) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    """The value if it is a JSON array, else an empty one (a string is no list of items)."""
    return list(value) if isinstance(value, list | tuple) else []


def maps(value: object) -> list[Mapping[str, Any]]:
    """The JSON objects of an array; anything else in it, or a value that is no array, is
    left out."""
    return [item for item in as_list(value) if isinstance(item, Mapping)]


def text(value: object) -> str:
    """A value to show as text: a string as it is, nothing (None) as "", anything else (a
    number, or an object where an odd run has one) as Python writes it."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return str(value)
    except ValueError:  # an integer too long to write
        return ""


def texts(value: object) -> list[str]:
    """The items of a JSON array as text; a value that is no array, none."""
    return [text(item) for item in as_list(value)]


def truthy_text(value: object) -> str:
    """The value as text if it says anything (not missing, empty, 0 or false), else ""."""
    return text(value) if value else ""


def number(value: object) -> float | None:
    """The value if it is a number (a boolean is none), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def amount(value: object) -> Count:
    """A count: a number as it is, anything else as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return text(value)


def count(value: object) -> Count | None:
    """A count shown only when there is one: None when the value is missing, empty or 0."""
    return amount(value) if value else None


def by_target(results: Iterable[Result]) -> dict[tuple[str, str], list[Result]]:
    """The results by site and target, in run order (a section looks up one target's
    verdicts without scanning every result)."""
    index: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        index.setdefault((r.site, r.target), []).append(r)
    return index


@dataclass(frozen=True)
class CheckLine:
    """One check's verdict on a section's subject, as its table of verdicts shows it."""

    check: str
    status: Status
    message: str

    @classmethod
    def of(cls, result: Result) -> CheckLine:
        return cls(result.check, result.status, result.message)
