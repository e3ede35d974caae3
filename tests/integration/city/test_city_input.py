"""What the city does with what arrives on its topic, through a real broker into a real
`gridgate city run` and PostgreSQL: bad messages are counted rejections by reason and
never stop it; a redelivered number is counted, not applied again; a number that skips
some is a counted gap; after a hand-off, the gateway's own escalations of the item are
refused as city-owned while what happened on the ground is applied."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.city.records import alert_record
from gateway.city.store import CityStore
from gateway.places.site import Level, Node
from gateway.store.records import Alert, AlertState
from rules.model import Severity
from tests.integration.city.conftest import StartCity, add_gateways, broker_in
from tests.support import Publisher, wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PLACE = (
    Node(Level.DISTRICT, "d-xq", "兴庆区"),
    Node(Level.STREET, "s-fq", "凤凰街道"),
    Node(Level.COMMUNITY, "c-yh", "阳河社区"),
    Node(Level.GRID, "g-yh1", "第1网格"),
)


def alert(**changes: Any) -> Alert:
    base = Alert(
        id=7, rule_id="smoke_detected", title_zh="烟雾报警", title_en="Smoke",
        severity=Severity.CRITICAL, kind="smoke", device_id="smoke-1",
        state=AlertState.RAISED, location=PLACE, place="阳河社区 / 第1网格",
        opened_at=T0, due_at=T0, raised_at=T0,
    )  # fmt: skip
    return Alert(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})


def envelope(gateway: str, seq: int, event: str, record: dict[str, Any],
             subject: str = "alert") -> bytes:  # fmt: skip
    return json.dumps({"v": 1, "id": f"{gateway}:{seq}", "gateway": gateway, "seq": seq,
                       "at": (T0 + timedelta(seconds=seq)).isoformat(), "event": event,
                       subject: record}).encode()  # fmt: skip


def test_bad_input_is_counted_by_reason_and_ownership_gaps_and_redeliveries_hold(
    tmp_path: Path, cities: StartCity, city_store: CityStore
) -> None:
    broker = broker_in(tmp_path / "city-broker")
    publisher = Publisher(broker.port)
    try:
        add_gateways(city_store, "c-yh", "c-re")
        city = cities(broker.port, GRIDGATE_CITY__HOLD_S="1")
        topic = "gridgate/city/c-yh"
        bad: list[tuple[str, bytes]] = [
            (topic, b"\xff not json"),
            (topic, b"[1, 2]"),
            (topic, b'{"v": 2}'),
            (topic, envelope("c-yh", 1, "alert.raised", {})[:-1] + b', "seq": "one"}'),
            ("gridgate/city/c-other", envelope("c-yh", 1, "alert.raised", alert_record(alert()))),
            ("gridgate/city/c-nobody", envelope("c-nobody", 1, "alert.raised", {})),
            (topic, envelope("c-yh", 1, "alert.raised", {"id": "seven"})),
        ]
        for where, payload in bad:
            publisher.publish(where, payload)
        raised = alert()
        handed = alert(escalation_level=3, is_overdue=True)
        climbed = alert(escalation_level=4, is_overdue=True)
        taken = alert(escalation_level=1, state=AlertState.ACKNOWLEDGED, acknowledged_at=T0,
                      acknowledged_by="w-1")  # fmt: skip
        good = [
            envelope("c-yh", 1, "alert.raised", alert_record(raised)),
            envelope("c-yh", 2, "alert.handed_off", alert_record(handed)),
            envelope("c-yh", 3, "alert.escalated", alert_record(climbed)),  # the city's now
            envelope("c-yh", 4, "alert.acknowledged", alert_record(taken)),  # the ground's
            envelope("c-yh", 2, "alert.handed_off", alert_record(handed)),  # again
            envelope("c-yh", 6, "devices.health", {"devices": 3}, "health"),  # 5 is missing
        ]
        for payload in good:
            publisher.publish(topic, payload)
        # out of order: 3 waits for 2, then both are applied in order
        early = alert(id=8, device_id="smoke-8")
        later = alert(id=8, device_id="smoke-8", state=AlertState.ACKNOWLEDGED,
                      acknowledged_at=T0, acknowledged_by="w-2")  # fmt: skip
        for seq, payload in ((1, envelope("c-re", 1, "alert.raised", alert_record(early))),
                             (3, envelope("c-re", 3, "alert.resolved", alert_record(later))),
                             (2, envelope("c-re", 2, "alert.acknowledged",
                                          alert_record(later)))):  # fmt: skip
            publisher.publish("gridgate/city/c-re", payload)
            del seq

        health = wait_until(
            lambda: (h := city.get("/health"))["counts"]["received"] >= len(bad) + len(good) + 3
            and h,
            10, "every message taken",
        )  # fmt: skip
        assert health["status"] == "ok", "bad input does not stop the city"
        counts = health["counts"]
        assert counts["rejected"] == {"not_json": 1, "bad_envelope": 2, "bad_version": 1,
                                      "topic_mismatch": 1, "unknown_gateway": 1,
                                      "bad_record": 1}  # fmt: skip
        assert (counts["applied"], counts["refused_city_owned"], counts["redeliveries"]) == (
            5, 1, 1)  # fmt: skip
        assert counts["held"] == 2  # c-yh:6 (5 never comes), c-re:3 (until 2 came)
        rejections = city.get("/rejections")
        assert rejections["unknown_gateway"]["last_detail"].startswith("c-nobody:1")
        assert rejections["topic_mismatch"]["last_topic"] == "gridgate/city/c-other"

        re_log = city_store.event_log("c-re")
        assert [v for _, _, v in re_log] == ["apply", "apply", "apply"]
        with city_store.connection() as conn:
            order = conn.execute("SELECT seq FROM events WHERE gateway_id = 'c-re' "
                                 "ORDER BY applied").fetchall()  # fmt: skip
        assert [r[0] for r in order] == [1, 2, 3], "applied in the order of the numbers"
        [re_alert] = [a for a in city.get("/alerts", state="all") if a["gateway"] == "c-re"]
        assert re_alert["state"] == "acknowledged"

        # c-yh:6 waits for 5, which never comes: after the hold time it is applied without it
        def released() -> Any:
            row = next(g for g in city.get("/gateways") if g["gateway_id"] == "c-yh")
            return row["held"] == 0 and row

        row = wait_until(released, 10, "the hold time running out")
        assert (row["last_seq"], row["events"], row["missing"], row["gaps"]) == (6, 5, 1, 1)
        assert (row["redeliveries"], row["refused"], row["online"]) == (1, 1, True)
        assert (row["skipped"], row["health"]) == (1, {"devices": 3})
        assert city.get("/health")["counts"]["gaps_given_up"] == 1
        [shown] = [a for a in city.get("/alerts") if a["gateway"] == "c-yh"]
        assert (shown["owner"], shown["state"], shown["acknowledged_by"]) == (
            "city", "acknowledged", "w-1")  # fmt: skip
        assert shown["escalation_level"] == 3, "the city's level stands, not the gateway's"
        assert [n["id"] for n in shown["location"]] == ["d-xq", "s-fq", "c-yh", "g-yh1"]
        log = city_store.event_log("c-yh")
        assert [(s, v) for s, _, v in log] == [(1, "apply"), (2, "apply"), (3, "city_owned"),
                                               (4, "apply"), (6, "apply")]  # fmt: skip
        # the health summary is forgotten by `gridgate city prune`; the counters stand
        forgotten = city_store.prune_health(datetime.now(UTC) + timedelta(days=1))
        assert forgotten == 1
        assert [s for s, _, _ in city_store.event_log("c-yh")] == [1, 2, 3, 4]
        row = next(g for g in city.get("/gateways") if g["gateway_id"] == "c-yh")
        assert (row["events"], row["missing"], row["health"]) == (5, 1, {"devices": 3})
    finally:
        publisher.close()
        broker.stop()
