"""A gateway connected straight to the city's broker (GRIDGATE_CITY__BROKER, no bridge):
its alerts reach the city with their whole place; the city killed with -9 and restarted
takes up where it was (the broker kept its session); with the city's broker gone the
gateway's rows wait in its outbox, through a kill -9 of the gateway, and reach the city in
order once the broker is back, none twice, none missing; and the
city's alert KPIs by street are the gateway's own for the same period."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.city.store import CityStore
from gateway.runtime.broker import LocalBroker
from tests.integration.city.conftest import StartCity, add_gateways, broker_in, gateway_seq
from tests.support import Publisher, door, fast_rules, wait_until

pytestmark = pytest.mark.integration

GATEWAY = "c-direct"


def city_row(store: CityStore) -> Any:
    return next(g for g in store.gateways() if g.gateway_id == GATEWAY)


@pytest.mark.long
def test_straight_to_the_city_through_kill_9_of_either_side_and_a_cut_with_the_same_kpis(
    tmp_path: Path,
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    cities: StartCity,
    city_store: CityStore,
    gateways: Any,
) -> None:
    city_broker = broker_in(tmp_path / "city-broker")
    try:
        add_gateways(city_store, GATEWAY)
        city = cities(city_broker.port)
        env = {
            "GRIDGATE_CITY__GATEWAY_ID": GATEWAY,
            "GRIDGATE_CITY__BROKER": f"127.0.0.1:{city_broker.port}",
            "GRIDGATE_CITY__HEARTBEAT_S": "1",
            "GRIDGATE_CITY__RECONNECT_MAX_S": "1",
        }
        gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=0.3),
                      extra_env=env)  # fmt: skip
        for unit in ("u1", "u2"):
            publisher.publish(f"{topic_root}/v1/door-b1-{unit}/reading", door(True))
        [first, _] = wait_until(lambda: len(a := gw.get("/alerts")) == 2 and a, 10, "2 alerts")
        assert gw.post(f"/alerts/{first['id']}/ack", {"by": "王网格员"}).status_code == 200

        def acknowledged_at_city() -> bool:
            shown = {a["id"]: a for a in city.get("/alerts")}
            return shown.get(first["id"], {}).get("state") == "acknowledged"

        wait_until(acknowledged_at_city, 10, "the acknowledgement at the city")
        shown = {a["id"]: a for a in city.get("/alerts")}[first["id"]]
        assert shown["place"] == first["place"]
        assert [n["id"] for n in shown["location"]] == [n["id"] for n in first["location"]]
        assert shown["gateway"] == GATEWAY

        # the same alerts, the same period, the same formulas: the same figures
        until = datetime.now(UTC) + timedelta(minutes=1)
        since = until - timedelta(hours=1)
        period = {"since": since.isoformat(), "until": until.isoformat()}
        ours = gw.get("/kpis", level="street", **period)
        theirs = city.get("/kpis", level="street", **period)["alerts"]
        assert theirs["total"]["raised"] == 2
        assert theirs["total"]["acknowledged"] == 1
        for key in ("raised", "acknowledged", "acknowledged_in_time", "resolved", "open",
                    "overdue", "median_ack_s"):  # fmt: skip
            assert theirs["total"][key] == ours["total"][key], key
            assert [n[key] for n in theirs["nodes"]] == [n[key] for n in ours["nodes"]], key
        assert [n["node_id"] for n in theirs["nodes"]] == [n["node_id"] for n in ours["nodes"]]

        # the city dies mid-stream and comes back: the broker kept what came meanwhile
        city.stop(signal.SIGKILL)
        wait_until(lambda: gateway_seq(gw) >= city_row(city_store).last_seq + 2, 10,
                   "events while the city is dead")  # fmt: skip
        city.start()
        wait_until(lambda: city_row(city_store).last_seq >= gateway_seq(gw) - 1, 10, "caught up")

        # the link is cut (the city's broker is gone): the rows wait in the gateway's
        # outbox, through a kill -9 and a restart of the gateway, and go in order after
        city_broker.stop()
        cut_at = gateway_seq(gw)
        publisher.publish(f"{topic_root}/v1/door-b1-u2/reading", door(False))
        wait_until(lambda: gateway_seq(gw) >= cut_at + 2, 10, "numbers during the cut")
        assert gw.stop(signal.SIGKILL) == -signal.SIGKILL
        gw.start()
        wait_until(lambda: gateway_seq(gw) >= cut_at + 3, 10, "numbers after the restart")
        restored = time.monotonic()
        city_broker.start()
        wait_until(lambda: city_row(city_store).last_seq >= cut_at + 3, 20, "the catch-up")
        caught_up_s = time.monotonic() - restored
        gw.stop()
        last = gateway_seq(gw)
        wait_until(lambda: city_row(city_store).last_seq == last, 20, f"the city at {last}")
        row = city_row(city_store)
        assert (row.events, row.missing, row.gaps) == (last, 0, 0)
        log = city_store.event_log(GATEWAY)
        assert [s for s, _, _ in log] == list(range(1, last + 1)), "once each, in order"
        assert "alert.cleared" in [e for s, e, _ in log if s > cut_at]
        print(f"direct: {last} events, caught up {caught_up_s:.1f} s after the broker returned")  # noqa: T201

    finally:
        city_broker.stop()
