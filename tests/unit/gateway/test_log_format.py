"""JSON log lines take their fields from the log call itself (gateway/runtime/logs.py)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from gateway.runtime.logs import JsonFormatter

CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("alert_%s rule=%s device_id=%s opened_at=%s", ("raised", "door_left_open", "door-1", "t0")),
    ("store_write_failed reason=%s retry_in_s=%.1f", ("disk I/O error: locked", 0.25)),
    ("gateway_starting site=%s devices=%d adapters=%s", ("/srv/my site.yaml", 12, "a,b")),
    ("delivered delivery_id=%s event=%s target=%s", (7, "alert.raised", "webhook:ops")),
    ("mqtt_connect_failed reason=%s retry_in_s=%.0f", (OSError("[Errno 111] refused"), 2.0)),
    ("sms_numbers_rate_limited numbers=%s", ("139****0011,139****0012",)),
]


def _line(msg: str, args: Any, exc_info: Any = None, name: str = "gateway.x") -> dict[str, Any]:
    record = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, exc_info)
    entry: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return entry


def test_fields_come_from_the_call_and_keep_spaces_equals_and_types() -> None:
    entry = _line("x_failed reason=%s code=%d ratio=%.2f ok=%s", ("a = b c", 3, 0.5, True))
    assert entry["event"] == "x_failed"
    assert entry["reason"] == "a = b c"
    assert entry["code"] == 3
    assert entry["ratio"] == 0.5
    assert entry["ok"] is True
    assert entry["message"] == "x_failed reason=a = b c code=3 ratio=0.50 ok=True"
    assert entry["level"] == "warning"
    assert entry["logger"] == "gateway.x"


def test_a_placeholder_inside_the_event_name_is_not_a_field() -> None:
    entry = _line(*CALLS[0])
    assert entry["event"] == "alert_raised"
    assert {k: entry[k] for k in ("rule", "device_id", "opened_at")} == {
        "rule": "door_left_open",
        "device_id": "door-1",
        "opened_at": "t0",
    }
    assert "raised" not in entry.values()


def test_a_field_named_like_a_key_of_the_line_is_prefixed() -> None:
    entry = _line(*CALLS[3])
    assert entry["event"] == "delivered"
    assert entry["field_event"] == "alert.raised"


@pytest.mark.parametrize(("msg", "args"), CALLS)
def test_the_json_line_shows_nothing_the_text_line_does_not(msg: str, args: Any) -> None:
    entry = _line(msg, args)
    text = msg % args
    assert entry["message"] == text
    for key, value in entry.items():
        if key not in {"at", "level", "logger", "message"}:
            assert f"{key.removeprefix('field_')}={value}" in text or value == text.split()[0]


def test_library_lines_have_no_event_and_an_exception_has_its_traceback() -> None:
    assert "event" not in _line("Started server process [%d]", (42,), name="uvicorn.error")
    try:
        raise ValueError("boom")
    except ValueError:
        entry = _line("timer_step_failed", None, sys.exc_info())
    assert entry["event"] == "timer_step_failed"
    assert "ValueError: boom" in entry["exception"]


def test_named_placeholders_and_a_message_that_is_not_a_format_string() -> None:
    entry = _line("x_done a=%(a)s b=%(b)d", ({"a": "one", "b": 2},))
    assert (entry["event"], entry["a"], entry["b"]) == ("x_done", "one", 2)
    entry = _line(ValueError("not_a_format a=1"), None)  # type: ignore[arg-type]  # log.error(exc)
    assert entry["message"] == "not_a_format a=1"
    assert "a" not in entry
