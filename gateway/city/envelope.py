"""The wire format of the city feed, version 1: one MQTT message per event, QoS 1, on
`<city topic>/<gateway id>`:

    {"v": 1, "id": "c-yanghe:17", "gateway": "c-yanghe", "seq": 17,
     "at": "2026-12-01T05:30:00.123456+00:00", "event": "alert.raised", "alert": {...}}

`seq` counts a gateway's events from 1 with no gaps (given when the outbox row is written);
`id` is `<gateway>:<seq>`, stable across retries, restarts and redeliveries; `at` is when
the gateway decided the event. Exactly one of `alert`, `case` or `health` is present.

`parse` is the city's one validation step per message: bytes in, an `Event` or a
`Rejection` with a reason code out, never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gateway.store.records import Delivery

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # an event's `at` is after this

VERSION = 1
MAX_BYTES = 256 * 1024
_GATEWAY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SUBJECTS = ("alert", "case", "health")


def encode(delivery: Delivery) -> bytes:
    """The message for one feed row (its body as written, with the number it was given)."""
    body: dict[str, Any] = json.loads(delivery.body)
    gateway = body.pop("gateway")
    envelope = {
        "v": VERSION,
        "id": f"{gateway}:{delivery.seq}",
        "gateway": gateway,
        "seq": delivery.seq,
        "at": delivery.created_at.isoformat(),
        **body,
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def topic(root: str, gateway_id: str) -> str:
    return f"{root}/{gateway_id}"


class Reject(StrEnum):
    TOO_BIG = "too_big"
    NOT_JSON = "not_json"
    BAD_ENVELOPE = "bad_envelope"
    BAD_VERSION = "bad_version"
    TOPIC_MISMATCH = "topic_mismatch"
    BAD_RECORD = "bad_record"
    UNKNOWN_GATEWAY = "unknown_gateway"


@dataclass(frozen=True)
class Event:
    gateway: str
    seq: int
    at: datetime
    event: str
    subject: str  # alert, case or health
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.gateway}:{self.seq}"


@dataclass(frozen=True)
class Rejection:
    reason: Reject
    detail: str


def parse(topic_name: str, payload: bytes, root: str) -> Event | Rejection:
    if len(payload) > MAX_BYTES:
        return Rejection(Reject.TOO_BIG, f"{len(payload)} bytes > {MAX_BYTES}")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Rejection(Reject.NOT_JSON, str(exc)[:200])
    if not isinstance(data, dict):
        return Rejection(Reject.BAD_ENVELOPE, "not a JSON object")
    if data.get("v") != VERSION:
        return Rejection(Reject.BAD_VERSION, f"v={data.get('v')!r}; this city reads {VERSION}")
    gateway, seq, at, event = (
        data.get("gateway"),
        data.get("seq"),
        data.get("at"),
        data.get("event"),
    )
    if not isinstance(gateway, str) or not _GATEWAY.match(gateway):
        return Rejection(Reject.BAD_ENVELOPE, f"gateway={gateway!r}")
    if topic_name != topic(root, gateway):
        return Rejection(Reject.TOPIC_MISMATCH, f"gateway {gateway} on {topic_name}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return Rejection(Reject.BAD_ENVELOPE, f"seq={seq!r}: a positive integer")
    if data.get("id") != f"{gateway}:{seq}":
        return Rejection(Reject.BAD_ENVELOPE, f"id={data.get('id')!r} is not gateway:seq")
    if not isinstance(event, str) or not 0 < len(event) <= 64:
        return Rejection(Reject.BAD_ENVELOPE, f"event={event!r}")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        return Rejection(Reject.BAD_ENVELOPE, f"at={at!r}: an ISO 8601 instant with offset")
    if when < EARLIEST:  # no gateway decided anything then (PostgreSQL would keep it, psycopg
        # cannot read it back in a zone west of UTC: a year 1 instant there is 1 BC)
        return Rejection(Reject.BAD_ENVELOPE, f"at={at!r}: before {EARLIEST:%Y}")
    present = [s for s in SUBJECTS if s in data]
    if len(present) != 1 or not isinstance(data[present[0]], dict):
        return Rejection(Reject.BAD_ENVELOPE, "exactly one of alert, case, health (an object)")
    subject = present[0]
    return Event(gateway, seq, when, event, subject, data[subject])
