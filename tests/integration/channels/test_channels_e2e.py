"""The gateway as a process with GRIDGATE_CHANNELS: a smoke alert reaches the WeCom robot;
a DingTalk robot with a wrong secret gives a dead letter, listed by the API and sent once
retried after the secret is fixed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker
from tests.integration.channels.servers import DingtalkRobot, WecomRobot
from tests.support import GatewayProcess, Publisher, fast_rules, gateway_env, wait_until

pytestmark = pytest.mark.integration

WRONG_SECRET = "SEC-not-the-robots-secret"  # noqa: S105  # a test value


@pytest.fixture
def gateway_dir(tmp_path: Path) -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        process.stop()


def channels_env(wecom: WecomRobot, dingtalk: DingtalkRobot, secret: str) -> str:
    return json.dumps(
        [
            {"type": "wecom", "name": "grid-wx", "url": wecom.url},
            {"type": "dingtalk", "name": "grid-dt", "url": dingtalk.url, "secret": secret},
        ]
    )


def test_alert_reaches_robots_and_a_dead_letter_is_listed_and_retried_once_fixed(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    wecom: WecomRobot,
    dingtalk: DingtalkRobot,
    tmp_path: Path,
    gateway_dir: list[GatewayProcess],
) -> None:
    env, port = gateway_env(
        tmp_path, broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=1.0)
    )
    env["GRIDGATE_CHANNELS"] = channels_env(wecom, dingtalk, WRONG_SECRET)
    env["GRIDGATE_OUTBOX__MAX_ATTEMPTS"] = "3"
    gw = GatewayProcess(env=env, log_path=tmp_path / "gateway.log", api_port=port)
    gateway_dir.append(gw)
    gw.start()

    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    [message] = wait_until(lambda: wecom.accepted, 10, "the WeCom message")
    assert "【严重】告警：烟雾报警" in message["content"]
    assert "1号楼" in message["content"]
    [dead] = wait_until(lambda: gw.get("/outbox/dead"), 10, "the DingTalk dead letter")
    assert (dead["channel"], dead["target"], dead["event"]) == (
        "dingtalk",
        "grid-dt",
        "alert.raised",
    )
    assert dead["attempts"] == 1  # a bad sign is final: no retries that cannot help
    assert "310000" in dead["error"]
    assert dingtalk.accepted == []
    refused = gw.call("GET", "/outbox/dead", token="no-such-token")  # noqa: S106  # on purpose
    assert refused.status_code == 401

    gw.stop()
    gw.env["GRIDGATE_CHANNELS"] = channels_env(wecom, dingtalk, dingtalk.secret)
    gw.start()
    retried = gw.post(f"/outbox/{dead['id']}/retry", {})
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"id": dead["id"], "state": "pending"}
    [sent] = wait_until(lambda: dingtalk.accepted, 10, "the retried DingTalk message")
    assert "烟雾报警" in sent["content"]
    wait_until(lambda: gw.get("/outbox/dead") == [], 5, "no dead letters left")
    again = gw.post(f"/outbox/{dead['id']}/retry", {})
    assert again.status_code == 409  # delivered now: never sent twice
    assert gw.post("/outbox/999999/retry", {}).status_code == 404
    assert len(wecom.accepted) == 1
    assert len(dingtalk.accepted) == 1

    log = (tmp_path / "gateway.log").read_text()
    for secret in (WRONG_SECRET, dingtalk.secret, dingtalk.access_token, wecom.key):
        assert secret not in log
