"""Request and response bodies of the API (what the OpenAPI docs show)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.places.site import Level, Mount, Node, Placement
from gateway.store.records import (
    Alert,
    AlertState,
    DeviceState,
    DoorState,
    Episode,
    Resolution,
    Transition,
)
from rules.model import Severity
from sensors.kinds import Kind


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeOut(BaseModel):
    level: Level
    id: str
    name: str

    @classmethod
    def of(cls, node: Node) -> NodeOut:
        return cls(level=node.level, id=node.id, name=node.name)


class Title(BaseModel):
    zh: str
    en: str


class TransitionOut(BaseModel):
    at: datetime
    action: str
    actor: str
    state: AlertState
    note: str | None

    @classmethod
    def of(cls, t: Transition) -> TransitionOut:
        return cls(at=t.at, action=t.action, actor=t.actor, state=t.state, note=t.note)


class AlertOut(BaseModel):
    id: int
    rule: str
    title: Title
    message: Title = Field(description="the rule's message, naming the place in words")
    severity: Severity
    state: AlertState
    is_active: bool = Field(description="whether the condition still holds (door still open)")
    device_id: str
    kind: str
    location: list[NodeOut] = Field(description="from the district down to the device's node")
    place: str = Field(description="the place in words, from the community down")
    episode: int = Field(description="1; 2 and up once reopened (the times are the episode's)")
    opened_at: datetime = Field(description="when the condition began (event time)")
    due_at: datetime | None = Field(description="for held rules: when the alert was due")
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None
    resolution: Resolution | None
    dispatched_at: datetime | None
    escalation_level: int = Field(description="0 grid worker, 1 grid leader, 2 community, 3 street")
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    is_overdue: bool
    reminders: int
    assigned_to: str | None
    closed_at: datetime | None
    reopened: int
    is_inhibited: bool = Field(description="kept but not sent: a larger alert covers it")

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return cls(
            id=a.id,
            rule=a.rule_id,
            title=Title(zh=a.title_zh, en=a.title_en),
            message=Title(zh=a.message_zh, en=a.message_en),
            severity=a.severity,
            state=a.state,
            is_active=a.is_active,
            device_id=a.device_id,
            kind=a.kind,
            location=[NodeOut.of(n) for n in a.location],
            place=a.place,
            episode=a.episode,
            opened_at=a.opened_at,
            due_at=a.due_at,
            raised_at=a.raised_at,
            cleared_at=a.cleared_at,
            acknowledged_at=a.acknowledged_at,
            acknowledged_by=a.acknowledged_by,
            resolved_at=a.resolved_at,
            resolved_by=a.resolved_by,
            note=a.note,
            resolution=a.resolution,
            dispatched_at=a.dispatched_at,
            escalation_level=a.escalation_level,
            ack_due_at=a.ack_due_at,
            resolve_due_at=a.resolve_due_at,
            is_overdue=a.is_overdue,
            reminders=a.reminders,
            assigned_to=a.assigned_to,
            closed_at=a.closed_at,
            reopened=a.reopened,
            is_inhibited=a.is_inhibited,
        )


class CommentOut(BaseModel):
    at: datetime
    person_id: str
    text: str


class EpisodeOut(BaseModel):
    number: int
    opened_at: datetime
    due_at: datetime | None
    raised_at: datetime
    cleared_at: datetime | None

    @classmethod
    def of(cls, e: Episode) -> EpisodeOut:
        return cls(
            number=e.number,
            opened_at=e.opened_at,
            due_at=e.due_at,
            raised_at=e.raised_at,
            cleared_at=e.cleared_at,
        )


class AlertDetail(AlertOut):
    history: list[TransitionOut]
    comments: list[CommentOut]
    episodes: list[EpisodeOut] = Field(description="every time the condition held, first first")


class AckBody(_Body):
    by: str | None = Field(
        None, min_length=1, max_length=64, description="admin only: act in this person's name"
    )
    note: str | None = Field(None, max_length=2000)


class ResolveBody(_Body):
    by: str | None = Field(
        None, min_length=1, max_length=64, description="admin only: act in this person's name"
    )
    resolution: Resolution = Field(Resolution.OTHER, description="the reason code")
    note: str | None = Field(None, max_length=2000, description="what was found and done")


class PlacedOut(BaseModel):
    """A device of the site: which, where it stands, when it was last heard."""

    device_id: str
    name: str | None
    mount: Mount
    place: str
    location: list[NodeOut]
    last_seen_at: datetime | None

    @staticmethod
    def fields_of(placement: Placement, device: DeviceState | None) -> dict[str, Any]:
        return {
            "device_id": placement.device_id,
            "name": placement.name,
            "mount": placement.mount,
            "place": placement.place(),
            "location": [NodeOut.of(n) for n in placement.location],
            "last_seen_at": device.last_seen_at if device is not None else None,
        }


class DoorOut(PlacedOut):
    state: DoorState
    since: datetime | None = Field(description="when the door took its current state")


class LiftState(StrEnum):
    """A lift as a grid leader reads it, the most urgent first (gateway/api/routes/lifts.py)."""

    TRAPPED = "trapped"  # the monitor reports passengers trapped in the car
    OUT_OF_SERVICE = "out_of_service"  # taken out of normal service (fault, maintenance)
    STOPPED_BETWEEN_FLOORS = "stopped_between_floors"  # standing still, not level with a landing
    IN_SERVICE = "in_service"  # none of the above
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no report yet, or silent for longer than a lift monitor may be


class LiftOut(PlacedOut):
    state: LiftState
    floor: int | None = Field(description="the floor the car is at or last passed")
    is_moving: bool | None
    is_door_open: bool | None
    fault_code: str | None = Field(description="the monitor's code for its current fault")
    trapped_since: datetime | None = Field(
        description="when the monitor reported passengers trapped (state trapped only)"
    )


class CloseBody(_Body):
    by: str | None = Field(None, min_length=1, max_length=64)
    note: str | None = Field(None, max_length=2000)


class AssignBody(_Body):
    person_id: str = Field(min_length=1, max_length=64)


class CommentBody(_Body):
    text: str = Field(min_length=1, max_length=2000)


class DeviceBody(_Body):
    device_id: str = Field(min_length=1, max_length=64)
    kind: Kind
    node_id: str = Field(min_length=1, max_length=64, description="unit, building, grid, ...")
    name: str | None = Field(None, max_length=100)


class DeviceOut(BaseModel):
    device_id: str
    kind: Kind
    name: str | None
    node_id: str
    mount: Mount
    place: str
    location: list[NodeOut]
    source: str = Field(description="site (the site file) or api")
    last_seen_at: datetime | None
    is_online: bool | None
    is_silent: bool | None = Field(
        None, description="no report for longer than the kind allows (offline by silence)"
    )
    fields: dict[str, bool | int | float | str] = Field(description="last value of each field")
    clock_skew_s: float | None = Field(
        None,
        description="the device's clock minus the gateway's at its last reading that carried "
        "a time of its own (None: its readings carry none)",
    )


class StateChangeOut(BaseModel):
    at: datetime
    state: dict[str, bool | int | float | str]


class DeviceHistory(BaseModel):
    device_id: str
    changes: list[StateChangeOut]
    alerts: list[AlertOut]


class UnregisteredOut(BaseModel):
    device_id: str
    adapter: str
    topic: str
    last_payload: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime


class ImportProblem(BaseModel):
    line: int
    reason: str


class ImportOut(BaseModel):
    imported: int
    problems: list[ImportProblem]


class RejectionOut(BaseModel):
    adapter: str
    reason: str
    count: int
    last_detail: str
    last_topic: str
    last_device_id: str | None
    last_received_at: datetime
    last_sample: str


class IngestStatsOut(BaseModel):
    received: int
    accepted: int
    rejected: int
    rejections: list[RejectionOut]
    inbox_full_waits: int
    skewed: dict[str, int] = Field(
        description="adapter -> readings whose device clock was more than 2 s off the gateway's"
    )
    timers_held: int = Field(
        description="timers that came due while messages received before them still waited "
        "(they fired once those were applied: late, never false)"
    )


class HealthOut(BaseModel):
    status: str = Field(description="ok, or degraded with the reasons")
    reasons: list[str]
    broker_connected: bool
    store_ok: bool
    outbox: dict[str, int]
    alerts_raised: int
    alerts_cleared: int
    messages_received: int
    messages_rejected: int


class Problem(BaseModel):
    detail: str
