"""A roster's `channels:` must name configured channels, the way routing resolves them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.places.roster import check_channels, load_roster
from gateway.places.site import load_site
from sensors.errors import FileError

FIXTURES = Path(__file__).parents[2] / "fixtures"
CHANNELS = {
    "webhooks": [{"name": "people-hook", "url": "http://127.0.0.1:9/hook"}],
    "channels": [{"type": "wecom", "name": "grid-wecom", "url": "http://127.0.0.1:9/w"}],
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: only what a test sets itself."""
    for name in list(os.environ):
        if name.upper().startswith("GRIDGATE_"):
            monkeypatch.delenv(name)


def roster_file(tmp_path: Path, channels: str, *, plain_list: bool = False) -> Path:
    person = (
        f"- id: w-g1\n  name: 王芳\n  role: grid_worker\n  nodes: [g1]\n  channels:\n{channels}"
    )
    text = (
        person
        if plain_list
        else "people:\n" + "".join(f"  {line}\n" for line in person.splitlines())
    )
    path = tmp_path / "roster.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_channels_named_by_instance_name_or_type_are_accepted(tmp_path: Path) -> None:
    path = roster_file(tmp_path, "  - people-hook\n  - webhook\n  - grid-wecom\n  - wecom\n")
    roster = load_roster(path, load_site(FIXTURES / "site.two-grids.yaml"))

    check_channels(roster, path, Settings.model_validate(CHANNELS).channel_names)  # no error


@pytest.mark.parametrize("plain_list", [False, True], ids=["under-people", "plain-list"])
def test_a_channel_no_setting_defines_is_refused_at_its_line(
    tmp_path: Path, *, plain_list: bool
) -> None:
    path = roster_file(tmp_path, "  - wecom\n  - sms\n", plain_list=plain_list)
    roster = load_roster(path, load_site(FIXTURES / "site.two-grids.yaml"))

    with pytest.raises(FileError) as caught:
        check_channels(roster, path, Settings.model_validate(CHANNELS).channel_names)

    line = 7 if plain_list else 8
    assert str(caught.value) == (
        f"{path}:{line}: w-g1: channel 'sms' is not configured (GRIDGATE_CHANNELS and "
        "GRIDGATE_WEBHOOKS name: grid-wecom, people-hook, webhook, wecom)"
    )


def test_without_any_channel_every_named_channel_is_refused(tmp_path: Path) -> None:
    path = roster_file(tmp_path, "  - sms\n")
    roster = load_roster(path, load_site(FIXTURES / "site.two-grids.yaml"))

    with pytest.raises(FileError, match="GRIDGATE_WEBHOOKS name: none"):
        check_channels(roster, path, Settings().channel_names)
