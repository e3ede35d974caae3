"""What an adapter file (`sensors/adapters/<name>.yaml`) may say: the pydantic models.

These models check each value on its own; `sensors.load` then checks the file as a whole
against the kind vocabulary (each mapped field exists on its kind, transforms fit the
field's type, topic patterns parse and do not overlap) and builds a `DeclaredAdapter`.
A file that `extends` another is merged with it first (`sensors.extends`), then checked
the same way. docs/integrators.md walks through a file line by line.
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
    field_validator,
    model_validator,
)

from sensors.fieldmap import TimeFormat
from sensors.kinds import Kind

# a key in the payload, `.` between the keys of nested objects: `data.status`; a level
# with `*` stands for the one key that fits it: `ZbReceived.*.Contact`
PATH_PATTERN = r"^[^.\s]+(\.[^.\s]+)*$"
SourcePath = Field(alias="from", pattern=PATH_PATTERN, max_length=200)
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
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
    """Where the sensor's own time of the event is; without it, the arrival time is used.

    `format` is one format or a list (`[iso8601, unix_ms]`: text is read as ISO 8601, a
    number as milliseconds). `hint` is added to every event time problem: how to set the
    source right (which option of the vendor's software to change)."""

    source: str = SourcePath
    formats: list[TimeFormat] = Field(alias="format", min_length=1)
    required: bool = False  # false: a payload without the key takes the arrival time
    hint: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("formats", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


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
    """A topic pattern and what its messages are: readings, availability (online or
    offline), or `ignored` (a topic of the device that carries nothing gridgate reads:
    counted as ignored_topic). `fields` gives a topic its own field map, for formats that
    put each value on a topic of its own (`<id>/sensor/battery`): its readings carry just
    those fields."""

    pattern: str = Field(min_length=1, max_length=200)
    message: Literal["reading", "availability", "ignored"] = "reading"
    fields: dict[str, FieldMap] | None = None


class Condition(_Strict):
    """A message is read only when the payload has `key` (and it `equals` the value)."""

    key: str = Field(pattern=PATH_PATTERN, max_length=200)
    equals: MapKey | None = None


class AdapterFile(_Strict):
    """One vendor payload format."""

    name: str = Field(pattern=NAME_PATTERN)
    extends: str | None = Field(None, pattern=NAME_PATTERN)  # start from this adapter's file
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
    # where the device id is when the topic does not carry it: a template of topic
    # placeholders and payload paths (`"{relay}.{params.bthomesensor:*}"`), or a list of
    # them, the first that the message fills in wins
    device_id: str | list[str] | None = None
    only_when: list[Condition] = []  # other messages on the topics: ignored_message
    # a message may carry any part of a device's state (each change sent on its own):
    # required fields of the kind may be missing from it
    partial: bool = False
    # topics under the patterns' first level that no pattern fits (a Zigbee2MQTT name
    # with `/`): counted as unknown devices, with this text saying why and what to do
    unmatched: str | None = Field(None, min_length=1, max_length=300)
