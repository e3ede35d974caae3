"""`gridgate rules test RULES READINGS`: the alerts a recorded stream of readings produces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.conventions import refusing, say


def replay(
    rules: Annotated[Path, typer.Argument(metavar="RULES", help="a rule file or a folder of them")],
    readings: Annotated[
        Path, typer.Argument(metavar="READINGS", help="JSON lines, one canonical reading each")
    ],
    site: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="site file, for the places (default: the demo site)"),
    ] = None,
) -> None:
    """Print the alerts a recorded stream of readings produces under a rule file.

    Offline, in event time: one line per event (time, type, rule, subject, severity,
    message). READINGS holds one reading per line, `{"device_id", "kind", "fields",
    "event_at"}` (docs/rules.md). Exit 2 when a file cannot be used.

    \b
    Examples:
      gridgate rules test rules/defaults tests/fixtures/rules/stream.door-and-heat.jsonl
      gridgate rules test my-rules.yaml readings.jsonl --site /etc/gridgate/site.yaml
    """
    from gateway.config import DEFAULT_SITE
    from gateway.places.registry import Registry
    from gateway.places.site import load_site
    from rules import check
    from rules.model import load_rules

    with refusing("gridgate rules test:"):
        places = load_site(site or DEFAULT_SITE)
        rule_file = load_rules(rules)
        stream = check.read_readings(readings)
    where = Registry(places, []).where()
    events = check.run(rule_file, stream, where, places.timezone)
    say(check.render(events, places.timezone))
