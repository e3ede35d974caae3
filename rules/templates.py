"""Alert messages in words: a template per language with named places and durations.

    message:
      zh: "{community}{building}{unit}单元门已打开{held_min}分钟"
      en: "Unit {unit} door of {building}, {community} open for {held_min} min"

Placeholders are plain `{name}` (no format specs, no attributes); an unknown one is a file
error. A place the subject does not have (a gate has no building) renders as "".
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime

from rules.scope import LEVELS, Where

PLACEHOLDERS: dict[str, str] = {
    **{level: f"name of the {level} the subject stands in" for level in LEVELS},
    "device": "the device's name (its id when unnamed)",
    "device_id": "the device's id",
    "node": "the node's name, for alerts about a node (a building gone silent)",
    "place": "community down to the device, in words",
    "title": "the rule's title in the message's language",
    "held_s": "seconds since the condition began",
    "held_min": "whole minutes since the condition began",
    "duration": "time since the condition began, in words (3分钟 / 3 min)",
    "value": "the reading's value, for thresholds",
    "count": "how many (transitions in the window, or devices silent under a node)",
    "total": "devices watched under a node",
}

_FORMATTER = string.Formatter()


def check_template(text: str) -> str:
    """Return `text` if every placeholder is known; raise ValueError naming the first bad one."""
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ValueError(f"bad template: {exc}") from exc
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} takes no format or conversion")
        if name not in PLACEHOLDERS:
            known = ", ".join(PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")
    return text


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill a checked template; missing values render as ""."""
    out = []
    for literal, name, _, _ in _FORMATTER.parse(text):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, ""))
    return "".join(out)


def duration_words(seconds: float, lang: str) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)}秒" if lang == "zh" else f"{int(seconds)} s"
    if minutes < 120:
        return f"{minutes}分钟" if lang == "zh" else f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}小时" if lang == "zh" else f"{hours} h"
    return f"{hours // 24}天" if lang == "zh" else f"{hours // 24} days"


def place_values(subject_id: str, where: Where | None) -> dict[str, str]:
    """Names of the places on a device's path, and the device's own name."""
    values = {"device": subject_id, "device_id": subject_id}
    if where is None:
        return values
    names = []
    for level, _, name in where.path:
        values[level] = name
        if level not in ("district", "street"):
            names.append(name)
    if where.name:
        values["device"] = where.name
        names.append(where.name)
    values["place"] = " ".join(names)
    return values


def time_values(opened_at: datetime, at: datetime, lang: str) -> dict[str, str]:
    held_s = max(0.0, (at - opened_at).total_seconds())
    return {
        "held_s": str(int(held_s)),
        "held_min": str(int(held_s // 60)),
        "duration": duration_words(held_s, lang),
    }
