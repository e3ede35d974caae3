"""What an adapter file says about a message beyond its fields: which device it is about
when the topic does not say (`device_id`), and which messages on its topics it reads at
all (`only_when`).

    device_id: "{ZbReceived.*.Name}"                 # a payload path
    device_id: "{relay}.{params.bthomesensor:*}"     # a topic placeholder and a key
    only_when: [{key: method, equals: NotifyStatus}]

In a template, `{name}` is a topic placeholder when a pattern has one by that name, else a
payload path; a path ending in a key pattern gives the key it found (`0x8F20`), not the
value under it. Both are compiled once by `sensors.load` and applied per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sensors import fieldmap
from sensors.fieldmap import MISSING, Ambiguous, MapKey, PathLevel

_REFERENCE = re.compile(r"\{([^{}]+)\}")
MAX_DEVICE_ID_CHARS = 200  # of a value shown in a rejection; valid ids are shorter


@dataclass(frozen=True)
class TopicValue:
    name: str


@dataclass(frozen=True)
class PayloadValue:
    source: str
    path: tuple[PathLevel, ...]


@dataclass(frozen=True)
class DeviceIdTemplate:
    text: str
    parts: tuple[str | TopicValue | PayloadValue, ...]

    @classmethod
    def parse(cls, text: str, placeholders: set[str]) -> DeviceIdTemplate:
        """Raise ValueError when `text` names nothing or has a stray brace."""
        parts: list[str | TopicValue | PayloadValue] = []
        at = 0
        for match in _REFERENCE.finditer(text):
            parts.append(text[at : match.start()])
            name = match.group(1).strip()
            if name in placeholders:
                parts.append(TopicValue(name))
            elif re.fullmatch(r"[^.\s]+(\.[^.\s]+)*", name):
                parts.append(PayloadValue(name, fieldmap.parse_path(name)))
            else:
                raise ValueError(f"{{{name}}} is neither a topic placeholder nor a payload path")
            at = match.end()
        parts.append(text[at:])
        literal = "".join(p for p in parts if isinstance(p, str))
        if "{" in literal or "}" in literal:
            raise ValueError(f"{text!r}: braces must enclose a placeholder or a path")
        if not any(not isinstance(p, str) for p in parts):
            raise ValueError(f"{text!r} names no placeholder or payload path")
        return cls(text, tuple(p for p in parts if p != ""))

    def render(self, values: dict[str, str], body: dict[str, Any]) -> str | fieldmap.Problem:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, TopicValue):
                out.append(values[part.name])
            else:
                raw = fieldmap.lookup_key(body, part.path)
                if raw is MISSING or raw is None:
                    return fieldmap.Problem(f"{part.source}: missing")
                if isinstance(raw, Ambiguous):
                    return fieldmap.Problem(f"{part.source}: {raw.text}")
                if isinstance(raw, bool) or not isinstance(raw, str | int):
                    return fieldmap.Problem(f"{part.source}: {fieldmap.describe(raw)} is no name")
                out.append(str(raw).strip())
        return "".join(out)[:MAX_DEVICE_ID_CHARS]


@dataclass(frozen=True)
class Condition:
    source: str
    path: tuple[PathLevel, ...]
    equals: MapKey | None

    def refusal(self, body: dict[str, Any]) -> str | None:
        """Why a message is not read, or None when it is."""
        raw = fieldmap.lookup(body, self.path)
        if raw is MISSING:
            return f"the message has no {self.source}"
        if self.equals is None or isinstance(raw, Ambiguous):
            return None  # present (several keys fitting is for the reader to refuse)
        if fieldmap.map_key(raw) != self.equals:
            wanted = fieldmap.describe(self.equals[1])
            return f"{self.source} is {fieldmap.describe(raw)}; only {wanted} is read"
        return None
