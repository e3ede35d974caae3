"""GRIDGATE_CHANNELS: a list discriminated on `type`; secrets stay secret."""

from __future__ import annotations

import json
from datetime import time

import pytest
from pydantic import ValidationError

from gateway.config import DingtalkChannel, MqttChannel, Settings, SmsChannel, WecomChannel

CHANNELS = [
    {
        "type": "wecom",
        "name": "grid-wx",
        "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
    },
    {
        "type": "dingtalk",
        "name": "grid-dt",
        "url": "https://oapi.dingtalk.com/robot/send?access_token=T",
        "secret": "SEC1",
    },
    {
        "type": "sms",
        "name": "sms",
        "url": "https://dysmsapi.aliyuncs.com/",
        "access_key_id": "LTAI1",
        "access_key_secret": "s3",
        "sign_name": "网格通知",
        "template_code": "SMS_1",
    },
    {"type": "mqtt", "name": "district", "host": "platform.example", "password": "pw"},
]


def test_channels_are_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDGATE_CHANNELS", json.dumps(CHANNELS))

    channels = Settings().channels

    assert [type(c) for c in channels] == [WecomChannel, DingtalkChannel, SmsChannel, MqttChannel]
    wx, _, sms, mqtt = channels
    assert isinstance(wx, WecomChannel)
    assert wx.per_minute == 20
    assert isinstance(sms, SmsChannel)
    assert (sms.quiet_hours.start, sms.quiet_hours.end) == (time(22), time(7))
    assert sms.per_number_per_hour == 3
    assert isinstance(mqtt, MqttChannel)
    assert mqtt.qos == 1
    dumped = repr(channels)
    for secret in ("SEC1", "s3", "pw"):
        assert f"'{secret}'" not in dumped


def test_an_unknown_type_or_field_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"union_tag_invalid|does not match"):
        Settings.model_validate({"channels": [{"type": "pager", "name": "x"}]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Settings.model_validate({"channels": [{**CHANNELS[0], "colour": "red"}]})


def test_a_topic_template_may_only_name_known_fields() -> None:
    with pytest.raises(ValidationError, match=r"unknown \['building_id'\]"):
        MqttChannel.model_validate(
            {"type": "mqtt", "name": "d", "host": "h", "topic_template": "a/{building_id}"}
        )
