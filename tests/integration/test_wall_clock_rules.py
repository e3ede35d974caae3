"""The shipped rules read the wall clock in the site's timezone: the gateway process is
started on a wall clock set to a night or a day instant (tests/wallclock), whatever the
hour this test runs at, and a door opened then is judged by that clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import SHIPPED_RULES, GatewayProcess, Publisher, door, wait_until, wall_clock_env

pytestmark = pytest.mark.integration

SMOKE = '{"kind":"smoke","fields":{"smoke":true}}'
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the demo site's timezone


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        ("02:30", ["door_forced_at_night", "smoke_detected"]),  # window 01:00-04:00
        ("10:30", ["smoke_detected"]),
    ],
    ids=["night", "day"],
)
def test_a_door_opened_in_the_dead_of_night_raises_at_once_and_by_day_it_does_not(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    local_time: str,
    expected: list[str],
) -> None:
    gw = gateways(
        broker.port, topic_root, rules_file=SHIPPED_RULES, extra_env=wall_clock_env(local_time)
    )
    publisher.publish(f"{topic_root}/v1/door-b1-u1/reading", door(True))  # stamped on arrival
    # the smoke reading comes after the door's: once its alert is there, the door's is decided
    publisher.publish(f"{topic_root}/v1/smoke-b1-u1/reading", SMOKE)
    alerts = wait_until(
        lambda: (a := gw.get("/alerts")) and any(x["rule"] == "smoke_detected" for x in a) and a,
        10,
        "the smoke alert",
    )
    assert sorted(a["rule"] for a in alerts) == expected
    # the gateway ran on the clock it was given: raised minutes after that local time
    raised = datetime.fromisoformat(alerts[0]["raised_at"]).astimezone(SHANGHAI)
    start = datetime.combine(raised.date(), time.fromisoformat(local_time), tzinfo=SHANGHAI)
    if start > raised:
        start -= timedelta(days=1)
    assert timedelta(0) <= raised - start < timedelta(minutes=5)
