"""Overload makes alerts late, never false: thousands of door openings, each closed again
well within the hold, published far faster than the gateway takes them. Their hold timers
come due while the closes still wait (in the inbox, the socket, the broker's queue); none
may fire before its close is applied, and a door that stays open still alerts.

The readings carry their own time, as a sensor or bridge configured for it does (Zigbee2MQTT
`advanced.last_seen`): a reading stamped on arrival is stamped when the gateway reads it,
late by the backlog itself, which no gateway can undo (docs/rules.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import (
    BurstPublisher,
    GatewayProcess,
    door_ids,
    door_site,
    fast_rules,
    wait_until,
)

pytestmark = pytest.mark.integration

DOORS = 60  # the demo site's doors are few: each opens and closes many times
ROUNDS = 300  # 60 doors x 300 rounds x 2 = 36,000 readings, sent within a second or two
HOLD_S = 0.3


def test_a_backlog_of_opens_and_closes_raises_no_false_alarm_and_a_held_door_still_alerts(
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(
        broker.port,
        topic_root,
        site_file=door_site(tmp_path, buildings=6, units=10),
        rules_file=fast_rules(tmp_path, hold_s=HOLD_S),
    )
    doors = door_ids(buildings=6, units=10)

    def reading(device: str, is_open: bool, at: datetime) -> tuple[str, bytes]:
        body = {"kind": "door", "event_at": at.isoformat(), "fields": {"open": is_open}}
        return f"{topic_root}/v1/{device}/reading", json.dumps(body).encode()

    publisher = BurstPublisher(broker.port)
    try:
        started = time.monotonic()
        for _ in range(ROUNDS):  # every door opens and, a millisecond later, closes again
            at = datetime.now(UTC)
            publisher.send(
                [reading(d, True, at) for d in doors]
                + [reading(d, False, at + timedelta(milliseconds=1)) for d in doors]
            )
        # and one door that stays open: its alert must come, late perhaps, but come
        publisher.send([reading(doors[0], True, datetime.now(UTC))])
        total = ROUNDS * len(doors) * 2 + 1
        wait_until(lambda: publisher.acked == total, 30, "the broker to take the burst")
        published_s = time.monotonic() - started
        stats = wait_until(
            lambda: (s := gw.get("/ingest/stats"))["accepted"] >= total and s,
            90,
            "every reading applied",
        )
        alerts = wait_until(lambda: gw.get("/alerts"), 10 + HOLD_S, "the held door's alert")
    finally:
        publisher.close()
    assert [(a["rule"], a["device_id"]) for a in alerts] == [("door_left_open", doors[0])]
    # not vacuous: timers did come due while the closes were still waiting to be applied
    assert stats["timers_held"] > 0, (stats, published_s)
