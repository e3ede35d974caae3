"""The city feed's wire format: what a gateway sends parses back to the same event; every
malformed message is a Rejection with its reason, never an exception (hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gateway.city.envelope import Event, Reject, Rejection, encode, parse
from gateway.store.records import Delivery

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
ROOT = "gridgate/city"


def row(body: dict[str, object], seq: int = 4) -> Delivery:
    return Delivery(9, 0, "devices.health", "city", "city", json.dumps(body), "city:9", 0, T0,
                    T0, is_feed=True, seq=seq)  # fmt: skip


def test_what_a_gateway_sends_parses_back_to_the_same_event() -> None:
    payload = encode(row({"gateway": "c-1", "event": "devices.health", "health": {"online": 3}}))
    event = parse(f"{ROOT}/c-1", payload, ROOT)
    assert event == Event("c-1", 4, T0, "devices.health", "health", {"online": 3})
    assert isinstance(event, Event)
    assert event.id == "c-1:4"


def _envelope(**changes: object) -> bytes:
    base: dict[str, object] = {"v": 1, "id": "c-1:4", "gateway": "c-1", "seq": 4}
    base.update({"at": T0.isoformat(), "event": "alert.raised", "alert": {}})
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def test_each_fault_has_its_reason() -> None:
    topic = f"{ROOT}/c-1"
    cases = {
        b"x" * (300 * 1024): Reject.TOO_BIG,
        b"{": Reject.NOT_JSON,
        b"\xff": Reject.NOT_JSON,
        b"7": Reject.BAD_ENVELOPE,
        _envelope(v=2): Reject.BAD_VERSION,
        _envelope(gateway="c/1"): Reject.BAD_ENVELOPE,
        _envelope(seq=0): Reject.BAD_ENVELOPE,
        _envelope(seq=True): Reject.BAD_ENVELOPE,
        _envelope(seq="4"): Reject.BAD_ENVELOPE,
        _envelope(id="c-1:5"): Reject.BAD_ENVELOPE,
        _envelope(at="yesterday"): Reject.BAD_ENVELOPE,
        _envelope(at="2026-03-02T02:00:00"): Reject.BAD_ENVELOPE,
        _envelope(at="0001-01-01T00:00:00+00:00"): Reject.BAD_ENVELOPE,
        _envelope(event=""): Reject.BAD_ENVELOPE,
        _envelope(alert=[1]): Reject.BAD_ENVELOPE,
        _envelope(case={}): Reject.BAD_ENVELOPE,  # two subjects
    }
    for payload, reason in cases.items():
        result = parse(topic, payload, ROOT)
        assert isinstance(result, Rejection), payload[:80]
        assert result.reason == reason, (payload[:80], result)
    mismatch = parse(f"{ROOT}/c-2", _envelope(), ROOT)
    assert isinstance(mismatch, Rejection)
    assert mismatch.reason == Reject.TOPIC_MISMATCH


@given(st.binary(max_size=2000))
def test_any_bytes_are_an_event_or_a_rejection(payload: bytes) -> None:
    assert isinstance(parse(f"{ROOT}/c-1", payload, ROOT), Event | Rejection)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["v", "id", "gateway", "seq", "at", "event", "alert",
                                        "case", "health"]), _json))  # fmt: skip
def test_any_json_object_is_an_event_or_a_rejection(data: dict[str, object]) -> None:
    result = parse(f"{ROOT}/c-1", json.dumps(data).encode(), ROOT)
    assert isinstance(result, Event | Rejection)
