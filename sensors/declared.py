"""A vendor format declared in an adapter file, ready to turn messages into readings.

`sensors.load` builds a `DeclaredAdapter` from a checked file; `sensors.adapt.AdapterSet`
routes each message to the one adapter whose topic pattern matches and calls `adapt`.
Per message this is one JSON parse and one pass over the declared fields; every problem
becomes a `Rejection` whose detail names the field and the payload key it came from.

    topic → excluded? placeholders valid? size → availability | ignored topic
          → payload → only_when → device id (topic or template) → kind → fields → time

A topic no pattern fits but under an adapter's `unmatched` filter (a Zigbee2MQTT name
with `/`) goes to `adapt_unmatched`: an unknown device, with the adapter's reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sensors import fieldmap, selectors
from sensors.fieldmap import MISSING, Ambiguous, MapKey, MappedField, PathLevel, Problem, TimeFormat
from sensors.kinds import KINDS, Kind
from sensors.native import DEVICE_ID_PATTERN
from sensors.payload import parse_json
from sensors.reading import FieldValue, Reading, Rejection, RejectReason
from sensors.selectors import Condition, DeviceIdTemplate
from sensors.topics import TopicFilter, TopicPattern
from sensors.yamlfile import Loc

Hook = Callable[[dict[str, Any]], dict[str, Any]]
KindOf = Callable[[str], Kind | None]
# what a hook may raise to say "this payload is bad"; anything else is a bug in the hook
HOOK_PAYLOAD_ERRORS = (ValueError, TypeError, KeyError, IndexError, ArithmeticError)
_DETAIL_PROBLEMS = 3
# each kind's required fields, in the kind's order
_REQUIRED = {
    kind: tuple(name for name, spec in KINDS[kind].fields.items() if spec.is_required)
    for kind in Kind
}
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


FieldMaps = Mapping[Kind, tuple[MappedField, ...]]


@dataclass(frozen=True)
class Route:
    pattern: TopicPattern
    message: Literal["reading", "availability", "ignored"] = "reading"
    field_maps: FieldMaps | None = None  # the topic's own fields; None: the adapter's
    # the adapter's excludes that a topic of this pattern can fall under (the adapter
    # sets them: `zigbee2mqtt/+/set/#` is not looked at for `zigbee2mqtt/{device_id}`)
    excludes: tuple[TopicFilter, ...] = field(default=(), compare=False)

    @property
    def is_availability(self) -> bool:
        return self.message == "availability"


@dataclass(frozen=True)
class KindFromKey:
    source: str
    path: tuple[PathLevel, ...]
    table: Mapping[MapKey, Kind]


@dataclass(frozen=True)
class EventTimeSource:
    source: str
    path: tuple[PathLevel, ...]
    formats: tuple[TimeFormat, ...]
    is_required: bool
    hint: str | None = None


@dataclass(frozen=True)
class Unmatched:
    """Topics under `under` that no pattern fits: unknown devices, for `reason`."""

    under: TopicFilter
    reason: str


@dataclass(frozen=True)
class AvailabilityWords:
    online: frozenset[str]
    offline: frozenset[str]
    json_key: str | None


@dataclass(frozen=True)
class DeclaredAdapter:
    name: str
    description: str
    routes: tuple[Route, ...]
    excludes: tuple[TopicFilter, ...]
    placeholders: Mapping[str, re.Pattern[str]]
    is_text: bool
    kind: Kind | Literal["registry"] | KindFromKey
    field_maps: FieldMaps
    event_time: EventTimeSource | None
    availability: AvailabilityWords
    hook: Hook | None = None
    hook_name: str | None = None
    path: Path | None = None
    lines: Mapping[Loc, int] = field(default_factory=dict)  # of the file, for errors
    device_ids: tuple[DeviceIdTemplate, ...] = ()  # empty: the topic's {device_id}
    conditions: tuple[Condition, ...] = ()
    is_partial: bool = False
    unmatched: Unmatched | None = None
    base: str | None = None  # the adapter this one extends

    def __post_init__(self) -> None:
        routes = tuple(
            replace(r, excludes=tuple(e for e in self.excludes if e.overlaps(r.pattern)))
            for r in self.routes
        )
        object.__setattr__(self, "routes", routes)

    @property
    def patterns(self) -> list[TopicPattern]:
        return [route.pattern for route in self.routes]

    @property
    def claims(self) -> list[TopicPattern | TopicFilter]:
        """Everything this adapter answers for: its patterns and its unmatched filter."""
        extra = [self.unmatched.under] if self.unmatched is not None else []
        return [*self.patterns, *extra]

    def subscriptions(self) -> list[str]:
        if self.unmatched is not None:  # it covers the patterns: one copy of each message
            return [self.unmatched.under.text]
        return [p.subscription() for p in self.patterns]

    def is_unmatched(self, levels: list[str]) -> bool:
        return self.unmatched is not None and self.unmatched.under.matches(levels)

    def route(self, levels: list[str]) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            values = route.pattern.match(levels)
            if values is not None:
                return route, values
        return None

    def _reject(
        self, topic: str, payload: bytes, received_at: datetime, device_id: str | None
    ) -> Callable[[RejectReason, str], Rejection]:
        def reject(reason: RejectReason, detail: str) -> Rejection:
            return Rejection(
                reason=reason,
                detail=detail,
                topic=topic,
                received_at=received_at,
                adapter=self.name,
                device_id=device_id,
                sample=Rejection.sample_of(payload),
            )

        return reject

    def topic_problem(
        self, levels: list[str], found: tuple[Route, dict[str, str]]
    ) -> tuple[RejectReason, str] | None:
        """What is wrong with a topic this adapter's route matched (`found`), if anything."""
        route, values = found
        for excluded in route.excludes:
            if excluded.matches(levels):
                return RejectReason.IGNORED_TOPIC, f"topic is excluded by {excluded.text}"
        for name, value in values.items():
            if not self.placeholders[name].fullmatch(value):
                what = "device id" if name == "device_id" else f"{{{name}}}"
                return RejectReason.BAD_TOPIC, f"{what} {value[:80]!r} is not valid"
        return None

    def adapt(
        self,
        topic: str,
        found: tuple[Route, dict[str, str]],
        payload: bytes,
        received_at: datetime,
        kind_of: KindOf,
        max_payload_bytes: int,
    ) -> Reading | Rejection:
        """One message on a topic `route` matched (`found`), whose topic passed
        `topic_problem`."""
        route, values = found
        device_id = values.get("device_id")
        reject = self._reject(topic, payload, received_at, device_id)
        if len(payload) > max_payload_bytes:
            return reject(
                RejectReason.PAYLOAD_TOO_LARGE,
                f"{len(payload)} bytes, limit {max_payload_bytes}",
            )
        if route.message == "ignored":
            return reject(
                RejectReason.IGNORED_TOPIC,
                f"{route.pattern.text} carries nothing {self.name} reads",
            )
        if route.is_availability and device_id is not None:  # loading makes sure of it
            online = self._online(payload)
            if isinstance(online, str):
                return reject(RejectReason.INVALID_PAYLOAD, online)
            return Reading(
                device_id=device_id,
                kind=Kind.AVAILABILITY,
                fields={"online": online},
                event_at=received_at,
                received_at=received_at,
            )
        body = self._body(payload)
        if isinstance(body, tuple):
            return reject(*body)
        for condition in self.conditions:
            refusal = condition.refusal(body)
            if refusal is not None:
                return reject(RejectReason.IGNORED_MESSAGE, refusal)
        if self.device_ids:
            named = self._device_id(values, body)
            if isinstance(named, Problem):
                return reject(RejectReason.INVALID_PAYLOAD, f"device id: {named.text}")
            device_id = named
            reject = self._reject(topic, payload, received_at, device_id)
        if device_id is None:  # pragma: no cover  # loading requires one or the other
            return reject(RejectReason.BAD_TOPIC, "no device id in the topic")
        maps = route.field_maps if route.field_maps is not None else self.field_maps
        kind = self._kind(body, device_id, kind_of, maps)
        if isinstance(kind, tuple):
            return reject(*kind)
        is_partial = self.is_partial or route.field_maps is not None
        fields = self._fields(kind, body, maps[kind], is_partial=is_partial)
        if isinstance(fields, str):
            return reject(RejectReason.INVALID_PAYLOAD, fields)
        # a message carrying no field this adapter reads still says the device is alive
        event_at = self._event_at(body, received_at)
        if isinstance(event_at, Problem):
            return reject(RejectReason.INVALID_PAYLOAD, f"event time: {event_at.text}")
        if event_at - received_at > fieldmap.MAX_CLOCK_SKEW:
            return reject(
                RejectReason.FUTURE_EVENT_TIME,
                f"event time {event_at.isoformat()} is ahead of arrival by more than "
                f"{fieldmap.MAX_CLOCK_SKEW.total_seconds():.0f} s",
            )
        return Reading(
            device_id=device_id,
            kind=kind,
            fields=fields,
            event_at=event_at,
            received_at=received_at,
        )

    def adapt_unmatched(
        self, topic: str, payload: bytes, received_at: datetime, max_payload_bytes: int
    ) -> Rejection:
        """A topic under the unmatched filter that no pattern fits: an unknown device,
        named as it would be if a device id could hold `/`, so it is listed and counted."""
        levels = topic.split("/")
        for excluded in self.excludes:
            if excluded.matches(levels):
                reject = self._reject(topic, payload, received_at, None)
                return reject(RejectReason.IGNORED_TOPIC, f"topic is excluded by {excluded.text}")
        device_id = self._spanned(levels)
        reject = self._reject(topic, payload, received_at, device_id)
        if len(payload) > max_payload_bytes:
            return reject(
                RejectReason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes, limit {max_payload_bytes}"
            )
        if not device_id or self.unmatched is None:
            return reject(RejectReason.BAD_TOPIC, "no device in the topic")
        return reject(RejectReason.UNKNOWN_DEVICE, f"{device_id!r}: {self.unmatched.reason}")

    def _spanned(self, levels: list[str]) -> str | None:
        by_literals = sorted(self.patterns, key=lambda p: -sum(x is not None for x in p.literals))
        for pattern in by_literals:
            spanned = pattern.span(levels)
            if spanned is not None:
                return spanned[: selectors.MAX_DEVICE_ID_CHARS]
        head = self.unmatched.under.levels[:-1] if self.unmatched is not None else ()
        rest = "/".join(levels[len(head) :])
        return rest[: selectors.MAX_DEVICE_ID_CHARS] or None

    def _device_id(self, values: dict[str, str], body: dict[str, Any]) -> str | Problem:
        first: Problem | None = None
        for template in self.device_ids:
            named = template.render(values, body)
            if isinstance(named, str):
                if not _DEVICE_ID.fullmatch(named):
                    return Problem(f"{named[:80]!r} (from {template.text}) is not a valid id")
                return named
            first = first or named
        return first or Problem("no template")

    def _online(self, payload: bytes) -> bool | str:
        words = self.availability
        text = payload.strip()
        word: Any = text.decode("utf-8", errors="replace")
        if words.json_key is not None and text.startswith(b"{"):
            parsed = parse_json(text)
            if isinstance(parsed, tuple):
                return str(parsed[1])
            if not isinstance(parsed, dict):  # pragma: no cover  # starts with "{"
                return "availability JSON must be an object"
            word = parsed.get(words.json_key, MISSING)
            if not isinstance(word, str):
                return f"availability JSON needs {words.json_key!r} as text"
        folded = word.strip().lower()
        if folded in words.online:
            return True
        if folded in words.offline:
            return False
        known = ", ".join(sorted(words.online | words.offline))
        return f"availability {fieldmap.describe(word)} is not one of: {known}"

    def _body(self, payload: bytes) -> dict[str, Any] | tuple[RejectReason, str]:
        if self.is_text:
            try:
                return {"value": payload.decode("utf-8").strip()}
            except UnicodeDecodeError:
                return RejectReason.INVALID_PAYLOAD, "payload is not UTF-8 text"
        parsed = parse_json(payload)
        if isinstance(parsed, tuple):
            return parsed
        if not isinstance(parsed, dict):
            return RejectReason.INVALID_PAYLOAD, "payload must be a JSON object"
        return parsed

    def _kind(
        self, body: dict[str, Any], device_id: str, kind_of: KindOf, maps: FieldMaps
    ) -> Kind | tuple[RejectReason, str]:
        if isinstance(self.kind, Kind):
            return self.kind
        if isinstance(self.kind, KindFromKey):
            raw = fieldmap.lookup(body, self.kind.path)
            if raw is MISSING:
                return RejectReason.INVALID_PAYLOAD, f"{self.kind.source}: missing (the kind)"
            if isinstance(raw, Ambiguous):
                return RejectReason.INVALID_PAYLOAD, f"{self.kind.source}: {raw.text}"
            key = fieldmap.map_key(raw)
            kind = self.kind.table.get(key) if key is not None else None
            if kind is None:
                known = ", ".join(fieldmap.describe(k[1]) for k in self.kind.table)
                return (
                    RejectReason.UNKNOWN_KIND,
                    f"{self.kind.source}: {fieldmap.describe(raw)} is not one of: {known}",
                )
            return kind
        registered = kind_of(device_id)
        if registered is None:
            return RejectReason.UNKNOWN_DEVICE, "device is not registered; its kind is unknown"
        if registered not in maps:
            known = ", ".join(k.value for k in maps)
            return (
                RejectReason.UNKNOWN_KIND,
                f"device is registered as {registered.value}; {self.name} maps {known}",
            )
        return registered

    def _fields(
        self,
        kind: Kind,
        body: dict[str, Any],
        mapped_fields: tuple[MappedField, ...],
        *,
        is_partial: bool,
    ) -> dict[str, FieldValue] | str:
        fields: dict[str, FieldValue] = {}
        problems: list[str] = []
        for mapped in mapped_fields:
            raw = fieldmap.lookup(body, mapped.path)
            if raw is MISSING or raw is None:  # vendors send null for "not known yet"
                if mapped.default is not None:
                    fields[mapped.name] = mapped.default
                continue
            if isinstance(raw, Ambiguous):
                problems.append(f"fields.{mapped.name}: {raw.text} (from {mapped.source!r})")
                continue
            value = fieldmap.convert(mapped, raw, is_text=self.is_text)
            if isinstance(value, Problem):
                problems.append(f"fields.{mapped.name}: {value.text} (from {mapped.source!r})")
            else:
                fields[mapped.name] = value
        if self.hook is not None and not problems:
            problem = self._run_hook(self.hook, kind, body, fields)
            if problem is not None:
                problems.append(problem)
        if not problems and not is_partial:
            for name in _REQUIRED[kind]:
                if name not in fields:
                    sources = [m.source for m in mapped_fields if m.name == name]
                    source = f" (from {sources[-1]!r})" if sources else ""
                    problems.append(f"fields.{name}: missing{source}")
        if problems:
            more = len(problems) - _DETAIL_PROBLEMS
            return "; ".join(problems[:_DETAIL_PROBLEMS]) + (f" (+{more} more)" if more > 0 else "")
        return fields

    def _run_hook(
        self, hook: Hook, kind: Kind, body: dict[str, Any], fields: dict[str, FieldValue]
    ) -> str | None:
        try:
            out = hook(body)
        except HOOK_PAYLOAD_ERRORS as exc:
            return f"hook {self.hook_name}: {str(exc)[:160] or type(exc).__name__}"
        if not isinstance(out, dict):
            return f"hook {self.hook_name}: returned {fieldmap.describe(out)}, not fields"
        specs = KINDS[kind].fields
        for name, raw in out.items():
            spec = specs.get(name) if isinstance(name, str) else None
            if spec is None:
                return f"hook {self.hook_name}: {kind.value} has no field {name!r}"
            value = fieldmap.check(spec, raw)
            if isinstance(value, Problem):
                return f"fields.{name}: {value.text} (from hook {self.hook_name})"
            fields[name] = value
        return None

    def _event_at(self, body: dict[str, Any], received_at: datetime) -> datetime | Problem:
        source = self.event_time
        if source is None:
            return received_at
        raw = fieldmap.lookup(body, source.path)
        hint = f"; {source.hint}" if source.hint else ""
        if raw is MISSING or raw is None:
            if source.is_required:
                return Problem(f"{source.source}: missing{hint}")
            return received_at
        at = (
            Problem(raw.text)
            if isinstance(raw, Ambiguous)
            else fieldmap.event_time(raw, source.formats)
        )
        if isinstance(at, Problem):
            return Problem(f"{source.source}: {at.text}{hint}")
        return at
