"""Exceptions of the gateway; each carries the place (alert, delivery, file) and the reason.

    Exception
     ├── sensors.errors.FileError      a config, site or rules file cannot be used
     └── GatewayError
          ├── AlertNotFound            no alert with that id
          ├── InvalidTransition        the alert's state does not allow that action
          ├── DeviceNotFound           no device with that id in the registry
          ├── DeviceConflict           the id is taken, or the device is the site file's
          ├── InvalidDevice            a device that cannot stand where it is put
          ├── CaseNotFound             no case with that id (or none the person may see)
          ├── CaseTransitionError      the case's state does not allow that step (409,
          │                            naming the steps it allows)
          ├── CaseForbidden            the person's role or part may not take that step
          ├── InvalidCase              a report or step that cannot be taken as given
          └── StoreUnavailable         the SQLite state cannot be read or written

The API maps these to 403, 404, 409, 422 and 503 in one handler (gateway/api/app.py).
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


class DeviceNotFound(GatewayError):
    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(f"device {device_id}: not found")


class DeviceConflict(GatewayError):
    def __init__(self, device_id: str, reason: str) -> None:
        self.device_id = device_id
        self.reason = reason
        super().__init__(f"device {device_id}: {reason}")


class InvalidDevice(GatewayError):
    def __init__(self, device_id: str, reason: str) -> None:
        self.device_id = device_id
        self.reason = reason
        super().__init__(f"device {device_id}: {reason}")


class CaseNotFound(GatewayError):
    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        super().__init__(f"case {case_id}: not found")


class CaseTransitionError(GatewayError):
    def __init__(self, case_id: int, reason: str, allowed: tuple[str, ...]) -> None:
        self.case_id = case_id
        self.reason = reason
        self.allowed = allowed
        can = ", ".join(allowed) or "none"
        super().__init__(f"case {case_id}: {reason} (allowed now: {can})")


class CaseForbidden(GatewayError):
    def __init__(self, case_id: int, reason: str) -> None:
        self.case_id = case_id
        self.reason = reason
        super().__init__(f"case {case_id}: {reason}")


class InvalidCase(GatewayError):
    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")
