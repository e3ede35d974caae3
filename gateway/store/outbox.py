"""The outbox: one row per message to send, written in the transaction of the change it
describes; outcomes recorded in batches (one transaction per round of deliveries).

The outbox worker (gateway/outbox/worker.py) holds the pending rows in memory and hands
back what became of them; at start it loads the pending rows from here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from gateway.store.database import Database, dt, ts
from gateway.store.records import DeadLetter, Delivery, Outcome, OutcomeKind

_CHUNK = 500  # ids per `IN (...)`: below SQLite's limit on bound parameters


_INSERT_FEED = (
    "INSERT INTO outbox (id, alert_id, case_id, event, channel, target, body, "
    "idempotency_key, state, attempts, next_attempt_at, created_at, seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)


def write_feed(db: sqlite3.Connection, rows: Iterable[Delivery]) -> list[Delivery]:
    """Rows of the city feed, each numbered after the last one written (inside the
    caller's transaction, so a number is given exactly when its row exists). A row whose
    idempotency key is already queued is skipped and takes no number. Returns the rows
    written, with their numbers."""
    last = int(db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0])
    written: list[Delivery] = []
    for d in rows:
        cursor = db.execute(
            _INSERT_FEED,
            (
                d.id, d.alert_id or None, d.case_id, d.event, d.channel, d.target, d.body,
                d.idempotency_key, d.attempts, ts(d.next_attempt_at), ts(d.created_at), last + 1,
            ),
        )  # fmt: skip
        if cursor.rowcount == 1:
            last += 1
            written.append(replace(d, seq=last))
    return written


def write_deliveries(db: sqlite3.Connection, deliveries: Iterable[Delivery]) -> int:
    """New rows; one whose idempotency key is already queued is skipped (the same message
    decided twice is sent once). Returns the number written. Rows of the city feed go
    through `write_feed`."""
    before = db.total_changes
    db.executemany(
        "INSERT INTO outbox (id, alert_id, case_id, event, channel, target, body, "
        "idempotency_key, state, attempts, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) "
        "ON CONFLICT (idempotency_key) DO NOTHING",
        [
            (
                d.id, d.alert_id if d.case_id is None else None, d.case_id, d.event,
                d.channel, d.target, d.body, d.idempotency_key,
                d.attempts, ts(d.next_attempt_at), ts(d.created_at),
            )
            for d in deliveries
        ],
    )  # fmt: skip
    return db.total_changes - before


def write_outcomes(db: sqlite3.Connection, outcomes: Iterable[Outcome]) -> None:
    delivered: dict[str, list[int]] = {}
    retries: list[tuple[str, str, int]] = []
    dead: list[tuple[str, int]] = []
    deferred: list[tuple[str, str, int]] = []
    for o in outcomes:
        if o.kind == OutcomeKind.DELIVERED:
            delivered.setdefault(ts(o.at), []).append(o.delivery_id)
        elif o.kind == OutcomeKind.RETRY:
            assert o.retry_at is not None  # noqa: S101  # a retry has its time
            retries.append((o.error[:1000], ts(o.retry_at), o.delivery_id))
        elif o.kind == OutcomeKind.DEAD:
            dead.append((o.error[:1000], o.delivery_id))
        else:
            assert o.retry_at is not None  # noqa: S101  # a deferral has its time
            deferred.append((ts(o.retry_at), f"deferred: {o.error}"[:1000], o.delivery_id))
    for at, ids in delivered.items():
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            db.execute(
                "UPDATE outbox SET state='delivered', attempts=attempts+1, delivered_at=?, "  # noqa: S608  # placeholders only
                f"last_error=NULL WHERE id IN ({','.join('?' * len(chunk))})",
                (at, *chunk),
            )
    db.executemany(
        "UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=? WHERE id=?",
        retries,
    )
    db.executemany(
        "UPDATE outbox SET state='dead', attempts=attempts+1, last_error=? WHERE id=?", dead
    )
    db.executemany(
        "UPDATE outbox SET next_attempt_at=?, last_error=? WHERE id=? AND state='pending'",
        deferred,
    )


def _delivery(r: sqlite3.Row) -> Delivery:
    return Delivery(
        id=r["id"],
        alert_id=r["alert_id"] or 0,
        event=r["event"],
        channel=r["channel"],
        target=r["target"],
        body=r["body"],
        idempotency_key=r["idempotency_key"],
        attempts=r["attempts"],
        created_at=dt(r["created_at"]),
        next_attempt_at=dt(r["next_attempt_at"]),
        case_id=r["case_id"],
        is_feed=r["seq"] is not None,
        seq=r["seq"],
    )


class OutboxTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    def max_id(self) -> int:
        with self._db.reading() as db:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])

    def pending(self) -> list[Delivery]:
        """Every row still to send, oldest first (the worker's queues at start)."""
        with self._db.reading() as db:
            rows = db.execute("SELECT * FROM outbox WHERE state='pending' ORDER BY id").fetchall()
        return [_delivery(r) for r in rows]

    def get(self, delivery_id: int) -> Delivery | None:
        with self._db.reading() as db:
            row = db.execute("SELECT * FROM outbox WHERE id=?", (delivery_id,)).fetchone()
        return None if row is None else _delivery(row)

    def counts(self) -> dict[str, int]:
        with self._db.reading() as db:
            rows = db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        counts = {"pending": 0, "delivered": 0, "dead": 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def depths(self) -> dict[tuple[str, str], int]:
        """(channel, state) -> outbox rows, for /metrics."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT channel, state, count(*) FROM outbox GROUP BY channel, state"
            ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def dead_letters(self, limit: int = 500) -> list[DeadLetter]:
        """Rows given up, newest first."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT id, alert_id, case_id, event, channel, target, attempts, last_error, "
                "created_at "
                "FROM outbox WHERE state='dead' ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            DeadLetter(
                id=r["id"],
                alert_id=r["alert_id"] or 0,
                case_id=r["case_id"],
                event=r["event"],
                channel=r["channel"],
                target=r["target"],
                attempts=r["attempts"],
                error=r["last_error"] or "",
                created_at=dt(r["created_at"]),
            )
            for r in rows
        ]

    def revive(self, delivery_id: int, now: datetime) -> tuple[str | None, Delivery | None]:
        """Put a dead letter back to pending with its attempts reset.

        Only a row in state dead moves, so a row that was delivered is never sent again.
        Returns ("pending", the row) when done; otherwise the row's state unchanged and
        None, or (None, None) when there is no such row.
        """
        with self._db.transaction() as db:
            changed = db.execute(
                "UPDATE outbox SET state='pending', attempts=0, next_attempt_at=? "
                "WHERE id=? AND state='dead'",
                (ts(now), delivery_id),
            ).rowcount
            row = db.execute("SELECT * FROM outbox WHERE id=?", (delivery_id,)).fetchone()
        if row is None:
            return None, None
        if changed:
            return "pending", _delivery(row)
        return str(row["state"]), None
