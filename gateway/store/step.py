"""What one step changes, written in one transaction.

A step is a batch of messages through the pipeline, a round of timers, a person's action
on an alert, or a round of delivery outcomes: whatever was decided together is written
together, so the outbox rows exist exactly when the change they describe does.

New alerts and outbox rows get their ids before the write (`Ids`): a step's rows refer
to each other (an outbox row to its alert) and the outbox worker holds the rows in memory
by id once they are committed.
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from gateway.store import alerts, cases, devices, outbox
from gateway.store.alerts import Comment
from gateway.store.records import (
    Alert,
    Case,
    CaseEntry,
    CasePhoto,
    Delivery,
    DeviceState,
    Episode,
    Outcome,
    Sighting,
    StateChange,
    Transition,
)
from rules.engine import Track, TrackKey


@dataclass
class StepWrite:
    states: dict[str, DeviceState] = field(default_factory=dict)
    # devices whose only news is their instants (a repeated report): two columns to write
    seen: dict[str, DeviceState] = field(default_factory=dict)
    tracks: list[tuple[TrackKey, Track | None]] = field(default_factory=list)
    sightings: dict[str, Sighting] = field(default_factory=dict)
    # state changes for the devices' history, each with its number per device
    history: list[tuple[StateChange, int]] = field(default_factory=list)
    # alerts as they stand after the step, by id, in the order first changed
    alerts: dict[int, Alert] = field(default_factory=dict)
    log: list[Transition] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    # cases as they stand after the step, their history, photos, the alerts behind them
    cases: dict[int, Case] = field(default_factory=dict)
    case_history: list[CaseEntry] = field(default_factory=list)
    case_photos: list[CasePhoto] = field(default_factory=list)
    case_alerts: list[tuple[int, int, datetime]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.states,
                self.seen,
                self.tracks,
                self.sightings,
                self.history,
                self.alerts,
                self.log,
                self.episodes,
                self.comments,
                self.deliveries,
                self.outcomes,
                self.cases,
                self.case_history,
                self.case_photos,
                self.case_alerts,
            )
        )

    def merge(self, other: StepWrite) -> None:
        """Add what `other` changes after what this one does."""
        self.states.update(other.states)
        for device_id, state in other.seen.items():
            if device_id not in self.states:
                self.seen[device_id] = state
        self.tracks.extend(other.tracks)
        self.sightings.update(other.sightings)
        self.history.extend(other.history)
        self.alerts.update(other.alerts)
        self.log.extend(other.log)
        self.episodes.extend(other.episodes)
        self.comments.extend(other.comments)
        self.deliveries.extend(other.deliveries)
        self.outcomes.extend(other.outcomes)
        self.cases.update(other.cases)
        self.case_history.extend(other.case_history)
        self.case_photos.extend(other.case_photos)
        self.case_alerts.extend(other.case_alerts)


def write_step(db: sqlite3.Connection, step: StepWrite) -> list[Delivery]:
    """Write `step` inside the transaction `db` is in; the deliveries actually queued
    (one whose idempotency key was already queued is left out)."""
    if step.states:
        devices.write_states(db, step.states.values())
    if step.seen:
        devices.write_seen(db, (s for d, s in step.seen.items() if d not in step.states))
    if step.tracks:
        devices.write_tracks(db, step.tracks)
    if step.history:
        devices.write_history(db, step.history)
    if step.sightings:
        devices.write_sightings(db, step.sightings.values())
    if step.alerts:
        alerts.write_alerts(db, step.alerts.values())
    if step.log:
        alerts.write_log(db, step.log)
    if step.episodes:
        alerts.write_episodes(db, step.episodes)
    if step.comments:
        alerts.write_comments(db, step.comments)
    if step.cases:
        cases.write_cases(db, step.cases.values())
    if step.case_history:
        cases.write_history(db, step.case_history)
    if step.case_photos:
        cases.write_photos(db, step.case_photos)
    if step.case_alerts:
        cases.write_links(db, step.case_alerts)
    queued = [d for d in step.deliveries if not d.is_feed]
    feed = [d for d in step.deliveries if d.is_feed]
    if queued and outbox.write_deliveries(db, queued) != len(queued):
        present = {
            row[0]
            for row in db.execute(
                "SELECT id FROM outbox WHERE id IN "  # noqa: S608  # placeholders only
                f"({','.join('?' * len(queued))})",
                [d.id for d in queued],
            )
        }
        queued = [d for d in queued if d.id in present]
    if feed:
        queued += outbox.write_feed(db, feed)
    if step.outcomes:
        outbox.write_outcomes(db, step.outcomes)
    return queued


class Ids:
    """Ids for new rows of one table, handed out on the loop before the write."""

    def __init__(self, last: int) -> None:
        self._next = itertools.count(last + 1)

    def take(self) -> int:
        return next(self._next)
