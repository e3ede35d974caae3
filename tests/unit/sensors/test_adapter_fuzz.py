"""Hostile input through every adapter, via `AdapterSet.adapt`: nothing escapes.

Whatever the topic and bytes, the answer is one Reading or one Rejection; a Reading's
fields are of their kind, of the declared type and inside the declared range.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors import fieldmap
from sensors.adapt import AdapterSet
from sensors.check import read_samples
from sensors.declared import DeclaredAdapter
from sensors.kinds import KINDS, Kind
from sensors.load import SAMPLES_DIR
from sensors.reading import Reading, Rejection, RejectReason
from sensors.selectors import PayloadValue
from tests.unit.sensors.jsonvalues import JSON_VALUES

ADAPTERS = AdapterSet.load()
RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)
SAMPLE_BUDGET = 600
PATTERNS = [p for a in ADAPTERS.declared for p in a.patterns]
NATIVE_TOPICS = ["gridgate/v1/{device_id}/reading", "gridgate/v1/{device_id}/availability"]
SAMPLES = [
    s
    for name in ADAPTERS.names
    for s in read_samples(SAMPLES_DIR / f"{name}.jsonl")
    if not isinstance(s, Exception)
]
# every payload key any adapter reads (fields, topics' own fields, the kind, the event
# time, device id templates, only_when), as paths into nested objects; a key pattern
# (`*`, `bthomesensor:*`) is put in as a key of that name, which it fits
_SOURCES = (
    {m.source for a in ADAPTERS.declared for ms in a.field_maps.values() for m in ms}
    | {
        m.source
        for a in ADAPTERS.declared
        for r in a.routes
        for ms in (r.field_maps or {}).values()
        for m in ms
    }
    | {c.source for a in ADAPTERS.declared for c in a.conditions}
    | {e.source for a in ADAPTERS.declared if (e := a.event_time) is not None}
    | {
        part.source
        for a in ADAPTERS.declared
        for t in a.device_ids
        for part in t.parts
        if isinstance(part, PayloadValue)
    }
    | {"ts", "type", "alarm", "last_seen", "state", "kind", "fields"}
)
SOURCE_PATHS = sorted(tuple(source.split(".")) for source in _SOURCES)
SETTINGS = settings(max_examples=200, deadline=None)

LEVELS = st.sampled_from(["door-1", "bridge", "gw-00a1b2c3", "GW1", "", "a b", "+", "#"]) | (
    st.text(max_size=12)
)
HOSTILE_NUMBERS = st.sampled_from(
    [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1" * 5000, b"1e-400", b"-0"]
)
KIND_OF = st.sampled_from([None, *Kind])


@st.composite
def topics(draw: st.DrawFn) -> str:
    """A topic under one of the patterns, its placeholders filled with anything."""
    choice = draw(st.sampled_from([p.text for p in PATTERNS] + NATIVE_TOPICS))
    levels = []
    for level in choice.split("/"):
        levels.append(draw(LEVELS) if level.startswith("{") else level)
    return "/".join(levels)


def put(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    node = payload
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    return payload


@st.composite
def near_samples(draw: st.DrawFn) -> tuple[str, bytes, Kind | None]:
    """A real sample with some of its keys replaced by hostile values."""
    sample = draw(st.sampled_from(SAMPLES))
    try:
        payload = json.loads(sample.payload)
    except ValueError:
        return sample.topic, sample.payload, sample.kind
    if not isinstance(payload, dict):
        return sample.topic, sample.payload, sample.kind
    for path in draw(st.lists(st.sampled_from(SOURCE_PATHS), max_size=4)):
        put(payload, path, draw(JSON_VALUES))
    raw = json.dumps(payload).encode()
    if draw(st.booleans()) and b"1" in raw:
        raw = raw.replace(b"1", draw(HOSTILE_NUMBERS), 1)
    return sample.topic, raw, sample.kind


def adapt(topic: str, payload: bytes, kind: Kind | None) -> Reading | Rejection:
    result = ADAPTERS.adapt(topic, payload, RECEIVED_AT, lambda _: kind)
    check_outcome(result, is_partial(topic))
    return result


def is_partial(topic: str) -> bool:
    """Whether the adapter of `topic` reads messages carrying part of a device's state."""
    adapter = ADAPTERS.adapter(ADAPTERS.name_for(topic))
    if not isinstance(adapter, DeclaredAdapter):
        return False
    found = adapter.route(topic.split("/"))
    return adapter.is_partial or (found is not None and found[0].field_maps is not None)


