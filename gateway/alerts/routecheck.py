"""`gridgate routes test`: who an alert event reaches, through which channel, and which
route decided it, from the routing file in force and the roster, without starting anything.

    gridgate routes test --device door-b1-u1 --rule door_left_open --at 2026-12-01T10:30+08:00
    gridgate routes test --alert alert.json --event escalated

An alert is described by its device (its place comes from the site) and rule (severity and
title from the rules), or given as a file holding an alert as the API or a webhook shows it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.alerts.routes import Decision
from gateway.alerts.routing import Entry, Router
from gateway.places.roster import masked_phone
from gateway.places.site import Site
from gateway.store.records import Alert, AlertState
from rules.model import RuleFile, Severity


class DescriptionError(ValueError):
    """An alert description that names what the site or the rules do not have."""


def alert_from(
    site: Site,
    rules: RuleFile,
    *,
    device_id: str,
    rule_id: str,
    at: datetime,
    severity: Severity | None = None,
    escalation_level: int = 0,
    assigned_to: str | None = None,
) -> Alert:
    placement = site.placement(device_id)
    if placement is None:
        raise DescriptionError(f"device {device_id!r} is not in the site file {site.path}")
    rule = next((r for r in rules.rules if r.id == rule_id), None)
    if rule is None and severity is None:
        known = ", ".join(sorted(r.id for r in rules.rules))
        raise DescriptionError(f"no rule {rule_id!r} is loaded (rules: {known})")
    return Alert(
        id=0,
        rule_id=rule_id,
        title_zh=rule.title.zh if rule else rule_id,
        title_en=rule.title.en if rule else rule_id,
        severity=severity or (rule.severity if rule else Severity.WARNING),
        kind=placement.kind.value,
        device_id=device_id,
        state=AlertState.RAISED,
        location=placement.location,
        place=placement.place(),
        opened_at=at,
        due_at=None,
        raised_at=at,
        escalation_level=escalation_level,
        assigned_to=assigned_to,
    )


def alert_from_file(path: Path, site: Site, rules: RuleFile, at: datetime | None) -> Alert:
    """An alert as GET /alerts/{id} shows it, or a webhook body carrying one."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DescriptionError(f"{path}: not a JSON alert: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("alert"), dict):
        data = data["alert"]
    if not isinstance(data, dict) or "device_id" not in data or "rule" not in data:
        raise DescriptionError(f"{path}: an alert needs at least device_id and rule")
    when = at or _raised_at(path, data.get("raised_at"))
    severity = Severity(data["severity"]) if "severity" in data else None
    return alert_from(
        site,
        rules,
        device_id=str(data["device_id"]),
        rule_id=str(data["rule"]),
        at=when,
        severity=severity,
        escalation_level=int(data.get("escalation_level", 0)),
        assigned_to=data.get("assigned_to"),
    )


def _raised_at(path: Path, value: object) -> datetime:
    """When the alert of a file was raised, for want of `--at`."""
    try:
        when = datetime.fromisoformat(str(value)) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise DescriptionError(f"{path}: no raised_at with an offset: give --at to say when")
    if when.tzinfo is None:
        raise DescriptionError(f"{path}: raised_at {value!r} has no offset: add one or give --at")
    return when


def _masked(phone: str | None) -> str:
    return masked_phone(phone) if phone else "-"


def _who(entry: Entry) -> str:
    recipients = entry.body.get("recipients") or []
    if entry.body.get("audience") == "residents":
        phones = ", ".join(_masked(r.get("phone")) for r in recipients)
        return f"residents of the unit ({phones})"
    if recipients:
        return ", ".join(
            f"{r['name']} ({r['person_id']}, {_masked(r.get('phone'))})" for r in recipients
        )
    return "the channel itself (no person named)"


def explain(router: Router, alert: Alert, event: str, now: datetime, tz: ZoneInfo) -> list[str]:
    """Lines saying what happens to `event` of `alert` at `now`."""
    event = event if event.startswith("alert.") else "alert." + event
    local = now.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"{event} of {alert.rule_id} ({alert.severity.value}) at {alert.place}, {local}",
        f"routing file: {router.routes.path}",
    ]
    return lines + explain_decided(router.decisions(alert, event, now), router(alert, event, now))


def explain_decided(
    decisions: list[Decision], entries: list[Entry], what: str = "alert"
) -> list[str]:
    """The routes that matched and the messages they make (an alert's or a case's)."""
    lines: list[str] = []
    if not decisions:
        lines.append("no route matches: nobody is told")
        return lines
    lines.append("routes that match, in order: " + "; ".join(
        f"{d.route} -> {next(iter(d.notify.model_dump(exclude_none=True)))}" for d in decisions
    ))  # fmt: skip
    if not entries:
        lines.append("they reach nobody (no such channel configured, or nobody on duty)")
    for entry in entries:
        dispatch = f" [dispatches the {what}]" if entry.is_dispatch else ""
        lines.append(
            f"  {entry.channel} {entry.target}: {_who(entry)}{dispatch}"
            f"  <- route {' + '.join(entry.routes)}"
        )
    return lines
