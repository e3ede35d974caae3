"""Read rule files: one file, or a folder of them (`*.yaml`, in name order).

Each file is validated on its own (`path:line: where: reason`); then the whole set is
cross-checked: rule ids are unique across files, and a `node_offline` rule names an
`absence` rule. Any problem raises `FileError` and nothing is returned, so a reload with a
bad file leaves the rules in force untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rules.model import DEFAULT_MAX_LATENESS_S, NodeOfflineRule, RuleFile
from sensors.errors import FileError, Problem
from sensors.yamlfile import Loc, line_of, load_model

RULE_FILE_SUFFIXES = (".yaml", ".yml")


def rule_paths(path: Path) -> list[Path]:
    """The files `path` stands for: itself, or the rule files in a folder."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix in RULE_FILE_SUFFIXES and p.is_file())
    if not files:
        raise FileError(path, [Problem(None, "", "folder holds no .yaml rule files")])
    return files


def load_rules(path: Path) -> RuleFile:
    """Read and validate a rule file or folder; raise FileError naming path and line."""
    loaded: list[tuple[Path, RuleFile, Mapping[Loc, int]]] = []
    for file in rule_paths(path):
        spec, lines = load_model(file, RuleFile)
        loaded.append((file, spec, lines))
    first: dict[str, Path] = {}
    kinds: dict[str, str] = {}
    for _, spec, _ in loaded:
        for rule in spec.rules:
            kinds.setdefault(rule.id, rule.when)
    for file, spec, lines in loaded:
        problems = []
        for i, rule in enumerate(spec.rules):
            if rule.id in first:
                also = "" if first[rule.id] == file else f" (also in {first[rule.id]})"
                problems.append(
                    Problem(
                        line_of(lines, ("rules", i, "id")),
                        f"rules[{i}]",
                        f"rule id {rule.id!r} is used twice{also}",
                    )
                )
            first.setdefault(rule.id, file)
            if isinstance(rule, NodeOfflineRule) and kinds.get(rule.of) != "absence":
                problems.append(
                    Problem(
                        line_of(lines, ("rules", i, "of")),
                        f"rules[{i}].of",
                        f"{rule.of!r} is not an absence rule of this rule set",
                    )
                )
        if problems:
            raise FileError(file, problems)
    return merge([spec for _, spec, _ in loaded])


def merge(files: list[RuleFile]) -> RuleFile:
    """One rule set from several files; the smallest `max_lateness_s` any file sets wins."""
    set_values = [f.max_lateness_s for f in files if "max_lateness_s" in f.model_fields_set]
    return RuleFile(
        rules=[rule for f in files for rule in f.rules],
        max_lateness_s=min(set_values, default=DEFAULT_MAX_LATENESS_S),
    )
