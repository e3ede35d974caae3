"""Residents of a unit get an SMS when their unit door is left open (gateway as a process,
a real broker, the local SMS provider that checks Aliyun-style signatures)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.runtime.broker import LocalBroker
from tests.integration.channels.servers import SmsProvider
from tests.support import REPO, GatewayProcess, Publisher, door, fast_rules, gateway_env, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        process.stop()


def test_residents_get_one_reminder_sms_when_their_unit_door_is_left_open(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    sms: SmsProvider,
    tmp_path: Path,
    gateways: list[GatewayProcess],
) -> None:
    # quiet hours that never cover this test, whatever the time of day
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    quiet = {
        "start": (local + timedelta(hours=2)).strftime("%H:%M"),
        "end": (local + timedelta(hours=3)).strftime("%H:%M"),
    }
    env, port = gateway_env(
        tmp_path,
        broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=0.5),
        site_file=REPO / "tests" / "fixtures" / "site.residents.yaml",
    )
    env["GRIDGATE_CHANNELS"] = json.dumps(
        [
            {
                "type": "sms",
                "name": "sms",
                "url": sms.url,
                "access_key_id": sms.access_key_id,
                "access_key_secret": sms.access_key_secret,
                "sign_name": sms.sign_name,
                "template_code": sms.template_code,
                "quiet_hours": quiet,
            }
        ]
    )
    gw = GatewayProcess(env=env, log_path=tmp_path / "gateway.log", api_port=port)
    gateways.append(gw)
    gw.start()

    publisher.publish(f"{topic_root}/v1/door-b1-u1/reading", door(True))
    publisher.publish(f"{topic_root}/v1/door-b1-u2/reading", door(True))  # no residents listed
    [sent] = wait_until(lambda: sms.accepted, 10, "the residents' SMS")
    assert sorted(sent["phones"]) == ["13900000011", "13900000012"]
    assert "1号楼" in sent["params"]["place"]
    wait_until(lambda: len(gw.get("/alerts")) == 2, 5, "both door alerts")
    publisher.publish(f"{topic_root}/v1/door-b1-u1/reading", door(False))
    wait_until(lambda: gw.get("/health")["outbox"]["pending"] == 0, 10, "an empty outbox")
    assert len(sms.accepted) == 1  # one reminder per open period; closing texts nobody
    log = (tmp_path / "gateway.log").read_text()
    assert "13900000011" not in log  # residents' numbers never reach the log
