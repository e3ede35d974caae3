"""gateway/store/database.py's json_text: the JSON a row or a delivery holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.store.database import json_text


def test_text_reads_back_as_the_value_written_and_keeps_chinese_as_it_is() -> None:
    value = {"place": "阳光社区 / 第1网格", "contact": False, "battery": 87, "voltage": 2.95}
    text = json_text(value)
    assert json.loads(text) == value
    assert "阳光社区" in text  # not \\u escapes: a body's Content-Length counts UTF-8 bytes
    assert text == '{"place":"阳光社区 / 第1网格","contact":false,"battery":87,"voltage":2.95}'


def test_what_orjson_refuses_is_written_by_the_standard_library() -> None:
    assert json.loads(json_text({"count": 2**70})) == {"count": 2**70}
    assert json_text({1: "a"}) == '{"1":"a"}'


def test_what_neither_writes_is_refused_as_before() -> None:
    # orjson would write a datetime; a row must not take one the standard library refuses
    with pytest.raises(TypeError):
        json_text({"at": datetime(2026, 12, 7, tzinfo=UTC)})
