"""Typed records from YAML data: frozen dataclasses described once, validated by one walker.

A record is a frozen, keyword-only dataclass. Each field's type says what the YAML may hold
(int, float, str, bool, Path, date, Literal, an Enum, a record, list[...], dict[str, ...],
X | None, a union of scalars), and `Annotated` puts its constraints beside it: `Limits`
(bounds, lengths, a pattern) and `After` (a function of the value). `field_validator` and
`model_validator` attach a record's own checks. `validate(Record, data)` walks a mapping
into a record or raises `Invalid`, whose `loc` is the path to the first problem.

The coercions are those of pydantic's lax mode, which the config used before (an int field
takes "3" and 3.0 and True, a float takes 3 and "1e3", a bool takes "yes" and 0, a str takes
no number), and so are the problem's order and the messages' wording: the fields in the
order declared, each first by type and constraints then by its validators, then the keys
that are not fields, then the record's own validators.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
import reprlib
import types
import typing
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar, dataclass_transform, overload

Loc = tuple[object, ...]
Check = Callable[[Any], Any]
T = TypeVar("T")
F = TypeVar("F")


# --- records ---------------------------------------------------------------------------

@overload
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, kw_only: bool = False) -> Callable[[type[T]], type[T]]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[T] | None = None, /, *, kw_only: bool = False) -> Any:
    """`@dataclass(frozen=True)`, made at half the cost, its instances alike in every way.

    Python 3.11 compiles every method a dataclass generates (some 0.2 ms apiece, paid at
    every start for every class), so __eq__, __hash__ and __repr__ are shared functions
    here, behaving as the generated ones do (the fields compared, hashed and shown; `...`
    for a repr within itself); only __init__ and the frozen __setattr__ and __delattr__ are
    generated."""
    def wrap(kind: type[T]) -> type[T]:
        made = dataclasses.dataclass(kind, frozen=True, kw_only=kw_only, eq=False, repr=False)
        fields = dataclasses.fields(typing.cast(Any, made))
        _value_methods(made, [f.name for f in fields if f.compare],
                       [f.name for f in fields if (f.compare if f.hash is None else f.hash)],
                       [f.name for f in fields if f.repr])
        return made
    return wrap if cls is None else wrap(cls)


def _getter(names: list[str]) -> Callable[[object], tuple[Any, ...]]:
    """The named attributes as a tuple, whatever their number (attrgetter gives one value
    bare)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    return lambda value: tuple(getattr(value, name) for name in names)


def _value_methods(kind: type, compared: list[str], hashed: list[str], shown: list[str]
                   ) -> None:
    key, hash_key = _getter(compared), _getter(hashed)

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    def __hash__(self: object) -> int:
        return hash(hash_key(self))

    @reprlib.recursive_repr()
    def __repr__(self: object) -> str:
        shown_fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({shown_fields})"

    for method in (__eq__, __hash__, __repr__):
        method.__qualname__ = f"{kind.__qualname__}.{method.__name__}"
        setattr(kind, method.__name__, method)


class Invalid(Exception):
    """The first problem found: where (the path of keys and indexes), of which kind
    (pydantic's error types: "missing", "extra_forbidden", "value_error", ...), a sentence,
    and the value found there."""

    def __init__(self, kind: str, message: str, value: object, loc: Loc = ()) -> None:
        super().__init__(message)
        self.kind, self.message, self.value, self.loc = kind, message, value, loc


