"""Read a YAML declaration file into a pydantic model, keeping line numbers for errors.

Every file a person writes (site, rules, adapters, config) goes through `load_model`, so
every one of them fails the same way: `path:line: where: reason`.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sensors.errors import FileError, Problem

M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]

MAX_FILE_BYTES = 64 * 1024 * 1024  # a 100,000-device site file is about 18 MB

# Builds plain values from scalar nodes (tags already resolved by `yaml.compose`).
_SCALARS = yaml.constructor.SafeConstructor()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path) -> Any:
    """Turn a composed YAML node into plain Python values, recording each value's line."""
    lines[loc] = _line(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _SCALARS.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise FileError(path, [Problem(_line(key_node), dotted(loc), "keys must be text")])
            if key in out:
                raise FileError(
                    path, [Problem(_line(key_node), dotted(loc), f"duplicate key {key!r}")]
                )
            out[key] = _construct(value_node, (*loc, key), lines, path)
            # an entry is where its key is written: a block value (a nested mapping or
            # list) starts on the line below, and an unknown key must point at itself
            lines[(*loc, key)] = _line(key_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, i), lines, path) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode):
        return _SCALARS.construct_object(node, deep=True)
    raise FileError(path, [Problem(_line(node), dotted(loc), "unsupported YAML node")])


def dotted(loc: Sequence[str | int]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse `path` into plain values and a map from each value's location to its line."""
    _check_size(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError(path, [Problem(None, "", f"cannot read file: {exc}")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise FileError(path, [Problem(line, "", f"invalid YAML: {exc.problem}")]) from exc
    except yaml.YAMLError as exc:
        raise FileError(path, [Problem(None, "", f"invalid YAML: {exc}")]) from exc
    lines: dict[Loc, int] = {}
    if node is None:
        return {}, lines
    return _construct(node, (), lines, path), lines


def line_of(lines: Mapping[Loc, int], loc: Sequence[str | int]) -> int | None:
    """The line of the deepest recorded location on the way to `loc`."""
    loc = tuple(loc)
    while True:
        if loc in lines:
            return lines[loc]
        if not loc:
            return None
        loc = loc[:-1]


def error_places(error: ValidationError, known: Container[Loc]) -> list[tuple[Loc, bool, str]]:
    """Each error of `error` as (location as the person wrote it, is a missing key, reason).

    `known` holds every location present in the input (the keys of a file's `lines`):
    pydantic's union-member names are dropped from a location, a bad tag moves to its key.
    """
    places = []
    for item in error.errors(include_url=False, include_input=False):
        loc = tuple(p for p in item["loc"] if isinstance(p, str | int))
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # pydantic places a bad tag on the union; the person wrote it at the tag's key
            tag = str(item.get("ctx", {}).get("discriminator", "")).strip("'")
            if tag and (*loc, tag) in known:
                loc = (*loc, tag)
        is_missing = item["type"] == "missing"
        places.append((_strip_tags(loc, known, is_missing=is_missing), is_missing, item["msg"]))
    return places


def problems_from(
    error: ValidationError,
    lines: Mapping[Loc, int],
    origin: Callable[[Loc], str] | None = None,
) -> list[Problem]:
    """One problem per validation error, at its line; `origin(loc)` adds where a value
    came from when it was not written in this file (an adapter's inherited key)."""
    return [
        Problem(line_of(lines, loc), dotted(loc), reason + (origin(loc) if origin else ""))
        for loc, _, reason in error_places(error, lines)
    ]


def _strip_tags(loc: Loc, known: Container[Loc], *, is_missing: bool) -> Loc:
    """Drop the union-member names pydantic adds to `loc` (`rules.0.held.hold_s`).

    A part that is not a key in the file is a tag, except the last part of a `missing`
    error: that is the key the person left out.
    """
    cleaned: list[str | int] = []
    for i, part in enumerate(loc):
        is_last = i == len(loc) - 1
        if (*cleaned, part) not in known and not (is_last and is_missing):
            continue
        cleaned.append(part)
    return tuple(cleaned)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when built in
    """libyaml's parser with the safe constructor, refusing duplicate keys like the
    line-keeping reader does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


class LazyLines(Mapping[Loc, int]):
    """Line numbers of a file, read only when an error needs them.

    The fast path parses with libyaml and keeps no positions (a 100,000-device site file
    would need millions of entries); a problem found later (a cross-check) asks for lines
    and the file is read again, slowly, keeping them.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lines: dict[Loc, int] | None = None

    def _load(self) -> dict[Loc, int]:
        if self._lines is None:
            self._lines = read_yaml(self._path)[1]
        return self._lines

    def __getitem__(self, loc: Loc) -> int:
        return self._load()[loc]

    def __contains__(self, loc: object) -> bool:
        return loc in self._load()

    def __iter__(self) -> Iterator[Loc]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def load_model(path: Path, model: type[M]) -> tuple[M, Mapping[Loc, int]]:
    """Read and validate `path` as `model`; raise FileError with lines on any problem."""
    _check_size(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_FastLoader)  # noqa: S506  # a safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data, _ = read_yaml(path)  # the slow reader raises, saying where and why
    try:
        return model.model_validate({} if data is None else data), LazyLines(path)
    except ValidationError as exc:
        raise FileError(path, problems_from(exc, read_yaml(path)[1])) from exc


def _check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileError(path, [Problem(None, "", f"cannot read file: {exc.strerror}")]) from exc
    if size > MAX_FILE_BYTES:
        raise FileError(path, [Problem(None, "", f"file is {size} bytes, over {MAX_FILE_BYTES}")])
