"""The state store: SQLite in WAL mode, the one owner of devices, alerts, timers and the
outbox. Every SQL statement of the gateway lives in this package, one module per table
family; nothing here decides what happens to an alert.

    database.py   connections, transactions, migrations (schema.py), checkpoints
    records.py    the records read and written (alerts, deliveries, device states, ...)
    devices.py    device states, rule tracks, device history, unregistered, API devices
    alerts.py     alert rows, audit trail, episodes, comments, the change stream
    cases.py      case rows, their history, photos' metadata, the alerts behind them
    outbox.py     outbox rows and their outcomes
    people.py     people added through the API, tokens, revocations
    step.py       what one step changes, written in one transaction
    writer.py     the one thread that writes steps in the order they were decided
"""

from __future__ import annotations

from pathlib import Path

from gateway.store.alerts import AlertTables
from gateway.store.cases import CaseTables
from gateway.store.database import Database
from gateway.store.devices import DeviceTables
from gateway.store.outbox import OutboxTables
from gateway.store.people import PeopleTables
from gateway.store.records import Delivery
from gateway.store.step import StepWrite, write_step

__all__ = ["StepWrite", "Store"]


class Store:
    """The database and its table families: `store.alerts.get(7)`, `store.devices.states()`."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_s: float = 5.0,
        max_pages: int = 0,
    ) -> None:
        self.db = Database(
            path, synchronous=synchronous, busy_timeout_s=busy_timeout_s, max_pages=max_pages
        )
        self.path = path
        self.devices = DeviceTables(self.db)
        self.alerts = AlertTables(self.db)
        self.cases = CaseTables(self.db)
        self.outbox = OutboxTables(self.db)
        self.people = PeopleTables(self.db)

    def write(self, step: StepWrite) -> list[Delivery]:
        """Write one step in one transaction (blocking); the deliveries queued by it."""
        with self.db.transaction() as db:
            return write_step(db, step)

    def write_many(self, steps: list[StepWrite]) -> list[list[Delivery]]:
        """Write steps in order in one transaction (blocking); each one's deliveries."""
        with self.db.transaction() as db:
            return [write_step(db, step) for step in steps]

    def ping(self) -> None:
        self.db.ping()

    def checkpoint(self) -> int:
        return self.db.checkpoint()

    def close(self) -> None:
        self.db.close()
