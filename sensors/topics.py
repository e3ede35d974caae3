"""Topic patterns with named placeholders: `acme/{gateway_id}/{device_id}/up`.

A placeholder stands for one whole topic level. A pattern becomes an MQTT subscription
(`acme/+/+/up`), matches a topic into its placeholder values, and can be compared with
another pattern for overlap (a topic both could claim), so two adapters never fight over
one message. Exclusions are plain MQTT filters (`zigbee2mqtt/bridge/#`); an adapter that
also claims the topics under its patterns that none of them fits (`zigbee2mqtt/#`)
claims that filter too. `a.overlaps(b)` answers for any two claims, patterns or filters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_WILDCARDS = frozenset("+#")


class PatternError(ValueError):
    """A topic pattern or filter that cannot be used; the message says why."""


@dataclass(frozen=True)
class TopicPattern:
    text: str
    # one entry per level: the literal text, or None for a placeholder
    literals: tuple[str | None, ...]
    names: tuple[str | None, ...]

    @classmethod
    def parse(cls, text: str, *, needs_device_id: bool = True) -> TopicPattern:
        if not text or text.startswith("/") or text.endswith("/"):
            raise PatternError(f"{text!r}: a pattern has levels separated by '/', none empty")
        literals: list[str | None] = []
        names: list[str | None] = []
        for level in text.split("/"):
            match = _PLACEHOLDER.fullmatch(level)
            if match is not None:
                if match.group(1) in names:
                    raise PatternError(f"{text!r}: placeholder {{{match.group(1)}}} repeats")
                literals.append(None)
                names.append(match.group(1))
            elif not level or _WILDCARDS & set(level) or "{" in level or "}" in level:
                raise PatternError(
                    f"{text!r}: level {level!r} must be plain text or one whole "
                    "{placeholder} (lowercase name)"
                )
            else:
                literals.append(level)
                names.append(None)
        if needs_device_id and "device_id" not in names:
            raise PatternError(f"{text!r}: a pattern needs a {{device_id}} level")
        return cls(text, tuple(literals), tuple(names))

    def subscription(self) -> str:
        return "/".join("+" if lit is None else lit for lit in self.literals)

    def match(self, levels: list[str]) -> dict[str, str] | None:
        """Placeholder values when the topic's `levels` fit this pattern, else None."""
        if len(levels) != len(self.literals):
            return None
        values: dict[str, str] = {}
        for level, literal, name in zip(levels, self.literals, self.names, strict=True):
            if name is not None:
                values[name] = level
            elif level != literal:
                return None
        return values

    def span(self, levels: list[str]) -> str | None:
        """The {device_id} this topic would carry if the level could hold `/` (a name
        like `b3/door`): the levels between the literal head and tail, else None."""
        if "device_id" not in self.names or len(levels) <= len(self.literals):
            return None
        at = self.names.index("device_id")
        tail = len(self.literals) - at - 1
        head_ok = _fits(levels[:at], self.literals[:at])
        tail_ok = _fits(levels[len(levels) - tail :], self.literals[at + 1 :])
        return "/".join(levels[at : len(levels) - tail]) if head_ok and tail_ok else None

    def literal_head(self) -> tuple[str, ...]:
        """The literal levels before the first placeholder."""
        head: list[str] = []
        for literal in self.literals:
            if literal is None:
                break
            head.append(literal)
        return tuple(head)

    def overlaps(self, other: TopicPattern | TopicFilter) -> bool:
        if isinstance(other, TopicFilter):
            return other.overlaps_levels(self.literals)
        if len(self.literals) != len(other.literals):
            return False
        return all(
            a is None or b is None or a == b
            for a, b in zip(self.literals, other.literals, strict=True)
        )


@dataclass(frozen=True)
class TopicFilter:
    """An MQTT topic filter, `+` for one level and a final `#` for any rest."""

    text: str
    levels: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> TopicFilter:
        levels = tuple(text.split("/"))
        for i, level in enumerate(levels):
            is_last = i == len(levels) - 1
            if level in ("+", "#"):
                if level == "#" and not is_last:
                    raise PatternError(f"{text!r}: '#' may only be the last level")
            elif _WILDCARDS & set(level):
                raise PatternError(f"{text!r}: '+' and '#' must be whole levels")
        if not text:
            raise PatternError("an empty topic filter")
        return cls(text, levels)

    def matches(self, levels: list[str]) -> bool:
        for i, part in enumerate(self.levels):
            if part == "#":
                return True
            if i >= len(levels) or (part != "+" and part != levels[i]):
                return False
        return len(levels) == len(self.levels)

    def overlaps(self, other: TopicPattern | TopicFilter) -> bool:
        if isinstance(other, TopicPattern):
            return self.overlaps_levels(other.literals)
        for a, b in zip(self.levels, other.levels, strict=False):
            if "#" in (a, b):
                return True
            if "+" not in (a, b) and a != b:
                return False
        shorter, longer = sorted((self.levels, other.levels), key=len)
        # `a/#` also matches `a` itself
        return len(shorter) == len(longer) or longer[len(shorter) :] == ("#",)

    def overlaps_levels(self, literals: tuple[str | None, ...]) -> bool:
        """Whether a topic could match both this filter and a pattern (None = any level)."""
        for i, part in enumerate(self.levels):
            if part == "#":
                return True
            if i >= len(literals):
                return False
            if part != "+" and literals[i] is not None and literals[i] != part:
                return False
        return len(literals) == len(self.levels)


def _fits(levels: list[str], literals: tuple[str | None, ...]) -> bool:
    return len(levels) == len(literals) and all(
        literal is None or level == literal for level, literal in zip(levels, literals, strict=True)
    )
