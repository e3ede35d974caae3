"""The SQLite file: connections, transactions, migrations, checkpoints.

One connection writes (behind a lock), one reads (the API's queries, behind its own), one
checkpoints. Blocking by nature: async code reaches the store through the writer thread
(gateway/store/writer.py) or a worker thread; FastAPI runs plain `def` endpoints in its
thread pool.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson

from gateway.errors import StoreUnavailable
from gateway.store.schema import MIGRATIONS


@functools.lru_cache(maxsize=4096)
def ts(at: datetime) -> str:
    """An instant as stored: UTC, ISO 8601, microseconds (so text order is time order).
    Cached: a step writes the same instants many times (one arrival time per burst read)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def ts_or_none(at: datetime | None) -> str | None:
    return None if at is None else ts(at)


# orjson writes datetimes and dataclasses by itself; the standard library refuses them
_AS_STANDARD = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_text(value: object) -> str:
    """A JSON value as a row or a delivery holds it: compact, UTF-8 rather than \\u
    escapes. orjson: ~0.3 µs for a step's small objects (a device's fields, a track's
    data, an alert's body) against ~2.5 µs for the standard library. What orjson refuses
    (an integer past 64 bits, a key that is not text) is written by the standard library,
    and what neither writes (a datetime, a dataclass: orjson would, told not to) raises
    TypeError as it always did."""
    try:
        return orjson.dumps(value, option=_AS_STANDARD).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def dt_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Database:
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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. The disk's troubles (full, locked, I/O) are
        StoreUnavailable; a constraint broken is a bug and is raised as it is."""
        with self._write_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(str(self.path), str(exc)) from exc
            try:
                yield self._db
            except sqlite3.IntegrityError:
                self._rollback()
                raise
            except sqlite3.Error as exc:
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
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            try:
                yield self._read
            except sqlite3.Error as exc:
                raise StoreUnavailable(str(self.path), str(exc)) from exc

    def ping(self) -> None:
        with self.reading() as db:
            db.execute("SELECT 1 FROM alerts LIMIT 1").fetchall()


def scope_clause(scope: frozenset[str], column: str = "node_ids") -> tuple[str, list[str]]:
    """SQL for "under one of these nodes" (an empty scope matches nothing)."""
    clause = " OR ".join([f"instr({column}, ?) > 0"] * len(scope)) or "0"
    return f"({clause})", [f"/{node}/" for node in sorted(scope)]


class Where:
    """The WHERE clause of a list query, from the filters a caller gave (placeholders
    only: the terms are the code's own, the values go in `args`)."""

    def __init__(self, *terms: str, args: Iterable[object] = ()) -> None:
        self.terms = list(terms)
        self.args: list[object] = list(args)

    def add(self, term: str, *args: object) -> None:
        self.terms.append(term)
        self.args.extend(args)

    def one_of(self, column: str, values: Iterable[object]) -> None:
        values = list(values)
        self.add(f"{column} IN ({','.join('?' * len(values))})", *values)

    def under(self, node_id: str) -> None:
        """Placed under `node_id` (node_ids holds the path as /a/b/c/)."""
        self.add("instr(node_ids, ?) > 0", f"/{node_id}/")

    @property
    def sql(self) -> str:
        return ("WHERE " + " AND ".join(self.terms)) if self.terms else ""
