"""What an adapter file may say beyond one payload per device: key patterns, a device id
from the payload, messages read only when, one field per topic, ignored topics, several
event time formats, and the topics under the patterns that none fits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sensors import fieldmap
from sensors.adapt import AdapterSet
from sensors.errors import FileError
from sensors.fieldmap import MISSING, Ambiguous
from sensors.kinds import Kind
from sensors.load import load_adapter
from sensors.reading import Reading, Rejection, RejectReason

RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)
HEAD = "name: vendor\ndescription: d\n"


def adapter_set(tmp_path: Path, text: str) -> AdapterSet:
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    (folder / "vendor.yaml").write_text(HEAD + text, encoding="utf-8")
    return AdapterSet.load(extra_dirs=[folder])


def refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "vendor.yaml"
    path.write_text(HEAD + text, encoding="utf-8")
    with pytest.raises(FileError) as caught:
        load_adapter(path)
    return str(caught.value)


def rejected(result: Reading | Rejection, reason: RejectReason, detail: str) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.reason == reason
    assert detail in result.detail
    return result


def send(
    adapters: AdapterSet, topic: str, payload: Any, kind: Kind | None = Kind.DOOR
) -> Reading | Rejection:
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    return adapters.adapt(topic, raw, RECEIVED_AT, lambda _: kind)


# ---- key patterns in paths -------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"Zb": {"0x8F20": {"Contact": 1}}}, 1),
        ({"Zb": {}}, MISSING),
        ({"Zb": "0x8F20"}, MISSING),
        ({"Zb": {"0x8F20": {"Battery": 90}}}, MISSING),
    ],
)
def test_a_star_level_stands_for_the_one_key_there_is(payload: Any, expected: Any) -> None:
    assert fieldmap.lookup(payload, fieldmap.parse_path("Zb.*.Contact")) == expected


def test_two_keys_fitting_a_pattern_are_ambiguous_not_a_guess() -> None:
    payload = {"params": {"ts": 1, "bthomesensor:200": {}, "bthomesensor:201": {}}}

    found = fieldmap.lookup(payload, fieldmap.parse_path("params.bthomesensor:*.value"))

    assert isinstance(found, Ambiguous)
    assert found.text.startswith("2 keys fit 'bthomesensor:*'")


def test_a_pattern_matches_only_keys_of_its_shape_and_a_trailing_one_gives_the_key() -> None:
    payload = {"params": {"ts": 1, "sys": {}, "bthomesensor:201": {"value": True}}}

    assert fieldmap.lookup_key(payload, fieldmap.parse_path("params.bthomesensor:*")) == (
        "bthomesensor:201"
    )
    assert fieldmap.lookup(payload, fieldmap.parse_path("params.bthomesensor:*.value")) is True


# ---- the device id from the payload ----------------------------------------------------

NESTED = """\
topics:
  - pattern: hub/{hub}/report
device_id:
  - "{hub}-{node.name}"
  - "{hub}-{node.*}"
kind: door
fields:
  open: {from: node.open}
