"""Settings: a YAML file under GRIDGATE_ environment variables; errors name file and line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.config import DEFAULT_SITE, SettingsError, load_settings, masked
from rules.model import DEFAULT_RULES
from sensors.errors import FileError

FIXTURES = Path(__file__).parents[2] / "fixtures"
MQTT_PASSWORD = "mqtt-pass-Zq81"  # noqa: S105  # a test value that must never be shown
HOOK_SECRET = "hook-secret-Xv27"  # noqa: S105  # same
MASK = "*" * 10


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets itself: drop any GRIDGATE_ variable of the machine."""
    for name in list(os.environ):
        if name.upper().startswith("GRIDGATE_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gridgate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_file_or_environment_the_demo_defaults_apply() -> None:
    s = load_settings(None)

    assert (s.mqtt.host, s.mqtt.port) == ("127.0.0.1", 1883)
    assert s.site_file == DEFAULT_SITE
    assert s.rules_file == DEFAULT_RULES
    assert s.webhooks == []


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  host: broker.local\n  port: 1884\napi:\n  port: 9090\n")

    s = load_settings(path)

    assert (s.mqtt.host, s.mqtt.port, s.api.port) == ("broker.local", 1884, 9090)


def test_environment_overrides_the_file_field_by_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, "mqtt:\n  host: broker.local\n  port: 1884\noutbox:\n  retry_max_s: 60\n"
    )
    monkeypatch.setenv("GRIDGATE_MQTT__PORT", "1999")
    monkeypatch.setenv("GRIDGATE_OUTBOX__MAX_ATTEMPTS", "5")

    s = load_settings(path)

    assert s.mqtt.port == 1999
    assert s.mqtt.host == "broker.local"  # the file's value where env says nothing
    assert s.outbox.max_attempts == 5
    assert s.outbox.retry_max_s == 60


def test_environment_alone_sets_a_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDGATE_MQTT__HOST", "10.0.0.5")
    monkeypatch.setenv("GRIDGATE_STATE_DIR", "/var/lib/gridgate")

    s = load_settings(None)

    assert s.mqtt.host == "10.0.0.5"
    assert s.database_path == Path("/var/lib/gridgate/gridgate.db")


@pytest.mark.parametrize(
    ("fixture", "where"),
    [("config.bad-port-type.yaml", "mqtt.port"), ("config.unknown-key.yaml", "mqtt_hostname")],
)
def test_invalid_config_file_names_path_and_line(fixture: str, where: str) -> None:
    path = FIXTURES / fixture

    with pytest.raises(SettingsError) as caught:
        load_settings(path)

    assert str(caught.value).startswith(f"{path}:3: {where}:"), str(caught.value)


def test_out_of_range_value_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "api:\n  host: 0.0.0.0\nmqtt:\n  keepalive_s: 1\n")

    with pytest.raises(SettingsError) as caught:
        load_settings(path)

    assert str(caught.value).startswith(f"{path}:4: mqtt.keepalive_s:")


NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize(
    ("text", "variable", "value", "place"),
    [
        # the environment sets the port's neighbour: the file's bad port keeps its line
        (
            "mqtt:\n  host: broker.local\n  port: eighty\n",
            "HOST",
            "10.0.0.5",
            "{path}:3: mqtt.port",
        ),
        # the environment overrides the file's bad port: only the variable is reported
        ("mqtt:\n  port: eighty\n", "PORT", "ninety", "GRIDGATE_MQTT__PORT"),
    ],
    ids=["file-value-beside-a-variable", "variable-over-a-file-value"],
)
def test_each_problem_is_reported_where_the_value_in_force_came_from(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    variable: str,
    value: str,
    place: str,
) -> None:
    path = write(tmp_path, text)
    monkeypatch.setenv(f"GRIDGATE_MQTT__{variable}", value)

    with pytest.raises(SettingsError) as caught:
        load_settings(path)

    assert str(caught.value).splitlines() == [f"{place.format(path=path)}: {NOT_AN_INTEGER}"]


def test_a_missing_key_of_a_section_set_by_variables_names_that_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDGATE_ESCALATION__TIMES__CRITICAL__ACK_WITHIN_S", "60")
    monkeypatch.setenv("GRIDGATE_ESCALATION__TIMES__CRITICAL__RESOLVE_WITHIN_S", "600")
    monkeypatch.setenv("GRIDGATE_ESCALATION__TIMES__CRITICAL__REMINDER_FIRST_S", "60")

    with pytest.raises(SettingsError) as caught:
        load_settings(None)

    assert str(caught.value).splitlines() == [
        "GRIDGATE_ESCALATION__TIMES__CRITICAL: reminder_max_s: Field required"
    ]


def test_config_file_that_is_not_a_mapping_is_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, "- mqtt\n- api\n")

    with pytest.raises(FileError) as caught:
        load_settings(path)

    assert str(caught.value).startswith(f"{path}:")


def test_masked_settings_never_show_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        f"webhooks:\n  - name: ops\n    url: http://127.0.0.1:9/hook\n    secret: {HOOK_SECRET}\n",
    )
    monkeypatch.setenv("GRIDGATE_MQTT__PASSWORD", MQTT_PASSWORD)
    s = load_settings(path)
    assert s.mqtt.password is not None
    assert s.mqtt.password.get_secret_value() == MQTT_PASSWORD
    assert s.webhooks[0].secret is not None
    assert s.webhooks[0].secret.get_secret_value() == HOOK_SECRET

    shown = masked(s)

    text = json.dumps(shown)
    assert MQTT_PASSWORD not in text
    assert HOOK_SECRET not in text
    assert shown["mqtt"]["password"] == MASK
    assert shown["webhooks"][0]["secret"] == MASK
    assert shown["webhooks"][0]["url"] == "http://127.0.0.1:9/hook"


def test_masked_settings_show_unset_secrets_as_none() -> None:
    shown = masked(load_settings(None))

    assert shown["mqtt"]["password"] is None
