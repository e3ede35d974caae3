"""Canonical readings, and the rejections that stand in for bad input.

A `Reading` is what every adapter produces, whatever the vendor: one device, one kind, the
kind's fields, and two instants: when the sensor says it happened (`event_at`) and when the
gateway received it (`received_at`). A `Rejection` is bad input turned into a value: a reason
code for counting and a detail for the person reading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from pydantic import AwareDatetime, TypeAdapter

from sensors.kinds import Kind

FieldValue = bool | int | float | str


class Reading(NamedTuple):
    """One reading, as every adapter hands it on. Adapters build it from input they have
    already validated (a named tuple: one is made per message, and it costs the least);
    readings from files go through `READING.validate_python`."""

    device_id: str
    kind: Kind
    fields: dict[str, FieldValue]
    event_at: AwareDatetime
    received_at: AwareDatetime


READING: TypeAdapter[Reading] = TypeAdapter(Reading)


class RejectReason(StrEnum):
    BAD_TOPIC = "bad_topic"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    MALFORMED_JSON = "malformed_json"
    INVALID_PAYLOAD = "invalid_payload"
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_DEVICE = "unknown_device"
    KIND_MISMATCH = "kind_mismatch"
    FUTURE_EVENT_TIME = "future_event_time"
    DUPLICATE = "duplicate"  # the same reading again (a redelivery): applied once only
    # a topic an adapter subscribes to but declares as not its devices' (zigbee2mqtt/bridge),
    # or as a device's topic that carries nothing gridgate reads (a Shelly's lux)
    IGNORED_TOPIC = "ignored_topic"
    # a message its adapter declares as not a reading (`only_when`): a Shelly NotifyEvent,
    # a Tasmota RESULT answering a command
    IGNORED_MESSAGE = "ignored_message"


SAMPLE_MAX_CHARS = 512


@dataclass(frozen=True)
class Rejection:
    """A message that did not become a reading, and why."""

    reason: RejectReason
    detail: str
    topic: str
    received_at: datetime
    adapter: str
    device_id: str | None = None
    sample: str = ""

    @staticmethod
    def sample_of(payload: bytes) -> str:
        """A short printable excerpt of a payload, kept for the API."""
        text = payload[: SAMPLE_MAX_CHARS * 4].decode("utf-8", errors="replace")
        if len(text) > SAMPLE_MAX_CHARS or len(payload) > SAMPLE_MAX_CHARS * 4:
            return text[:SAMPLE_MAX_CHARS] + f"… ({len(payload)} bytes)"
        return text
