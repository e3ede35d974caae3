"""`rules test`: the alerts a recorded stream of readings produces, offline.

    python -m rules.check RULES READINGS.jsonl [--site-json WHERE.json] [--timezone TZ]

RULES is a rule file or folder. READINGS.jsonl holds one Reading per line
(`{"device_id", "kind", "fields", "event_at", "received_at"}`; `received_at` defaults to
`event_at`). WHERE.json maps device ids to places:
`{"door-1": {"kind": "door", "name": "1单元门", "path": [["community", "c1", "阳光社区"], ...],
"tags": []}}`. Prints one line per event: time, type, rule, subject, severity, message.
The gateway builds `where` from its site file and calls `run` and `render`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from rules.model import RuleFile, load_rules
from rules.replay import replay
from rules.scope import Where
from rules.tracks import AlertEvent, EventType
from sensors.errors import FileError, Problem
from sensors.kinds import Kind
from sensors.reading import READING, Reading


def run(
    rule_file: RuleFile,
    readings: Iterable[Reading],
    where: Mapping[str, Where] | None,
    tz: ZoneInfo,
) -> list[AlertEvent]:
    """The events `readings` produce under `rule_file`, in event time (see rules/replay.py)."""
    return replay(rule_file, readings, where, tz)


def render(events: Iterable[AlertEvent], tz: ZoneInfo | None = None) -> str:
    """One line per event: time (site time when `tz` is given), type, rule, subject,
    severity, message in Chinese; `[inhibited]` marks events not sent on their own."""
    lines = []
    for event in events:
        at = event.due_at if event.type != EventType.CLEARED and event.due_at else event.at
        when = at.astimezone(tz) if tz is not None else at
        flag = " [inhibited]" if event.is_inhibited else ""
        lines.append(
            f"{when.isoformat()}  {event.type.value:<8} {event.rule_id:<22} "
            f"{event.subject_id:<16} {event.severity.value:<9} {event.message_zh}{flag}"
        )
    return "\n".join(lines)


def read_readings(path: Path) -> list[Reading]:
    """Readings from a JSON-lines file; a bad line raises FileError with its number."""
    readings = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
            data.setdefault("received_at", data.get("event_at"))
            readings.append(READING.validate_python(data))
        except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
            raise FileError(path, [_problem(number, exc)]) from exc
    return readings


def read_where(path: Path) -> dict[str, Where]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        device_id: Where.on(
            device_id=device_id,
            kind=Kind(place["kind"]),
            name=place.get("name"),
            path=tuple((str(a), str(b), str(c)) for a, b, c in place.get("path", [])),
            tags=frozenset(place.get("tags", [])),
        )
        for device_id, place in data.items()
    }


def _problem(line: int, exc: Exception) -> Problem:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Problem(line, "", f"bad reading: {reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rules-test", description=__doc__.splitlines()[0])
    parser.add_argument("rules", type=Path, help="rule file or folder")
    parser.add_argument("readings", type=Path, help="JSON lines, one reading each")
    parser.add_argument("--site-json", type=Path, help="device id -> place, as JSON")
    parser.add_argument("--timezone", default="Asia/Shanghai")
    args = parser.parse_args(argv)
    try:
        rule_file = load_rules(args.rules)
        readings = read_readings(args.readings)
        where = read_where(args.site_json) if args.site_json else None
        tz = ZoneInfo(args.timezone)
    except FileError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    events = run(rule_file, readings, where, tz)
    if events:
        sys.stdout.write(render(events, tz) + "\n")
    sys.stdout.write(f"{len(events)} events from {len(readings)} readings\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
