"""Logging setup: one line per event, `key=value` text or JSON, level from settings.

Every call site logs the same way (STYLE §7), an event name and `key=%s` fields:

    log.info("alert_%s rule=%s device_id=%s", event.type.value, rule, device)

Text mode writes the rendered message. JSON mode (`GRIDGATE_LOG__FORMAT=json`) writes one
object per line whose keys are the event and its fields, taken from the call's format
string and arguments, not parsed back out of the rendered text: a value with spaces, `=`
or quotes in it (an error message, a reason code) stays one value.

    {"at": "2026-05-01T08:00:00.123+00:00", "level": "info", "logger": "gateway.pipeline.steps",
     "event": "alert_raised", "rule": "smoke_detected", "device_id": "smoke-b1-u1",
     "opened_at": "...", "message": "alert_raised rule=smoke_detected device_id=..."}

- `event` is the message's first word when it is an event name (lower-case, `_`); lines
  from libraries (uvicorn, paho) have none and keep their text in `message`.
- A field is a placeholder written right after `name=`; other placeholders (the `%s` in
  `alert_%s`) only shape the message. `%d` fields are integers, `%.1f` numbers as written, `%s`
  keeps an argument that is a number, boolean or None as such, anything else is its text.
- A field named like one of the line's own keys gets a `field_` prefix
  (`delivered ... event=alert.raised` → `"field_event": "alert.raised"`).
- Nothing appears that the text line would not show: callers mask secrets and phone numbers
  in the arguments they pass (gateway/channels/text.py `masked_url`,
  gateway/places/roster.py `masked_phone`), and both modes write those same arguments.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from gateway.config import LogSettings

OWN_KEYS = frozenset({"at", "level", "logger", "event", "message", "exception"})
_SPEC = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
    r"[hlL]?(?P<conversion>[diouxXeEfFgGcrsa%])"
)
_KEY_BEFORE = re.compile(r"(?:^|[\s,(\[])([A-Za-z_][A-Za-z0-9_.-]*)=$")
_EVENT = re.compile(r"[a-z][a-z0-9_]*")


@lru_cache(maxsize=1024)
def _placeholders(msg: str) -> tuple[tuple[str | None, str, str | None, int], ...]:
    """Per placeholder of a format string: (field name or None, the spec, the mapping key
    for `%(name)s`, how many positional arguments it takes)."""
    out: list[tuple[str | None, str, str | None, int]] = []
    literal_start = 0
    for match in _SPEC.finditer(msg):
        if match["conversion"] == "%":
            literal_start = match.end()
            continue
        before = _KEY_BEFORE.search(msg, literal_start, match.start())
        key = before.group(1) if before else match["name"]
        taken = 0 if match["name"] is not None else 1
        taken += (match["width"] == "*") + (match["precision"] == "*")
        spec = re.sub(r"^%\([^)]*\)", "%", match.group(0))
        out.append((key, spec, match["name"], taken))
        literal_start = match.end()
    return tuple(out)


def _value(spec: str, conversion: str, arg: Any, extra: tuple[Any, ...]) -> Any:
    rendered = spec % (*extra, arg)
    if conversion in "diou":
        return int(rendered)
    if conversion in "eEfFgG":  # as written: `%.0f` is an integer, `%.1f` one decimal
        number = float(rendered)
        if not math.isfinite(number):
            return rendered
        return int(number) if rendered.strip().lstrip("+-").isdigit() else number
    if conversion == "s":
        if arg is None or isinstance(arg, bool | int):
            return arg
        if isinstance(arg, float):
            return arg if math.isfinite(arg) else rendered
    return rendered


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `name=%s` fields of one log call, by name, with their arguments' values."""
    if not isinstance(record.msg, str) or not record.args:
        return {}
    args = record.args
    out: dict[str, Any] = {}
    position = 0
    try:
        for key, spec, name, taken in _placeholders(record.msg):
            extra: tuple[Any, ...] = ()
            if name is not None and isinstance(args, Mapping):
                arg: Any = args[name]
            elif isinstance(args, tuple):
                *star, arg = args[position : position + taken]  # `*` widths come first
                extra = tuple(star)
                position += taken
            else:
                return {}
            if key is not None:
                out[key] = _value(spec, spec[-1], arg, extra)
    except (TypeError, ValueError, KeyError, IndexError):
        return {}  # the message itself says what went wrong (logging reports it)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record: at, level, logger, event, the fields, message."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        first = message.split(" ", 1)[0]
        if _EVENT.fullmatch(first):
            entry["event"] = first
        for key, value in fields(record).items():
            entry[f"field_{key}" if key in OWN_KEYS else key] = value
        entry["message"] = message
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(settings: LogSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # uvicorn's access log would be one line per request; keep its errors only
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
