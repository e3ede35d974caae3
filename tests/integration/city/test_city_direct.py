"""A gateway connected straight to the city's broker (GRIDGATE_CITY__BROKER, no bridge):
its alerts reach the city with their whole place; the gateway killed with -9 and
restarted numbers on without a repeat or a hole; the city killed with -9 and restarted
takes up where it was (the broker kept its session), counting what comes twice; and the
city's alert KPIs by street are the gateway's own for the same period."""

from __future__ import annotations

import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.city.store import CityStore
from gateway.runtime.broker import LocalBroker
from tests.integration.city.conftest import StartCity, add_gateways, broker_in
from tests.support import GatewayProcess, Publisher, door, fast_rules, wait_until

pytestmark = pytest.mark.integration

GATEWAY = "c-direct"


def gateway_seq(gw: GatewayProcess) -> int:
    path = Path(gw.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0])


def city_row(store: CityStore) -> Any:
    return next(g for g in store.gateways() if g.gateway_id == GATEWAY)


def test_straight_to_the_city_through_kill_9_of_either_side_with_the_gateways_kpis(
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

        # the gateway dies mid-stream and comes back: it numbers on from what it wrote
        before = gateway_seq(gw)
        assert gw.stop(signal.SIGKILL) == -signal.SIGKILL
        gw.start()
        publisher.publish(f"{topic_root}/v1/door-b1-u2/reading", door(False))
        wait_until(lambda: gateway_seq(gw) >= before + 2, 10, "numbers after the restart")

        # the city dies mid-stream and comes back: the broker kept what came meanwhile
        city.stop(signal.SIGKILL)
        wait_until(lambda: gateway_seq(gw) >= city_row(city_store).last_seq + 2, 10,
                   "events while the city is dead")  # fmt: skip
        city.start()
        gw.stop()
        last = gateway_seq(gw)
        wait_until(lambda: city_row(city_store).last_seq == last, 15, f"the city at {last}")
        row = city_row(city_store)
        assert (row.events, row.missing, row.gaps) == (last, 0, 0)
        assert [s for s, _, _ in city_store.event_log(GATEWAY)] == list(range(1, last + 1))

        # the same alerts, the same period, the same formulas: the same figures
        until = datetime.now(UTC) + timedelta(minutes=1)
        since = until - timedelta(hours=1)
        period = {"since": since.isoformat(), "until": until.isoformat()}
        gw.start()
        ours = gw.get("/kpis", level="street", **period)
        theirs = city.get("/kpis", level="street", **period)["alerts"]
        assert theirs["total"]["raised"] == 2
        assert theirs["total"]["acknowledged"] == 1
        for key in ("raised", "acknowledged", "acknowledged_in_time", "resolved", "open",
                    "overdue", "median_ack_s"):  # fmt: skip
            assert theirs["total"][key] == ours["total"][key], key
            assert [n[key] for n in theirs["nodes"]] == [n[key] for n in ours["nodes"]], key
        assert [n["node_id"] for n in theirs["nodes"]] == [n["node_id"] for n in ours["nodes"]]
    finally:
        city_broker.stop()