@record
class Limits:
    """Bounds of a number, length of a string or list, and a pattern a string must match
    (whole, as `^...$` means in Rust's regex, which pydantic used)."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None


@record
class After:
    """A function of the validated value; a ValueError it raises is the problem."""

    func: Callable[[Any], Any]


def field_validator(*names: str) -> Callable[[F], F]:
    """Mark a (class)method as a check of the named fields, called with each field's value
    once it has passed its type and constraints; it returns the value to keep."""
    def mark(method: F) -> F:
        function: Any = getattr(method, "__func__", method)  # under @classmethod
        function.__validates__ = names
        return method
    return mark


def model_validator(*, mode: Literal["after"]) -> Callable[[F], F]:
    """Mark a method as a check of the whole record, called once every field has passed."""
    def mark(method: F) -> F:
        function: Any = method
        function.__validates_model__ = mode
        return method
    return mark


def validate(record: type[T], data: object) -> T:
    result: T = _compiled(record)(data)
    return result


# --- scalars, as pydantic's lax mode takes them ------------------------------------------

_INT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}
_I64 = 2**63


def _int(value: object) -> int:
    if isinstance(value, int):  # and bool
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid("finite_number", "Input should be a finite number", value)
        if not value.is_integer():
            raise Invalid("int_from_float",
                          "Input should be a valid integer, got a number with a fractional "
                          "part", value)
        if abs(value) >= _I64:
            raise Invalid("int_parsing_size", "Unable to parse input string as an integer, "
                          "exceeded maximum size", value)
        return int(value)
    if isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        text = text.strip()
        if _INT.fullmatch(text):
            digits = text.partition(".")[0]
            if len(digits) > 4300:
                raise Invalid("int_parsing_size", "Unable to parse input string as an "
                              "integer, exceeded maximum size", value)
            return int(digits)
        raise Invalid("int_parsing",
                      "Input should be a valid integer, unable to parse string as an integer",
                      value)
    raise Invalid("int_type", "Input should be a valid integer", value)


def _float(value: object) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            pass
    elif isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if text.isascii():
            try:
                return float(text)
            except ValueError:
                pass
        raise Invalid("float_parsing",
                      "Input should be a valid number, unable to parse string as a number",
                      value)
    raise Invalid("float_type", "Input should be a valid number", value)


def _str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):  # !!binary
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise Invalid("string_unicode", "Input should be a valid string, unable to parse "
                          "raw data as a unicode string", value) from None
    raise Invalid("string_type", "Input should be a valid string", value)


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if (isinstance(value, int) and -_I64 <= value < _I64) or isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise Invalid("bool_parsing",
                      "Input should be a valid boolean, unable to interpret input", value)
    if isinstance(value, float) and value.is_integer() and -_I64 <= value < _I64:
        if value in (0.0, 1.0):
            return value == 1.0
        raise Invalid("bool_parsing",
                      "Input should be a valid boolean, unable to interpret input", value)
    raise Invalid("bool_type", "Input should be a valid boolean", value)


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        return Path(value)
    raise Invalid("path_type", "Input is not a valid path for <class 'pathlib.Path'>", value)


_DATETIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt _]([0-9]{2}):([0-9]{2})"
                       r"(?::([0-9]{2})(?:[.,]([0-9]+))?)?(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EPOCH = date(1970, 1, 1)
_INEXACT = "Datetimes provided to dates should have zero time - e.g. be exact dates"


def _date_problem(reason: str, value: object) -> Invalid:
    return Invalid("date_from_datetime_parsing",
                   f"Input should be a valid date or datetime, {reason}", value)


def _from_timestamp(seconds: float, value: object) -> date:
    if math.isnan(seconds):
        raise _date_problem("NaN values not permitted", value)
    if abs(seconds) > 20_000_000_000:  # beyond 2603: milliseconds, as speedate reads it
        seconds /= 1000
    if seconds > 253_402_300_799:
        raise _date_problem("dates after 9999 are not supported as unix timestamps", value)
    if seconds < -62_167_219_200:
        raise _date_problem("dates before 0000 are not supported as unix timestamps", value)
    if seconds % 86400:
        raise Invalid("date_from_datetime_inexact", _INEXACT, value)
    return _EPOCH + timedelta(days=seconds // 86400)


def _ymd(text: str, value: object) -> date:
    """YYYY-MM-DD at the start of text, with speedate's reasons when it is not one."""
    if len(text) < 10:
        raise _date_problem("input is too short", value)
    for part, span, separator in (("year", text[:4], text[4]), ("month", text[5:7], text[7]),
                                  ("day", text[8:10], "-")):
        if not (span.isascii() and span.isdigit()):
            raise _date_problem(f"invalid character in {part}", value)
        if separator != "-":
            raise _date_problem("invalid date separator, expected `-`", value)
    year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    if not 1 <= month <= 12:
        raise _date_problem("month value is outside expected range of 1-12", value)
    try:
        return date(year, month, day)
    except ValueError:
        raise _date_problem("day value is outside expected range", value) from None


def _date(value: object) -> date:
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise Invalid("date_from_datetime_inexact", _INEXACT, value)
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise Invalid("date_type", "Input should be a valid date", value)
    if isinstance(value, int | float):
        return _from_timestamp(value, value)
    if isinstance(value, str | bytes):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if _NUMBER.fullmatch(text):
            return _from_timestamp(float(text), value)
        day = _ymd(text, value)
        if len(text) == 10:
            return day
        if text[10] not in "Tt _":
            raise _date_problem("invalid datetime separator, expected `T`, `t`, `_` or space",
                                value)
        match = _DATETIME.fullmatch(text)
        if not match:
            raise _date_problem("input is too short" if len(text) < 16 else
                                "invalid character in time", value)
        if any(int(part or 0) for part in match.groups()[1:]):
            raise Invalid("date_from_datetime_inexact", _INEXACT, value)
        return day
    raise Invalid("date_type", "Input should be a valid date", value)


