"""gridgate's own MQTT format: the topic scheme and payloads every native device speaks.

Topics (documented in docs/topics.md), with `ROOT` configurable (default `gridgate`):

    ROOT/v1/{device_id}/reading        JSON reading, QoS 1
    ROOT/v1/{device_id}/availability   `online` / `offline`, retained; a device sets
                                       `offline` as its MQTT last will

A reading payload is the canonical reading minus what the gateway adds itself:

    {"kind": "door", "event_at": "2026-11-25T13:04:05+08:00", "fields": {"open": true}}

`event_at` is optional (arrival time is used when absent) and must carry a UTC offset.
Validation is one pydantic step over the raw bytes: a discriminated union by `kind`,
strict types, ranges from `sensors.kinds`, no NaN or infinities, no unknown fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Required, Union

from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before 3.12

from sensors.kinds import KINDS, FieldSpec, Kind, KindSpec
from sensors.reading import Reading, Rejection, RejectReason

ADAPTER_NAME = "native"
VERSION = "v1"
DEVICE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_PY_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}


# The payload is validated into plain dicts (TypedDicts), not model instances: one is made
# per message, and a dict costs a fraction of a model (and needs no copying out). The
# TypedDicts are built from the kind declarations at import, hence the functional form.
_typed_dict: Any = TypedDict


def _fields_type(spec: KindSpec) -> Any:
    fields = _typed_dict(
        f"{spec.kind.value.title()}Fields",
        {name: _field_type(f) for name, f in spec.fields.items()},
        total=False,
    )
    fields.__pydantic_config__ = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    return fields


def _field_type(f: FieldSpec) -> Any:
    py = _PY_TYPES[f.type]
    limits = Field(description=f.meaning, ge=f.ge, le=f.le, max_length=f.max_length)
    if f.is_required:
        return Required[Annotated[py, limits]]
    return Annotated[py | None, limits]  # null is taken as "not reported"


def _payload_type(spec: KindSpec) -> Any:
    payload = _typed_dict(
        f"{spec.kind.value.title()}Payload",
        {
            "kind": Required[Literal[spec.kind.value]],
            "event_at": AwareDatetime | None,
            "fields": Required[_fields_type(spec)],
        },
        total=False,
    )
    payload.__pydantic_config__ = ConfigDict(extra="forbid")
    return payload


_READING_KINDS = [spec for spec in KINDS.values() if spec.is_placed]
_KIND_OF = {kind.value: kind for kind in Kind}
_PAYLOAD: TypeAdapter[Any] = TypeAdapter(
    Annotated[  # type: ignore[arg-type]  # a union built from the kind declarations
        Union[tuple(_payload_type(spec) for spec in _READING_KINDS)],  # noqa: UP007  # built at run time
        Field(discriminator="kind"),
    ]
)


def _describe(error: ValidationError) -> tuple[RejectReason, str]:
    errors = error.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return RejectReason.MALFORMED_JSON, f"not valid JSON: {first['msg']}"
    if first["type"] == "union_tag_invalid":
        known = ", ".join(spec.kind.value for spec in _READING_KINDS)
        return RejectReason.UNKNOWN_KIND, f"unknown kind; known kinds: {known}"
    parts = []
    for item in errors[:3]:
        # loc[0] is the union member (the kind); the rest is the path in the payload
        loc = ".".join(str(p) for p in item["loc"][1:]) or "payload"
        parts.append(f"{loc}: {item['msg']}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return RejectReason.INVALID_PAYLOAD, "; ".join(parts) + more


@dataclass(frozen=True)
class NativeAdapter:
    """Turns messages on the native topics into readings."""

    topic_root: str = "gridgate"
    max_payload_bytes: int = 64 * 1024
    max_clock_skew: timedelta = timedelta(minutes=5)
    name: str = ADAPTER_NAME

    def subscriptions(self) -> list[str]:
        return [
            f"{self.topic_root}/{VERSION}/+/reading",
            f"{self.topic_root}/{VERSION}/+/availability",
        ]

    def adapt(self, topic: str, payload: bytes, received_at: datetime) -> Reading | Rejection:
        def reject(reason: RejectReason, detail: str, device_id: str | None = None) -> Rejection:
            return Rejection(
                reason=reason,
                detail=detail,
                topic=topic,
                received_at=received_at,
                adapter=self.name,
                device_id=device_id,
                sample=Rejection.sample_of(payload),
            )

        prefix = f"{self.topic_root}/{VERSION}/"
        if not topic.startswith(prefix):
            return reject(RejectReason.BAD_TOPIC, f"topic is not under {prefix}")
        device_id, _, channel = topic[len(prefix) :].partition("/")
        if not _DEVICE_ID.fullmatch(device_id):
            return reject(RejectReason.BAD_TOPIC, f"device id {device_id[:80]!r} is not valid")
        if len(payload) > self.max_payload_bytes:
            return reject(
                RejectReason.PAYLOAD_TOO_LARGE,
                f"{len(payload)} bytes, limit {self.max_payload_bytes}",
                device_id,
            )
        if channel == "availability":
            return self._availability(device_id, payload, received_at, reject)
        if channel != "reading":
            return reject(
                RejectReason.BAD_TOPIC, f"unknown topic suffix {channel[:40]!r}", device_id
            )
        try:
            parsed = _PAYLOAD.validate_json(payload)
        except ValidationError as exc:
            reason, detail = _describe(exc)
            return reject(reason, detail, device_id)
        try:
            event_at: datetime = (parsed.get("event_at") or received_at).astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59-14:00 is past the last UTC instant
            return reject(RejectReason.INVALID_PAYLOAD, "event_at: out of range", device_id)
        if event_at - received_at > self.max_clock_skew:
            return reject(
                RejectReason.FUTURE_EVENT_TIME,
                f"event_at {event_at.isoformat()} is ahead of arrival by more than "
                f"{self.max_clock_skew.total_seconds():.0f} s",
                device_id,
            )
        fields = {k: v for k, v in parsed["fields"].items() if v is not None}
        return Reading(
            device_id=device_id,
            kind=_KIND_OF[parsed["kind"]],
            fields=fields,
            event_at=event_at,
            received_at=received_at,
        )

    def _availability(
        self, device_id: str, payload: bytes, received_at: datetime, reject: Any
    ) -> Reading | Rejection:
        text = payload.strip().lower()
        if text not in (b"online", b"offline"):
            result: Rejection = reject(
                RejectReason.INVALID_PAYLOAD,
                "availability must be 'online' or 'offline'",
                device_id,
            )
            return result
        return Reading(
            device_id=device_id,
            kind=Kind.AVAILABILITY,
            fields={"online": text == b"online"},
            event_at=received_at,
            received_at=received_at,
        )
