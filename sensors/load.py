"""Read adapter files: check each against the kind vocabulary, build `DeclaredAdapter`s.

`sensors.adapterfile` says what each value may be; this module checks the file as a whole
and reports every problem at its line (`path:line: where: reason`):

- topic patterns parse, have a `{device_id}`, and do not overlap each other;
- every mapped field exists on each kind the adapter can make, and its transforms fit the
  field's type (`invert` on true/false, `scale` on numbers, `map` and `default` values
  of the field's type and range);
- every required field of each kind is mapped (or left to a hook);
- a hook names a function in `sensors.hooks`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from sensors import fieldmap
from sensors.adapterfile import REGISTRY, AdapterFile, FieldMap
from sensors.declared import (
    AvailabilityWords,
    DeclaredAdapter,
    EventTimeSource,
    Hook,
    KindFromKey,
    Route,
)
from sensors.errors import FileError, Problem
from sensors.fieldmap import MappedField
from sensors.kinds import KINDS, PLACED_KINDS, FieldSpec, Kind
from sensors.native import DEVICE_ID_PATTERN
from sensors.topics import PatternError, TopicFilter, TopicPattern
from sensors.yamlfile import Loc, dotted, line_of, load_model

SHIPPED_DIR = Path(__file__).parent / "adapters"
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
    file, lines = load_model(path, AdapterFile)
    checker = _Checker(path, lines)
    adapter = checker.build(file)
    if checker.problems:
        raise FileError(path, checker.problems)
    return adapter


class _Checker:
    def __init__(self, path: Path, lines: Mapping[Loc, int]) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[Problem] = []

    def fail(self, loc: Loc, reason: str) -> None:
        self.problems.append(Problem(line_of(self.lines, loc), dotted(loc), reason))

    def build(self, file: AdapterFile) -> DeclaredAdapter:
        routes = self._routes(file)
        kind = self._kind(file)
        kinds = self._made_kinds(file, kind) if kind is not None else []
        return DeclaredAdapter(
            name=file.name,
            description=file.description,
            routes=tuple(routes),
            excludes=tuple(self._excludes(file)),
            placeholders=self._placeholders(file, routes),
            is_text=file.payload == "text",
            kind=kind or REGISTRY,  # None: the file has an error and is not used
            field_maps={k: self._field_maps(file, k) for k in kinds},
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
        )

    def _routes(self, file: AdapterFile) -> list[Route]:
        routes: list[Route] = []
        for i, topic in enumerate(file.topics):
            loc: Loc = ("topics", i, "pattern")
            try:
                pattern = TopicPattern.parse(topic.pattern)
            except PatternError as exc:
                self.fail(loc, str(exc))
                continue
            for earlier in routes:
                if pattern.overlaps(earlier.pattern):
                    self.fail(loc, f"overlaps {earlier.pattern.text!r} of this file")
            routes.append(Route(pattern, topic.message == "availability"))
        return routes

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
            return KindFromKey(source, tuple(source.split(".")), table)
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

    def _field_maps(self, file: AdapterFile, kind: Kind) -> tuple[MappedField, ...]:
        spec = KINDS[kind]
        merged: dict[str, tuple[Loc, FieldMap]] = {
            name: (("fields", name), m) for name, m in file.fields.items()
        }
        for name, m in file.kinds.get(kind, {}).items():
            merged[name] = (("kinds", kind.value, name), m)
        mapped = []
        for name, (loc, m) in merged.items():
            field = spec.fields.get(name)
            if field is None:
                known = ", ".join(spec.fields)
                self.fail(loc, f"kind {kind.value!r} has no field {name!r} ({known})")
                continue
            mapped.append(self._mapped(loc, name, field, m))
        if file.hook is None:
            for name, field in spec.fields.items():
                if field.is_required and name not in merged:
                    where: Loc = ("kinds", kind.value) if kind in file.kinds else ("kind",)
                    self.fail(where, f"{kind.value} readings need {name!r}: map it")
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
            path=tuple(m.source.split(".")),
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
        return EventTimeSource(e.source, tuple(e.source.split(".")), e.format, e.required)

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
