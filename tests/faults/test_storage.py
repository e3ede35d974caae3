"""Storage trouble: a database another process locks, and a full disk. The gateway says so
on /health, acknowledges no MQTT message it could not commit, never corrupts its file, and
catches up on every reading once the trouble is gone."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from gateway.runtime.broker import LocalBroker
from tests.faults.figures import record
from tests.faults.stream import DoorStream, applied
from tests.support import GatewayProcess, fast_rules, wait_until

pytestmark = pytest.mark.integration


def _integrity(database: Path) -> str:
    with closing(sqlite3.connect(database, timeout=5)) as db:
        result: str = db.execute("PRAGMA integrity_check").fetchone()[0]
    return result


def _unhealthy(gw: GatewayProcess, words: str) -> list[str] | None:
    response = httpx.get(gw.base_url + "/health", timeout=2)
    reasons: list[str] = response.json()["reasons"]
    if response.status_code == 503 and any("store" in r and words in r for r in reasons):
        return reasons
    return None


def _healthy(gw: GatewayProcess) -> bool:
    return httpx.get(gw.base_url + "/health", timeout=2).status_code == 200


def test_a_database_locked_by_another_process_holds_readings_back_until_it_is_released(
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    count = 240
    gw = gateways(
        broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=3600),
        extra_env={"GRIDGATE_STORE__BUSY_TIMEOUT_S": "0.2"},
    )
    database = Path(gw.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
    stream = DoorStream(broker.port, topic_root, count)
    locker = sqlite3.connect(database, isolation_level=None, timeout=5)
    try:
        stream.publish(60)
        wait_until(lambda: applied(database)[0] == 60, 10, "the first readings")

        # 1. locked while running: unhealthy, nothing applied, everything once released
        locker.execute("BEGIN EXCLUSIVE")
        stream.publish(120)
        reasons = wait_until(lambda: _unhealthy(gw, "locked"), 10, "503 naming the lock")
        assert gw.call("GET", "/alerts").status_code == 200  # reads still answer
        locker.execute("COMMIT")
        wait_until(lambda: applied(database)[0] == 120, 20, "the held readings applied")
        wait_until(lambda: _healthy(gw), 5, "health back to 200")

        # 2. locked, then the gateway is killed: what it held was never acknowledged
        locker.execute("BEGIN EXCLUSIVE")
        stream.publish(count)
        wait_until(lambda: _unhealthy(gw, "locked"), 10, "503 naming the lock again")
        wait_until(stream.all_acknowledged, 10, "the broker to take every reading")
        assert gw.stop(signal.SIGKILL) == -signal.SIGKILL
        locker.execute("COMMIT")
        gw.start()
        wait_until(lambda: applied(database)[0] >= count, 20, "every reading after restart")
    finally:
        stream.close()
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()
    total, twice = applied(database)
    assert (total, twice) == (count, 0)
    doors = {d["device_id"]: d["state"] for d in gw.get("/doors")}
    assert {d: doors[d] for d in stream.last_states()} == stream.last_states()
    gw.stop()
    integrity = _integrity(database)
    assert integrity == "ok"
    record(
        "database_locked_then_killed",
        published=count,
        published_while_locked=count - 60,
        applied=total,
        applied_twice=twice,
        lost=count - total,
        health_reason=reasons[0],
        integrity=integrity,
    )


def test_a_full_disk_is_reported_and_a_restart_with_space_applies_every_reading(
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    count = 600
    rules = fast_rules(tmp_path, hold_s=3600)
    gw = gateways(broker.port, topic_root, rules_file=rules)
    database = Path(gw.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
    gw.stop()
    with closing(sqlite3.connect(database)) as db:
        pages: int = db.execute("PRAGMA page_count").fetchone()[0]
    # a "disk" with room for a few more pages (4 KiB each) than the empty database needs
    gw.env["GRIDGATE_STORE__MAX_PAGES"] = str(pages + 4)
    gw.start()
    stream = DoorStream(broker.port, topic_root, count)
    try:
        stream.publish(count)
        reasons = wait_until(lambda: _unhealthy(gw, "full"), 15, "503 naming the full disk")
        wait_until(stream.all_acknowledged, 10, "the broker to take every reading")
        held_back = count - applied(database)[0]
        assert held_back > 0
        assert gw.stop() == 0  # a clean stop even so: what failed stays unacknowledged
        assert _integrity(database) == "ok"
        del gw.env["GRIDGATE_STORE__MAX_PAGES"]  # space again
        gw.start()
        wait_until(lambda: applied(database)[0] >= count, 20, "every reading after restart")
        wait_until(lambda: _healthy(gw), 5, "health back to 200")
    finally:
        stream.close()
    total, twice = applied(database)
    assert (total, twice) == (count, 0)
    gw.stop()
    integrity = _integrity(database)
    assert integrity == "ok"
    record(
        "disk_full_then_restart",
        published=count,
        held_back_while_full=held_back,
        applied_after_restart_with_space=total,
        applied_twice=twice,
        lost=count - total,
        health_reason=reasons[0],
        integrity=integrity,
        recovery="restart with space (max_page_count is fixed per connection)",
    )
