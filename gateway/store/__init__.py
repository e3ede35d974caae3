"""The state store: SQLite in WAL mode, the one owner of devices, alerts, timers, outbox.

Every SQL statement of the gateway lives in this package.
"""

from gateway.store.db import Batch, Delivery, Store

__all__ = ["Batch", "Delivery", "Store"]
