"""Exceptions of the gateway; each carries the place (alert, delivery, file) and the reason.

    Exception
     ├── sensors.errors.FileError      a config, site or rules file cannot be used
     └── GatewayError
          ├── AlertNotFound            no alert with that id
          ├── InvalidTransition        the alert's state does not allow that action
          └── StoreUnavailable         the SQLite state cannot be read or written

The API maps these to 404, 409 and 503 in one handler (gateway/api/app.py).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's own errors."""


class AlertNotFound(GatewayError):
    def __init__(self, alert_id: int) -> None:
        self.alert_id = alert_id
        super().__init__(f"alert {alert_id}: not found")


class InvalidTransition(GatewayError):
    def __init__(self, alert_id: int, reason: str) -> None:
        self.alert_id = alert_id
        self.reason = reason
        super().__init__(f"alert {alert_id}: {reason}")


class StoreUnavailable(GatewayError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"state store {path}: {reason}")
