"""Small builders shared by the rule tests: rule sets, readings, places, a scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rules.engine import Engine
from rules.model import RuleFile
from rules.replay import run_until
from rules.scope import Where
from rules.tracks import AlertEvent
from sensors.kinds import Kind
from sensors.reading import Reading

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)  # 10:00 in Shanghai


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def rule_set(*rules: dict[str, Any], **top: Any) -> RuleFile:
    filled = [{"title": {"zh": "标题", "en": "Title"}, **rule} for rule in rules]
    return RuleFile.model_validate({"rules": filled, **top})


def reading(
    device_id: str, kind: Kind, at: datetime, received_at: datetime | None = None, **fields: Any
) -> Reading:
    return Reading(
        device_id=device_id, kind=kind, fields=fields, event_at=at, received_at=received_at or at
    )


def place(
    device_id: str,
    kind: Kind = Kind.DOOR,
    *,
    building: str = "b1",
    unit: str = "u1",
    name: str | None = None,
    tags: tuple[str, ...] = (),
) -> Where:
    path = (
        ("district", "d1", "和平区"),
        ("street", "s1", "新华街道"),
        ("community", "c1", "阳光社区"),
        ("grid", "g1", "第一网格"),
        ("building", building, f"{building[1:]}号楼"),
        ("unit", f"{building}-{unit}", f"{unit[1:]}"),
    )
    return Where(device_id, kind, name, path, frozenset(tags))


def scheduler(engine: Engine, now: datetime, until: datetime) -> list[AlertEvent]:
    """Tick at every due time up to `until`, as the gateway's timer task does."""
    return run_until(engine, now, until)


def brief(events: list[AlertEvent]) -> list[tuple[str, str, str]]:
    return [(e.type.value, e.rule_id, e.subject_id) for e in events]