_SCALARS: dict[object, Check] = {
    int: _int, float: _float, str: _str, bool: _bool, Path: _path, date: _date,
}


def _choices(values: Iterable[object]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _literal(choices: tuple[object, ...]) -> Check:
    message = f"Input should be {_choices(choices)}"

    def check(value: object) -> object:
        for choice in choices:
            if type(value) is type(choice) and value == choice:
                return choice
        raise Invalid("literal_error", message, value)
    return check


def _enum(kind: type[Enum]) -> Check:
    by_value = {member.value: member for member in kind}
    message = f"Input should be {_choices(by_value)}"

    def check(value: object) -> Enum:
        if isinstance(value, kind):
            return value
        key = value.decode(errors="replace") if isinstance(value, bytes) else value
        if isinstance(key, str) and key in by_value:
            return by_value[key]
        raise Invalid("enum", message, value)
    return check


# --- constraints ---------------------------------------------------------------------

def _rust_word(char: str) -> bool:
    """`\\w` as Rust's regex has it (Alphabetic, marks, decimal digits, connector
    punctuation, joiners), which Python's `re` does not quite: ² is a word character there,
    a combining accent is not."""
    if char.isascii():
        return char.isalnum() or char == "_"
    code = ord(char)
    return (unicodedata.category(char) in _WORD_CATEGORIES or code in (0x200C, 0x200D)
            or 0x24B6 <= code <= 0x24E9 or 0x1F130 <= code <= 0x1F189)


_WORD_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nl", "Mn", "Mc", "Me", "Nd", "Pc"}
_WORD_CLASS = re.compile(r"\[\\w([^\]\\]*)\]\+")


def _matcher(pattern: str) -> Callable[[str], bool]:
    body = pattern.removeprefix("^").removesuffix("$")
    if word := _WORD_CLASS.fullmatch(body):  # [\w...]+: Rust's \w, see _rust_word
        others = set(word[1])
        return lambda text: bool(text) and all(c in others or _rust_word(c) for c in text)
    compiled = re.compile(body)
    return lambda text: compiled.fullmatch(text) is not None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _limited(inner: Check, limits: Limits) -> Check:
    matches = None if limits.pattern is None else _matcher(limits.pattern)

    def check(value: object) -> object:
        result = inner(value)
        broken = _broken_limit(limits, matches, result)
        if broken is not None:
            raise Invalid(*broken, value)
        return result
    return check


def _broken_limit(limits: Limits, matches: Callable[[str], bool] | None,
                  value: Any) -> tuple[str, str] | None:
    """The first limit the value breaks, in pydantic's order, as (kind, message)."""
    if limits.le is not None and not value <= limits.le:  # not <=: NaN breaks it
        return "less_than_equal", f"Input should be less than or equal to {limits.le}"
    if limits.ge is not None and not value >= limits.ge:
        return "greater_than_equal", f"Input should be greater than or equal to {limits.ge}"
    if limits.gt is not None and not value > limits.gt:
        return "greater_than", f"Input should be greater than {limits.gt}"
    for kind, side, bound in (("too_short", "at least", limits.min_length),
                              ("too_long", "at most", limits.max_length)):
        if bound is not None and (len(value) < bound if kind == "too_short"
                                  else len(value) > bound):
            if isinstance(value, str):
                return (f"string_{kind}",
                        f"String should have {side} {_plural(bound, 'character')}")
            return (kind, f"List should have {side} {_plural(bound, 'item')} after "
                          f"validation, not {len(value)}")
    if matches is not None and not matches(value):
        return "string_pattern_mismatch", f"String should match pattern '{limits.pattern}'"
    return None


def _after(inner: Check, func: Callable[[Any], Any]) -> Check:
    def check(value: object) -> object:
        result = inner(value)
        try:
            return func(result)
        except ValueError as exc:
            raise Invalid("value_error", str(exc), result) from None
    return check


# --- containers ----------------------------------------------------------------------

def _key_loc(key: object) -> object:
    """A mapping key as pydantic put it in an error's location."""
    return key if isinstance(key, str) else int(key) if isinstance(key, int) else repr(key)


def _list(item: Check) -> Check:
    def check(value: object) -> list[Any]:
        if not isinstance(value, list | tuple | set | frozenset):
            raise Invalid("list_type", "Input should be a valid list", value)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except Invalid as problem:
                problem.loc = (index, *problem.loc)
                raise
        return out
    return check


def _dict(key_check: Check, value_check: Check) -> Check:
    def check(value: object) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise Invalid("dict_type", "Input should be a valid dictionary", value)
        out = {}
        for key, element in value.items():
            try:
                valid_key = key_check(key)
            except Invalid as problem:
                problem.loc = (_key_loc(key), "[key]", *problem.loc)
                raise
            try:
                out[valid_key] = value_check(element)
            except Invalid as problem:
                problem.loc = (_key_loc(key), *problem.loc)
                raise
        return out
    return check


def _optional(inner: Check) -> Check:
    return lambda value: None if value is None else inner(value)


def _union(members: list[tuple[str, Check]]) -> Check:
    """A value of the first member that takes it; else the first member's problem."""
    def check(value: object) -> object:
        first: Invalid | None = None
        for tag, member in members:
            try:
                return member(value)
            except Invalid as problem:
                if first is None:
                    problem.loc = (tag, *problem.loc)
                    first = problem
        assert first is not None
        raise first
    return check


# --- records -------------------------------------------------------------------------

_COMPILED: dict[object, Check] = {}


def _compiled(kind: object) -> Check:
    check = _COMPILED.get(kind)
    if check is None:
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            _COMPILED[kind] = lambda value: _COMPILED[kind](value)  # a record within itself
            check = _record(kind)
        else:
            check = _compile(kind)
        _COMPILED[kind] = check
    return check


def _compile(kind: Any) -> Check:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        check = _compiled(args[0])
        for extra in args[1:]:
            if isinstance(extra, Limits):
                check = _limited(check, extra)
            elif isinstance(extra, After):
                check = _after(check, extra.func)
        return check
    if origin in (types.UnionType, typing.Union):
        members = [member for member in args if member is not type(None)]
        inner = (_compiled(members[0]) if len(members) == 1 else
                 _union([(getattr(m, "__name__", str(m)), _compiled(m)) for m in members]))
        return _optional(inner) if len(members) < len(args) else inner
    if origin is list:
        return _list(_compiled(args[0]))
    if origin is dict:
        return _dict(_compiled(args[0]), _compiled(args[1]))
    if origin is Literal:
        return _literal(args)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum(kind)
    if kind in _SCALARS:
        return _SCALARS[kind]
    if dataclasses.is_dataclass(kind):
        return _compiled(kind)
    raise TypeError(f"no validator for {kind!r}")


def _validators(record: type) -> tuple[dict[str, list[Check]], list[str]]:
    """The record's field validators (bound, by field) and its model validators (names)."""
    by_name: dict[str, Any] = {}
    for klass in reversed(record.__mro__):
        by_name.update(vars(klass))
    fields: dict[str, list[Check]] = {}
    models: list[str] = []
    for name, attribute in by_name.items():
        function = getattr(attribute, "__func__", attribute)
        for field in getattr(function, "__validates__", ()):
            fields.setdefault(field, []).append(getattr(record, name))
        if getattr(function, "__validates_model__", None):
            models.append(name)
    return fields, models


def _record(record: type) -> Check:
    hints = typing.get_type_hints(record, include_extras=True)
    field_checks, model_checks = _validators(record)
    fields: list[tuple[str, Check, bool]] = []
    for field in dataclasses.fields(record):
        if not field.init or field.metadata.get("yaml") is False:
            continue
        walk = _compiled(hints[field.name])
        for func in field_checks.get(field.name, ()):
            walk = _after(walk, func)
        required = (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING)
        fields.append((field.name, walk, required))
    names = {name for name, _, _ in fields}
    message = f"Input should be a valid dictionary or instance of {record.__name__}"

    def check(value: object) -> object:
        if isinstance(value, record):
            return value
        if not isinstance(value, dict):
            raise Invalid("model_type", message, value)
        found: dict[str, Any] = {}
        for name, field_check, required in fields:
            if name in value:
                try:
                    found[name] = field_check(value[name])
                except Invalid as problem:
                    problem.loc = (name, *problem.loc)
                    raise
            elif required:
                raise Invalid("missing", "Field required", value, (name,))
        if len(found) < len(value):
            for key, element in value.items():
                if not isinstance(key, str):
                    raise Invalid("invalid_key", "Keys should be strings", key, (_key_loc(key),))
                if key not in names:
                    raise Invalid("extra_forbidden", "Extra inputs are not permitted", element,
                                  (key,))
        made = record(**found)
        for name in model_checks:
            try:
                getattr(made, name)()
            except ValueError as exc:
                raise Invalid("value_error", str(exc), made) from None
        return made
    return check
