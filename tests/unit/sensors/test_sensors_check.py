"""`gridgate sensors check`: samples through an adapter, with the verdict and exit status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sensors.check import main

FIXTURES = Path(__file__).parents[2] / "fixtures" / "adapters"
SHIPPED = Path(__file__).parents[3] / "sensors" / "adapters"


def write_samples(path: Path, *rows: dict[str, Any] | str) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["zigbee2mqtt", "acme_json", "native"])
def test_shipped_adapter_passes_its_own_samples(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name]) == 0

    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert out.rstrip().endswith("all as expected")


def test_each_sample_shows_the_reading_it_became(capsys: pytest.CaptureFixture[str]) -> None:
    main(["zigbee2mqtt"])

    out = capsys.readouterr().out
    assert 'got door door-b3-u1 {"battery": 100.0, "linkquality": 156, "open": false' in out
    assert "got rejected unknown_device: device is not registered" in out


def test_a_sample_not_as_expected_fails_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = write_samples(
        tmp_path / "z.jsonl",
        {
            "topic": "zigbee2mqtt/door-1",
            "payload": {"contact": True},
            "kind": "door",
            "expect": {"kind": "door", "fields": {"open": True}},
        },
        {
            "topic": "zigbee2mqtt/door-1",
            "payload": {"contact": True, "battery": 120},
            "kind": "door",
            "expect": {"reject": "invalid_payload", "detail": "fields.battery"},
        },
    )

    assert main(["zigbee2mqtt", str(samples)]) == 1

    out = capsys.readouterr().out
    assert f"FAIL {samples}:1 zigbee2mqtt/door-1" in out
    assert 'got door door-1 {"open": false}' in out
    assert 'expected fields {"open": true}' in out
    assert f"ok   {samples}:2" in out
    assert "fields.battery: 120 is above 100 (from 'battery')" in out
    assert out.rstrip().endswith("2 samples, 1 not as expected")


def test_an_expected_rejection_that_did_not_happen_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = write_samples(
        tmp_path / "z.jsonl",
        {
            "topic": "zigbee2mqtt/door-1",
            "payload": {"contact": False},
            "kind": "door",
            "expect": {"reject": "invalid_payload"},
        },
    )

    assert main(["zigbee2mqtt", str(samples)]) == 1
    assert "expected rejection invalid_payload, got a reading" in capsys.readouterr().out


def test_a_broken_sample_line_fails_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = write_samples(tmp_path / "z.jsonl", "{not json", {"topic": "t", "expect": {}})

    assert main(["zigbee2mqtt", str(samples)]) == 1

    out = capsys.readouterr().out
    assert f"FAIL {samples}:1: not a JSON object" in out
    assert f"FAIL {samples}:2: expect is" in out


def test_no_samples_at_all_is_a_failure(tmp_path: Path) -> None:
    assert main(["zigbee2mqtt", str(write_samples(tmp_path / "z.jsonl", ""))]) == 1


def test_an_adapter_file_by_path_uses_its_samples_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "acme_copy.yaml"
    shutil.copy(SHIPPED / "acme_json.yaml", path)

    assert main([str(path), str(SHIPPED / "samples" / "acme_json.jsonl")]) == 0
    assert "acme_json: 17 samples" in capsys.readouterr().out


def test_a_bad_adapter_file_exits_2_with_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "adapter.field-not-of-kind.yaml"

    assert main([str(path), "unused.jsonl"]) == 2
    assert f"{path}:8: fields.smoke: kind 'door' has no field" in capsys.readouterr().out


def test_an_unknown_adapter_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no_such_vendor"]) == 2
    assert "no_such_vendor.yaml" in capsys.readouterr().out


def test_a_missing_samples_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zigbee2mqtt", str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read samples" in capsys.readouterr().out
