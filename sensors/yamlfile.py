"""Read a YAML declaration file into a pydantic model, keeping line numbers for errors.

Every file a person writes (site, rules, adapters, config) goes through `load_model`, so
every one of them fails the same way: `path:line: where: reason`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sensors.errors import FileError, Problem

M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]

MAX_FILE_BYTES = 16 * 1024 * 1024

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
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileError(path, [Problem(None, "", f"cannot read file: {exc.strerror}")]) from exc
    if size > MAX_FILE_BYTES:
        raise FileError(path, [Problem(None, "", f"file is {size} bytes, over {MAX_FILE_BYTES}")])
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


def problems_from(error: ValidationError, lines: Mapping[Loc, int]) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        loc = tuple(p for p in item["loc"] if isinstance(p, str | int))
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # pydantic places a bad tag on the union; the person wrote it at the tag's key
            tag = str(item.get("ctx", {}).get("discriminator", "")).strip("'")
            if tag and (*loc, tag) in lines:
                loc = (*loc, tag)
        clean = _strip_tags(loc, lines, is_missing=item["type"] == "missing")
        problems.append(Problem(line_of(lines, clean), dotted(clean), item["msg"]))
    return problems


def _strip_tags(loc: Loc, lines: Mapping[Loc, int], *, is_missing: bool) -> Loc:
    """Drop the union-member names pydantic adds to `loc` (`rules.0.held.hold_s`).

    A part that is not a key in the file is a tag, except the last part of a `missing`
    error: that is the key the person left out.
    """
    cleaned: list[str | int] = []
    for i, part in enumerate(loc):
        is_last = i == len(loc) - 1
        if (*cleaned, part) not in lines and not (is_last and is_missing):
            continue
        cleaned.append(part)
    return tuple(cleaned)


def load_model(path: Path, model: type[M]) -> tuple[M, dict[Loc, int]]:
    """Read and validate `path` as `model`; raise FileError with lines on any problem."""
    data, lines = read_yaml(path)
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        raise FileError(path, problems_from(exc, lines)) from exc
