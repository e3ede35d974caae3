"""`gridgate sensors check`: samples through an adapter, with the verdict and exit status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sensors.adapt import AdapterSet
from sensors.check import main
from sensors.errors import FileError
from sensors.load import shipped_paths

FIXTURES = Path(__file__).parents[2] / "fixtures" / "adapters"
SHIPPED = Path(__file__).parents[3] / "sensors" / "adapters"


def write_samples(path: Path, *rows: dict[str, Any] | str) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", [*(p.stem for p in shipped_paths()), "native"])
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


ACME_SITE = """\
name: acme_site
extends: acme_json
description: a second ACME network, on its own topic root
topics:
  - pattern: acme2/{gateway_id}/{device_id}/up
  - pattern: acme2/{gateway_id}/{device_id}/link
    message: availability
"""


def test_a_site_adapter_extending_a_shipped_one_passes_the_shipped_samples_on_its_topics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "acme_site.yaml"
    path.write_text(ACME_SITE, encoding="utf-8")
    shipped = (SHIPPED / "samples" / "acme_json.jsonl").read_text(encoding="utf-8")
    samples = tmp_path / "acme_site.jsonl"
    samples.write_text(shipped.replace('"acme/', '"acme2/'), encoding="utf-8")

    assert main([str(path), str(samples)]) == 0
    assert "acme_site: 17 samples, all as expected" in capsys.readouterr().out


def test_a_copy_of_a_shipped_adapter_is_refused_for_its_name_and_topics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "acme_copy.yaml"
    shutil.copy(SHIPPED / "acme_json.yaml", path)

    assert main([str(path), str(SHIPPED / "samples" / "acme_json.jsonl")]) == 2

    out = capsys.readouterr().out
    assert f"{path}:3: name: 'acme_json' is also the name of" in out
    assert f"{path}:11: topics[0].pattern: overlaps 'acme/{{gateway_id}}/{{device_id}}/up'" in out


def test_sensors_check_and_the_gateways_loading_refuse_an_overlap_in_the_same_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    clash = folder / "adapter.overlaps-zigbee2mqtt.yaml"
    shutil.copy(FIXTURES / "adapter.overlaps-zigbee2mqtt.yaml", clash)

    with pytest.raises(FileError) as caught:
        AdapterSet.load(extra_dirs=[folder])
    assert main([str(clash), "unused.jsonl"]) == 2

    assert capsys.readouterr().out.strip() == str(caught.value)
    assert "overlaps 'zigbee2mqtt/{device_id}' of zigbee2mqtt" in str(caught.value)


def test_a_site_folder_named_with_adapter_dir_is_checked_beside_the_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "acme_site.yaml").write_text(ACME_SITE, encoding="utf-8")
    other = tmp_path / "acme_other.yaml"
    other.write_text(ACME_SITE.replace("name: acme_site", "name: acme_other"), encoding="utf-8")

    samples = write_samples(
        tmp_path / "other.jsonl",
        {
            "topic": "acme2/gw-00a1b2c3/d1/link",
            "payload": "up",
            "expect": {"kind": "availability", "fields": {"online": True}},
        },
    )

    assert main([str(other), str(samples)]) == 0  # alone it is fine
    assert main([str(other), str(samples), "--adapter-dir", str(folder)]) == 2
    assert "overlaps 'acme2/{gateway_id}/{device_id}/up' of acme_site" in capsys.readouterr().out


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
