"""AdapterSet: routing by topic, size limits, site folders, and the shared transforms."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sensors.adapt import AdapterSet
from sensors.errors import FileError
from sensors.kinds import Kind
from sensors.load import load_adapter
from sensors.native import NativeAdapter
from sensors.reading import Reading, Rejection, RejectReason
from sensors.topics import PatternError, TopicFilter, TopicPattern

RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)
FIXTURES = Path(__file__).parents[2] / "fixtures" / "adapters"


def registry(_: str) -> Kind | None:
    return Kind.DOOR


def site_adapter(tmp_path: Path, text: str, name: str = "vendor.yaml") -> AdapterSet:
    folder = tmp_path / "adapters"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return AdapterSet.load(extra_dirs=[folder])


VENDOR = """\
name: vendor
description: a site-local test format
topics:
  - pattern: vendor/{device_id}/state
kind: door
fields:
  open: {from: state, map: {"1": true, "0": false}}
  battery: {from: bat, default: 100}
"""


# ---- routing -------------------------------------------------------------------------


def test_native_topics_go_to_the_native_adapter() -> None:
    adapters = AdapterSet.load(native_topic_root="site7")
    payload = json.dumps({"kind": "door", "fields": {"open": True}}).encode()

    result = adapters.adapt("site7/v1/d1/reading", payload, RECEIVED_AT, registry)

    assert isinstance(result, Reading)
    assert "site7/v1/+/reading" in adapters.subscriptions()


def test_native_rejections_keep_their_adapter_name() -> None:
    result = AdapterSet.load().adapt("gridgate/v1/d1/state", b"{}", RECEIVED_AT, registry)

    assert isinstance(result, Rejection)
    assert (result.adapter, result.reason) == ("native", RejectReason.BAD_TOPIC)


@pytest.mark.parametrize("topic", ["", "/", "other/d1", "zigbee", "acme/gw/d1/up/x", "#"])
def test_a_topic_no_pattern_matches_is_a_bad_topic_of_no_adapter(topic: str) -> None:
    result = AdapterSet.load().adapt(topic, b"{}", RECEIVED_AT, registry)

    assert isinstance(result, Rejection)
    assert (result.adapter, result.reason) == ("none", RejectReason.BAD_TOPIC)


LEADING_PLACEHOLDER = """\
name: leading
description: a format whose topics begin with the device id
topics:
  - pattern: "{device_id}/acme7/report"
kind: door
fields:
  open: {from: state, map: {"1": true, "0": false}}
"""


def test_a_pattern_that_begins_with_a_placeholder_is_found_beside_prefixed_ones(
    tmp_path: Path,
) -> None:
    """Topics are looked up by their first level; a pattern without a literal one still
    gets every topic that fits it, and topics with a vendor's prefix still get theirs."""
    folder = tmp_path / "adapters"
    folder.mkdir()
    (folder / "vendor.yaml").write_text(VENDOR, encoding="utf-8")
    (folder / "leading.yaml").write_text(LEADING_PLACEHOLDER, encoding="utf-8")
    # alone: a shipped adapter claiming `zigbee2mqtt/#` overlaps any leading placeholder
    native = NativeAdapter(topic_root="gridgate")
    adapters = AdapterSet.of_paths(native, [folder / "vendor.yaml", folder / "leading.yaml"])
    payload = json.dumps({"state": "1"}).encode()

    leading = adapters.adapt("d7/acme7/report", payload, RECEIVED_AT, registry)
    # its first level is a vendor's prefix, the rest fits the leading pattern
    crossing = adapters.adapt("vendor/acme7/report", payload, RECEIVED_AT, registry)
    prefixed = adapters.adapt("vendor/d8/state", payload, RECEIVED_AT, registry)

    found = [r.device_id if isinstance(r, Reading) else r for r in (leading, crossing, prefixed)]
    assert found == ["d7", "vendor", "d8"]
    assert adapters.name_for("d7/acme7/report") == "leading"


