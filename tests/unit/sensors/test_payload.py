"""sensors/payload.py reads with orjson and falls back to the standard library: for any
bytes, the value or the reason is the one the standard library alone gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.payload import parse_json, parse_json_strictly
from sensors.reading import RejectReason
from tests.unit.sensors.jsonvalues import JSON_VALUES


def _typed(value: Any) -> Any:
    """A value with its types spelled out (Python says 1 == 1.0 == True)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


def _same(payload: bytes) -> None:
    fast, strict = parse_json(payload), parse_json_strictly(payload)
    if isinstance(strict, tuple):
        assert fast == strict
    else:
        assert _typed(fast) == _typed(strict)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.booleans(), st.booleans())
def test_any_json_value_reads_the_same_by_both(value: Any, compact: bool, ascii_only: bool) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    _same(json.dumps(value, separators=separators, ensure_ascii=ascii_only).encode())


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=40)
    | st.text(alphabet='{}[]":,.-+eE0123456789 tfnrualsNIy\\', max_size=30).map(str.encode)
)
def test_any_bytes_read_the_same_by_both(payload: bytes) -> None:
    _same(payload)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"battery": NaN}', RejectReason.INVALID_PAYLOAD),
        (b'{"battery": 1e400}', RejectReason.INVALID_PAYLOAD),
        (b'{"battery": ' + b"9" * 41 + b"}", RejectReason.INVALID_PAYLOAD),
        (b'{"battery": 87', RejectReason.MALFORMED_JSON),
        (b'{"name": "\xff"}', RejectReason.MALFORMED_JSON),
        (b"[" * 5000 + b"]" * 5000, RejectReason.INVALID_PAYLOAD),
    ],
)
def test_what_either_refuses_is_refused_with_the_standard_librarys_reason(
    payload: bytes, reason: RejectReason
) -> None:
    found = parse_json(payload)
    assert isinstance(found, tuple)
    assert found == parse_json_strictly(payload)
    assert found[0] == reason


def test_an_integer_past_64_bits_stays_an_exact_integer() -> None:
    # orjson alone would make it 1e+23, a float
    assert parse_json(b'{"count": 99999999999999999999999}') == {"count": 99999999999999999999999}
    assert isinstance(parse_json(b"[18446744073709551616]")[0], int)  # type: ignore[index]


def test_a_lone_surrogate_orjson_refuses_is_read_as_before() -> None:
    assert parse_json(b'{"name": "\\ud800"}') == {"name": "\ud800"}
