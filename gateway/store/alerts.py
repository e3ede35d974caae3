"""Alerts: their rows, audit trail, episodes and comments; the change stream; the queries
behind lists, KPIs and metrics.

Rows are written whole, as the alert stage decided them (`write_alerts`), inside the
transaction of the step that decided them. Nothing here decides anything.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import AlertNotFound
from gateway.places.site import Level, Node
from gateway.store.database import (
    Database,
    Where,
    dt,
    dt_or_none,
    json_text,
    scope_clause,
    ts,
    ts_or_none,
)
from gateway.store.records import OPEN_STATES, Alert, AlertState, Episode, Resolution, Transition
from rules.model import Severity

COLUMNS = (
    "id, rule_id, title_zh, title_en, severity, kind, device_id, state, location, node_ids, "
    "place, opened_at, due_at, raised_at, cleared_at, acknowledged_at, acknowledged_by, "
    "resolved_at, resolved_by, note, dispatched_at, escalation_level, ack_due_at, "
    "resolve_due_at, next_reminder_at, reminders, is_overdue, assigned_to, resolution, "
    "closed_at, reopened, message_zh, message_en, is_inhibited"
)
_NAMES = [c.strip() for c in COLUMNS.split(",")]
_UPSERT = (
    f"INSERT INTO alerts ({COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))}) "  # noqa: S608  # constant
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in _NAMES if c != "id")
)


@dataclass(frozen=True, slots=True)
class Comment:
    alert_id: int
    at: datetime
    person_id: str
    text: str


def _location(text: str) -> tuple[Node, ...]:
    return tuple(Node(Level(n["level"]), n["id"], n["name"]) for n in json.loads(text))


def alert_of(row: sqlite3.Row) -> Alert:
    return Alert(
        id=row["id"],
        rule_id=row["rule_id"],
        title_zh=row["title_zh"],
        title_en=row["title_en"],
        severity=Severity(row["severity"]),
        kind=row["kind"],
        device_id=row["device_id"],
        state=AlertState(row["state"]),
        location=_location(row["location"]),
        place=row["place"],
        opened_at=dt(row["opened_at"]),
        due_at=dt_or_none(row["due_at"]),
        raised_at=dt(row["raised_at"]),
        cleared_at=dt_or_none(row["cleared_at"]),
        acknowledged_at=dt_or_none(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        resolved_at=dt_or_none(row["resolved_at"]),
        resolved_by=row["resolved_by"],
        note=row["note"],
        dispatched_at=dt_or_none(row["dispatched_at"]),
        escalation_level=row["escalation_level"],
        ack_due_at=dt_or_none(row["ack_due_at"]),
        resolve_due_at=dt_or_none(row["resolve_due_at"]),
        next_reminder_at=dt_or_none(row["next_reminder_at"]),
        reminders=row["reminders"],
        is_overdue=bool(row["is_overdue"]),
        assigned_to=row["assigned_to"],
        resolution=None if row["resolution"] is None else Resolution(row["resolution"]),
        closed_at=dt_or_none(row["closed_at"]),
        reopened=row["reopened"],
        message_zh=row["message_zh"],
        message_en=row["message_en"],
        is_inhibited=bool(row["is_inhibited"]),
    )


def _row(a: Alert) -> tuple[Any, ...]:
    location = [{"level": n.level.value, "id": n.id, "name": n.name} for n in a.location]
    return (
        a.id,
        a.rule_id,
        a.title_zh,
        a.title_en,
        a.severity.value,
        a.kind,
        a.device_id,
        a.state.value,
        json_text(location),
        "/" + "/".join(a.node_ids) + "/",
        a.place,
        ts(a.opened_at),
        ts_or_none(a.due_at),
        ts(a.raised_at),
        ts_or_none(a.cleared_at),
        ts_or_none(a.acknowledged_at),
        a.acknowledged_by,
        ts_or_none(a.resolved_at),
        a.resolved_by,
        a.note,
        ts_or_none(a.dispatched_at),
        a.escalation_level,
        ts_or_none(a.ack_due_at),
        ts_or_none(a.resolve_due_at),
        ts_or_none(a.next_reminder_at),
        a.reminders,
        int(a.is_overdue),
        a.assigned_to,
        None if a.resolution is None else a.resolution.value,
        ts_or_none(a.closed_at),
        a.reopened,
        a.message_zh,
        a.message_en,
        int(a.is_inhibited),
    )


def write_alerts(db: sqlite3.Connection, alerts: Iterable[Alert]) -> None:
    """Each alert's row as it stands after the step, in the order first changed (an alert
    cleared before a new one of the same rule and device is raised comes first)."""
    db.executemany(_UPSERT, [_row(a) for a in alerts])


def write_log(db: sqlite3.Connection, entries: Iterable[Transition]) -> None:
    db.executemany(
        "INSERT INTO alert_log (alert_id, at, action, actor, state, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(t.alert_id, ts(t.at), t.action, t.actor, t.state.value, t.note) for t in entries],
    )


def write_episodes(db: sqlite3.Connection, episodes: Iterable[Episode]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO alert_episodes VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                e.alert_id,
                e.number,
                ts(e.opened_at),
                ts_or_none(e.due_at),
                ts(e.raised_at),
                ts_or_none(e.cleared_at),
            )
            for e in episodes
        ],
    )


def write_comments(db: sqlite3.Connection, comments: Iterable[Comment]) -> None:
    db.executemany(
        "INSERT INTO comments (alert_id, at, person_id, text) VALUES (?, ?, ?, ?)",
        [(c.alert_id, ts(c.at), c.person_id, c.text) for c in comments],
    )


class AlertTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, alert_id: int) -> Alert:
        with self._db.reading() as db:
            row = db.execute(
                f"SELECT {COLUMNS} FROM alerts WHERE id=?",  # noqa: S608  # constant columns
                (alert_id,),
            ).fetchone()
        if row is None:
            raise AlertNotFound(alert_id)
        return alert_of(row)

    def max_id(self) -> int:
        with self._db.reading() as db:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0])

    def live(self, cleared_since: datetime) -> list[Alert]:
        """What the alert stage keeps in memory at start: alerts whose condition holds,
        that people still have to act on, or that cleared since `cleared_since` (they
        reopen if the condition comes back)."""
        states = ", ".join(f"'{s.value}'" for s in OPEN_STATES)
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM alerts WHERE cleared_at IS NULL "  # noqa: S608  # constants
                f"OR state IN ({states}) OR cleared_at >= ? ORDER BY id",
                (ts(cleared_since),),
            ).fetchall()
        return [alert_of(r) for r in rows]

    def find(
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
        where = Where()
        if is_overdue is not None:
            where.add("is_overdue = ?", int(is_overdue))
        if scope is not None:
            clause, scope_args = scope_clause(scope)
            where.add(clause, *scope_args)
        if states:
            where.one_of("state", (s.value for s in states))
        if severities:
            where.one_of("severity", (s.value for s in severities))
        if device_id is not None:
            where.add("device_id = ?", device_id)
        if node_id is not None:
            where.under(node_id)
        if is_active is not None:
            where.add("cleared_at IS NULL" if is_active else "cleared_at IS NOT NULL")
        if raised_after is not None:
            where.add("raised_at >= ?", ts(raised_after))
        if raised_before is not None:
            where.add("raised_at < ?", ts(raised_before))
        if before_id is not None:
            where.add("id < ?", before_id)
        sql = f"SELECT {COLUMNS} FROM alerts {where.sql} ORDER BY id DESC LIMIT ?"  # noqa: S608  # placeholders only
        with self._db.reading() as db:
            rows = db.execute(sql, (*where.args, limit)).fetchall()
        return [alert_of(r) for r in rows]

    def transitions(self, alert_id: int) -> list[Transition]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT * FROM alert_log WHERE alert_id=? ORDER BY id", (alert_id,)
            ).fetchall()
        return [
            Transition(
                r["alert_id"], dt(r["at"]), r["action"], r["actor"], AlertState(r["state"]),
                r["note"],
            )
            for r in rows
        ]  # fmt: skip

    def episodes(self, alert_id: int) -> list[Episode]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT * FROM alert_episodes WHERE alert_id=? ORDER BY number", (alert_id,)
            ).fetchall()
        return [
            Episode(
                r["alert_id"], r["number"], dt(r["opened_at"]), dt_or_none(r["due_at"]),
                dt(r["raised_at"]), dt_or_none(r["cleared_at"]),
            )
            for r in rows
        ]  # fmt: skip

    def comments(self, alert_id: int) -> list[Comment]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT at, person_id, text FROM comments WHERE alert_id=? ORDER BY id",
                (alert_id,),
            ).fetchall()
        return [Comment(alert_id, dt(r[0]), r[1], r[2]) for r in rows]

    # ---- the change stream (GET /events) -----------------------------------------------

    def last_log_id(self) -> int:
        with self._db.reading() as db:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM alert_log").fetchone()[0])

    def log_since(
        self, after_id: int, scope: frozenset[str] | None, limit: int = 200
    ) -> list[tuple[int, str, Alert]]:
        """Alert changes after `after_id`, oldest first: (log id, action, alert as it is now)."""
        where, args = "", list[str]()
        if scope is not None:
            clause, args = scope_clause(scope, "a.node_ids")
            where = " AND " + clause
        columns = ", ".join(f"a.{c}" for c in _NAMES)
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT l.id AS log_id, l.action, {columns} FROM alert_log l "  # noqa: S608
                f"JOIN alerts a ON a.id = l.alert_id WHERE l.id > ?{where} ORDER BY l.id LIMIT ?",
                (after_id, *args, limit),
            ).fetchall()
        return [(int(r["log_id"]), str(r["action"]), alert_of(r)) for r in rows]

    # ---- metrics ------------------------------------------------------------------------

    def counts(self) -> dict[tuple[str, str], int]:
        """(state, severity) -> number of alerts, for /metrics."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT state, severity, count(*) FROM alerts GROUP BY state, severity"
            ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}
