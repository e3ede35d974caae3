"""Alerts and cases as JSON values and back: what a feed event carries, and what the city
keeps, so that the city computes its KPIs from the very records a gateway computes its own
from (gateway/alerts/kpis.py, gateway/cases/kpis.py).

A case goes through the store's own codec (gateway/store/cases.py); an alert has every
field of `Alert` here. Reading a record that is not one raises ValueError (the city turns
that into a counted rejection)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any

from gateway.places.site import Level, Node
from gateway.store.cases import case_json, case_of
from gateway.store.records import Alert, AlertState, Case, Resolution
from rules.model import Severity

_ALERT_FIELDS = {f.name: str(f.type) for f in fields(Alert)}


def alert_record(alert: Alert) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in _ALERT_FIELDS:
        value = getattr(alert, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif name == "location":
            value = [{"level": n.level.value, "id": n.id, "name": n.name} for n in value]
        elif isinstance(value, Enum):
            value = value.value
        data[name] = value
    return data


def alert_of(data: Any) -> Alert:
    if not isinstance(data, dict):
        raise ValueError("an alert record is a JSON object")
    values: dict[str, Any] = {}
    try:
        for name, kind in _ALERT_FIELDS.items():
            if name not in data:
                continue
            value = data[name]
            if value is not None and kind.startswith("datetime"):
                value = _instant(value, name)
            elif name == "location":
                value = tuple(Node(Level(n["level"]), str(n["id"]), str(n["name"])) for n in value)
            elif name == "severity":
                value = Severity(value)
            elif name == "state":
                value = AlertState(value)
            elif name == "resolution" and value is not None:
                value = Resolution(value)
            values[name] = value
        alert = Alert(**values)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not an alert record: {exc}") from exc
    if not isinstance(alert.id, int) or not alert.location:
        raise ValueError("an alert record needs an integer id and a location")
    return alert


def case_record(case: Case) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(case_json(case))
    return data


def case_from(data: Any) -> Case:
    if not isinstance(data, dict):
        raise ValueError("a case record is a JSON object")
    try:
        case = case_of(json.dumps(data))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a case record: {exc}") from exc
    if not isinstance(case.id, int) or not case.location:
        raise ValueError("a case record needs an integer id and a location")
    return case


def _instant(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name}: an ISO 8601 instant is a string")
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(f"{name}: the instant has no UTC offset")
    return at
