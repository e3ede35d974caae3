"""`gridgate routes test`: who an alert event reaches, through which channel, and why."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from gateway.alerts.routes import EventName
from gateway.cli.conventions import EXIT_CONFIG, ConfigOption, complain, load, say
from rules.model import Severity

HEADER = "gridgate routes test: invalid configuration:"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)  # ValueError: typer says "Invalid value for '--at'"


def explain(
    device: Annotated[
        str | None,
        typer.Option(metavar="ID", help="the alert's device id (its place comes from the site)"),
    ] = None,
    alert: Annotated[
        Path | None,
        typer.Option(help="a JSON alert, as the API or a webhook shows it", metavar="FILE"),
    ] = None,
    rule: Annotated[
        str | None, typer.Option(metavar="ID", help="the rule id (with --device)")
    ] = None,
    event: Annotated[EventName, typer.Option(help="the alert event")] = "raised",
    severity: Annotated[
        Severity | None, typer.Option(help="default: the rule's", show_default=False)
    ] = None,
    level: Annotated[int, typer.Option(metavar="N", help="escalation level (0 grid worker)")] = 0,
    at: Annotated[
        datetime | None,
        typer.Option(
            parser=_instant, metavar="ISO", help="the instant, ISO 8601 with offset (default now)"
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print who an alert event reaches, through which channel, and which route decided.

    The alert is a device and a rule (its place from the site, its severity and title from
    the rules), or a file holding an alert as the API or a webhook shows it. It reads the
    settings, site, roster, rules and routing file in force and starts nothing
    (docs/routing.md). Exit 2 when the alert names what the site or rules do not have.

    \b
    Examples:
      gridgate routes test --device door-b1-u1 --rule door_left_open
      gridgate routes test --device smoke-b1-u1 --rule smoke_detected --event escalated \\
          --level 1 --at 2026-12-01T02:30:00+08:00
      gridgate routes test --alert alert.json
    """
    if (device is None) == (alert is None):
        raise typer.BadParameter("give one of --device or --alert", param_hint="--device/--alert")
    from gateway.alerts import routecheck
    from gateway.alerts.routing import ChannelRef, Router
    from gateway.runtime.clock import utcnow

    settings, loaded = load(config, HEADER)
    instant = at or utcnow()
    if instant.tzinfo is None:
        complain("gridgate routes test: --at needs an offset, e.g. 2026-12-01T10:30:00+08:00")
        raise typer.Exit(EXIT_CONFIG)
    try:
        if alert is not None:
            described = routecheck.alert_from_file(alert, loaded.site, loaded.rules, at)
        else:
            if not rule:
                complain("gridgate routes test: --device needs --rule")
                raise typer.Exit(EXIT_CONFIG)
            described = routecheck.alert_from(
                loaded.site,
                loaded.rules,
                device_id=str(device),
                rule_id=rule,
                at=instant,
                severity=severity,
                escalation_level=level,
            )
    except routecheck.DescriptionError as exc:
        complain(f"gridgate routes test: {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    router = Router(
        routes=loaded.routes,
        channels=[ChannelRef(t, n) for n, t in settings.channel_types.items()],
        roster=loaded.roster,
        tz=loaded.site.timezone,
        resident_phones=loaded.site.resident_phones,
        departments=loaded.cases.departments,  # as the gateway routes (gateway/service.py)
    )
    for line in routecheck.explain(router, described, event, instant, loaded.site.timezone):
        say(line)
