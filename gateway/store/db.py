"""Every SQL query of the gateway. One write connection behind a lock, one for reads.

Blocking by nature: async code calls these through `asyncio.to_thread` (the writer task,
the outbox worker) or FastAPI's thread pool (plain `def` endpoints).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.alerts.escalation import AlertPolicy, Step, decide
from gateway.alerts.lifecycle import Action, next_state
from gateway.alerts.model import Alert, AlertState, Resolution, Transition
from gateway.errors import AlertNotFound, InvalidTransition, StoreUnavailable
from gateway.pipeline.devices import DeviceState, shared
from gateway.places.registry import DeviceRecord
from gateway.places.site import Level, Node, Placement
from gateway.store.schema import MIGRATIONS
from rules.engine import AlertEvent, EventType, Track, TrackKey
from rules.model import Severity
from rules.tracks import shared_data
from sensors.kinds import Kind


@functools.lru_cache(maxsize=4096)
def ts(at: datetime) -> str:
    """An instant as stored: UTC, ISO 8601, microseconds (so text order is time order).
    Cached: a step writes the same instants many times (one arrival time per burst read)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _ts_or_none(at: datetime | None) -> str | None:
    return None if at is None else ts(at)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _dt_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class OutboxEntry:
    """One message to send for one alert event, as routing decided it."""

    channel: str
    target: str
    body: dict[str, Any]
    idempotency_key: str
    is_dispatch: bool = False  # addressed to people on duty (the alert becomes dispatched)


@dataclass(frozen=True)
class Delivery:
    id: int
    alert_id: int
    event: str
    channel: str
    target: str
    body: str
    idempotency_key: str
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class RaisedEvent:
    """A rule event with where its device stands and the rule's words."""

    event: AlertEvent
    placement: Placement
    title_zh: str
    title_en: str


Route = Callable[[Alert, str], list[OutboxEntry]]

UNREGISTERED_MAX = 10_000
HISTORY_PER_DEVICE = 200


@dataclass(frozen=True)
class Sighting:
    """Messages from a device the registry does not know, folded into one row."""

    device_id: str
    adapter: str
    topic: str
    last_payload: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass
class Batch:
    """What one step of the pipeline changes, written in one transaction."""

    states: dict[str, DeviceState] = field(default_factory=dict)
    # devices whose only news is their instants (a repeated report): two columns to write
    seen: dict[str, DeviceState] = field(default_factory=dict)
    tracks: list[tuple[TrackKey, Track | None]] = field(default_factory=list)
    events: list[RaisedEvent] = field(default_factory=list)
    unregistered: dict[str, Sighting] = field(default_factory=dict)
    # (device id, event time, the state it changed to), kept for the device's history
    changes: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.states
            or self.seen
            or self.tracks
            or self.events
            or self.unregistered
            or self.changes
        )


_ALERT_COLUMNS = (
    "id, rule_id, title_zh, title_en, severity, kind, device_id, state, location, place, "
    "opened_at, due_at, raised_at, cleared_at, acknowledged_at, acknowledged_by, "
    "resolved_at, resolved_by, note, dispatched_at, escalation_level, ack_due_at, "
    "resolve_due_at, next_reminder_at, reminders, is_overdue, assigned_to, resolution, "
    "closed_at, reopened, message_zh, message_en, is_inhibited"
)


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        id=row["id"],
        rule_id=row["rule_id"],
        title_zh=row["title_zh"],
        title_en=row["title_en"],
        severity=Severity(row["severity"]),
        kind=row["kind"],
        device_id=row["device_id"],
        state=AlertState(row["state"]),
        location=tuple(
            Node(Level(n["level"]), n["id"], n["name"]) for n in json.loads(row["location"])
        ),
        place=row["place"],
        opened_at=_dt(row["opened_at"]),
        due_at=_dt_or_none(row["due_at"]),
        raised_at=_dt(row["raised_at"]),
        cleared_at=_dt_or_none(row["cleared_at"]),
        acknowledged_at=_dt_or_none(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        resolved_at=_dt_or_none(row["resolved_at"]),
        resolved_by=row["resolved_by"],
        note=row["note"],
        dispatched_at=_dt_or_none(row["dispatched_at"]),
        escalation_level=row["escalation_level"],
        ack_due_at=_dt_or_none(row["ack_due_at"]),
        resolve_due_at=_dt_or_none(row["resolve_due_at"]),
        next_reminder_at=_dt_or_none(row["next_reminder_at"]),
        reminders=row["reminders"],
        is_overdue=bool(row["is_overdue"]),
        assigned_to=row["assigned_to"],
        resolution=None if row["resolution"] is None else Resolution(row["resolution"]),
        closed_at=_dt_or_none(row["closed_at"]),
        reopened=row["reopened"],
        message_zh=row["message_zh"],
        message_en=row["message_en"],
        is_inhibited=bool(row["is_inhibited"]),
    )