"""


def test_a_template_joins_a_topic_placeholder_and_a_payload_value(tmp_path: Path) -> None:
    adapters = adapter_set(tmp_path, NESTED)

    result = send(adapters, "hub/h7/report", {"node": {"name": "door-3", "open": True}})

    assert isinstance(result, Reading)
    assert result.device_id == "h7-door-3"


def test_the_first_template_the_message_fills_in_wins(tmp_path: Path) -> None:
    adapters = adapter_set(
        tmp_path,
        NESTED.replace("fields:\n  open: {from: node.open}", "fields:\n  open: {from: node.*}"),
    )

    result = send(adapters, "hub/h7/report", {"node": {"0x1a": True}})

    assert isinstance(result, Reading)
    assert result.device_id == "h7-0x1a"  # no node.name: the key


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"other": 1}, "device id: node.name: missing"),
        ({"node": {"name": "door 3", "open": True}}, "'h7-door 3' (from {hub}-{node.name})"),
        ({"node": {"name": ["x"], "open": True}}, "node.name: a list is no name"),
    ],
)
def test_a_message_naming_no_valid_device_is_invalid(
    tmp_path: Path, payload: Any, detail: str
) -> None:
    rejected(
        send(adapter_set(tmp_path, NESTED), "hub/h7/report", payload),
        RejectReason.INVALID_PAYLOAD,
        detail,
    )


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ('"fixed-name"', "names no placeholder or payload path"),
        ('"{hub}-{node..name}"', "is neither a topic placeholder nor a payload path"),
        ('"{hub}}"', "braces must enclose"),
        ("[]", "give at least one template"),
    ],
)
def test_a_bad_template_is_refused_at_its_line(tmp_path: Path, template: str, reason: str) -> None:
    text = NESTED.replace('device_id:\n  - "{hub}-{node.name}"\n  - "{hub}-{node.*}"\n', "")
    message = refused(tmp_path, text + f"device_id: {template}\n")

    assert ":8: device_id" in message
    assert reason in message


def test_with_a_template_a_reading_topic_must_not_carry_the_device_id_as_well(
    tmp_path: Path,
) -> None:
    message = refused(tmp_path, NESTED.replace("hub/{hub}/report", "hub/{device_id}/report"))

    assert ":4: topics[0].pattern: the device id comes from device_id:" in message


def test_an_availability_topic_still_names_its_device(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        NESTED.replace(
            "  - pattern: hub/{hub}/report\n",
            "  - pattern: hub/{hub}/report\n"
            "  - pattern: hub/{hub}/lwt\n"
            "    message: availability\n",
        ),
    )

    assert "topics[1].pattern: 'hub/{hub}/lwt': a pattern needs a {device_id} level" in message


# ---- only_when --------------------------------------------------------------------------

RPC = """\
topics:
  - pattern: rpc/{device_id}
only_when:
  - {key: method, equals: NotifyStatus}
  - {key: params.state}
kind: door
fields:
  open: params.state
"""


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"method": "NotifyEvent", "params": {"state": True}}, "method is 'NotifyEvent'"),
        ({"method": 1, "params": {"state": True}}, "method is 1; only 'NotifyStatus'"),
        ({"method": "NotifyStatus", "params": {}}, "the message has no params.state"),
    ],
)
def test_a_message_only_when_refuses_is_an_ignored_message(
    tmp_path: Path, payload: Any, detail: str
) -> None:
    result = send(adapter_set(tmp_path, RPC), "rpc/d1", payload)

    assert rejected(result, RejectReason.IGNORED_MESSAGE, detail).device_id == "d1"


def test_a_message_only_when_allows_is_read(tmp_path: Path) -> None:
    result = send(
        adapter_set(tmp_path, RPC), "rpc/d1", {"method": "NotifyStatus", "params": {"state": False}}
    )

    assert isinstance(result, Reading)
    assert result.fields == {"open": False}


# ---- one value per topic ----------------------------------------------------------------

SPLIT = """\
topics:
  - pattern: split/{device_id}/state
    fields:
      open: {from: value, map: {open: true, close: false}}
  - pattern: split/{device_id}/battery
    fields:
      battery: value
  - pattern: split/{device_id}/lux
    message: ignored
  - pattern: split/{device_id}/online
    message: availability
payload: text
kind: door
"""


def test_each_topic_reads_its_own_field_for_the_same_device_and_kind(tmp_path: Path) -> None:
    adapters = adapter_set(tmp_path, SPLIT)

    state = send(adapters, "split/d1/state", "open", kind=None)
    battery = send(adapters, "split/d1/battery", "61", kind=None)

    assert isinstance(state, Reading)
    assert isinstance(battery, Reading)
    assert (state.device_id, state.kind, state.fields) == ("d1", Kind.DOOR, {"open": True})
    assert (battery.device_id, battery.kind, battery.fields) == ("d1", Kind.DOOR, {"battery": 61})


def test_a_topics_value_is_checked_against_its_fields_range(tmp_path: Path) -> None:
    result = send(adapter_set(tmp_path, SPLIT), "split/d1/battery", "101")

    assert isinstance(result, Rejection)
    assert "fields.battery: 101.0 is above 100 (from 'value')" in result.detail


def test_an_ignored_topic_is_counted_not_read(tmp_path: Path) -> None:
    result = send(adapter_set(tmp_path, SPLIT), "split/d1/lux", "300")

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.IGNORED_TOPIC
    assert result.device_id == "d1"


def test_a_required_field_no_topic_maps_is_refused(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        SPLIT.replace(
            "      open: {from: value, map: {open: true, close: false}}\n", "      tamper: value\n"
        ),
    )

    assert "kind: door readings need 'open': map it" in message


def test_an_availability_topic_with_fields_is_refused(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        SPLIT.replace(
            "    message: availability\n",
            "    message: availability\n    fields: {battery: value}\n",
        ),
    )

    assert "topics[3].fields: an availability topic maps no fields" in message


def test_a_partial_adapter_reads_a_message_without_the_state_field(tmp_path: Path) -> None:
    text = "topics:\n  - pattern: p/{device_id}\nkind: door\npartial: true\n"
    adapters = adapter_set(tmp_path, text + "fields:\n  open: o\n  battery: b\n")

    result = send(adapters, "p/d1", {"b": 40})
    whole = adapter_set(tmp_path, text.replace("partial: true\n", "") + "fields:\n  open: o\n")

    assert isinstance(result, Reading)
    assert result.fields == {"battery": 40}
    assert isinstance(send(whole, "p/d1", {"b": 40}), Rejection)


# ---- event time -------------------------------------------------------------------------

TIMED = """\
topics:
  - pattern: t/{device_id}
