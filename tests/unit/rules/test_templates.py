"""Alert messages read naturally: every shipped rule, for every placement the site allows,
in both languages, at every duration it may render."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rulekit import SHANGHAI, seconds

from gateway.config import DEFAULT_SITE
from gateway.places.registry import Registry
from gateway.places.site import Level, Mount, SiteFile, compile_site, load_site, mount_for
from rules.engine import Engine
from rules.model import (
    DEFAULT_RULES,
    AbsenceRule,
    AnyRule,
    CountRule,
    HeldRule,
    InactivityRule,
    NodeOfflineRule,
    ThresholdRule,
    load_rules,
)
from rules.scope import Where
from rules.templates import LANGS, Wording, duration_words, placeholders, render, templates_of
from sensors.kinds import PLACED_KINDS, Kind
from sensors.reading import Reading

SHIPPED = load_rules(DEFAULT_RULES).rules  # every file of rules/defaults/, new ones too
LEVELS = (Level.COMMUNITY, Level.GRID, Level.BUILDING, Level.UNIT)
# names a site gives its devices (a kind missing here gets a generic one)
NAMES = {
    Kind.DOOR: {Level.UNIT: "单元门", Level.GRID: "东门", Level.COMMUNITY: "南门"},
    Kind.SMOKE: "楼道烟感",
    Kind.GAS: "厨房燃气报警器",
    Kind.WATER_LEAK: "地下室漏水探头",
    Kind.WATER_LEVEL: "地库水位计",
    Kind.CLIMATE: "配电房温湿度计",
    Kind.EBIKE: "1号电梯摄像头",
    Kind.MANHOLE: "雨水井盖",
}
DURATIONS_S = [1, 5, 30, 59, 60, 61, 180, 185, 3599, 3600, 3660, 7200, 86399, 86400, 90000]
DOUBLED_ZH = re.compile(r"([\u4e00-\u9fff]{1,4})\1")  # 门门, 单元门单元门
DOUBLED_EN = re.compile(r"\b([A-Za-z]+)\s+\1\b", re.IGNORECASE)  # door door
ZERO_UNIT = re.compile(r"(?<![0-9.])0(秒|分钟|小时|天| s\b| min\b| h\b| days?\b)")  # 0分钟, 0 min
T_OPENED = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai: night hours


def _placements() -> list[tuple[Kind, Level]]:
    """Every (kind, level) a device may stand on, as the site file allows it."""
    return [
        (kind, level)
        for kind in PLACED_KINDS
        for level in LEVELS
        if isinstance(mount_for(kind, level), Mount)
    ]


def _name(kind: Kind, level: Level) -> str:
    name = NAMES.get(kind, "测试设备")
    return name[level] if isinstance(name, dict) else name


def _site_where() -> dict[str, Where]:
    """A site with a named and an unnamed device of every allowed placement, and every
    device's place as the rule engine gets it from the gateway."""
    devices: dict[Level, list[dict[str, str]]] = {level: [] for level in LEVELS}
    for kind, level in _placements():
        base = f"{kind.value.replace('_', '-')}-{level.value}"
        devices[level].append(
            {"id": f"{base}-named", "kind": kind.value, "name": _name(kind, level)}
        )
        devices[level].append({"id": base, "kind": kind.value})
    unit = {"id": "b1-u1", "name": "1单元", "devices": devices[Level.UNIT]}
    building = {"id": "b1", "name": "1号楼", "units": [unit], "devices": devices[Level.BUILDING]}
    grid = {"id": "g1", "name": "第1网格", "buildings": [building], "devices": devices[Level.GRID]}
    community = {
        "id": "c1",
        "name": "光明社区",
        "grids": [grid],
        "devices": devices[Level.COMMUNITY],
    }
    street = {"id": "s1", "name": "和平街道", "communities": [community]}
    spec = SiteFile.model_validate(
        {"name": "每种安装位置", "district": {"id": "d1", "name": "示例区", "streets": [street]}}
    )
    return Registry(compile_site(spec, None, {}), []).where()


WHERE = _site_where()


def _subjects(rule: AnyRule) -> list[tuple[str, Where, bool]]:
    """(subject id, place, is a node) of everything the rule may raise for."""
    if isinstance(rule, NodeOfflineRule):
        kind = rule.single_kind or Kind.AVAILABILITY
        nodes = {
            node[0]: place.up_to(node[0], kind)
            for place in WHERE.values()
            if (node := place.node_at(rule.level)) is not None
        }
        return [(node_id, place, True) for node_id, place in nodes.items()]
    return [(d, place, False) for d, place in WHERE.items() if place.kind in rule.kinds]


def _data(rule: AnyRule) -> dict[str, Any]:
    """Track data as the rule leaves it at a raise: a value past its limit, a count."""
    data: dict[str, Any] = {"count": 4, "total": 5}
    if isinstance(rule, ThresholdRule):
        data["value"] = rule.above + 6.5 if rule.above is not None else (rule.below or 0) - 3
    if isinstance(rule, CountRule):
        data["count"] = rule.more_than + 1
    return data


