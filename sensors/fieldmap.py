"""Values from vendor payloads into canonical fields: the shared transforms and checks.

Pure and small on purpose: every adapter file's `from`, `map`, `invert`, `scale`, `offset`
and `default` end up here, per message. A problem is returned as text naming what is
wrong, never raised; the caller turns it into a `Rejection`.

A path (`data.status`) walks into nested objects one key per level. A level holding `*`
is a key pattern (`*`, `bthomesensor:*`): it stands for the one key of that object that
fits it, for formats that nest a device's values under its address or a component name
(`{"ZbReceived": {"0x8F20": {...}}}`). No key fitting is the same as a missing key; two
or more is a problem of its own (`Ambiguous`), never a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sensors.kinds import FieldSpec
from sensors.reading import FieldValue

MAX_CLOCK_SKEW = timedelta(minutes=5)
TimeFormat = Literal["iso8601", "unix_s", "unix_ms"]
NUMERIC_TIME_FORMATS: tuple[TimeFormat, ...] = ("unix_s", "unix_ms")
MapKey = tuple[str, Any]
_DESCRIBED_KEYS = 3


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def map_key(value: Any) -> MapKey | None:
    """A lookup key that keeps `true` and `1` apart (Python's `True == 1`)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("str", value)
    return None


def describe(value: Any) -> str:
    """A short, safe rendering of a payload value for a rejection detail."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class KeyPattern:
    """A path level standing for the one key of an object that fits it (`*` any text)."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def of(cls, text: str) -> KeyPattern:
        return cls(text, re.compile(".*".join(re.escape(part) for part in text.split("*"))))

    def find(self, value: dict[Any, Any]) -> str | Ambiguous | None:
        """The one key of `value` that fits; None when none does."""
        keys = [k for k in value if isinstance(k, str) and self.regex.fullmatch(k)]
        if len(keys) == 1:
            return keys[0]
        return Ambiguous(self.text, keys) if keys else None


@dataclass(frozen=True)
class Ambiguous:
    """Several keys fit a key pattern: the payload holds more than the format allows."""

    pattern: str
    keys: list[str]

    @property
    def text(self) -> str:
        shown = ", ".join(repr(k[:40]) for k in self.keys[:_DESCRIBED_KEYS])
        more = "" if len(self.keys) <= _DESCRIBED_KEYS else ", ..."
        return f"{len(self.keys)} keys fit {self.pattern!r} ({shown}{more}); one expected"


PathLevel = str | KeyPattern


def parse_path(source: str) -> tuple[PathLevel, ...]:
    """`data.status` → ("data", "status"); a level with `*` becomes a KeyPattern."""
    return tuple(KeyPattern.of(level) if "*" in level else level for level in source.split("."))


def lookup(payload: dict[str, Any], path: tuple[PathLevel, ...]) -> Any:
    """The value at a path of nested objects: MISSING, an `Ambiguous`, or the value."""
    if len(path) == 1 and type(only := path[0]) is str:  # the commonest: `battery`
        return payload.get(only, MISSING) if isinstance(payload, dict) else MISSING
    value: Any = payload
    for level in path:
        if not isinstance(value, dict):
            return MISSING
        if isinstance(level, str):
            if level not in value:
                return MISSING
            value = value[level]
            continue
        found = level.find(value)
        if found is None or isinstance(found, Ambiguous):
            return MISSING if found is None else found
        value = value[found]
    return value


def lookup_key(payload: dict[str, Any], path: tuple[PathLevel, ...]) -> Any:
    """Like `lookup`, but a path ending in a key pattern gives the key it found, not
    the value under it (`ZbReceived.*` → "0x8F20")."""
    if not path or isinstance(path[-1], str):
        return lookup(payload, path)
    parent = lookup(payload, path[:-1])
    if not isinstance(parent, dict):
        return parent if isinstance(parent, Ambiguous) else MISSING
    found = path[-1].find(parent)
    return MISSING if found is None else found


@dataclass(frozen=True)
class MappedField:
    """One canonical field of one kind, and how an adapter makes it from a payload."""

    name: str
    spec: FieldSpec
    source: str
    path: tuple[PathLevel, ...]
    table: dict[MapKey, FieldValue] | None = None
    invert: bool = False
    scale: float = 1.0
    offset: float = 0.0
    default: FieldValue | None = None


@dataclass(frozen=True)
class Problem:
    text: str


def convert(field: MappedField, raw: Any, *, is_text: bool = False) -> FieldValue | Problem:
    """The canonical value of `field` from the payload's `raw` value, or the problem."""
    value = raw
    if field.table is not None:
        key = map_key(value)
        if key is None or key not in field.table:
            known = ", ".join(describe(k[1]) for k in list(field.table)[:8])
            return Problem(f"value {describe(value)} is not one of: {known}")
        value = field.table[key]
    if field.invert:
        if not isinstance(value, bool):
            return Problem(f"expected true or false, got {describe(value)}")
        value = not value
    if field.spec.type in ("int", "float"):
        if is_text and isinstance(value, str):
            value = _number_of(value)
        if field.scale != 1.0 or field.offset != 0.0:
            if not _is_number(value):
                return Problem(f"expected a number, got {describe(value)}")
            try:
                # 12 significant digits: 3010 × 0.001 is 3.01, not 3.0100000000000002
                value = float(f"{value * field.scale + field.offset:.12g}")
            except OverflowError:
                return Problem("number out of range")
    return check(field.spec, value)


_EXACT = 1 << 53


def check(spec: FieldSpec, value: Any) -> FieldValue | Problem:
    """`value` as the field's type when it has that type and is within the field's range."""
    # the commonest (a battery level, a link quality): the answer the float path below
    # gives, without the round trip through float (exact below 2**53)
    if (
        type(value) is int
        and spec.type == "int"
        and -_EXACT < value < _EXACT
        and (spec.ge is None or value >= spec.ge)
        and (spec.le is None or value <= spec.le)
    ):
        return value
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        return Problem(f"expected true or false, got {describe(value)}")
    if spec.type == "str":
        if not isinstance(value, str):
            return Problem(f"expected text, got {describe(value)}")
        if spec.max_length is not None and len(value) > spec.max_length:
            return Problem(f"text longer than {spec.max_length} characters")
        if not value.isprintable() or _has_surrogates(value):
            return Problem("text holds control characters or invalid unicode")
        return value
    if not _is_number(value):
        return Problem(f"expected a number, got {describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        return Problem("number out of range")
    if not math.isfinite(number):
        return Problem("number is not finite")
    if spec.ge is not None and number < spec.ge:
        return Problem(f"{describe(value)} is below {spec.ge:g}")
    if spec.le is not None and number > spec.le:
        return Problem(f"{describe(value)} is above {spec.le:g}")
    if spec.type == "int":
        if not number.is_integer():
            return Problem(f"expected a whole number, got {describe(value)}")
        return int(number)
    return number


def event_time(raw: Any, formats: tuple[TimeFormat, ...]) -> datetime | Problem:
    """An aware UTC instant from a payload's time value in one of `formats`: text is
    read as ISO 8601, a number as the (one) unix format among them."""
    numeric = [f for f in formats if f in NUMERIC_TIME_FORMATS]
    if "iso8601" in formats and (isinstance(raw, str) or not numeric):
        if not isinstance(raw, str) or len(raw) > 64:
            wanted = " or a unix time" if numeric else ""
            return Problem(f"expected an ISO 8601 time{wanted}, got {describe(raw)}")
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return Problem(f"{describe(raw)} is not an ISO 8601 time")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return Problem(f"{describe(raw)} has no UTC offset")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            return Problem(f"{describe(raw)} is out of range")
    fmt = numeric[0]
    if not _is_number(raw):
        return Problem(f"expected a unix time in {fmt[5:]}, got {describe(raw)}")
    seconds = raw / 1000 if fmt == "unix_ms" else raw
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        return Problem(f"unix time {describe(raw)} is out of range")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_of(text: str) -> Any:
    """A number from a plain-text payload ("23.5"), or the text unchanged."""
    if len(text) > 40:
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
