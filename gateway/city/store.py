"""The city's state in PostgreSQL (psycopg 3): every gateway's events applied idempotently
by (gateway, seq), the alerts and cases as their last applied event shows them, and the
queries behind the city's API. One batch of messages is one transaction; the consumer
acknowledges the messages only after it commits (gateway/city/consumer.py).

What to do with each event is decided by gateway/city/ownership.py; the numbers here only
say what was already applied (a redelivery), what is missing before it (a gap) and whether
the item shows a later event already.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from gateway.city.envelope import Event, Rejection
from gateway.city.ownership import Decision, Held, Owner, Verdict, decide
from gateway.city.records import alert_of, case_from
from gateway.city.schema import MIGRATIONS
from gateway.store.records import Alert, Case

log = logging.getLogger(__name__)

POOL_SIZE = 4


class CityStoreError(Exception):
    """The database cannot be used: unreachable, or a schema newer than this code."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Applied:
    """What became of one event."""

    event: Event
    outcome: str  # apply, superseded, city_owned, redelivery, unknown_gateway, bad_record


@dataclass(frozen=True)
class GatewayRow:
    gateway_id: str
    name: str
    last_seq: int
    events: int
    missing: int
    redeliveries: int
    gaps: int
    refused: int
    superseded: int
    held: int  # received, waiting for an earlier number
    skipped: int  # numbers given up after the hold time
    last_seen_at: datetime | None
    last_event_at: datetime | None
    lag_s: float | None
    health: dict[str, Any] | None


def _place(record: dict[str, Any]) -> dict[str, str]:
    levels = {n["level"]: n["id"] for n in record["location"]}
    return {
        "district": levels.get("district", "-"),
        "street": levels.get("street", "-"),
        "community": levels.get("community", "-"),
        "node_ids": "/" + "".join(f"{n['id']}/" for n in record["location"]),
    }


def _item_columns(event: Event) -> tuple[int, dict[str, Any]]:
    """The item's id and the columns to query it by; ValueError when the record is none."""
    if event.subject == "alert":
        alert = alert_of(event.record)
        return alert.id, {
            "state": alert.state.value,
            "is_open": alert.is_open,
            "category": alert.kind,
            "opened_at": alert.raised_at,
            "level": alert.escalation_level,
        }
    case = case_from(event.record)
    return case.id, {
        "state": case.state.value,
        "is_open": not case.is_final,
        "category": case.category,
        "opened_at": case.reported_at,
        "level": case.escalation_level,
    }


