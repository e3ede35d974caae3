"""The marker that says the broker has sent what it kept for our session: timers wait for
this connection's marker from the start and after each reconnect, and no longer than
SYNC_TIMEOUT_S; an older connection's marker ends nothing; while not connected nothing is
waited for."""

from __future__ import annotations

import logging

import pytest

from gateway.ingest.sync import SYNC_TIMEOUT_S, SyncMarker

TOPIC = "gridgate/v1/gateway/sync/gridgate-gateway"


class Monotonic:
    def __init__(self) -> None:
        self.at = 100.0

    def __call__(self) -> float:
        return self.at


def test_timers_wait_from_the_start_until_this_connections_marker_comes_back() -> None:
    marker = SyncMarker(TOPIC, Monotonic())
    assert marker.is_waiting()  # before the first connection: nothing read yet
    marker.opened()
    first = marker.token
    marker.arrived(first)
    assert not marker.is_waiting()
    marker.stop_waiting()  # the connection is lost
    marker.opened()
    assert marker.token != first
    assert marker.is_waiting()
    marker.arrived(first)  # the old connection's marker, kept by the broker: not ours
    assert marker.is_waiting()
    marker.arrived(marker.token)
    assert not marker.is_waiting()


def test_a_lost_or_failed_connection_stops_the_wait() -> None:
    marker = SyncMarker(TOPIC, Monotonic())
    marker.stop_waiting()  # the first connect failed: the broker is down
    assert not marker.is_waiting()


def test_a_marker_that_never_comes_is_waited_for_no_longer_than_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Monotonic()
    marker = SyncMarker(TOPIC, clock)
    marker.opened()
    clock.at += SYNC_TIMEOUT_S - 0.1
    assert marker.is_waiting()
    clock.at += 0.2
    with caplog.at_level(logging.WARNING, logger="gateway.ingest.sync"):
        assert not marker.is_waiting()
        assert not marker.is_waiting()  # said once
    assert [r.message.split()[0] for r in caplog.records] == ["mqtt_sync_timeout"]