kind: door
fields:
  open: o
event_time:
  from: at
  format: [iso8601, unix_ms]
  hint: set the clock option to UTC
"""


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-25T13:03:05+08:00", datetime(2026, 11, 25, 5, 3, 5, tzinfo=UTC)),
        (1795582985120, datetime(2026, 11, 25, 5, 3, 5, 120_000, tzinfo=UTC)),
    ],
)
def test_a_list_of_formats_reads_text_as_iso_and_a_number_as_its_unix_format(
    tmp_path: Path, at: Any, expected: datetime
) -> None:
    result = send(adapter_set(tmp_path, TIMED), "t/d1", {"o": True, "at": at})

    assert isinstance(result, Reading)
    assert result.event_at == expected


def test_an_event_time_problem_carries_the_files_hint(tmp_path: Path) -> None:
    result = send(adapter_set(tmp_path, TIMED), "t/d1", {"o": True, "at": "2026-11-25T13:03:05"})

    assert isinstance(result, Rejection)
    assert result.detail.endswith("has no UTC offset; set the clock option to UTC")


@pytest.mark.parametrize(
    ("formats", "reason"),
    [
        ("[unix_s, unix_ms]", "unix_s and unix_ms cannot both be read"),
        ("[iso8601, iso8601]", "listed twice"),
    ],
)
def test_formats_that_cannot_be_told_apart_are_refused(
    tmp_path: Path, formats: str, reason: str
) -> None:
    assert reason in refused(tmp_path, TIMED.replace("[iso8601, unix_ms]", formats))


# ---- topics under the patterns that none fits -------------------------------------------

UNMATCHED = """\
topics:
  - pattern: bridge/{device_id}
  - pattern: bridge/{device_id}/availability
    message: availability
unmatched: names with '/' are not device ids
kind: door
fields:
  open: o
"""


def test_an_unmatched_topic_is_an_unknown_device_named_as_the_bridge_names_it(
    tmp_path: Path,
) -> None:
    adapters = adapter_set(tmp_path, UNMATCHED)

    result = send(adapters, "bridge/hall/door-2", {"o": True})

    assert isinstance(result, Rejection)
    assert (result.reason, result.device_id) == (RejectReason.UNKNOWN_DEVICE, "hall/door-2")
    assert result.detail == "'hall/door-2': names with '/' are not device ids"
    assert "bridge/#" in adapters.subscriptions()
    assert "bridge/+" not in adapters.subscriptions()


def test_unmatched_needs_patterns_under_one_first_level(tmp_path: Path) -> None:
    text = UNMATCHED.replace("bridge/{device_id}/availability", "other/{device_id}/availability")

    assert "unmatched: the topic patterns share no first level" in refused(tmp_path, text)


def test_another_adapter_under_an_unmatched_filter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "vendor.yaml").write_text(
        HEAD + "topics:\n  - pattern: zigbee2mqtt/special/{device_id}/up\nkind: door\n"
        "fields:\n  open: o\n",
        encoding="utf-8",
    )

    with pytest.raises(FileError) as caught:
        AdapterSet.load(extra_dirs=[folder])

    assert "vendor.yaml:4: topics[0].pattern: overlaps 'zigbee2mqtt/#' of zigbee2mqtt" in str(
        caught.value
    )