def test_names_list_native_first_then_each_adapter() -> None:
    names = AdapterSet.load().names

    assert names[0] == "native"
    assert "zigbee2mqtt" in names


@pytest.mark.parametrize("topic", ["zigbee2mqtt/door-1", "acme/gw-00a1b2c3/door-1/up"])
def test_payload_over_the_limit_is_rejected_before_parsing(topic: str) -> None:
    adapters = AdapterSet.load(max_payload_bytes=100)

    result = adapters.adapt(topic, b"{" + b" " * 100 + b"}", RECEIVED_AT, registry)

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.PAYLOAD_TOO_LARGE
    assert "102 bytes" in result.detail


# ---- site folders --------------------------------------------------------------------


def test_site_folder_adapter_is_loaded_and_used(tmp_path: Path) -> None:
    adapters = site_adapter(tmp_path, VENDOR)

    result = adapters.adapt("vendor/d7/state", b'{"state": "1"}', RECEIVED_AT, registry)

    assert "vendor" in adapters.names
    assert "vendor/+/state" in adapters.subscriptions()
    assert isinstance(result, Reading)
    assert result.fields == {"open": True, "battery": 100}


def test_a_missing_site_folder_stops_loading(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="does not exist"):
        AdapterSet.load(extra_dirs=[tmp_path / "nowhere"])


@pytest.mark.parametrize(
    ("fixture", "line", "reason"),
    [
        ("adapter.duplicate-name.yaml", 1, "'zigbee2mqtt' is also the name of"),
        ("adapter.overlaps-zigbee2mqtt.yaml", 5, "overlaps 'zigbee2mqtt/{device_id}'"),
        ("adapter.overlaps-native.yaml", 4, "overlaps the native topics gridgate/v1/#"),
    ],
)
def test_a_site_adapter_clashing_with_a_shipped_one_stops_loading(
    tmp_path: Path, fixture: str, line: int, reason: str
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(FIXTURES / fixture, folder / fixture)

    with pytest.raises(FileError) as caught:
        AdapterSet.load(extra_dirs=[folder])

    assert f"{fixture}:{line}:" in str(caught.value)
    assert reason in str(caught.value)


def test_a_native_root_under_an_adapters_pattern_is_refused() -> None:
    with pytest.raises(FileError, match="overlaps the native topics zigbee2mqtt/v1/#"):
        AdapterSet.load(native_topic_root="zigbee2mqtt")


# ---- transforms and formats ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("unix_s", 1795582985, datetime(2026, 11, 25, 5, 3, 5, tzinfo=UTC)),
        ("unix_s", 1795582985.5, datetime(2026, 11, 25, 5, 3, 5, 500_000, tzinfo=UTC)),
        ("unix_ms", 1795582985120, datetime(2026, 11, 25, 5, 3, 5, 120_000, tzinfo=UTC)),
        ("iso8601", "2026-11-25T13:03:05+08:00", datetime(2026, 11, 25, 5, 3, 5, tzinfo=UTC)),
        ("iso8601", "2026-11-25T05:03:05Z", datetime(2026, 11, 25, 5, 3, 5, tzinfo=UTC)),
    ],
)
def test_event_time_formats(tmp_path: Path, fmt: str, value: Any, expected: datetime) -> None:
    text = VENDOR + f"event_time: {{from: at, format: {fmt}}}\n"
    adapters = site_adapter(tmp_path, text)
    payload = json.dumps({"state": "0", "at": value}).encode()

    result = adapters.adapt("vendor/d7/state", payload, RECEIVED_AT, registry)

    assert isinstance(result, Reading), result
    assert result.event_at == expected
    assert result.event_at.utcoffset() is not None


