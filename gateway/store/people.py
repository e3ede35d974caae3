"""People added through the API, their bearer tokens (kept hashed), and revocations: when
a person's tokens were revoked or the person removed, every token and action link issued
to them before that instant stops working."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.store.database import Database, dt, json_text, ts


class PeopleTables:
    def __init__(self, db: Database) -> None:
        self._db = db

    def added(self) -> list[dict[str, Any]]:
        """People added through the API, as their roster-file specs."""
        with self._db.reading() as db:
            rows = db.execute("SELECT spec FROM people ORDER BY person_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def save(self, person_id: str, spec: dict[str, Any], now: datetime) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO people VALUES (?, ?, ?) ON CONFLICT (person_id) DO UPDATE "
                "SET spec=excluded.spec, updated_at=excluded.updated_at",
                (person_id, json_text(spec), ts(now)),
            )

    def delete(self, person_id: str, now: datetime) -> None:
        """Remove a person added through the API; their tokens and links end with them."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM people WHERE person_id=?", (person_id,))
            self._revoke(db, person_id, now)

    # ---- tokens and links ----------------------------------------------------------------

    def add_token(self, token_hash: str, person_id: str, label: str | None, now: datetime) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO tokens (token_hash, person_id, label, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, person_id, label, ts(now)),
            )

    def person_for_token(self, token_hash: str) -> str | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT person_id FROM tokens WHERE token_hash=? AND revoked_at IS NULL",
                (token_hash,),
            ).fetchone()
        return None if row is None else str(row[0])

    def revoke(self, person_id: str, now: datetime) -> int:
        """Revoke every token of the person, and every action link issued to them so far.
        Returns the number of tokens revoked."""
        with self._db.transaction() as db:
            return self._revoke(db, person_id, now)

    def _revoke(self, db: Any, person_id: str, now: datetime) -> int:
        cursor = db.execute(
            "UPDATE tokens SET revoked_at=? WHERE person_id=? AND revoked_at IS NULL",
            (ts(now), person_id),
        )
        db.execute(
            "INSERT INTO revocations VALUES (?, ?) ON CONFLICT (person_id) DO UPDATE "
            "SET revoked_at=excluded.revoked_at",
            (person_id, ts(now)),
        )
        return int(cursor.rowcount)

    def revoked_at(self, person_id: str) -> datetime | None:
        """When the person's tokens and links were last revoked (None: never)."""
        with self._db.reading() as db:
            row = db.execute(
                "SELECT revoked_at FROM revocations WHERE person_id=?", (person_id,)
            ).fetchone()
        return None if row is None else dt(row[0])