def _device_state(r: sqlite3.Row) -> DeviceState:
    return DeviceState(
        device_id=r["device_id"],
        kind=Kind(r["kind"]),
        fields=shared(json.loads(r["fields"])),
        changed_at=_dt_or_none(r["changed_at"]),
        last_event_at=_dt_or_none(r["last_event_at"]),
        last_seen_at=_dt(r["last_seen_at"]),
        is_online=None if r["is_online"] is None else bool(r["is_online"]),
    )


class Store:
    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_s: float = 5.0,
        max_pages: int = 0,
    ) -> None:
        self.path = path
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._max_pages = max_pages
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        try:
            self._db = self._connect(synchronous)
            self._migrate()
            # Checkpoints (copying the WAL back into the database, and its fsync) are not
            # left to whichever commit crosses the threshold: that commit would hold up a
            # pipeline step, and the alerts due behind it, for as long as the disk takes.
            # `checkpoint()` runs them on a connection of their own, beside the writer.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._read = self._connect(synchronous)
            self._checkpointer = self._connect(synchronous)
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(path), str(exc)) from exc

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path,
            check_same_thread=False,
            isolation_level=None,
            timeout=self._busy_timeout_ms / 1000,
        )
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process; FULL also survives power loss
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        if self._max_pages:
            db.execute(f"PRAGMA max_page_count={self._max_pages}")
        return db

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    def close(self) -> None:
        with self._write_lock, self._read_lock, self._checkpoint_lock:
            self._db.close()
            self._read.close()
            self._checkpointer.close()

    def checkpoint(self) -> int:
        """Copy what the WAL holds into the database without blocking the writer
        (a PASSIVE checkpoint); the number of WAL pages it still holds after."""
        with self._checkpoint_lock:
            try:
                _busy, log_pages, done = self._checkpointer.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)"
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreUnavailable(str(self.path), str(exc)) from exc
        return max(0, int(log_pages) - int(done))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(str(self.path), str(exc)) from exc
            try:
                yield self._db
            except sqlite3.Error as exc:  # disk full, I/O error: the store's trouble, not ours
                self._rollback()
                raise StoreUnavailable(str(self.path), str(exc)) from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreUnavailable(str(self.path), str(exc)) from exc

    def _rollback(self) -> None:
        """Undo the transaction in hand; SQLite may already have (a full disk does)."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            try:
                yield self._read
            except sqlite3.Error as exc:
                raise StoreUnavailable(str(self.path), str(exc)) from exc

    def ping(self) -> None:
        with self._reading() as db:
            db.execute("SELECT 1 FROM alerts LIMIT 1").fetchall()

    # ---- pipeline -------------------------------------------------------------------

    def apply(
        self, batch: Batch, now: datetime, route: Route, policy: AlertPolicy | None = None
    ) -> list[Alert]:
        """Write one pipeline step: device states, rule tracks, alerts and their outbox rows.

        Returns the alerts raised or cleared, as they stand after the step.
        """
        changed: list[Alert] = []
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO device_states VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET kind=excluded.kind, "
                "fields=excluded.fields, changed_at=excluded.changed_at, "
                "last_event_at=excluded.last_event_at, last_seen_at=excluded.last_seen_at, "
                "is_online=excluded.is_online",
                [
                    (
                        s.device_id,
                        s.kind.value,
                        json.dumps(s.fields),
                        _ts_or_none(s.changed_at),
                        _ts_or_none(s.last_event_at),
                        ts(s.last_seen_at),
                        None if s.is_online is None else int(s.is_online),
                    )
                    for s in batch.states.values()
                ],
            )
            db.executemany(
                "UPDATE device_states SET last_event_at=?, last_seen_at=? WHERE device_id=?",
                [
                    (_ts_or_none(s.last_event_at), ts(s.last_seen_at), s.device_id)
                    for device_id, s in batch.seen.items()
                    if device_id not in batch.states
                ],
            )
            for (rule_id, device_id), track in batch.tracks:
                if track is None:
                    db.execute(
                        "DELETE FROM rule_tracks WHERE rule_id=? AND device_id=?",
                        (rule_id, device_id),
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO rule_tracks "
                        "(rule_id, device_id, since_at, due_at, is_raised, data) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            rule_id,
                            device_id,
                            ts(track.since_at),
                            _ts_or_none(track.due_at),
                            int(track.is_raised),
                            json.dumps(track.data),
                        ),
                    )
            if batch.unregistered:
                self._note_unregistered(db, list(batch.unregistered.values()))
            if batch.changes:
                self._note_changes(db, batch.changes)
            for item in batch.events:
                alert = self._apply_event(db, item, now, policy or AlertPolicy())
                if alert is None:
                    continue
                event_name = "alert." + item.event.type.value
                alert = self._send(db, alert, event_name, route, now)
                changed.append(alert)
        return changed

    def _apply_event(
        self, db: sqlite3.Connection, item: RaisedEvent, now: datetime, policy: AlertPolicy
    ) -> Alert | None:
        event = item.event
        if event.type == EventType.RAISED:
            return self._reopen(db, item, now, policy) or self._insert(db, item, now, policy)
        if event.type == EventType.REMINDED:
            return self._remind(db, item, now)
        row = db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts "  # noqa: S608  # constant column list
            "WHERE rule_id=? AND device_id=? AND cleared_at IS NULL",
            (event.rule_id, event.device_id),
        ).fetchone()
        if row is None:
            return None
        alert = _alert(row)
        state = next_state(alert.id, alert.state, Action.CLEAR)
        db.execute(
            "UPDATE alerts SET state=?, cleared_at=?, next_reminder_at=NULL WHERE id=?",
            (state.value, ts(event.at), alert.id),
        )
        self._log(db, alert.id, now, "clear", "rules", state, None)
        return self._get(db, alert.id)

    def _remind(self, db: sqlite3.Connection, item: RaisedEvent, now: datetime) -> Alert | None:
        """The rule's own reminder while its condition holds: sent only while nobody has
        taken the alert (after that, the person on it knows)."""
        row = db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts "  # noqa: S608  # constant column list
            "WHERE rule_id=? AND device_id=? AND cleared_at IS NULL",
            (item.event.rule_id, item.event.device_id),
        ).fetchone()
        if row is None:
            return None
        alert = _alert(row)
        if alert.state not in (AlertState.RAISED, AlertState.DISPATCHED) or alert.is_inhibited:
            return None
        db.execute("UPDATE alerts SET reminders=reminders+1 WHERE id=?", (alert.id,))
        self._log(db, alert.id, now, "remind", "rules", alert.state, None)
        return self._get(db, alert.id)

    def _insert(
        self, db: sqlite3.Connection, item: RaisedEvent, now: datetime, policy: AlertPolicy
    ) -> Alert | None:
        event = item.event
        location = [
            {"level": n.level.value, "id": n.id, "name": n.name} for n in item.placement.location
        ]
        deadlines = policy.deadlines(event.severity, event.at)
        cursor = db.execute(
            "INSERT INTO alerts (rule_id, title_zh, title_en, severity, kind, device_id, "
            "state, location, node_ids, place, opened_at, due_at, raised_at, ack_due_at, "
            "resolve_due_at, next_reminder_at, message_zh, message_en, is_inhibited) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (
                event.rule_id,
                item.title_zh,
                item.title_en,
                event.severity.value,
                event.kind.value,
                event.device_id,
                AlertState.RAISED.value,
                json.dumps(location, ensure_ascii=False),
                "/" + "/".join(item.placement.node_ids()) + "/",
                item.placement.place(),
                ts(event.opened_at),
                _ts_or_none(event.due_at),
                ts(event.at),
                ts(deadlines.ack_due_at),
                ts(deadlines.resolve_due_at),
                ts(deadlines.next_reminder_at),
                event.message_zh or item.title_zh,
                event.message_en or item.title_en,
                int(event.is_inhibited),
            ),
        )
        if cursor.rowcount == 0:
            return None  # already active for this rule and device: dedup
        alert_id = cursor.lastrowid
        assert alert_id is not None  # noqa: S101  # an INSERT that wrote a row has an id
        self._log(db, alert_id, now, "raise", "rules", AlertState.RAISED, None)
        return self._get(db, alert_id)

    def _reopen(
        self, db: sqlite3.Connection, item: RaisedEvent, now: datetime, policy: AlertPolicy
    ) -> Alert | None:
        """The same alert again when its condition returns soon after it cleared."""
        event = item.event
        since = event.at - timedelta(seconds=policy.reopen_within_s)
        row = db.execute(
            "SELECT id FROM alerts WHERE rule_id=? AND device_id=? AND state=? "
            "AND cleared_at >= ? ORDER BY id DESC LIMIT 1",
            (event.rule_id, event.device_id, AlertState.CLEARED.value, ts(since)),
        ).fetchone()
        if row is None:
            return None
        alert_id = int(row[0])
        deadlines = policy.deadlines(event.severity, event.at)
        state = next_state(alert_id, AlertState.CLEARED, Action.REOPEN)
        db.execute(
            "UPDATE alerts SET state=?, cleared_at=NULL, reopened=reopened+1, ack_due_at=?, "
            "resolve_due_at=?, next_reminder_at=?, is_overdue=0, escalation_level=0 WHERE id=?",
            (
                state.value,
                ts(deadlines.ack_due_at),
                ts(deadlines.resolve_due_at),
                ts(deadlines.next_reminder_at),
                alert_id,
            ),
        )
        self._log(db, alert_id, now, "reopen", "rules", state, None)
        return self._get(db, alert_id)

    def _send(
        self, db: sqlite3.Connection, alert: Alert, event: str, route: Route, now: datetime
    ) -> Alert:
        """Queue what routing decides; an alert told to people on duty becomes dispatched.

        An inhibited alert (a larger alert covers it) is kept but not sent."""
        if alert.is_inhibited:
            return alert
        entries = route(alert, event)
        self._enqueue(db, alert, event, entries, now)
        if any(e.is_dispatch for e in entries) and alert.state in (
            AlertState.RAISED,
            AlertState.DISPATCHED,
        ):
            state = next_state(alert.id, alert.state, Action.DISPATCH)
            db.execute(
                "UPDATE alerts SET state=?, dispatched_at=COALESCE(dispatched_at, ?) WHERE id=?",
                (state.value, ts(now), alert.id),
            )
            targets = sorted({e.target for e in entries if e.is_dispatch})
            self._log(db, alert.id, now, "dispatch", "routing", state, ", ".join(targets))
            return self._get(db, alert.id)
        return alert

    def _enqueue(
        self,
        db: sqlite3.Connection,
        alert: Alert,
        event: str,
        entries: list[OutboxEntry],
        now: datetime,
    ) -> None:
        db.executemany(
            "INSERT INTO outbox (alert_id, event, channel, target, body, idempotency_key, "
            "state, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            [
                (
                    alert.id,
                    event,
                    e.channel,
                    e.target,
                    json.dumps(e.body, ensure_ascii=False),
                    e.idempotency_key,
                    ts(now),
                    ts(now),
                )
                for e in entries
            ],
        )

    def _log(
        self,
        db: sqlite3.Connection,
        alert_id: int,
        at: datetime,
        action: str,
        actor: str,
        state: AlertState,
        note: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO alert_log (alert_id, at, action, actor, state, note) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, ts(at), action, actor, state.value, note),
        )

    def _get(self, db: sqlite3.Connection, alert_id: int) -> Alert:
        row = db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id=?",  # noqa: S608  # constant columns
            (alert_id,),
        ).fetchone()
        if row is None:
            raise AlertNotFound(alert_id)
        return _alert(row)

    def load_tracks(self) -> list[tuple[TrackKey, Track]]:
        with self._reading() as db:
            rows = db.execute("SELECT * FROM rule_tracks").fetchall()
        return [
            (
                (r["rule_id"], r["device_id"]),
                Track(
                    _dt(r["since_at"]),
                    _dt_or_none(r["due_at"]),
                    bool(r["is_raised"]),
                    shared_data(json.loads(r["data"])),
                ),
            )
            for r in rows
        ]

    def device_states(self) -> dict[str, DeviceState]:
        with self._reading() as db:
            rows = db.execute("SELECT * FROM device_states").fetchall()
        return {r["device_id"]: _device_state(r) for r in rows}

    def device_state(self, device_id: str) -> DeviceState | None:
        """One device's state (one row, not the whole table)."""
        with self._reading() as db:
            row = db.execute(
                "SELECT * FROM device_states WHERE device_id=?", (device_id,)
            ).fetchone()
        return None if row is None else _device_state(row)

    def _note_changes(
        self, db: sqlite3.Connection, changes: list[tuple[str, datetime, dict[str, Any]]]
    ) -> None:
        db.executemany(
            "INSERT INTO state_changes (device_id, at, state) VALUES (?, ?, ?)",
            [(d, ts(at), json.dumps(state)) for d, at, state in changes],
        )
        for device_id in {d for d, _, _ in changes}:
            db.execute(
                "DELETE FROM state_changes WHERE device_id=? AND id <= (SELECT id FROM "
                "state_changes WHERE device_id=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (device_id, device_id, HISTORY_PER_DEVICE),
            )

    def state_changes(
        self, device_id: str, limit: int = 50
    ) -> list[tuple[datetime, dict[str, Any]]]:
        """A device's most recent state changes, newest first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT at, state FROM state_changes WHERE device_id=? ORDER BY id DESC LIMIT ?",
                (device_id, limit),
            ).fetchall()
        return [(_dt(r[0]), json.loads(r[1])) for r in rows]

    # ---- device registry ------------------------------------------------------------

    def load_devices(self) -> list[DeviceRecord]:
        with self._reading() as db:
            rows = db.execute("SELECT * FROM devices ORDER BY device_id").fetchall()
        out = []
        for r in rows:
            try:
                kind = Kind(r["kind"])
            except ValueError:
                continue  # a kind this version does not know; the row stays for a later one
            out.append(DeviceRecord(r["device_id"], kind, r["node_id"], r["name"]))
        return out

    def save_devices(self, records: list[DeviceRecord], now: datetime) -> None:
        """Insert or replace devices in one transaction; forget them as unregistered."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE "
                "SET kind=excluded.kind, node_id=excluded.node_id, name=excluded.name, "
                "updated_at=excluded.updated_at",
                [(r.device_id, r.kind.value, r.node_id, r.name, ts(now), ts(now)) for r in records],
            )
            db.executemany(
                "DELETE FROM unregistered WHERE device_id=?", [(r.device_id,) for r in records]
            )

    def delete_device(self, device_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM devices WHERE device_id=?", (device_id,))
            db.execute("DELETE FROM device_states WHERE device_id=?", (device_id,))

    def unregistered(self, limit: int = 500) -> list[Sighting]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT * FROM unregistered ORDER BY last_seen_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [
            Sighting(
                r["device_id"], r["adapter"], r["topic"], r["last_payload"], r["count"],
                _dt(r["first_seen_at"]), _dt(r["last_seen_at"]),
            )
            for r in rows
        ]  # fmt: skip

    def _note_unregistered(self, db: sqlite3.Connection, sightings: list[Sighting]) -> None:
        for s in sightings:
            db.execute(
                "INSERT INTO unregistered VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) "
                "DO UPDATE SET adapter=excluded.adapter, topic=excluded.topic, "
                "last_payload=excluded.last_payload, count=count+excluded.count, "
                "last_seen_at=excluded.last_seen_at",
                (
                    s.device_id, s.adapter, s.topic, s.last_payload, s.count,
                    ts(s.first_seen_at), ts(s.last_seen_at),
                ),
            )  # fmt: skip
        # bounded: a flood of invented ids must not fill the disk
        db.execute(
            "DELETE FROM unregistered WHERE device_id IN (SELECT device_id FROM unregistered "
            "ORDER BY last_seen_at DESC LIMIT -1 OFFSET ?)",
            (UNREGISTERED_MAX,),
        )

    # ---- people added through the API ------------------------------------------------

    def load_people(self) -> list[dict[str, Any]]:
        with self._reading() as db:
            rows = db.execute("SELECT spec FROM people ORDER BY person_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def save_person(self, person_id: str, spec: dict[str, Any], now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO people VALUES (?, ?, ?) ON CONFLICT (person_id) DO UPDATE "
                "SET spec=excluded.spec, updated_at=excluded.updated_at",
                (person_id, json.dumps(spec, ensure_ascii=False), ts(now)),
            )

    def delete_person(self, person_id: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM people WHERE person_id=?", (person_id,))
            db.execute(
                "UPDATE tokens SET revoked_at=? WHERE person_id=? AND revoked_at IS NULL",
                (ts(now), person_id),
            )

    # ---- tokens -----------------------------------------------------------------------

    def add_token(self, token_hash: str, person_id: str, label: str | None, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO tokens (token_hash, person_id, label, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, person_id, label, ts(now)),
            )

    def person_for_token(self, token_hash: str) -> str | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT person_id FROM tokens WHERE token_hash=? AND revoked_at IS NULL",
                (token_hash,),
            ).fetchone()
        return None if row is None else str(row[0])

    def revoke_tokens(self, person_id: str, now: datetime) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE tokens SET revoked_at=? WHERE person_id=? AND revoked_at IS NULL",
                (ts(now), person_id),
            )
            return cursor.rowcount

    # ---- people acting on alerts ----------------------------------------------------

    def act(
        self,
        alert_id: int,
        action: Action,
        actor: str,
        note: str | None,
        now: datetime,
        route: Route | None = None,
        resolution: Resolution | None = None,
    ) -> Alert:
        """Acknowledge, resolve or close an alert, with the audit entry, in one transaction."""
        with self._transaction() as db:
            alert = self._get(db, alert_id)
            state = next_state(alert_id, alert.state, action)
            if action == Action.ACKNOWLEDGE:
                db.execute(
                    "UPDATE alerts SET state=?, acknowledged_at=?, acknowledged_by=?, "
                    "next_reminder_at=NULL WHERE id=?",
                    (state.value, ts(now), actor, alert_id),
                )
            elif action == Action.RESOLVE:
                db.execute(
                    "UPDATE alerts SET state=?, resolved_at=?, resolved_by=?, resolution=?, "
                    "note=COALESCE(?, note), next_reminder_at=NULL WHERE id=?",
                    (
                        state.value,
                        ts(now),
                        actor,
                        (resolution or Resolution.OTHER).value,
                        note,
                        alert_id,
                    ),
                )
            elif action == Action.CLOSE:
                db.execute(
                    "UPDATE alerts SET state=?, closed_at=?, next_reminder_at=NULL WHERE id=?",
                    (state.value, ts(now), alert_id),
                )
            else:
                raise ValueError(f"{action.value} is not a person's action")
            self._log(db, alert_id, now, action.value, actor, state, note)
            updated = self._get(db, alert_id)
            if route is not None:
                event_name = "alert." + state.value
                self._enqueue(db, updated, event_name, route(updated, event_name), now)
            return updated

    def assign(
        self, alert_id: int, person_id: str, actor: str, now: datetime, route: Route | None
    ) -> Alert:
        with self._transaction() as db:
            alert = self._get(db, alert_id)
            if alert.state in (AlertState.RESOLVED, AlertState.CLOSED):
                raise InvalidTransition(alert_id, f"cannot assign an alert that is {alert.state}")
            db.execute("UPDATE alerts SET assigned_to=? WHERE id=?", (person_id, alert_id))
            self._log(db, alert_id, now, "assign", actor, alert.state, person_id)
            updated = self._get(db, alert_id)
            if route is not None:
                self._enqueue(db, updated, "alert.assigned", route(updated, "alert.assigned"), now)
            return updated

    def comment(self, alert_id: int, person_id: str, text: str, now: datetime) -> None:
        with self._transaction() as db:
            alert = self._get(db, alert_id)
            db.execute(
                "INSERT INTO comments (alert_id, at, person_id, text) VALUES (?, ?, ?, ?)",
                (alert_id, ts(now), person_id, text),
            )
            self._log(db, alert_id, now, "comment", person_id, alert.state, text)

    def comments(self, alert_id: int) -> list[tuple[datetime, str, str]]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT at, person_id, text FROM comments WHERE alert_id=? ORDER BY id",
                (alert_id,),
            ).fetchall()
        return [(_dt(r[0]), r[1], r[2]) for r in rows]

    # ---- the change stream ----------------------------------------------------------

    def last_log_id(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM alert_log").fetchone()[0])

    def log_since(
        self, after_id: int, scope: frozenset[str] | None, limit: int = 200
    ) -> list[tuple[int, str, Alert]]:
        """Alert changes after `after_id`, oldest first: (log id, action, alert as it is now)."""
        where, args = "", []
        if scope is not None:
            where = " AND (" + (" OR ".join(["instr(a.node_ids, ?) > 0"] * len(scope)) or "0") + ")"
            args = [f"/{node}/" for node in sorted(scope)]
        columns = ", ".join(f"a.{c.strip()}" for c in _ALERT_COLUMNS.split(","))
        with self._reading() as db:
            rows = db.execute(
                f"SELECT l.id AS log_id, l.action, {columns} FROM alert_log l "  # noqa: S608
                f"JOIN alerts a ON a.id = l.alert_id WHERE l.id > ?{where} ORDER BY l.id LIMIT ?",
                (after_id, *args, limit),
            ).fetchall()
        return [(int(r["log_id"]), str(r["action"]), _alert(r)) for r in rows]

    # ---- deadlines ------------------------------------------------------------------

    _DEADLINE_OPEN = "state IN ('raised', 'dispatched', 'acknowledged')"

    def due_deadlines(self, now: datetime, limit: int = 200) -> list[int]:
        """Ids of open alerts with a deadline or a reminder due by `now`."""
        at = ts(now)
        with self._reading() as db:
            rows = db.execute(
                f"SELECT id FROM alerts WHERE {self._DEADLINE_OPEN} AND ("  # noqa: S608  # constant
                "ack_due_at <= ? OR next_reminder_at <= ? "
                "OR (resolve_due_at <= ? AND is_overdue = 0)) ORDER BY id LIMIT ?",
                (at, at, at, limit),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def next_deadline_at(self) -> datetime | None:
        with self._reading() as db:
            row = db.execute(
                f"SELECT min(m) FROM (SELECT min(ack_due_at) AS m FROM alerts WHERE "  # noqa: S608
                f"{self._DEADLINE_OPEN} AND state != 'acknowledged' "
                f"UNION ALL SELECT min(next_reminder_at) FROM alerts WHERE {self._DEADLINE_OPEN} "
                f"UNION ALL SELECT min(resolve_due_at) FROM alerts WHERE {self._DEADLINE_OPEN} "
                "AND is_overdue = 0)"
            ).fetchone()
        return _dt_or_none(row[0])

    def apply_deadline(
        self, alert_id: int, now: datetime, route: Route, policy: AlertPolicy
    ) -> tuple[Step | None, Alert]:
        """Escalate, flag or remind one alert as `decide` says, and queue what it sends."""
        with self._transaction() as db:
            alert = self._get(db, alert_id)
            step = decide(alert, now, policy)
            if step is None:
                return None, alert
            is_unacked = alert.state in (AlertState.RAISED, AlertState.DISPATCHED)
            ack_within = timedelta(seconds=policy.times[alert.severity].ack_within_s)
            if step == Step.ESCALATE:
                db.execute(
                    "UPDATE alerts SET escalation_level=escalation_level+1, is_overdue=1, "
                    "ack_due_at=?, next_reminder_at=? WHERE id=?",
                    (
                        ts(now + ack_within) if is_unacked else None,
                        ts(policy.reminder_after(alert.severity, now, 0)) if is_unacked else None,
                        alert_id,
                    ),
                )
                event = "alert.escalated"
            elif step == Step.OVERDUE:
                db.execute(
                    "UPDATE alerts SET is_overdue=1, ack_due_at=NULL WHERE id=?", (alert_id,)
                )
                event = "alert.overdue"
            else:
                db.execute(
                    "UPDATE alerts SET reminders=reminders+1, next_reminder_at=? WHERE id=?",
                    (ts(policy.reminder_after(alert.severity, now, alert.reminders + 1)), alert_id),
                )
                event = "alert.reminded"
            updated = self._get(db, alert_id)
            self._log(db, alert_id, now, step.value, "deadlines", updated.state, None)
            updated = self._send(db, updated, event, route, now)
            return step, updated

    def get_alert(self, alert_id: int) -> Alert:
        with self._reading() as db:
            return self._get(db, alert_id)

    def list_alerts(
        self,
        *,
        states: list[AlertState] | None = None,
        severities: list[Severity] | None = None,
        device_id: str | None = None,
        node_id: str | None = None,
        is_active: bool | None = None,
        raised_after: datetime | None = None,
        raised_before: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
        scope: frozenset[str] | None = None,
        is_overdue: bool | None = None,
    ) -> list[Alert]:
        """Newest first. `scope`: only alerts under one of these nodes (None: all)."""
        where: list[str] = []
        args: list[Any] = []
        if is_overdue is not None:
            where.append("is_overdue = ?")
            args.append(int(is_overdue))
        if scope is not None:
            where.append("(" + (" OR ".join(["instr(node_ids, ?) > 0"] * len(scope)) or "0") + ")")
            args.extend(f"/{node}/" for node in sorted(scope))
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(s.value for s in states)
        if severities:
            where.append(f"severity IN ({','.join('?' * len(severities))})")
            args.extend(s.value for s in severities)
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        if node_id is not None:
            where.append("instr(node_ids, ?) > 0")
            args.append(f"/{node_id}/")
        if is_active is not None:
            where.append("cleared_at IS NULL" if is_active else "cleared_at IS NOT NULL")
        if raised_after is not None:
            where.append("raised_at >= ?")
            args.append(ts(raised_after))
        if raised_before is not None:
            where.append("raised_at < ?")
            args.append(ts(raised_before))
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts {clause} ORDER BY id DESC LIMIT ?"  # noqa: S608  # placeholders only
        with self._reading() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [_alert(r) for r in rows]

    def transitions(self, alert_id: int) -> list[Transition]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT * FROM alert_log WHERE alert_id=? ORDER BY id", (alert_id,)
            ).fetchall()
        return [
            Transition(
                r["alert_id"],
                _dt(r["at"]),
                r["action"],
                r["actor"],
                AlertState(r["state"]),
                r["note"],
            )
            for r in rows
        ]

    # ---- outbox ---------------------------------------------------------------------

    def due_deliveries(self, now: datetime, limit: int = 50) -> list[Delivery]:
        """Pending deliveries whose time has come, each only once every earlier delivery
        of the same alert to the same target is done (order per alert)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT o.* FROM outbox o WHERE o.state='pending' AND o.next_attempt_at <= ? "
                "AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.alert_id=o.alert_id "
                "AND e.target=o.target AND e.channel=o.channel AND e.id < o.id "
                "AND e.state='pending') ORDER BY o.next_attempt_at, o.id LIMIT ?",
                (ts(now), limit),
            ).fetchall()
        return [
            Delivery(
                r["id"],
                r["alert_id"],
                r["event"],
                r["channel"],
                r["target"],
                r["body"],
                r["idempotency_key"],
                r["attempts"],
                _dt(r["created_at"]),
            )
            for r in rows
        ]

    def next_delivery_at(self) -> datetime | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE state='pending'"
            ).fetchone()
        return _dt_or_none(row[0])

    def mark_delivered(self, delivery_id: int, now: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET state='delivered', attempts=attempts+1, delivered_at=?, "
                "last_error=NULL WHERE id=?",
                (ts(now), delivery_id),
            )

    def mark_failed(self, delivery_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: retry at `retry_at`, or a dead letter when None."""
        with self._transaction() as db:
            if retry_at is None:
                db.execute(
                    "UPDATE outbox SET state='dead', attempts=attempts+1, last_error=? WHERE id=?",
                    (error[:1000], delivery_id),
                )
            else:
                db.execute(
                    "UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=? "
                    "WHERE id=?",
                    (error[:1000], ts(retry_at), delivery_id),
                )

    def outbox_counts(self) -> dict[str, int]:
        with self._reading() as db:
            rows = db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        counts = {"pending": 0, "delivered": 0, "dead": 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    # ---- metrics (gateway/runtime/metrics.py) -----------------------------------------------

    def alert_counts(self) -> dict[tuple[str, str], int]:
        """(state, severity) -> number of alerts, for /metrics."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT state, severity, count(*) FROM alerts GROUP BY state, severity"
            ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def outbox_depths(self) -> dict[tuple[str, str], int]:
        """(channel, state) -> outbox rows, for /metrics."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT channel, state, count(*) FROM outbox GROUP BY channel, state"
            ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    # ---- outbox: deferral and dead letters (gateway/outbox/worker.py, api/routes/outbox.py) --

    def defer(self, delivery_id: int, until: datetime, reason: str) -> None:
        """Hold a pending row until `until` without counting an attempt (nothing was sent)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET next_attempt_at=?, last_error=? WHERE id=? AND state='pending'",
                (ts(until), f"deferred: {reason}"[:1000], delivery_id),
            )

    def dead_letters(self, limit: int = 500) -> list[DeadLetter]:
        """Rows given up, newest first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id, alert_id, event, channel, target, attempts, last_error, created_at "
                "FROM outbox WHERE state='dead' ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            DeadLetter(
                id=r["id"],
                alert_id=r["alert_id"],
                event=r["event"],
                channel=r["channel"],
                target=r["target"],
                attempts=r["attempts"],
                error=r["last_error"] or "",
                created_at=_dt(r["created_at"]),
            )
            for r in rows
        ]

    def retry_dead(self, delivery_id: int, now: datetime) -> str | None:
        """Put a dead letter back to pending with its attempts reset: "pending" when done.

        Only a row in state dead moves, so a row that was delivered is never sent again;
        otherwise the row's state is returned unchanged, or None when there is no such row.
        """
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE outbox SET state='pending', attempts=0, next_attempt_at=? "
                "WHERE id=? AND state='dead'",
                (ts(now), delivery_id),
            ).rowcount
            if changed:
                return "pending"
            row = db.execute("SELECT state FROM outbox WHERE id=?", (delivery_id,)).fetchone()
        return None if row is None else str(row["state"])


@dataclass(frozen=True)
class DeadLetter:
    """An outbox row given up: listed by GET /outbox/dead, retried by POST .../retry."""

    id: int
    alert_id: int
    event: str
    channel: str
    target: str
    attempts: int
    error: str
    created_at: datetime