def test_invert_and_offset_transforms(tmp_path: Path) -> None:
    text = """\
name: vendor
description: closed flag and a temperature in tenths of a degree above -40
topics:
  - pattern: vendor/{device_id}
kind: climate
fields:
  temperature: {from: t, scale: 0.1, offset: -40}
  tamper: {from: cover_ok, invert: true}
"""
    adapters = site_adapter(tmp_path, text)

    result = adapters.adapt("vendor/c1", b'{"t": 652, "cover_ok": true}', RECEIVED_AT, registry)

    assert isinstance(result, Reading)
    assert result.fields["temperature"] == pytest.approx(25.2)
    assert result.fields["tamper"] is False


def test_plain_text_payload_with_a_number(tmp_path: Path) -> None:
    text = """\
name: gauge
description: a level gauge posting centimetres as text
topics:
  - pattern: gauge/{device_id}/level
payload: text
kind: water_level
fields:
  level_cm: value
"""
    adapters = site_adapter(tmp_path, text)

    good = adapters.adapt("gauge/g1/level", b" 42.5\n", RECEIVED_AT, registry)
    bad = adapters.adapt("gauge/g1/level", b"deep", RECEIVED_AT, registry)
    nan = adapters.adapt("gauge/g1/level", b"nan", RECEIVED_AT, registry)

    assert isinstance(good, Reading)
    assert good.fields == {"level_cm": 42.5}
    assert isinstance(bad, Rejection)
    assert "fields.level_cm" in bad.detail
    assert isinstance(nan, Rejection)


def test_integer_field_takes_whole_numbers_only(tmp_path: Path) -> None:
    text = VENDOR + "  linkquality: lqi\n"
    adapters = site_adapter(tmp_path, text)

    whole = adapters.adapt("vendor/d7/state", b'{"state":"1","lqi":80.0}', RECEIVED_AT, registry)
    part = adapters.adapt("vendor/d7/state", b'{"state":"1","lqi":80.5}', RECEIVED_AT, registry)

    assert isinstance(whole, Reading)
    assert whole.fields["linkquality"] == 80
    assert isinstance(whole.fields["linkquality"], int)
    assert isinstance(part, Rejection)


# ---- topic patterns ------------------------------------------------------------------


def test_pattern_matches_into_its_placeholders() -> None:
    pattern = TopicPattern.parse("acme/{gateway_id}/{device_id}/up")

    assert pattern.subscription() == "acme/+/+/up"
    assert pattern.match(["acme", "gw", "d1", "up"]) == {"gateway_id": "gw", "device_id": "d1"}
    assert pattern.match(["acme", "gw", "d1", "down"]) is None
    assert pattern.match(["acme", "gw", "d1"]) is None


@pytest.mark.parametrize(
    "text", ["", "a//{device_id}", "/{device_id}", "a/+/{device_id}", "{Device}/{device_id}"]
)
def test_malformed_patterns_are_refused(text: str) -> None:
    with pytest.raises(PatternError):
        TopicPattern.parse(text)


@pytest.mark.parametrize(
    ("filter_text", "topic", "is_match"),
    [
        ("z/bridge/#", "z/bridge", True),
        ("z/bridge/#", "z/bridge/state", True),
        ("z/+/state", "z/b/state", True),
        ("z/+/state", "z/b/c/state", False),
        ("z/bridge", "z/bridge/x", False),
    ],
)
def test_filters_match_as_mqtt_does(filter_text: str, topic: str, is_match: bool) -> None:
    assert TopicFilter.parse(filter_text).matches(topic.split("/")) is is_match


def test_native_adapter_registered_alone_has_its_own_subscriptions() -> None:
    adapters = AdapterSet(NativeAdapter(), [])

    assert adapters.subscriptions() == NativeAdapter().subscriptions()
    assert adapters.names == ["native"]


def test_load_adapter_reports_the_path_it_read() -> None:
    adapter = load_adapter(Path("sensors/adapters/zigbee2mqtt.yaml").resolve())

    assert adapter.name == "zigbee2mqtt"
