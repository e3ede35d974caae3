"""Alert messages in words: a template per language with named places and durations.

    message:
      zh: "{place}已打开{duration}"
      en: "Door open for {duration}: {place}"

renders "光明社区 第1网格 1号楼 1单元门已打开3分钟" / "Door open for 3 min: 光明社区 第1网格 1号楼
1单元 door". `{place}` is the names from the community down and ends with the device: its
name from the site file, or, unnamed, what it is where it stands (DEVICE_WORDS: a door
on a unit is that unit's 门, on a grid or community a 大门). So a template says what
happened to the thing and never names it again ("{place}门已打开" would read "单元门门").
Durations are words: 30秒 / 30 s, 3分钟 / 3 min, 2小时5分钟 / 2 h 5 min, 1天 / 1 day.

Placeholders are plain `{name}` (no format specs, no attributes); an unknown one is a file
error. A place the subject does not have (a gate has no building) renders as "".
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rules.scope import LEVELS, Where
from sensors.kinds import Kind

if TYPE_CHECKING:  # rules.model checks templates with this module at import
    from rules.model import AnyRule

LANGS = ("zh", "en")
DEFAULT_MESSAGE = {"zh": "{place}{title}", "en": "{title}: {place}"}

# What an unnamed device is, by kind and by the level it stands on (None: any level), in
# words that end a place: "1单元门", "第1网格大门", "1号楼烟感". A new kind without words
# here reads as a 设备 / sensor.
DEVICE_WORDS: dict[tuple[Kind, str | None], tuple[str, str]] = {
    (Kind.DOOR, "unit"): ("门", "door"),
    (Kind.DOOR, None): ("大门", "gate"),
    (Kind.SMOKE, None): ("烟感", "smoke detector"),
    (Kind.GAS, None): ("燃气报警器", "gas detector"),
    (Kind.WATER_LEAK, None): ("漏水探头", "leak sensor"),
    (Kind.WATER_LEVEL, None): ("水位计", "water gauge"),
    (Kind.CLIMATE, None): ("温湿度计", "thermometer"),
    (Kind.EBIKE, None): ("电梯摄像头", "lift camera"),
    (Kind.MANHOLE, None): ("井盖", "manhole cover"),
}
_A_DEVICE = ("设备", "sensor")

PLACEHOLDERS: dict[str, str] = {
    **{level: f"name of the {level} the subject stands in" for level in LEVELS},
    "device": "the device's name (its id when unnamed)",
    "device_id": "the device's id",
    "node": "the node's name, for alerts about a node (a building gone silent)",
    "place": "community down to the device, ending with its name or what it is (1单元门)",
    "title": "the rule's title in the message's language",
    "held_s": "seconds since the condition began",
    "held_min": "whole minutes since the condition began",
    "duration": "time since the condition began, in words (30秒 / 3分钟 / 2小时 / 1天)",
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


def placeholders(text: str) -> list[str]:
    """The placeholder names a checked template uses, in order."""
    return [name for _, name, _, _ in _FORMATTER.parse(text) if name is not None]


def duration_words(seconds: float, lang: str) -> str:
    """A duration as people say it: seconds under a minute, then minutes, hours, days,
    with the next smaller unit when it is not zero (2小时5分钟, 1 day 3 h)."""
    s = int(seconds)
    if s < 60:
        return f"{s}秒" if lang == "zh" else f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m}分钟" if lang == "zh" else f"{m} min"
    h, m = divmod(m, 60)
    if h < 24:
        if lang == "zh":
            return f"{h}小时{m}分钟" if m else f"{h}小时"
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    if lang == "zh":
        return f"{d}天{h}小时" if h else f"{d}天"
    days = f"{d} day" if d == 1 else f"{d} days"
    return f"{days} {h} h" if h else days


def device_words(kind: Kind, level: str, lang: str) -> str:
    """What an unnamed device of `kind` standing on a node of `level` is, in words."""
    zh, en = DEVICE_WORDS.get((kind, level)) or DEVICE_WORDS.get((kind, None)) or _A_DEVICE
    return zh if lang == "zh" else en


def place_values(
    subject_id: str, where: Where | None, lang: str, *, is_node: bool = False
) -> dict[str, str]:
    """Names of the places on the subject's path, the device's own name, and `place`: the
    names from the community down, ending with the device (a node ends with itself).
    (A fresh dict: callers add to it.)"""
    key = (subject_id, lang, is_node)
    known = _places.get(key)
    if known is not None and known[0] is where:
        return dict(known[1])
    values = _place_values(subject_id, where, lang, is_node)
    if len(_places) >= _MAX_PLACES:
        _places.pop(next(iter(_places)), None)  # the oldest: a district's doors cycle through
    _places[key] = (where, values)
    return dict(values)


# Once per subject and language: every alert of a door names the same places. Keyed by
# the subject and checked by the identity of its `Where` (a moved device has a new one):
# an lru_cache keyed by the `Where` itself hashed its whole path on every alert.
_places: dict[tuple[str, str, bool], tuple[Where | None, dict[str, str]]] = {}
_MAX_PLACES = 65536


def _place_values(subject_id: str, where: Where | None, lang: str, is_node: bool) -> dict[str, str]:
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
    elif not is_node and where.path:
        noun = device_words(where.kind, where.path[-1][0], lang)
        if lang == "zh" and names:
            names[-1] += noun  # 1单元门, 第1网格大门
        else:
            names.append(noun)
    values["place"] = " ".join(names)
    return values


def time_values(opened_at: datetime, at: datetime, lang: str) -> dict[str, str]:
    held_s = max(0.0, (at - opened_at).total_seconds())
    return {
        "held_s": str(int(held_s)),
        "held_min": str(int(held_s // 60)),
        "duration": duration_words(held_s, lang),
    }


def templates_of(rule: AnyRule) -> dict[str, str]:
    """The rule's message templates by language (place and title when it has none)."""
    message = rule.message
    return {"zh": message.zh, "en": message.en} if message is not None else DEFAULT_MESSAGE


@dataclass(frozen=True, slots=True)
class Wording:
    """What one alert event's message is made of: the rule, its subject and place, the
    track's data (value, count, ...) and how long the condition has held at `at`."""

    rule: AnyRule
    subject_id: str
    where: Where | None
    data: Mapping[str, Any]
    opened_at: datetime
    at: datetime
    is_node: bool = False

    def values(self, lang: str) -> dict[str, str]:
        """Every value a message template of the rule may name, in `lang`."""
        values = place_values(self.subject_id, self.where, lang, is_node=self.is_node)
        if self.is_node and self.where is not None:
            values["node"] = self.where.path[-1][2] if self.where.path else self.subject_id
        for name in ("value", "count", "total"):
            if name in self.data:
                values[name] = _words(self.data[name])
        if "times" in self.data:
            values["count"] = str(len(self.data["times"]))
        title = getattr(self.rule.title, lang)
        return {**values, **time_values(self.opened_at, self.at, lang), "title": title}

    def messages(self) -> tuple[str, str]:
        """The message in Chinese and in English."""
        templates = templates_of(self.rule)
        zh, en = (render(templates[lang], self.values(lang)) for lang in LANGS)
        return zh, en


def _words(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
