"""Readings and devices: device states, rule tracks, device history, unregistered
sightings, devices added through the API.

`write_*` functions write inside a transaction they are given (a pipeline step's);
`DeviceTables` reads, and writes what the API changes on its own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from gateway.places.registry import DeviceRecord
from gateway.store.database import Database, dt, dt_or_none, json_text, ts, ts_or_none
from gateway.store.records import DeviceState, Sighting, StateChange
from rules.engine import Track, TrackKey
from rules.tracks import shared_data
from sensors.kinds import Kind
from sensors.shared import FieldTable, as_dict

UNREGISTERED_MAX = 10_000
HISTORY_PER_DEVICE = 200

# A state's fields are never changed in place (the pipeline builds new ones on change):
# compact, and one for devices that say the same.
_FIELDS = FieldTable(4096)
shared_fields = _FIELDS.compact


def _device_state(r: sqlite3.Row) -> DeviceState:
    return DeviceState(
        device_id=r["device_id"],
        kind=Kind(r["kind"]),
        fields=shared_fields(json.loads(r["fields"])),
        changed_at=dt_or_none(r["changed_at"]),
        last_event_at=dt_or_none(r["last_event_at"]),
        last_seen_at=dt(r["last_seen_at"]),
        is_online=None if r["is_online"] is None else bool(r["is_online"]),
        clock_skew_s=r["clock_skew_s"],
        changes=r["changes"],
        last_stamp_at=dt_or_none(r["last_stamp_at"]),
    )


def write_states(db: sqlite3.Connection, states: Iterable[DeviceState]) -> None:
    db.executemany(
        "INSERT INTO device_states (device_id, kind, fields, changed_at, last_event_at, "
        "last_seen_at, is_online, clock_skew_s, changes, last_stamp_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (device_id) DO UPDATE SET kind=excluded.kind, "
        "fields=excluded.fields, changed_at=excluded.changed_at, "
        "last_event_at=excluded.last_event_at, last_seen_at=excluded.last_seen_at, "
        "is_online=excluded.is_online, clock_skew_s=excluded.clock_skew_s, "
        "changes=excluded.changes, last_stamp_at=excluded.last_stamp_at",
        [
            (
                s.device_id,
                s.kind.value,
                json_text(as_dict(s.fields)),
                ts_or_none(s.changed_at),
                ts_or_none(s.last_event_at),
                ts(s.last_seen_at),
                None if s.is_online is None else int(s.is_online),
                s.clock_skew_s,
                s.changes,
                ts_or_none(s.last_stamp_at),
            )
            for s in states
        ],
    )


def write_seen(db: sqlite3.Connection, seen: Iterable[DeviceState]) -> None:
    """Devices whose only news is their instants (a repeated report): two columns each."""
    db.executemany(
        "UPDATE device_states SET last_event_at=?, last_seen_at=?, clock_skew_s=?, "
        "last_stamp_at=? WHERE device_id=?",
        [
            (
                ts_or_none(s.last_event_at),
                ts(s.last_seen_at),
                s.clock_skew_s,
                ts_or_none(s.last_stamp_at),
                s.device_id,
            )
            for s in seen
        ],
    )


def write_tracks(db: sqlite3.Connection, tracks: Iterable[tuple[TrackKey, Track | None]]) -> None:
    ended: list[tuple[str, str]] = []
    kept: list[tuple[str, str, str, str | None, int, str]] = []
    for (rule_id, device_id), track in tracks:
        if track is None:
            ended.append((rule_id, device_id))
        else:
            kept.append(
                (
                    rule_id,
                    device_id,
                    ts(track.since_at),
                    ts_or_none(track.due_at),
                    int(track.is_raised),
                    json_text(track.data),
                )
            )
    if ended:
        db.executemany("DELETE FROM rule_tracks WHERE rule_id=? AND device_id=?", ended)
    if kept:
        db.executemany(
            "INSERT OR REPLACE INTO rule_tracks "
            "(rule_id, device_id, since_at, due_at, is_raised, data) VALUES (?, ?, ?, ?, ?, ?)",
            kept,
        )


def write_history(db: sqlite3.Connection, changes: Iterable[tuple[StateChange, int]]) -> None:
    """State changes with their number per device: each overwrites the slot of the one
    HISTORY_PER_DEVICE before it, so the history stays bounded without trimming."""
    db.executemany(
        "INSERT OR REPLACE INTO device_history (device_id, slot, seq, at, state) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (c.device_id, seq % HISTORY_PER_DEVICE, seq, ts(c.at), json_text(c.state))
            for c, seq in changes
        ],
    )


def write_sightings(db: sqlite3.Connection, sightings: Iterable[Sighting]) -> None:
    db.executemany(
        "INSERT INTO unregistered VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) "
        "DO UPDATE SET adapter=excluded.adapter, topic=excluded.topic, "
        "last_payload=excluded.last_payload, count=count+excluded.count, "
        "last_seen_at=excluded.last_seen_at",
        [
            (
                s.device_id, s.adapter, s.topic, s.last_payload, s.count,
                ts(s.first_seen_at), ts(s.last_seen_at),
            )
            for s in sightings
        ],
    )  # fmt: skip
    # bounded: a flood of invented ids must not fill the disk
    db.execute(
        "DELETE FROM unregistered WHERE device_id IN (SELECT device_id FROM unregistered "
        "ORDER BY last_seen_at DESC LIMIT -1 OFFSET ?)",
        (UNREGISTERED_MAX,),
    )


class DeviceTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- states, tracks, history -------------------------------------------------------

    def states(self) -> dict[str, DeviceState]:
        with self._db.reading() as db:
            rows = db.execute("SELECT * FROM device_states").fetchall()
        return {r["device_id"]: _device_state(r) for r in rows}

    def state(self, device_id: str) -> DeviceState | None:
        """One device's state (one row, not the whole table)."""
        with self._db.reading() as db:
            row = db.execute(
                "SELECT * FROM device_states WHERE device_id=?", (device_id,)
            ).fetchone()
        return None if row is None else _device_state(row)

    def tracks(self) -> list[tuple[TrackKey, Track]]:
        with self._db.reading() as db:
            rows = db.execute("SELECT * FROM rule_tracks").fetchall()
        return [
            (
                (r["rule_id"], r["device_id"]),
                Track(
                    dt(r["since_at"]),
                    dt_or_none(r["due_at"]),
                    bool(r["is_raised"]),
                    shared_data(json.loads(r["data"])),
                ),
            )
            for r in rows
        ]

    def history(self, device_id: str, limit: int = 50) -> list[StateChange]:
        """A device's most recent state changes, newest first."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT at, state FROM device_history WHERE device_id=? ORDER BY seq DESC LIMIT ?",
                (device_id, limit),
            ).fetchall()
        return [StateChange(device_id, dt(r[0]), json.loads(r[1])) for r in rows]

    # ---- the registry's own devices ---------------------------------------------------

    def added(self) -> list[DeviceRecord]:
        """Devices added through the API, in id order."""
        with self._db.reading() as db:
            rows = db.execute("SELECT * FROM devices ORDER BY device_id").fetchall()
        out = []
        for r in rows:
            try:
                kind = Kind(r["kind"])
            except ValueError:
                continue  # a kind this version does not know; the row stays for a later one
            out.append(DeviceRecord(r["device_id"], kind, r["node_id"], r["name"]))
        return out

    def save(self, records: list[DeviceRecord], now: datetime) -> None:
        """Insert or replace devices in one transaction; forget them as unregistered."""
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE "
                "SET kind=excluded.kind, node_id=excluded.node_id, name=excluded.name, "
                "updated_at=excluded.updated_at",
                [(r.device_id, r.kind.value, r.node_id, r.name, ts(now), ts(now)) for r in records],
            )
            db.executemany(
                "DELETE FROM unregistered WHERE device_id=?", [(r.device_id,) for r in records]
            )

    def delete(self, device_id: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM devices WHERE device_id=?", (device_id,))
            db.execute("DELETE FROM device_states WHERE device_id=?", (device_id,))

    def unregistered(self, limit: int = 500) -> list[Sighting]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT * FROM unregistered ORDER BY last_seen_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            Sighting(
                r["device_id"], r["adapter"], r["topic"], r["last_payload"], r["count"],
                dt(r["first_seen_at"]), dt(r["last_seen_at"]),
            )
            for r in rows
        ]  # fmt: skip
