"""The city feed over a real Mosquitto bridge: edge broker → city broker (with a standby),
`gridgate run` → `gridgate city run` → PostgreSQL. The primary city broker stops (the
bridge fails over to the standby, whose own city consumer applies), then the standby
stops too (the link is cut: the gateway goes on), then both come back: every event the
gateway numbered is at the city exactly once, the gap the failover made is seen and
filled, and the lag after the restore is measured."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.city.store import CityStore
from tests.cityrig import bridge_config
from tests.integration.city.conftest import StartCity, add_gateways, broker_in, gateway_seq
from tests.support import Publisher, door, fast_rules, wait_until

pytestmark = pytest.mark.integration

GATEWAY = "c-bridged"


def city_seq(store: CityStore) -> int:
    [row] = [g for g in store.gateways() if g.gateway_id == GATEWAY]
    return row.last_seq


@pytest.mark.long
def test_a_bridged_gateway_survives_failover_and_a_cut_and_the_city_gets_every_event_once(
    tmp_path: Path, cities: StartCity, city_store: CityStore, gateways: object, topic_root: str
) -> None:
    city_a = broker_in(tmp_path / "city-a")
    city_b = broker_in(tmp_path / "city-b")
    bridge = bridge_config("bridge-c-bridged", [city_a.port, city_b.port])
    edge = broker_in(tmp_path / "edge", bridge)
    publisher = Publisher(edge.port)
    try:
        add_gateways(city_store, GATEWAY)
        cities(city_a.port, client_id="gridgate-city-a")
        cities(city_b.port, client_id="gridgate-city-b")
        gw = gateways(  # type: ignore[operator]  # the fixture's start function
            edge.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=0.3),
            extra_env={"GRIDGATE_CITY__GATEWAY_ID": GATEWAY, "GRIDGATE_CITY__HEARTBEAT_S": "1"},
        )  # fmt: skip
        topic = f"{topic_root}/v1/door-b1-u1/reading"
        publisher.publish(topic, door(True))
        wait_until(lambda: city_seq(city_store) >= 3, 15, "events through the primary")

        city_a.stop()  # the primary goes: the bridge takes the standby
        before = city_seq(city_store)
        publisher.publish(topic, door(False))
        wait_until(lambda: city_seq(city_store) >= before + 3, 20, "events through the standby")

        city_b.stop()  # both gone: the link is cut, the gateway goes on
        cut_at = city_seq(city_store)
        publisher.publish(topic, door(True))
        publisher.publish(f"{topic_root}/v1/door-b1-u2/reading", door(True))
        wait_until(lambda: gateway_seq(gw) >= cut_at + 4, 15, "the gateway numbering on")
        time.sleep(0.5)
        assert city_seq(city_store) == cut_at, "nothing reached the city during the cut"

        restored = time.monotonic()
        city_a.start()
        city_b.start()  # what reached the standby before it stopped is still there
        gw.stop()  # no more events: the last number is known
        last = gateway_seq(gw)
        wait_until(lambda: city_seq(city_store) == last, 20, f"the city reaching {last}")
        [row] = [g for g in city_store.gateways() if g.gateway_id == GATEWAY]
        wait_until(lambda: city_store.gateways()[0].missing == 0, 10, "the gap filled")
        caught_up_s = time.monotonic() - restored

        log = city_store.event_log(GATEWAY)
        assert [seq for seq, _, _ in log] == list(range(1, last + 1)), "once each, none missing"
        events = [e for _, e, _ in log]
        # door-b1-u1 raised, cleared, raised again (a reopening); door-b1-u2 raised
        assert events.count("alert.raised") == 3
        assert "alert.cleared" in events
        assert "devices.health" in events
        [row] = [g for g in city_store.gateways() if g.gateway_id == GATEWAY]
        assert (row.last_seq, row.events, row.missing) == (last, last, 0)
        open_alerts = city_store.alerts(scope=None, is_open=True)
        assert sorted(a.device_id for _, _, a in open_alerts) == ["door-b1-u1", "door-b1-u2"]
        figures = {
            "events": last,
            "events_during_cut": last - cut_at,
            "caught_up_after_restore_s": round(caught_up_s, 2),
            "lag_of_last_event_s": round(row.lag_s or 0, 2),
            "redeliveries": row.redeliveries,
            "gaps_seen_then_filled": row.gaps,
        }
        (tmp_path / "figures.json").write_text(json.dumps(figures))
        print("city bridge figures:", json.dumps(figures))  # noqa: T201  # read with -s
    finally:
        publisher.close()
        for broker in (edge, city_a, city_b):
            broker.stop()
