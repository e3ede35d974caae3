"""WeCom and DingTalk robots: format, signature, throttling and digests, against local
servers that check requests as the providers document them."""

from __future__ import annotations

import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

import httpx
import pytest

from gateway.channels.base import Channel
from gateway.channels.dingtalk import Dingtalk
from gateway.channels.wecom import Wecom
from gateway.config import DingtalkChannel, OutboxSettings, WecomChannel
from rules.model import Severity
from tests.integration.channels.conftest import Rig
from tests.integration.channels.servers import DingtalkRobot, Provider, WecomRobot

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
Build = Callable[[httpx.AsyncClient], dict[tuple[str, str], Channel]]


def wecom_channel(server: WecomRobot, *, key: str | None = None, **kw: object) -> Build:
    url = server.url if key is None else server.url.replace(server.key, key)
    settings = WecomChannel.model_validate({"type": "wecom", "name": "grid", "url": url, **kw})
    return lambda http: {("wecom", "grid"): Wecom(settings, http, TZ)}


def dingtalk_channel(server: DingtalkRobot, *, secret: str | None = None, **kw: object) -> Build:
    settings = DingtalkChannel.model_validate(
        {
            "type": "dingtalk",
            "name": "grid",
            "url": server.url,
            "secret": secret or server.secret,
            **kw,
        }
    )
    return lambda http: {("dingtalk", "grid"): Dingtalk(settings, http, TZ)}


@pytest.fixture(params=["wecom", "dingtalk"])
def robot(
    request: pytest.FixtureRequest, wecom: WecomRobot, dingtalk: DingtalkRobot
) -> tuple[str, Provider, Callable[..., Build]]:
    if request.param == "wecom":
        return "wecom", wecom, lambda **kw: wecom_channel(wecom, **kw)
    return "dingtalk", dingtalk, lambda **kw: dingtalk_channel(dingtalk, **kw)


def test_robot_gets_zh_markdown_with_severity_title_place_local_time_and_link(
    rig: Rig, robot: tuple[str, Provider, Callable[..., Build]]
) -> None:
    kind, server, build = robot
    link = "https://grid.example.org/a/tok-123"
    [alert] = rig.raise_alerts(1, kind, "grid", severity=Severity.CRITICAL, extra={"link": link})

    rig.run(build(), lambda: rig.counts()["delivered"] == 1, what="the delivery")

    [message] = server.accepted
    content = message["content"]
    assert "【严重】告警：告警0" in content
    assert alert.place in content
    assert alert.opened_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M") in content
    assert f"({link})" in content
    if kind == "dingtalk":
        assert message["title"] == "【严重】告警：告警0"


def test_wecom_wrong_key_is_a_dead_letter_and_the_key_is_not_in_the_error(
    rig: Rig, wecom: WecomRobot
) -> None:
    rig.raise_alerts(1, "wecom", "grid")

    rig.run(wecom_channel(wecom, key="not-the-key"), lambda: rig.counts()["dead"] == 1, what="dead")

    assert wecom.accepted == []
    assert wecom.refused == [{"errcode": 93000}]
    [dead] = rig.store.outbox.dead_letters()
    assert dead.error.startswith("errcode 93000")
    assert "not-the-key" not in dead.error
    assert rig.counts()["delivered"] == 0


def test_dingtalk_wrong_secret_fails_the_server_sign_check_and_is_never_delivered(
    rig: Rig, dingtalk: DingtalkRobot
) -> None:
    rig.raise_alerts(1, "dingtalk", "grid")

    rig.run(
        dingtalk_channel(dingtalk, secret="SEC-wrong-secret"),  # noqa: S106  # wrong on purpose
        lambda: rig.counts()["dead"] == 1,
        what="the dead letter",
    )

    assert dingtalk.accepted == []
    assert dingtalk.refused[0] == {"errcode": 310000, "errmsg": "sign not match"}
    [dead] = rig.store.outbox.dead_letters()
    assert "310000" in dead.error
    for secret in ("SEC-wrong-secret", dingtalk.access_token):
        assert secret not in dead.error
    assert rig.counts()["delivered"] == 0


def test_a_burst_beyond_the_budget_arrives_as_digests_naming_every_alert(
    rig: Rig, robot: tuple[str, Provider, Callable[..., Build]]
) -> None:
    kind, server, build = robot
    rig.raise_alerts(30, kind, "grid")

    rig.run(build(), lambda: rig.counts()["delivered"] == 30, what="30 deliveries")

    assert 1 <= len(server.accepted) <= 20
    assert server.refused == []
    text = "\n".join(m["content"] for m in server.accepted)
    for i in range(30):
        assert re.search(rf"告警{i}(?!\d)", text), f"告警{i} is in no message"
    assert "条新告警" in server.accepted[0]["content"]


def test_rows_beyond_the_budget_wait_for_the_window_then_go(rig: Rig, wecom: WecomRobot) -> None:
    # budget 1 per 0.5 s, digests of 10: 25 rows need 3 messages, so 2 windows of waiting
    rig.raise_alerts(25, "wecom", "grid")

    rig.run(
        wecom_channel(wecom, per_minute=1, window_s=0.5),
        lambda: rig.counts()["delivered"] == 25,
        what="25 deliveries",
    )

    assert len(wecom.accepted) == 3
    assert rig.counts()["dead"] == 0


def test_throttled_answers_are_retried_until_the_robot_takes_them(
    rig: Rig, robot: tuple[str, Provider, Callable[..., Build]]
) -> None:
    kind, server, build = robot
    server.per_window, server.window_s = 3, 0.5  # the robot is stricter than configured
    rig.raise_alerts(5, kind, "grid")

    rig.run(
        build(),
        lambda: rig.counts()["delivered"] == 5,
        settings=OutboxSettings(retry_min_s=0.3, retry_max_s=0.6, max_attempts=20),
        what="5 deliveries",
    )

    assert {r["errcode"] for r in server.refused} == {45009 if kind == "wecom" else 130101}
    assert sorted(m["content"].split("：")[1].split("\n")[0] for m in server.accepted) == [
        f"告警{i}" for i in range(5)
    ]
