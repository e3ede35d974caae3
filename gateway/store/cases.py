"""Cases: their rows, history, photos' metadata and the alerts behind them; the queries
behind lists, KPIs and reports.

A row keeps a few columns to query by and the whole case as JSON (`record`), written
whole as the case stage decided it, inside the transaction of its step. Nothing here
decides anything; photo files themselves are written by the API under the state folder
(gateway/api/photos.py) before the step that records them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any

from gateway.errors import CaseNotFound
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
from gateway.store.records import (
    CASE_FINAL_STATES,
    Case,
    CaseEntry,
    CasePhoto,
    CaseSource,
    CaseState,
    ExtensionRequest,
    Reporter,
    Satisfaction,
)
from rules.model import Severity

_FIELDS = [f.name for f in fields(Case)]
_TIMES = [f.name for f in fields(Case) if str(f.type).startswith("datetime")]


def case_json(case: Case) -> str:
    data: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(case, name)
        if name in _TIMES:
            value = ts_or_none(value)
        elif name == "location":
            value = [{"level": n.level.value, "id": n.id, "name": n.name} for n in value]
        elif name == "reporter":
            value = {"person_id": value.person_id, "name": value.name, "phone": value.phone}
        elif name == "extension_request" and value is not None:
            value = {
                "by": value.by,
                "at": ts(value.at),
                "limit": value.limit,
                "reason": value.reason,
            }
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return json_text(data)


def case_of(text: str) -> Case:
    data = json.loads(text)
    for name in _TIMES:
        data[name] = dt_or_none(data.get(name))
    data["location"] = tuple(Node(Level(n["level"]), n["id"], n["name"]) for n in data["location"])
    data["reporter"] = Reporter(**data["reporter"])
    request = data.get("extension_request")
    data["extension_request"] = (
        None
        if request is None
        else ExtensionRequest(request["by"], dt(request["at"]), request["limit"], request["reason"])
    )
    data["source"] = CaseSource(data["source"])
    data["state"] = CaseState(data["state"])
    data["severity"] = Severity(data["severity"])
    data["satisfaction"] = (
        None if data.get("satisfaction") is None else Satisfaction(data["satisfaction"])
    )
    data["dispatched_to"] = tuple(data.get("dispatched_to") or ())
    data["alert_ids"] = tuple(data.get("alert_ids") or ())
    return Case(**{k: v for k, v in data.items() if k in _FIELDS})


def _people(case: Case) -> str:
    people = [*case.dispatched_to, *([case.handler] if case.handler else [])]
    return "/" + "/".join(people) + "/" if people else ""


def write_cases(db: sqlite3.Connection, cases: Iterable[Case]) -> None:
    db.executemany(
        "INSERT INTO cases (id, state, source, category, major, node_ids, people, device_id, "
        "reporter_phone, reported_at, first_due_at, stage_due_at, closed_at, record) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "state=excluded.state, category=excluded.category, major=excluded.major, "
        "people=excluded.people, first_due_at=excluded.first_due_at, "
        "stage_due_at=excluded.stage_due_at, closed_at=excluded.closed_at, record=excluded.record",
        [
            (
                c.id, c.state.value, c.source.value, c.category, c.major,
                "/" + "/".join(c.node_ids) + "/", _people(c), c.device_id, c.reporter.phone,
                ts(c.reported_at), ts_or_none(c.first_due_at), ts_or_none(c.stage_due_at),
                ts_or_none(c.closed_at), case_json(c),
            )
            for c in cases
        ],
    )  # fmt: skip


def write_history(db: sqlite3.Connection, entries: Iterable[CaseEntry]) -> None:
    db.executemany(
        "INSERT INTO case_history (case_id, at, action, actor, state, note, photos) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (e.case_id, ts(e.at), e.action, e.actor, e.state.value, e.note, json_text(e.photos))
            for e in entries
        ],
    )


def write_photos(db: sqlite3.Connection, photos: Iterable[CasePhoto]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO case_photos (id, case_id, at, by, content_type, size) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(p.id, p.case_id, ts(p.at), p.by, p.content_type, p.size) for p in photos],
    )


def write_links(db: sqlite3.Connection, links: Iterable[tuple[int, int, datetime]]) -> None:
    """(alert id, case id, when): the alert opened or joined the case."""
    db.executemany(
        "INSERT OR IGNORE INTO case_alerts (alert_id, case_id, at) VALUES (?, ?, ?)",
        [(a, c, ts(at)) for a, c, at in links],
    )


def _visible(scope: frozenset[str], viewer: str | None, table: str = "") -> tuple[str, list[str]]:
    """SQL and its values for "under one of the nodes of `scope`, or dispatched to or
    handled by `viewer`"."""
    clause, args = scope_clause(scope, f"{table}node_ids")
    if viewer is not None:
        clause = f"({clause} OR instr({table}people, ?) > 0)"
        args.append(f"/{viewer}/")
    return clause, args


def _photo(r: sqlite3.Row) -> CasePhoto:
    return CasePhoto(r["id"], r["case_id"], dt(r["at"]), r["by"], r["content_type"], r["size"])


class CaseTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, case_id: int) -> Case:
        with self._db.reading() as db:
            row = db.execute("SELECT record FROM cases WHERE id=?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        return case_of(row[0])

    def max_id(self) -> int:
        with self._db.reading() as db:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM cases").fetchone()[0])

    def live(self) -> list[Case]:
        """What the case stage keeps in memory: every case not closed or cancelled."""
        final = ", ".join(f"'{s.value}'" for s in CASE_FINAL_STATES)
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT record FROM cases WHERE state NOT IN ({final}) ORDER BY id"  # noqa: S608  # constants
            ).fetchall()
        return [case_of(r[0]) for r in rows]

    def find(
        self,
        *,
        states: list[CaseState] | None = None,
        categories: list[str] | None = None,
        sources: list[CaseSource] | None = None,
        node_id: str | None = None,
        device_id: str | None = None,
        reporter_phone: str | None = None,
        person_id: str | None = None,
        overdue_at: datetime | None = None,
        reported_after: datetime | None = None,
        reported_before: datetime | None = None,
        before_id: int | None = None,
        scope: frozenset[str] | None = None,
        viewer: str | None = None,
        limit: int = 100,
    ) -> list[Case]:
        """Newest first. `scope`: only cases under one of these nodes or, with `viewer`,
        dispatched to or handled by that person (None: all). `overdue_at`: the stage in
        hand was due before then. `person_id`: dispatched to or handled by them."""
        where = Where()
        if scope is not None:
            clause, args = _visible(scope, viewer)
            where.add(clause, *args)
        if states:
            where.one_of("state", (s.value for s in states))
        if sources:
            where.one_of("source", (s.value for s in sources))
        if categories:  # a 小类 or a whole 大类
            marks = ",".join("?" * len(categories))
            where.add(f"(category IN ({marks}) OR major IN ({marks}))", *categories, *categories)
        if node_id is not None:
            where.under(node_id)
        if device_id is not None:
            where.add("device_id = ?", device_id)
        if reporter_phone is not None:
            where.add("reporter_phone = ?", reporter_phone)
        if person_id is not None:
            where.add("instr(people, ?) > 0", f"/{person_id}/")
        if overdue_at is not None:
            where.add("stage_due_at < ?", ts(overdue_at))
        if reported_after is not None:
            where.add("reported_at >= ?", ts(reported_after))
        if reported_before is not None:
            where.add("reported_at < ?", ts(reported_before))
        if before_id is not None:
            where.add("id < ?", before_id)
        sql = f"SELECT record FROM cases {where.sql} ORDER BY id DESC LIMIT ?"  # noqa: S608  # placeholders only
        with self._db.reading() as db:
            rows = db.execute(sql, (*where.args, limit)).fetchall()
        return [case_of(r[0]) for r in rows]

    def in_period(
        self, since: datetime, until: datetime, scope: frozenset[str] | None = None,
        node_id: str | None = None,
    ) -> list[Case]:  # fmt: skip
        """Cases a KPI over [since, until) may count: reported before its end, and due,
        reported or still open within it."""
        where = Where(
            "reported_at < ?",
            "(first_due_at >= ? OR reported_at >= ? OR closed_at IS NULL OR closed_at >= ?)",
            args=[ts(until), ts(since), ts(since), ts(since)],
        )
        if scope is not None:
            clause, args = _visible(scope, None)
            where.add(clause, *args)
        if node_id is not None:
            where.under(node_id)
        sql = f"SELECT record FROM cases {where.sql} ORDER BY id"  # noqa: S608  # placeholders only
        with self._db.reading() as db:
            rows = db.execute(sql, where.args).fetchall()
        return [case_of(r[0]) for r in rows]

    def history(self, case_id: int) -> list[CaseEntry]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT * FROM case_history WHERE case_id=? ORDER BY id", (case_id,)
            ).fetchall()
        return [
            CaseEntry(
                r["case_id"], dt(r["at"]), r["action"], r["actor"], CaseState(r["state"]),
                r["note"], tuple(json.loads(r["photos"])),
            )
            for r in rows
        ]  # fmt: skip

    def last_history_id(self) -> int:
        with self._db.reading() as db:
            row = db.execute("SELECT coalesce(max(id), 0) FROM case_history").fetchone()
        return int(row[0])

    def history_since(
        self,
        after_id: int,
        scope: frozenset[str] | None,
        viewer: str | None = None,
        limit: int = 200,
    ) -> list[tuple[int, str, Case]]:
        """Case steps after `after_id`, oldest first: (history id, action, case as it is
        now). `scope` and `viewer` as for `find`."""
        where, args = "", list[str]()
        if scope is not None:
            clause, args = _visible(scope, viewer, "c.")
            where = " AND " + clause
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT h.id, h.action, c.record FROM case_history h "  # noqa: S608  # placeholders only
                f"JOIN cases c ON c.id = h.case_id WHERE h.id > ?{where} ORDER BY h.id LIMIT ?",
                (after_id, *args, limit),
            ).fetchall()
        return [(int(r[0]), str(r[1]), case_of(r[2])) for r in rows]

    def photos(self, case_id: int) -> list[CasePhoto]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT * FROM case_photos WHERE case_id=? ORDER BY at, id", (case_id,)
            ).fetchall()
        return [_photo(r) for r in rows]

    def photo(self, case_id: int, photo_id: str) -> CasePhoto | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT * FROM case_photos WHERE case_id=? AND id=?", (case_id, photo_id)
            ).fetchone()
        return None if row is None else _photo(row)

    def case_of_alert(self, alert_id: int) -> int | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT case_id FROM case_alerts WHERE alert_id=? ORDER BY case_id DESC LIMIT 1",
                (alert_id,),
            ).fetchone()
        return None if row is None else int(row[0])

    def counts(self) -> dict[tuple[str, str], int]:
        """(state, category) -> number of cases, for /metrics."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT state, category, count(*) FROM cases GROUP BY state, category"
            ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def overdue_counts(self, now: datetime) -> dict[str, int]:
        """State -> number of cases whose stage in hand was due before `now` (closed,
        cancelled and held cases have no stage clock), for /metrics."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT state, count(*) FROM cases WHERE stage_due_at < ? GROUP BY state",
                (ts(now),),
            ).fetchall()
        return {r[0]: r[1] for r in rows}
