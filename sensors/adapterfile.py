"""What an adapter file (`sensors/adapters/<name>.yaml`) may say: the pydantic models.

These models check each value on its own; `sensors.load` then checks the file as a whole
against the kind vocabulary (each mapped field exists on its kind, transforms fit the
field's type, topic patterns parse and do not overlap) and builds a `DeclaredAdapter`.
docs/integrators.md walks through a file line by line.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from sensors.kinds import Kind

# a key in the payload, `.` between the keys of nested objects: `data.status`
SourcePath = Field(alias="from", pattern=r"^[^.\s]+(\.[^.\s]+)*$", max_length=200)
MapKey = StrictBool | StrictInt | StrictStr
MapValue = StrictBool | StrictInt | StrictFloat | StrictStr
REGISTRY: Literal["registry"] = "registry"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FieldMap(_Strict):
    """canonical field ← one payload key. Applied in order: map, invert, scale and offset.

    `open: contact` is short for `open: {from: contact}`.
    """

    source: str = SourcePath
    map: dict[MapKey, MapValue] | None = None  # source value → field value
    invert: bool = False  # true ↔ false (bool fields)
    scale: float = 1.0  # value × scale + offset (number fields)
    offset: float = 0.0
    default: MapValue | None = None  # when the key is absent from the payload

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"from": data} if isinstance(data, str) else data


class EventTime(_Strict):
    """Where the sensor's own time of the event is; without it, the arrival time is used."""

    source: str = SourcePath
    format: Literal["iso8601", "unix_s", "unix_ms"]
    required: bool = False  # false: a payload without the key takes the arrival time


class KindByKey(_Strict):
    """The kind is named by a payload key: `{from: type, values: {door_sensor: door}}`."""

    source: str = SourcePath
    values: dict[MapKey, Kind] = Field(min_length=1)


class Availability(_Strict):
    """How an availability topic says online or offline (words compared ignoring case)."""

    online: list[str] = Field(default=["online"], min_length=1)
    offline: list[str] = Field(default=["offline"], min_length=1)
    # also accept a JSON object carrying the word under this key: {"state": "online"}
    json_key: str | None = None


class TopicSpec(_Strict):
    pattern: str = Field(min_length=1, max_length=200)
    message: Literal["reading", "availability"] = "reading"


class AdapterFile(_Strict):
    """One vendor payload format."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    description: str = Field(min_length=1)
    models: list[str] = []  # device models known to speak this format (documentation)
    topics: list[TopicSpec] = Field(min_length=1)
    exclude: list[str] = []  # MQTT filters of topics under the patterns that are not devices
    placeholders: dict[str, str] = {}  # regular expression per placeholder
    payload: Literal["json", "text"] = "json"
    # a kind for every reading, `registry` (the device registry knows each device's kind),
    # or a payload key naming it
    kind: str | KindByKey
    fields: dict[str, FieldMap] = {}  # for every kind this adapter makes
    kinds: dict[Kind, dict[str, FieldMap]] = {}  # per kind, on top of `fields`
    event_time: EventTime | None = None
    availability: Availability = Availability()
    # `sensors.hooks.<vendor>:<function>`: payload object in, plain fields out
    hook: str | None = Field(None, pattern=r"^sensors\.hooks\.[a-z_][a-z0-9_]*:[a-z_][a-z0-9_]*$")
