"""Read adapter files: check each against the kind vocabulary, build `DeclaredAdapter`s.

`sensors.adapterfile` says what each value may be; this module checks the file as a whole
and reports every problem at its line (`path:line: where: reason`):

- topic patterns parse, have a `{device_id}` (or the file says where the device id is
  with `device_id:`), and do not overlap each other;
- every mapped field (the adapter's and each topic's own) exists on each kind the adapter
  can make, and its transforms fit the field's type (`invert` on true/false, `scale` on
  numbers, `map` and `default` values of the field's type and range);
- every required field of each kind is mapped somewhere (or left to a hook);
- event time formats, `device_id` templates, `only_when` and `unmatched` make sense;
- a hook names a function in `sensors.hooks`.

A file that `extends` another is merged with it first (sensors/extends.py); a problem in
an inherited value is reported at the `extends` line, naming where it was written.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from sensors import extends, fieldmap
from sensors.adapterfile import REGISTRY, AdapterFile, FieldMap, TopicSpec
from sensors.declared import (
    AvailabilityWords,
    DeclaredAdapter,
    EventTimeSource,
    FieldMaps,
    Hook,
    KindFromKey,
    Route,
    Unmatched,
)
from sensors.errors import FileError, Problem
from sensors.fieldmap import NUMERIC_TIME_FORMATS, MappedField
from sensors.kinds import KINDS, PLACED_KINDS, FieldSpec, Kind
from sensors.native import DEVICE_ID_PATTERN
from sensors.selectors import Condition, DeviceIdTemplate
from sensors.topics import PatternError, TopicFilter, TopicPattern
from sensors.yamlfile import Loc, dotted, line_of, problems_from

SHIPPED_DIR = extends.SHIPPED_DIR
SAMPLES_DIR = SHIPPED_DIR / "samples"
ANY_LEVEL = r"[^/+#]{1,200}"


def shipped_paths() -> list[Path]:
    return sorted(SHIPPED_DIR.glob("*.yaml"))


def folder_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileError(folder, [Problem(None, "", "adapter folder does not exist")])
    return sorted(folder.glob("*.yaml"))


def load_adapter(path: Path) -> DeclaredAdapter:
    """Read and check one adapter file; raise FileError listing every problem found."""
    resolved = extends.resolve(path)
    try:
        file = AdapterFile.model_validate({} if resolved.data is None else resolved.data)
    except ValidationError as exc:
        raise FileError(path, problems_from(exc, resolved.lines, resolved.origin)) from exc
    checker = _Checker(path, resolved)
    adapter = checker.build(file)
    if checker.problems:
        raise FileError(path, checker.problems)
    return adapter


class _Checker:
    def __init__(self, path: Path, resolved: extends.Resolved) -> None:
        self.path = path
        self.resolved = resolved
        self.lines = resolved.lines
        self.problems: list[Problem] = []

    def fail(self, loc: Loc, reason: str) -> None:
        line = line_of(self.lines, loc)
        self.problems.append(Problem(line, dotted(loc), reason + self.resolved.origin(loc)))

    def build(self, file: AdapterFile) -> DeclaredAdapter:
        kind = self._kind(file)
        kinds = self._made_kinds(file, kind) if kind is not None else []
        routes = self._routes(file, kinds)
        shared = {k: self._field_maps(file, k, routes) for k in kinds}
        return DeclaredAdapter(
            name=file.name,
            description=file.description,
            routes=tuple(routes),
            excludes=tuple(self._excludes(file)),
            placeholders=self._placeholders(file, routes),
            is_text=file.payload == "text",
            kind=kind or REGISTRY,  # None: the file has an error and is not used
            field_maps=shared,
            event_time=self._event_time(file),
            availability=AvailabilityWords(
                online=frozenset(w.strip().lower() for w in file.availability.online),
                offline=frozenset(w.strip().lower() for w in file.availability.offline),
                json_key=file.availability.json_key,
            ),
            hook=self._hook(file.hook),
            hook_name=file.hook,
            path=self.path,
            lines=self.lines,
            device_ids=self._device_ids(file, routes),
            conditions=self._conditions(file),
            is_partial=file.partial,
            unmatched=self._unmatched(file, routes),
            base=file.extends,
        )

    def _routes(self, file: AdapterFile, kinds: list[Kind]) -> list[Route]:
        routes: list[Route] = []
        for i, topic in enumerate(file.topics):
            loc: Loc = ("topics", i, "pattern")
            # with `device_id:` the payload names the device; availability has no payload
            needs_id = file.device_id is None or topic.message == "availability"
            try:
                pattern = TopicPattern.parse(topic.pattern, needs_device_id=needs_id)
            except PatternError as exc:
                self.fail(loc, str(exc))
                continue
            if file.device_id is not None and "device_id" in pattern.names and not needs_id:
                self.fail(loc, "the device id comes from device_id:, not from this topic")
            for earlier in routes:
                if pattern.overlaps(earlier.pattern):
                    self.fail(loc, f"overlaps {earlier.pattern.text!r} of this file")
            routes.append(Route(pattern, topic.message, self._topic_maps(i, topic, kinds)))
        return routes

    def _topic_maps(self, i: int, topic: TopicSpec, kinds: list[Kind]) -> FieldMaps | None:
        if topic.fields is None:
            return None
        if topic.message != "reading":
            self.fail(("topics", i, "fields"), f"an {topic.message} topic maps no fields")
            return None
        entries: dict[str, tuple[Loc, FieldMap]] = {
            name: (("topics", i, "fields", name), m) for name, m in topic.fields.items()
        }
        return {kind: self._mapped_all(kind, entries) for kind in kinds}

    def _excludes(self, file: AdapterFile) -> list[TopicFilter]:
        excludes = []
        for i, text in enumerate(file.exclude):
            try:
                excludes.append(TopicFilter.parse(text))
            except PatternError as exc:
                self.fail(("exclude", i), str(exc))
        return excludes

    def _placeholders(self, file: AdapterFile, routes: list[Route]) -> dict[str, re.Pattern[str]]:
        used = {n for route in routes for n in route.pattern.names if n is not None}
        compiled = {name: re.compile(ANY_LEVEL) for name in used}
        compiled["device_id"] = re.compile(DEVICE_ID_PATTERN)
        for name, regex in file.placeholders.items():
            if name not in used:
                self.fail(("placeholders", name), f"no topic pattern has a {{{name}}} level")
                continue
            try:
                compiled[name] = re.compile(regex)
            except re.error as exc:
                self.fail(("placeholders", name), f"invalid regular expression: {exc}")
        return compiled

    def _kind(self, file: AdapterFile) -> Kind | Literal["registry"] | KindFromKey | None:
        if not isinstance(file.kind, str):
            table: dict[fieldmap.MapKey, Kind] = {}
            for value, kind in file.kind.values.items():
                if kind not in PLACED_KINDS:
                    self.fail(("kind", "values", value), f"{kind.value} is not a sensor kind")
                key = fieldmap.map_key(value)
                if key is not None:
                    table[key] = kind
            source = file.kind.source
            return KindFromKey(source, fieldmap.parse_path(source), table)
        if file.kind == REGISTRY:
            return REGISTRY
        if file.kind in PLACED_KINDS:
            return Kind(file.kind)
        known = ", ".join(k.value for k in PLACED_KINDS)
        self.fail(("kind",), f"unknown kind {file.kind!r} (known: {known}, or registry)")
        return None

    def _made_kinds(
        self, file: AdapterFile, kind: Kind | Literal["registry"] | KindFromKey
    ) -> list[Kind]:
        """The kinds this adapter can make readings of; checks `kinds:` against them."""
        if isinstance(kind, Kind):
            made = [kind]
        elif isinstance(kind, KindFromKey):
            made = list(dict.fromkeys(kind.table.values()))
        else:
            made = [k for k in file.kinds if k in PLACED_KINDS]
            if not made and any(t.message == "reading" for t in file.topics):
                self.fail(("kinds",), "a registry adapter needs a field map per kind it serves")
        for k in file.kinds:
            if k not in made:
                self.fail(("kinds", k.value), f"this adapter makes no {k.value} readings")
        return made

    def _field_maps(
        self, file: AdapterFile, kind: Kind, routes: list[Route]
    ) -> tuple[MappedField, ...]:
        """The adapter's own maps for `kind` (`fields` + `kinds`); checks that every
        required field is mapped here or by a topic of its own."""
        merged: dict[str, tuple[Loc, FieldMap]] = {
            name: (("fields", name), m) for name, m in file.fields.items()
        }
        for name, m in file.kinds.get(kind, {}).items():
            merged[name] = (("kinds", kind.value, name), m)
        mapped = self._mapped_all(kind, merged)
        by_topics = {
            f.name for r in routes if r.field_maps is not None for f in r.field_maps.get(kind, ())
        }
        if file.hook is None:
            for name, field in KINDS[kind].fields.items():
                if field.is_required and name not in merged and name not in by_topics:
                    where: Loc = ("kinds", kind.value) if kind in file.kinds else ("kind",)
                    self.fail(where, f"{kind.value} readings need {name!r}: map it")
        return mapped

    def _mapped_all(
        self, kind: Kind, entries: dict[str, tuple[Loc, FieldMap]]
    ) -> tuple[MappedField, ...]:
        spec = KINDS[kind]
        mapped = []
        for name, (loc, m) in entries.items():
            field = spec.fields.get(name)
            if field is None:
                known = ", ".join(spec.fields)
                self.fail(loc, f"kind {kind.value!r} has no field {name!r} ({known})")
                continue
            mapped.append(self._mapped(loc, name, field, m))
        return tuple(mapped)

    def _mapped(self, loc: Loc, name: str, field: FieldSpec, m: FieldMap) -> MappedField:
        is_number = field.type in ("int", "float")
        if m.invert and field.type != "bool":
            self.fail((*loc, "invert"), f"invert needs a true/false field; {name} is {field.type}")
        if (m.scale != 1.0 or m.offset != 0.0) and not is_number:
            self.fail((*loc, "scale"), f"scale and offset need a number field; {name} is not")
        table: dict[fieldmap.MapKey, Any] | None = None
        if m.map is not None:
            table = {}
            for source_value, value in m.map.items():
                self._check_value((*loc, "map", source_value), field, m, value)
                key = fieldmap.map_key(source_value)
                if key is not None:
                    table[key] = value
        if m.default is not None:
            self._check_value((*loc, "default"), field, m, m.default, is_default=True)
        return MappedField(
            name=name,
            spec=field,
            source=m.source,
            path=fieldmap.parse_path(m.source),
            table=table,
            invert=m.invert,
            scale=m.scale,
            offset=m.offset,
            default=m.default,
        )

    def _check_value(
        self, loc: Loc, field: FieldSpec, m: FieldMap, value: Any, *, is_default: bool = False
    ) -> None:
        """A `map` value goes on through invert and scale; a default is the field's value."""
        if not is_default:
            probe = MappedField("", field, m.source, (), None, m.invert, m.scale, m.offset)
            result = fieldmap.convert(probe, value)
        else:
            result = fieldmap.check(field, value)
        if isinstance(result, fieldmap.Problem):
            self.fail(loc, result.text)

    def _event_time(self, file: AdapterFile) -> EventTimeSource | None:
        if file.event_time is None:
            return None
        e = file.event_time
        formats = tuple(e.formats)
        if len(set(formats)) != len(formats):
            self.fail(("event_time", "format"), "a format is listed twice")
        if sum(f in NUMERIC_TIME_FORMATS for f in formats) > 1:
            self.fail(("event_time", "format"), "unix_s and unix_ms cannot both be read")
        return EventTimeSource(e.source, fieldmap.parse_path(e.source), formats, e.required, e.hint)

    def _device_ids(self, file: AdapterFile, routes: list[Route]) -> tuple[DeviceIdTemplate, ...]:
        if file.device_id is None:
            return ()
        texts = [file.device_id] if isinstance(file.device_id, str) else file.device_id
        names = {n for r in routes for n in r.pattern.names if n is not None}
        templates = []
        for i, text in enumerate(texts):
            loc: Loc = ("device_id",) if isinstance(file.device_id, str) else ("device_id", i)
            try:
                templates.append(DeviceIdTemplate.parse(text, names))
            except ValueError as exc:
                self.fail(loc, str(exc))
        if not texts:
            self.fail(("device_id",), "give at least one template")
        return tuple(templates)

    def _conditions(self, file: AdapterFile) -> tuple[Condition, ...]:
        out = []
        for c in file.only_when:
            equals = fieldmap.map_key(c.equals) if c.equals is not None else None
            out.append(Condition(c.key, fieldmap.parse_path(c.key), equals))
        return tuple(out)

    def _unmatched(self, file: AdapterFile, routes: list[Route]) -> Unmatched | None:
        if file.unmatched is None or not routes:
            return None
        heads = [r.pattern.literal_head() for r in routes]
        common: list[str] = []
        for levels in zip(*heads, strict=False):
            if len(set(levels)) != 1:
                break
            common.append(levels[0])
        if not common:
            self.fail(("unmatched",), "the topic patterns share no first level to claim below")
            return None
        return Unmatched(TopicFilter.parse("/".join([*common, "#"])), file.unmatched)

    def _hook(self, name: str | None) -> Hook | None:
        if name is None:
            return None
        module_name, _, function_name = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            self.fail(("hook",), f"cannot import {module_name}: {exc}")
            return None
        function: Callable[..., Any] | None = getattr(module, function_name, None)
        if not callable(function):
            self.fail(("hook",), f"{module_name} has no function {function_name!r}")
            return None
        return function
