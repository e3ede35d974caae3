"""MQTT upstream: publish each alert event to a district platform's broker (paho 2.x).

The payload is the notice JSON (`version`, `event`, `alert`, and `escalation_level` when
set; never the recipients' phones) on a topic from a template such as
`district/{district_id}/alerts/{severity}` (fields: config.MQTT_TOPIC_FIELDS).

The connection (gateway/channels/mqttlink.py) is opened on the first delivery and kept;
paho's network thread reconnects on its own. A publish is delivered once the broker's
PUBACK (QoS 1) arrives within `timeout_s`; no connection, or no PUBACK in time, is a
RETRY. QoS 1 is at least once: after a lost PUBACK the platform may see a message twice
and should drop repeats by (alert.id, event).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gateway.channels import text
from gateway.channels.base import Outcome, Result
from gateway.channels.mqttlink import Broker, MqttLink
from gateway.config import MqttChannel
from gateway.store.records import Delivery

log = logging.getLogger(__name__)


def topic_for(template: str, notice: text.Notice) -> str:
    fields = {
        "district_id": notice.location_id("district"),
        "street_id": notice.location_id("street"),
        "community_id": notice.location_id("community"),
        "grid_id": notice.location_id("grid"),
        "severity": notice.severity,
        "event": notice.event.removeprefix("alert.").replace(".", "_"),
        "rule": str(notice.alert.get("rule", "")),
    }
    # a '+', '#' or '/' inside a value would change the topic's meaning
    safe = {
        k: (v.replace("/", "_").replace("+", "_").replace("#", "_") or "-")
        for k, v in fields.items()
    }
    return template.format(**safe)


class MqttUpstream:
    def __init__(self, settings: MqttChannel) -> None:
        self.name = settings.name
        self._settings = settings
        s = settings
        self._link = MqttLink(
            f"upstream-{s.name}",
            Broker(
                host=s.host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password else None,
                tls=s.tls,
                ca_file=s.ca_file,
                client_id=s.client_id,
            ),
        )

    async def deliver(self, delivery: Delivery) -> Result:
        try:
            notice = text.parse(delivery.body)
        except ValueError as exc:
            return Result(Outcome.GIVE_UP, f"unreadable body: {exc}")
        payload: dict[str, Any] = {
            "version": json.loads(delivery.body).get("version", 1),
            "event": notice.event,
            notice.subject: notice.alert,  # "alert", or "case" for a case event
        }
        if notice.escalation_level is not None:
            payload["escalation_level"] = notice.escalation_level
        topic = topic_for(self._settings.topic_template, notice)
        data = json.dumps(payload, ensure_ascii=False).encode()
        return await self._link.publish(
            [(topic, data)], self._settings.qos, self._settings.timeout_s
        )

    async def close(self) -> None:
        await self._link.close()