def _durations(rule: AnyRule, kind: Kind) -> list[float]:
    """Every duration the rule renders at a raise or a reminder, and a few more."""
    own: list[float] = []
    if isinstance(rule, HeldRule):
        own += [rule.hold_s] + ([rule.night.hold_s] if rule.night else [])
    if isinstance(rule, AbsenceRule):
        own.append(rule.silent_for(kind) or 0)
    if isinstance(rule, InactivityRule):
        own.append(rule.idle_s)
    if rule.reminder_s:
        own += [s + rule.reminder_s for s in own or [0]]
    return DURATIONS_S + [s for s in own if s > 0]


def _cases() -> list[tuple[AnyRule, str, Where, bool]]:
    return [(rule, *subject) for rule in SHIPPED for subject in _subjects(rule)]


def test_every_placement_the_site_allows_is_rendered() -> None:
    placed = {(where.kind, where.path[-1][0]) for where in WHERE.values()}

    assert placed == {(kind, level.value) for kind, level in _placements()}
    assert {kind for kind, _ in placed} == set(PLACED_KINDS)
    assert any(isinstance(r, NodeOfflineRule) for r in SHIPPED)


@pytest.mark.parametrize(
    ("rule", "subject_id", "where", "is_node"),
    _cases(),
    ids=[f"{rule.id}-{subject}" for rule, subject, _, _ in _cases()],
)
def test_a_shipped_message_reads_naturally(
    rule: AnyRule, subject_id: str, where: Where, *, is_node: bool
) -> None:
    for held_s in _durations(rule, where.kind):
        at = T_OPENED + timedelta(seconds=held_s)
        wording = Wording(rule, subject_id, where, _data(rule), T_OPENED, at, is_node)
        for lang in LANGS:
            template = templates_of(rule)[lang]
            values = wording.values(lang)
            text = render(template, values)
            assert text == dict(zip(LANGS, wording.messages(), strict=True))[lang]
            empty = [name for name in placeholders(template) if not values.get(name)]
            assert not empty, f"{template!r} leaves {empty} unfilled: {text!r}"
            assert "{" not in text, text
            assert "}" not in text, text
            assert not ZERO_UNIT.search(text), f"a zero duration at {held_s} s: {text!r}"
            doubled = (DOUBLED_ZH if lang == "zh" else DOUBLED_EN).search(text)
            assert doubled is None, f"doubled {doubled.group(0)!r}: {text!r}"
            assert "  " not in text, repr(text)
            assert text == text.strip(), repr(text)


@pytest.mark.parametrize(
    ("held_s", "zh", "en"),
    [
        (0, "0秒", "0 s"),
        (30, "30秒", "30 s"),
        (59.9, "59秒", "59 s"),
        (60, "1分钟", "1 min"),
        (185, "3分钟", "3 min"),
        (3600, "1小时", "1 h"),
        (7500, "2小时5分钟", "2 h 5 min"),
        (86400, "1天", "1 day"),
        (90000, "1天1小时", "1 day 1 h"),
        (3 * 86400, "3天", "3 days"),
    ],
)
def test_durations_are_words_in_the_unit_people_use(held_s: float, zh: str, en: str) -> None:
    assert (duration_words(held_s, "zh"), duration_words(held_s, "en")) == (zh, en)


def test_a_door_left_open_at_night_says_30_seconds_and_names_the_door_once() -> None:
    opened_at = T_OPENED  # the demo site's timezone is Asia/Shanghai: the 30 s night hold
    where = Registry(load_site(DEFAULT_SITE), []).where()
    engine = Engine(load_rules(DEFAULT_RULES), SHANGHAI, where)
    engine.tick(opened_at)
    door = Reading(
        device_id="door-b1-u1",
        kind=Kind.DOOR,
        fields={"open": True},
        event_at=opened_at,
        received_at=opened_at,
    )
    engine.observe(door, opened_at)

    [raised] = engine.tick(opened_at + seconds(30))

    assert raised.rule_id == "door_left_open"
    assert raised.message_zh == "光明社区 第1网格 1号楼 1单元 单元门已打开30秒"
    assert raised.message_en == "Door open for 30 s: 光明社区 第1网格 1号楼 1单元 单元门"


def test_a_device_moved_or_renamed_is_named_by_its_new_place_not_the_one_kept() -> None:
    """The words for a subject's place are kept between alerts; a device moved (a new
    `Where`) is worded afresh, and alerts in between still read from the kept words."""
    rule = next(r for r in SHIPPED if r.id == "door_left_open")
    first = Where.on("door-x", Kind.DOOR, "北门", (("community", "c1", "光明社区"),))
    moved = Where.on("door-x", Kind.DOOR, "西门", (("community", "c2", "幸福社区"),))

    def zh(where: Where) -> str:
        return Wording(rule, "door-x", where, {}, T_OPENED, T_OPENED + seconds(30)).messages()[0]

    assert "光明社区 北门" in zh(first)
    assert "光明社区 北门" in zh(first)  # the kept words
    assert "幸福社区 西门" in zh(moved)
    assert "光明社区" not in zh(moved)