class CityStore:
    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._made = 0

    # ---- connections ------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._url, connect_timeout=5, autocommit=False)
        except psycopg.OperationalError as exc:
            raise CityStoreError(f"cannot reach PostgreSQL: {exc}".strip()) from exc

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection, in a transaction committed on success, rolled back on error."""
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            with conn.transaction():
                yield conn
        except BaseException:
            if conn.closed or conn.broken:
                conn = None  # type: ignore[assignment]  # dropped: not returned to the pool
            raise
        finally:
            if conn is not None and not conn.closed:
                if self._pool.qsize() < POOL_SIZE:
                    self._pool.put(conn)
                else:
                    conn.close()

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    def migrate(self) -> int:
        """Apply what is missing; the schema's version after."""
        with self.connection() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS city_schema (version INTEGER NOT NULL)")
            conn.execute("LOCK TABLE city_schema")
            row = conn.execute("SELECT max(version) FROM city_schema").fetchone()
            version = int(row[0] or 0) if row else 0
            if version > len(MIGRATIONS):
                raise CityStoreError(
                    f"the city database is at schema {version}; this gridgate knows "
                    f"{len(MIGRATIONS)}"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute(script.encode())  # our own fixed SQL
                conn.execute("INSERT INTO city_schema (version) VALUES (%s)", (number,))
                log.info("city_schema_migrated version=%d", number)
            return len(MIGRATIONS)

    # ---- gateways and tokens ---------------------------------------------------------------

    def add_gateway(self, gateway_id: str, name: str, now: datetime) -> bool:
        with self.connection() as conn:
            cur = conn.execute(
                "INSERT INTO gateways (gateway_id, name, added_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (gateway_id) DO UPDATE SET name = EXCLUDED.name "
                "WHERE EXCLUDED.name <> ''",
                (gateway_id, name, now),
            )
            return cur.rowcount == 1

    def add_token(self, token: str, node_id: str, label: str, now: datetime) -> None:
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO tokens (token_hash, node_id, label, created_at) VALUES (%s,%s,%s,%s)",
                (token_hash(token), node_id, label, now),
            )

    def token_node(self, token: str) -> str | None:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT node_id FROM tokens WHERE token_hash = %s", (token_hash(token),)
            ).fetchone()
        return None if row is None else str(row[0])

    # ---- applying ---------------------------------------------------------------------------

    def apply(
        self, events: list[Event], rejections: list[tuple[str, Rejection]], now: datetime
    ) -> list[Applied]:
        """Apply a batch in one transaction, in order; count the rejections with it."""
        out: list[Applied] = []
        with self.connection() as conn:
            for topic, rejection in rejections:
                self._reject(conn, topic, rejection.reason.value, rejection.detail, now)
            for event in events:
                out.append(self._apply_one(conn, event, now))
        return out

    def _reject(self, conn: psycopg.Connection[Any], topic: str, reason: str, detail: str,
                now: datetime) -> None:  # fmt: skip
        conn.execute(
            "INSERT INTO rejections (reason, count, last_topic, last_detail, last_at) "
            "VALUES (%s, 1, %s, %s, %s) ON CONFLICT (reason) DO UPDATE SET "
            "count = rejections.count + 1, last_topic = EXCLUDED.last_topic, "
            "last_detail = EXCLUDED.last_detail, last_at = EXCLUDED.last_at",
            (reason, topic[:200], detail[:500], now),
        )

    def _apply_one(self, conn: psycopg.Connection[Any], event: Event, now: datetime) -> Applied:
        """Keep the event once by (gateway, seq); apply it when it is the next number, with
        whatever waited behind it; hold it while an earlier number is missing."""
        gateway = conn.execute(
            "SELECT last_seq, next_seq FROM gateways WHERE gateway_id = %s FOR UPDATE",
            (event.gateway,),
        ).fetchone()
        if gateway is None:
            self._reject(conn, event.gateway, "unknown_gateway",
                         f"{event.id}: {event.gateway} was never added (gridgate city gateways)",
                         now)  # fmt: skip
            return Applied(event, "unknown_gateway")
        item_id: int | None = None
        if event.subject in ("alert", "case"):
            try:
                item_id = _item_columns(event)[0]
                _place(event.record)
            except (ValueError, KeyError, TypeError) as exc:
                self._reject(conn, event.gateway, "bad_record", f"{event.id}: {exc}", now)
                return Applied(event, "bad_record")
        last_seq, next_seq = int(gateway[0]), int(gateway[1])
        in_turn = event.seq <= next_seq  # else an earlier number is missing: it waits
        inserted = conn.execute(
            "INSERT INTO events (gateway_id, seq, at, received_at, event, subject, item_id, "
            "verdict, record, applied) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "CASE WHEN %s THEN nextval('events_applied') END) "
            "ON CONFLICT (gateway_id, seq) DO NOTHING",
            (event.gateway, event.seq, event.at, now, event.event, event.subject, item_id,
             "apply" if in_turn else "held", Jsonb(event.record), in_turn),
        ).rowcount  # fmt: skip
        if inserted == 0:
            conn.execute(
                "UPDATE gateways SET redeliveries = redeliveries + 1, last_seen_at = %s "
                "WHERE gateway_id = %s",
                (now, event.gateway),
            )
            return Applied(event, "redelivery")
        verdict = self._apply_content(conn, event) if in_turn else None
        if verdict is not None and verdict != Verdict.APPLY:
            conn.execute(
                "UPDATE events SET verdict = %s WHERE gateway_id = %s AND seq = %s",
                (verdict.value, event.gateway, event.seq),
            )
        conn.execute(
            "UPDATE gateways SET last_seq = greatest(last_seq, %(seq)s), events = events + 1, "
            "gaps = gaps + %(gap)s, refused = refused + %(refused)s, "
            "superseded = superseded + %(superseded)s, last_seen_at = %(now)s, "
            "last_event_at = greatest(last_event_at, %(at)s), lag_s = %(lag)s "
            "WHERE gateway_id = %(gateway)s",
            {
                "seq": event.seq,
                "gap": 1 if event.seq > last_seq + 1 else 0,
                "refused": 1 if verdict == Verdict.CITY_OWNED else 0,
                "superseded": 1 if verdict == Verdict.SUPERSEDED else 0,
                "now": now,
                "at": event.at,
                "lag": max(0.0, (now - event.at).total_seconds()),
                "gateway": event.gateway,
            },
        )
        if verdict is None:
            return Applied(event, "held")
        if event.seq == next_seq:
            self._drain(conn, event.gateway, next_seq + 1)
        return Applied(event, verdict.value)

    def _drain(self, conn: psycopg.Connection[Any], gateway_id: str, next_seq: int) -> None:
        """Apply in order what was held from `next_seq` on, up to the next missing number."""
        while True:
            row = conn.execute(
                "SELECT seq, at, event, subject, record FROM events "
                "WHERE gateway_id = %s AND seq = %s AND verdict = 'held'",
                (gateway_id, next_seq),
            ).fetchone()
            if row is None:
                break
            held = Event(gateway_id, int(row[0]), row[1], row[2], row[3], row[4])
            self._apply_held(conn, held)
            next_seq += 1
        conn.execute(
            "UPDATE gateways SET next_seq = greatest(next_seq, %s) WHERE gateway_id = %s",
            (next_seq, gateway_id),
        )

    def release_held(self, older_than: datetime) -> int:
        """Give up on missing numbers that held later ones back since before `older_than`:
        apply what waits, in order, from the first held number (each gap given up is
        counted as skipped). The number of gateways released."""
        released = 0
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT g.gateway_id, min(e.seq) FROM gateways g JOIN events e "
                "ON e.gateway_id = g.gateway_id AND e.verdict = 'held' "
                "GROUP BY g.gateway_id HAVING min(e.received_at) < %s",
                (older_than,),
            ).fetchall()
            for gateway_id, first in rows:
                locked = conn.execute(
                    "SELECT next_seq FROM gateways WHERE gateway_id = %s FOR UPDATE",
                    (gateway_id,),
                ).fetchone()
                if locked is None or int(first) <= int(locked[0]):
                    continue
                conn.execute(
                    "UPDATE gateways SET skipped = skipped + %s WHERE gateway_id = %s",
                    (int(first) - int(locked[0]), gateway_id),
                )
                self._drain(conn, gateway_id, int(first))
                released += 1
        return released

    def _apply_held(self, conn: psycopg.Connection[Any], event: Event) -> None:
        """Apply an event that was held, now that its turn came."""
        verdict = self._apply_content(conn, event)
        conn.execute(
            "UPDATE events SET verdict = %s, applied = nextval('events_applied') "
            "WHERE gateway_id = %s AND seq = %s",
            (verdict.value, event.gateway, event.seq),
        )
        conn.execute(
            "UPDATE gateways SET refused = refused + %s, superseded = superseded + %s "
            "WHERE gateway_id = %s",
            (1 if verdict == Verdict.CITY_OWNED else 0,
             1 if verdict == Verdict.SUPERSEDED else 0, event.gateway),
        )  # fmt: skip

    def _apply_content(self, conn: psycopg.Connection[Any], event: Event) -> Verdict:
        """What an event whose turn it is does: to its item (by ownership), or the health."""
        if event.subject == "health":
            conn.execute(
                "UPDATE gateways SET health = %s WHERE gateway_id = %s",
                (Jsonb(event.record), event.gateway),
            )
            return Verdict.APPLY
        if event.subject not in ("alert", "case"):
            return Verdict.APPLY
        return self._apply_item(conn, event, _item_columns(event), _place(event.record))

    def _apply_item(
        self,
        conn: psycopg.Connection[Any],
        event: Event,
        item: tuple[int, dict[str, Any]],
        place: dict[str, str],
    ) -> Verdict:
        item_id, cols = item
        row = conn.execute(
            "SELECT seq, owner, city_level FROM items "
            "WHERE gateway_id = %s AND subject = %s AND item_id = %s FOR UPDATE",
            (event.gateway, event.subject, item_id),
        ).fetchone()
        held = None if row is None else Held(Owner(row[1]), int(row[0]), row[2])
        decision: Decision = decide(held, event.event, event.seq, int(cols["level"]))
        if decision.verdict != Verdict.APPLY:
            if held is not None and decision.owner != held.owner:  # a late hand-off
                conn.execute(
                    "UPDATE items SET owner = %s, city_level = %s "
                    "WHERE gateway_id = %s AND subject = %s AND item_id = %s",
                    (decision.owner.value, decision.city_level, event.gateway,
                     event.subject, item_id),
                )  # fmt: skip
            return decision.verdict
        record = dict(event.record)
        if decision.city_level is not None:  # the city's own level stands
            record["escalation_level"] = decision.city_level
        conn.execute(
            "INSERT INTO items (gateway_id, subject, item_id, seq, owner, city_level, state, "
            "is_open, category, district, street, community, node_ids, opened_at, record) "
            "VALUES (%(g)s, %(s)s, %(i)s, %(seq)s, %(owner)s, %(level)s, %(state)s, %(open)s, "
            "%(category)s, %(district)s, %(street)s, %(community)s, %(node_ids)s, %(opened)s, "
            "%(record)s) ON CONFLICT (gateway_id, subject, item_id) DO UPDATE SET "
            "seq = EXCLUDED.seq, owner = EXCLUDED.owner, city_level = EXCLUDED.city_level, "
            "state = EXCLUDED.state, is_open = EXCLUDED.is_open, category = EXCLUDED.category, "
            "district = EXCLUDED.district, street = EXCLUDED.street, "
            "community = EXCLUDED.community, node_ids = EXCLUDED.node_ids, "
            "opened_at = EXCLUDED.opened_at, record = EXCLUDED.record",
            {
                "g": event.gateway,
                "s": event.subject,
                "i": item_id,
                "seq": event.seq,
                "owner": decision.owner.value,
                "level": decision.city_level,
                "state": cols["state"],
                "open": cols["is_open"],
                "category": cols["category"],
                "opened": cols["opened_at"],
                "record": Jsonb(record),
                **place,
            },
        )
        return Verdict.APPLY

    # ---- reading ----------------------------------------------------------------------------

    def gateways(self) -> list[GatewayRow]:
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT g.*, (SELECT count(*) FROM events e WHERE e.gateway_id = g.gateway_id "
                "AND e.verdict = 'held') AS held FROM gateways g ORDER BY g.gateway_id"
            ).fetchall()
        return [
            GatewayRow(
                gateway_id=r["gateway_id"],
                name=r["name"],
                last_seq=r["last_seq"],
                events=r["events"],
                missing=r["last_seq"] - r["events"],
                redeliveries=r["redeliveries"],
                gaps=r["gaps"],
                refused=r["refused"],
                superseded=r["superseded"],
                held=r["held"],
                skipped=r["skipped"],
                last_seen_at=r["last_seen_at"],
                last_event_at=r["last_event_at"],
                lag_s=r["lag_s"],
                health=r["health"],
            )
            for r in rows
        ]

    def rejections(self) -> dict[str, dict[str, Any]]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT reason, count, last_topic, last_detail, last_at FROM rejections"
            ).fetchall()
        return {
            r[0]: {"count": r[1], "last_topic": r[2], "last_detail": r[3], "last_at": r[4]}
            for r in rows
        }

    def items(
        self,
        subject: str,
        *,
        scope: str | None,
        is_open: bool | None = True,
        filters: dict[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(gateway, owner, record) of the items under `scope` (a node id; None: all)."""
        where = ["subject = %(subject)s"]
        args: dict[str, Any] = {"subject": subject, "limit": limit}
        if scope is not None:
            where.append("node_ids LIKE %(scope)s")
            args["scope"] = f"%/{_like(scope)}/%"
        if is_open is not None:
            where.append("is_open = %(open)s")
            args["open"] = is_open
        for column in ("district", "street", "community", "category"):
            value = (filters or {}).get(column)
            if value:
                where.append(f"{column} = %({column})s")
                args[column] = value
        if since is not None:
            where.append("opened_at >= %(since)s")
            args["since"] = since
        if until is not None:
            where.append("opened_at < %(until)s")
            args["until"] = until
        sql = (
            "SELECT gateway_id, owner, record FROM items WHERE "  # noqa: S608  # fixed columns
            + " AND ".join(where)
            + " ORDER BY opened_at DESC, gateway_id, item_id LIMIT %(limit)s"
        )
        with self.connection() as conn:
            rows = conn.execute(sql.encode(), args).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def alerts(self, **kwargs: Any) -> list[tuple[str, str, Alert]]:
        return [(g, o, alert_of(r)) for g, o, r in self.items("alert", **kwargs)]

    def cases(self, **kwargs: Any) -> list[tuple[str, str, Case]]:
        return [(g, o, case_from(r)) for g, o, r in self.items("case", **kwargs)]

    def prune_health(self, before: datetime) -> int:
        """Forget the health summaries received before `before` (each gateway's last one
        stays in `gateways.health`); the counters stand, so `missing` stays right."""
        with self.connection() as conn:
            return conn.execute(
                "DELETE FROM events WHERE subject = 'health' AND received_at < %s", (before,)
            ).rowcount

    def event_log(self, gateway_id: str) -> list[tuple[int, str, str]]:
        """(seq, event, verdict) of one gateway's events, in order (tests and the bench)."""
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT seq, event, verdict FROM events WHERE gateway_id = %s ORDER BY seq",
                (gateway_id,),
            ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
