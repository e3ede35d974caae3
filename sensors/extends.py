"""`extends: <adapter>`: an adapter file that starts from another one and says only what
differs (another base topic, a flipped polarity), merged before it is checked.

What the child says, and what it inherits:

- `name` is always the child's own; `extends` is the child's.
- `fields` and `placeholders` merge key by key: the child's entry replaces the base's
  entry of the same name; `null` removes an inherited one (`battery: null`).
- `kinds` merges kind by kind, then field by field the same way (`door: null` drops the
  kind's map).
- Every other key (`topics`, `exclude`, `payload`, `kind`, `event_time`, `availability`,
  `hook`, `device_id`, `only_when`, `partial`, `unmatched`, `models`, `description`) is
  replaced as a whole when the child sets it, else inherited as the base has it.

The base is looked up by name: a file `<name>.yaml` beside the child, else a shipped
adapter. A base that extends another is resolved first; an unknown base or a cycle is an
error at the `extends` line. A problem in something inherited is reported at that line
too, saying where the inherited value was written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensors.errors import FileError, Problem
from sensors.yamlfile import Loc, read_yaml

SHIPPED_DIR = Path(__file__).parent / "adapters"
MERGED_BY_KEY = ("fields", "placeholders")
NESTED_BY_KIND = "kinds"
NEVER_INHERITED = ("name",)


@dataclass
class Resolved:
    """A file's data after merging its bases, each value's line, and where inherited
    values were written (`inherited[loc] = (base file, line)`)."""

    data: Any
    lines: dict[Loc, int]
    inherited: dict[Loc, tuple[Path, int]] = field(default_factory=dict)
    base: str | None = None

    def origin(self, loc: Loc) -> str:
        """ " (inherited from base.yaml:12)" when `loc` lies in an inherited value."""
        probe = tuple(loc)
        while probe:
            if probe in self.inherited:
                path, line = self.inherited[probe]
                return f" (inherited from {path}:{line})"
            probe = probe[:-1]
        return ""


def resolve(path: Path) -> Resolved:
    """Read `path` and merge it with the adapters it extends; raise FileError."""
    return _resolve(path, ())


def _resolve(path: Path, chain: tuple[Path, ...]) -> Resolved:
    data, lines = read_yaml(path)
    name = data.get("extends") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return Resolved(data, lines)  # no base (or a bad value: the model says so)
    line = lines.get(("extends",))
    base_path = _find(name, path.parent)
    if base_path is None:
        known = ", ".join(sorted(_known(path.parent)))
        raise FileError(
            path, [Problem(line, "extends", f"unknown adapter {name!r} (known: {known})")]
        )
    here = (*chain, path.resolve())
    if base_path.resolve() in here:
        cycle = " → ".join([*(p.stem for p in here), base_path.stem])
        raise FileError(path, [Problem(line, "extends", f"extends itself: {cycle}")])
    base = _resolve(base_path, here)
    return _merge(base, base_path, data, lines, line or 1, name)


def _find(name: str, near: Path) -> Path | None:
    for folder in (near, SHIPPED_DIR):
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return None


def _known(near: Path) -> set[str]:
    return {p.stem for folder in (near, SHIPPED_DIR) for p in folder.glob("*.yaml")}


def _merge(
    base: Resolved,
    base_path: Path,
    child: dict[str, Any],
    child_lines: dict[Loc, int],
    extends_line: int,
    name: str,
) -> Resolved:
    merged = dict(child)
    inherited_roots: list[Loc] = []
    base_data = base.data if isinstance(base.data, dict) else {}
    for key, value in base_data.items():
        if key in NEVER_INHERITED or key == "extends":
            continue
        if key not in child:
            merged[key] = value
            inherited_roots.append((key,))
        elif key in MERGED_BY_KEY:
            merged[key], roots = _merge_map(value, child[key], (key,))
            inherited_roots += roots
        elif key == NESTED_BY_KIND:
            merged[key], roots = _merge_kinds(value, child[key])
            inherited_roots += roots
    resolved = Resolved(merged, dict(child_lines), base=name)
    for loc, line in base.lines.items():
        if any(loc[: len(root)] == root for root in inherited_roots):
            resolved.lines[loc] = extends_line
            resolved.inherited[loc] = base.inherited.get(loc, (base_path, line))
    return resolved


def _merge_map(base: Any, child: Any, at: Loc) -> tuple[Any, list[Loc]]:
    """Child entries over base entries; a null child entry removes the base's."""
    if not isinstance(base, dict) or not isinstance(child, dict):
        return child, []
    merged = {k: v for k, v in base.items() if k not in child}
    roots: list[Loc] = [(*at, k) for k in merged]
    merged.update({k: v for k, v in child.items() if v is not None})
    return merged, roots


def _merge_kinds(base: Any, child: Any) -> tuple[Any, list[Loc]]:
    if not isinstance(base, dict) or not isinstance(child, dict):
        return child, []
    merged: dict[Any, Any] = {}
    roots: list[Loc] = []
    for kind in _ordered(base, child):
        if kind not in child:
            merged[kind] = base[kind]
            roots.append((NESTED_BY_KIND, kind))
        elif child[kind] is not None:
            merged[kind], more = _merge_map(base.get(kind, {}), child[kind], (NESTED_BY_KIND, kind))
            roots += more
    return merged, roots


def _ordered(*maps: dict[Any, Any]) -> Iterable[Any]:
    return dict.fromkeys(k for m in maps for k in m)
