"""Small builders shared by the rule tests: rule sets, readings, places, a scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rules.engine import DeviceFacts, Engine
from rules.model import RuleFile
from rules.replay import run_until
from rules.scope import Where
from rules.tracks import AlertEvent, Track, TrackKey
from sensors.kinds import KINDS, Kind
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
    return Where.on(device_id, kind, name, path, frozenset(tags))


def scheduler(engine: Engine, now: datetime, until: datetime) -> list[AlertEvent]:
    """Tick at every due time up to `until`, as the gateway's timer task does."""
    return run_until(engine, now, until)


def brief(events: list[AlertEvent]) -> list[tuple[str, str, str]]:
    return [(e.type.value, e.rule_id, e.subject_id) for e in events]


class Devices:
    """What the gateway's store keeps of each device besides rule tracks, as far as a
    restart needs it (Engine.restore): its fields, when its state field last changed, and
    its last report."""

    def __init__(self) -> None:
        self.facts: dict[str, DeviceFacts] = {}
        self.last_seen: dict[str, datetime] = {}

    def observe(self, r: Reading) -> None:
        self.last_seen[r.device_id] = r.received_at
        if r.kind == Kind.AVAILABILITY:
            return
        kind, fields, changed_at = self.facts.get(r.device_id, (r.kind, {}, None))
        state_field = KINDS[kind].state_field
        if state_field in r.fields and fields.get(state_field) != r.fields[state_field]:
            changed_at = r.event_at
        self.facts[r.device_id] = (kind, {**fields, **r.fields}, changed_at)

    def restore(self, engine: Engine, tracks: list[tuple[TrackKey, Track]]) -> None:
        engine.restore(tracks, last_seen=self.last_seen, states=self.facts)
