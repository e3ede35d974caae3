"""A message's bytes as the JSON value an adapter reads, or why they cannot be one.

One parse per message, strict where no sensor value could be: no NaN or infinities, no
number too large for a float, no integer of more than 40 digits, no nesting so deep it
exhausts the stack.

Two parsers, one answer. orjson reads the common payload (~0.5 µs against ~5 µs for the
standard library with the checks' hooks below). It refuses NaN, infinities, invalid
UTF-8, lone surrogates and nesting past 1,024 levels by itself; for those, and for any
payload holding a run of 19 or more digits (an integer past 64 bits, which orjson would
make a float), the standard library's parse with the hooks decides and says why. One
difference is left: nesting between ~1,000 levels (where the standard library's limit
falls, which depends on how deep the caller's stack already is) and 1,024 is read, not
refused; the limit is now the same on every call.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from sensors.reading import RejectReason

MAX_INT_DIGITS = 40


class _Unacceptable(ValueError):
    """Valid JSON holding a value no field may take (NaN, 1e400, a 5000-digit integer)."""


def _reject_constant(name: str) -> Any:
    raise _Unacceptable(f"{name} is not a number a sensor can report")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Unacceptable(f"number {text[:20]} is out of range")
    return value


def _parse_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise _Unacceptable(f"integer with {len(text)} digits")
    return int(text)


# one decoder for every message (json.loads with hooks builds a new one per call)
_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int
)


# 19 digits in a row: possibly an integer orjson would not keep exact (past 64 bits)
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def parse_json(payload: bytes) -> Any | tuple[RejectReason, str]:
    """The payload's JSON value, or why it cannot be used (a tuple: reason, detail)."""
    if _LONG_DIGITS.search(payload) is None:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass  # the standard library says why, in the words it always used
    return parse_json_strictly(payload)


def parse_json_strictly(payload: bytes) -> Any | tuple[RejectReason, str]:
    """`parse_json` by the standard library alone, the checks in its hooks."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RejectReason.MALFORMED_JSON, f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    try:
        return _DECODER.decode(text)
    except _Unacceptable as exc:
        return RejectReason.INVALID_PAYLOAD, str(exc)
    except RecursionError:
        return RejectReason.INVALID_PAYLOAD, "JSON nested too deeply"
    except ValueError as exc:  # json.JSONDecodeError
        return RejectReason.MALFORMED_JSON, f"not valid JSON: {str(exc)[:120]}"
