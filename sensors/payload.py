"""A message's bytes as the JSON value an adapter reads, or why they cannot be one.

One parse per message, strict where no sensor value could be: no NaN or infinities, no
number too large for a float, no integer of more than 40 digits, no nesting so deep it
exhausts the stack.

Two parsers, one answer. orjson reads the common payload (a door's: ~2 µs with the scan
below, against ~3.7 µs for the standard library with the checks' hooks). It refuses NaN,
infinities, invalid UTF-8, lone surrogates and nesting past 1,024 levels by itself; for
those, and for any payload holding a run of 19 or more digits (an integer past 64 bits,
which orjson would make a float; looked for with `bytes.translate`, ~0.8 µs for a door's
payload, where a regular expression took 3.5), the standard library's parse with the
hooks decides and says why. One difference is left: nesting between ~1,000 levels (where
the standard library's limit falls, which depends on how deep the caller's stack already
is) and 1,024 is read, not refused; the limit is now the same on every call.
"""

from __future__ import annotations

import json
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


# 19 digits in a row: possibly an integer orjson would not keep exact (past 64 bits).
# Every digit becomes "0" and every other byte " ", so a run is one substring search.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19


def parse_json(payload: bytes) -> Any | tuple[RejectReason, str]:
    """The payload's JSON value, or why it cannot be used (a tuple: reason, detail)."""
    if _LONG_RUN not in payload.translate(_DIGITS_ONLY):
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
