"""The engine's book: tracks, their timers, what changed, and the events of one call.

Every condition module changes state only through a Ledger, so a track's timer always
matches what the track says (`Track.next_at`), every change reaches `take_changes`, and
every event is built the same way (place in words, messages, reminders, window close).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rules.model import AnyRule, NodeOfflineRule
from rules.scope import NodePlaces, Where
from rules.templates import Wording
from rules.timers import Timers
from rules.tracks import AlertEvent, EventType, Track, TrackKey, instant, iso
from rules.windows import window_closes_at
from sensors.kinds import Kind


class Ledger:
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.tracks: dict[TrackKey, Track] = {}
        self.timers: Timers[TrackKey] = Timers()
        self.changed: set[TrackKey] = set()
        # tracks only moved forward in place by a report (an offline watch): not saved
        self.refreshed: set[TrackKey] = set()
        # rules whose waiting tracks follow from the device's state alone (held or
        # immediate on the kind's state field: "open since"): those are not saved, a
        # restart derives them again (Engine.restore); once raised they are saved
        self.derived: frozenset[str] = frozenset()
        self.stored: set[TrackKey] = set()  # keys of such rules that have a row saved
        self.events: list[AlertEvent] = []
        self.where: Mapping[str, Where] = {}
        self.node_where = NodePlaces()  # node id -> a Where for the node itself
        self.seen_kind: dict[str, Kind] = {}  # kinds of devices the site does not list

    # ---- state ------------------------------------------------------------------------

    def put(self, key: TrackKey, track: Track) -> None:
        """Store a new or changed track and (re)schedule its timer."""
        self.tracks[key] = track
        self.timers.set(key, track.next_at())
        if key[0] in self.derived:
            if not track.is_raised and key not in self.stored:
                return  # a door open, not yet past its hold: its state says as much
            self.stored.add(key)
        self.changed.add(key)

    def refresh(self, key: TrackKey, track: Track) -> None:
        """A track moved forward in place (its instants only): rescheduled now, saved when
        the caller next takes `refreshed` (a watch that every report moves would otherwise
        be rewritten per report)."""
        self.refreshed.add(key)
        self.timers.set(key, track.next_at())

    def drop(self, key: TrackKey) -> None:
        if self.tracks.pop(key, None) is not None and (
            key[0] not in self.derived or key in self.stored
        ):
            self.changed.add(key)
            self.stored.discard(key)
        self.timers.set(key, None)

    def take_events(self) -> list[AlertEvent]:
        events, self.events = self.events, []
        return events

    # ---- alerts -----------------------------------------------------------------------

    def raise_alert(
        self,
        rule: AnyRule,
        key: TrackKey,
        track: Track,
        now: datetime,
        due_at: datetime | None,
        *,
        is_inhibited: bool = False,
    ) -> None:
        """Raise the track's alert; `due_at` is the event-time instant it became due
        (None for an immediate raise, which is due at the reading's own time)."""
        track.is_raised = True
        base = due_at if due_at is not None else track.since_at
        data = dict(track.data)
        data.pop("emit_at", None)
        if rule.reminder_s is not None:
            data["remind_at"] = iso(_after(base, rule.reminder_s, now))
        if rule.window is not None and not isinstance(rule, NodeOfflineRule):
            closes = window_closes_at(rule, base, self.tz)
            if closes is not None:
                data["closes_at"] = iso(closes)
        if is_inhibited:
            data["is_inhibited"] = True
        track.data = data
        self.put(key, track)
        self.events.append(self.event(EventType.RAISED, rule, key, track, now, due_at))

    def clear_alert(
        self, rule: AnyRule, key: TrackKey, track: Track, at: datetime, *, keep: bool
    ) -> None:
        """Clear a raised alert at event time `at`; keep the track (still watched) or drop it."""
        if track.is_raised:
            self.events.append(self.event(EventType.CLEARED, rule, key, track, at, track.due_at))
        if not keep:
            self.drop(key)
            return
        track.is_raised = False
        track.data = {
            k: v
            for k, v in track.data.items()
            if k not in ("remind_at", "closes_at", "clear_at", "is_inhibited")
        }
        self.put(key, track)

    def remind(self, rule: AnyRule, key: TrackKey, track: Track, now: datetime) -> None:
        due = instant(track.data["remind_at"])
        assert rule.reminder_s is not None  # noqa: S101  # only set when the rule reminds
        track.data = {**track.data, "remind_at": iso(_after(due, rule.reminder_s, now))}
        self.put(key, track)
        self.events.append(self.event(EventType.REMINDED, rule, key, track, now, due))

    def event(
        self,
        type_: EventType,
        rule: AnyRule,
        key: TrackKey,
        track: Track,
        at: datetime,
        due_at: datetime | None,
    ) -> AlertEvent:
        subject = key[1]
        is_node = isinstance(rule, NodeOfflineRule)
        where = self.node_where.get(subject) if is_node else self.where.get(subject)
        kind = rule.single_kind or (where.kind if where is not None else None)
        if kind is None:
            kind = self.seen_kind.get(subject) or Kind(track.data.get("kind", "availability"))
        zh, en = Wording(rule, subject, where, track.data, track.since_at, at, is_node).messages()
        return AlertEvent(
            type=type_,
            rule_id=rule.id,
            device_id=subject,
            kind=kind,
            severity=rule.severity,
            opened_at=track.since_at,
            at=at,
            due_at=due_at,
            subject_id=subject,
            node_id=subject if is_node else None,
            message_zh=zh,
            message_en=en,
            is_inhibited=bool(track.data.get("is_inhibited", False)),
        )


def _after(due: datetime, every_s: float, now: datetime) -> datetime:
    """The first of due + every_s, due + 2·every_s, ... that is after `now`."""
    step = timedelta(seconds=every_s)
    nxt = due + step
    if nxt <= now:
        nxt += step * ((now - nxt) // step + 1)
    return nxt