def check_outcome(result: Reading | Rejection, is_partial: bool = False) -> None:
    assert isinstance(result, Reading | Rejection)
    if isinstance(result, Rejection):
        assert isinstance(result.reason, RejectReason)
        assert result.adapter in [*ADAPTERS.names, "none"]
        assert result.detail.strip()
        assert len(result.sample) <= SAMPLE_BUDGET
        return
    assert result.event_at.utcoffset() == timedelta(0)
    assert result.event_at - result.received_at <= fieldmap.MAX_CLOCK_SKEW
    spec = KINDS[result.kind]
    for name, spec_field in spec.fields.items():
        if spec_field.is_required and not is_partial:
            assert name in result.fields, name
    for name, value in result.fields.items():
        field = spec.fields[name]
        assert fieldmap.check(field, value) == value, (name, value)
        expected_type = {"bool": bool, "int": int, "float": float, "str": str}[field.type]
        assert type(value) is expected_type, (name, value)
        if isinstance(value, float):
            assert math.isfinite(value)


@SETTINGS
@given(topic=topics(), payload=st.binary(max_size=300), kind=KIND_OF)
def test_random_bytes_on_every_pattern_never_raise(
    topic: str, payload: bytes, kind: Kind | None
) -> None:
    adapt(topic, payload, kind)


@SETTINGS
@given(topic=topics(), value=JSON_VALUES, kind=KIND_OF)
def test_random_json_on_every_pattern_never_raises(
    topic: str, value: Any, kind: Kind | None
) -> None:
    adapt(topic, json.dumps(value).encode(), kind)


@SETTINGS
@given(case=near_samples(), kind=KIND_OF)
def test_samples_with_hostile_values_never_raise(
    case: tuple[str, bytes, Kind | None], kind: Kind | None
) -> None:
    topic, payload, sample_kind = case
    adapt(topic, payload, sample_kind or kind)


@SETTINGS
@given(topic=st.text(max_size=60), payload=st.binary(max_size=50))
def test_random_topics_never_raise(topic: str, payload: bytes) -> None:
    adapt(topic, payload, Kind.DOOR)


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from(SAMPLES),
    depth=st.integers(min_value=1, max_value=30_000),
    opener=st.sampled_from([b"[", b'{"a":']),
    path=st.sampled_from(SOURCE_PATHS),
)
def test_deep_nesting_under_any_key_never_raises(
    case: Any, depth: int, opener: bytes, path: tuple[str, ...]
) -> None:
    closer = b"]" if opener == b"[" else b"}"
    marker = "\u2603nested\u2603"
    try:
        payload = json.loads(case.payload)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    raw = json.dumps(put(payload, path, marker)).encode()
    nested = opener * depth + b"1" + closer * depth
    raw = raw.replace(json.dumps(marker).encode(), nested)

    adapt(case.topic, raw, case.kind or Kind.DOOR)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow],
)
@given(topic=topics(), filler=st.sampled_from([b" ", b"x", b"[", b"\xff"]))
def test_one_megabyte_payloads_are_refused_by_size(topic: str, filler: bytes) -> None:
    payload = b'{"contact": true, "pad": "' + filler * (1 << 20)

    result = adapt(topic, payload, Kind.DOOR)

    assert isinstance(result, Rejection)
    if result.device_id is not None and result.reason not in (
        RejectReason.BAD_TOPIC,
        RejectReason.IGNORED_TOPIC,
    ):
        assert result.reason == RejectReason.PAYLOAD_TOO_LARGE


INT_SPECS = [
    field for spec in KINDS.values() for field in spec.fields.values() if field.type == "int"
]


@SETTINGS
@given(
    field=st.sampled_from(INT_SPECS),
    value=st.one_of(st.integers(), st.integers(-(2**60), 2**60), st.integers(-200, 70_000)),
)
def test_an_int_field_takes_a_whole_number_in_its_range_and_refuses_the_rest(
    field: Any, value: int
) -> None:
    """The int fast path of `check` and its float path agree at every size and edge."""
    got = fieldmap.check(field, value)
    try:
        number = float(value)
    except OverflowError:
        assert got == fieldmap.Problem("number out of range")
        return
    in_range = (field.ge is None or number >= field.ge) and (field.le is None or number <= field.le)
    if in_range:
        assert got == int(number)
        assert type(got) is int
    else:
        assert isinstance(got, fieldmap.Problem)
        assert "below" in got.text or "above" in got.text
