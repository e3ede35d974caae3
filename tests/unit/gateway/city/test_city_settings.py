"""The city's settings are checked before anything starts, each problem naming its variable:
`gridgate city run` without a database or a broker, or with a bad one, exits 2."""

from __future__ import annotations

import os

import pytest

from gateway.cli import main
from gateway.cli.conventions import EXIT_CONFIG
from gateway.config import load_settings


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GRIDGATE_"):
            monkeypatch.delenv(name)


def test_the_city_without_its_database_and_broker_refuses_to_start_naming_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["city", "run"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "GRIDGATE_CITY__DATABASE_URL: required" in err
    assert "GRIDGATE_CITY__BROKER: required" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "value"),
    [("GRIDGATE_CITY__BROKER", "city-a"), ("GRIDGATE_CITY__BROKER", "city-a:99999"),
     ("GRIDGATE_CITY__GATEWAY_ID", "c/1"), ("GRIDGATE_CITY__HEARTBEAT_S", "0")],
)  # fmt: skip
def test_a_bad_city_setting_is_named_with_its_variable(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["city", "run"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{name}:" in err, err


def test_the_broker_is_read_as_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDGATE_CITY__BROKER", "city-a.example.org:1884")
    assert load_settings().city.broker_address == ("city-a.example.org", 1884)
    monkeypatch.delenv("GRIDGATE_CITY__BROKER")
    assert load_settings().city.broker_address is None
