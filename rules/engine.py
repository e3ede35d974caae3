"""The rule engine: readings in, alert events out, with due times instead of sleeps.

State is one `Track` per (rule, device) whose condition currently holds. A held rule's
track carries the instant it becomes due; a heap orders the due times so `tick(now)` pops
only what is due (no scan over every door) and `next_due_at()` tells the scheduler how
long it may sleep. Tracks are handed to the store after every step (`take_changes`) and
handed back on start (`restore`), so a door opened before a restart still alerts at
open + hold, and a restart never raises the same alert twice.

The engine trusts its input to be in event-time order per device (ingest drops readings
older than the last one it applied, and counts them).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from rules.conditions import held_due_at
from rules.model import HeldRule, ImmediateRule, RuleFile, Severity
from sensors.kinds import Kind
from sensors.reading import Reading

TrackKey = tuple[str, str]  # (rule id, device id)


@dataclass
class Track:
    """One rule's condition holding on one device."""

    since_at: datetime  # event time the condition began
    due_at: datetime | None  # when a held rule raises; None for immediate rules
    is_raised: bool


class EventType(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(frozen=True)
class AlertEvent:
    type: EventType
    rule_id: str
    device_id: str
    kind: Kind
    severity: Severity
    opened_at: datetime  # when the condition began (event time)
    at: datetime  # when it was raised (processing time) or cleared (event time)
    due_at: datetime | None = None  # for held rules: when it was due


class Engine:
    def __init__(self, rules: RuleFile, tz: ZoneInfo) -> None:
        self._tz = tz
        self._rules = {rule.id: rule for rule in rules.rules}
        self._by_kind: dict[Kind, list[HeldRule | ImmediateRule]] = defaultdict(list)
        for rule in rules.rules:
            self._by_kind[rule.kind].append(rule)
        self._tracks: dict[TrackKey, Track] = {}
        self._heap: list[tuple[datetime, str, str]] = []
        self._changed: set[TrackKey] = set()

    @property
    def rules(self) -> dict[str, HeldRule | ImmediateRule]:
        return self._rules

    def observe(self, reading: Reading, now: datetime) -> list[AlertEvent]:
        """Apply one reading; return what it raised or cleared right away."""
        events: list[AlertEvent] = []
        for rule in self._by_kind.get(reading.kind, ()):
            if rule.field not in reading.fields:
                continue
            key = (rule.id, reading.device_id)
            track = self._tracks.get(key)
            is_active = reading.fields[rule.field] == rule.equals
            if is_active and track is None:
                events.extend(self._begin(rule, key, reading.event_at, now))
            elif not is_active and track is not None:
                del self._tracks[key]
                self._changed.add(key)
                if track.is_raised:
                    events.append(
                        self._event(EventType.CLEARED, rule, key, track, reading.event_at)
                    )
            # a repeated report of the same state changes nothing: the timer keeps its start
        return events

    def _begin(
        self, rule: HeldRule | ImmediateRule, key: TrackKey, since_at: datetime, now: datetime
    ) -> list[AlertEvent]:
        self._changed.add(key)
        if isinstance(rule, ImmediateRule):
            track = Track(since_at=since_at, due_at=None, is_raised=True)
            self._tracks[key] = track
            return [self._event(EventType.RAISED, rule, key, track, now)]
        due_at = held_due_at(rule, since_at, self._tz)
        self._tracks[key] = Track(since_at=since_at, due_at=due_at, is_raised=False)
        heapq.heappush(self._heap, (due_at, *key))
        return []

    def tick(self, now: datetime) -> list[AlertEvent]:
        """Raise every held condition whose due time has come."""
        events = []
        while self._heap and self._heap[0][0] <= now:
            due_at, rule_id, device_id = heapq.heappop(self._heap)
            key = (rule_id, device_id)
            track = self._tracks.get(key)
            if track is None or track.is_raised or track.due_at != due_at:
                continue  # cleared or restarted since it was scheduled
            track.is_raised = True
            self._changed.add(key)
            events.append(self._event(EventType.RAISED, self._rules[rule_id], key, track, now))
        return events

    def next_due_at(self) -> datetime | None:
        """The earliest pending due time, for the scheduler to sleep until."""
        while self._heap:
            due_at, rule_id, device_id = self._heap[0]
            track = self._tracks.get((rule_id, device_id))
            if track is not None and not track.is_raised and track.due_at == due_at:
                return due_at
            heapq.heappop(self._heap)
        return None

    def _event(
        self,
        type_: EventType,
        rule: HeldRule | ImmediateRule,
        key: TrackKey,
        track: Track,
        at: datetime,
    ) -> AlertEvent:
        return AlertEvent(
            type=type_,
            rule_id=rule.id,
            device_id=key[1],
            kind=rule.kind,
            severity=rule.severity,
            opened_at=track.since_at,
            at=at,
            due_at=track.due_at,
        )

    def take_changes(self) -> list[tuple[TrackKey, Track | None]]:
        """Tracks created, changed or ended since the last call (None: ended)."""
        changes = [(key, self._tracks.get(key)) for key in self._changed]
        self._changed.clear()
        return changes

    def restore(self, tracks: list[tuple[TrackKey, Track]]) -> None:
        """Load tracks saved by the store; tracks of rules no longer defined are dropped."""
        for key, track in tracks:
            if key[0] not in self._rules:
                self._changed.add(key)
                continue
            self._tracks[key] = track
            if track.due_at is not None and not track.is_raised:
                heapq.heappush(self._heap, (track.due_at, *key))

    def active(self) -> dict[TrackKey, Track]:
        return dict(self._tracks)
