"""Channel instances from settings, keyed like outbox rows: (channel type, target name)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import httpx

from gateway.channels.base import Channel
from gateway.channels.dingtalk import Dingtalk
from gateway.channels.mqtt_upstream import MqttUpstream
from gateway.channels.sms import Sms
from gateway.channels.webhook import BatchWebhook, Webhook
from gateway.channels.wecom import Wecom
from gateway.config import (
    ChannelSettings,
    DingtalkChannel,
    MqttChannel,
    SmsChannel,
    WebhookTarget,
    WecomChannel,
)

log = logging.getLogger(__name__)


@runtime_checkable
class Closing(Protocol):
    """A channel that keeps a connection of its own."""

    async def close(self) -> None: ...


def build_channels(
    settings: Sequence[ChannelSettings],
    webhooks: Sequence[WebhookTarget],
    http_client: httpx.AsyncClient,
    tz: ZoneInfo,
) -> dict[tuple[str, str], Channel]:
    """Every configured channel; two of one type with one name is a ValueError."""
    # httpx logs each request's full URL at INFO: robot keys, access tokens and signs ride
    # in the query string, so its request lines stay out of our logs
    logging.getLogger("httpx").setLevel(logging.WARNING)
    channels: dict[tuple[str, str], Channel] = {}

    def add(kind: str, name: str, channel: Channel) -> None:
        # one name, one channel, across types: routing's idempotency keys carry the name only
        taken = next((k for k, n in channels if n == name), None)
        if taken is not None:
            raise ValueError(f"channel name {name!r} is used twice ({taken} and {kind})")
        channels[(kind, name)] = channel

    for hook in webhooks:
        add(
            "webhook",
            hook.name,
            BatchWebhook(hook, http_client) if hook.version == 2 else Webhook(hook, http_client),
        )
    for item in settings:
        if isinstance(item, WecomChannel):
            add(item.type, item.name, Wecom(item, http_client, tz))
        elif isinstance(item, DingtalkChannel):
            add(item.type, item.name, Dingtalk(item, http_client, tz))
        elif isinstance(item, SmsChannel):
            add(item.type, item.name, Sms(item, http_client, tz))
        elif isinstance(item, MqttChannel):
            add(item.type, item.name, MqttUpstream(item))
    log.info(
        "channels_loaded channels=%s", ",".join(f"{k}:{n}" for k, n in sorted(channels)) or "-"
    )
    return channels


async def close_channels(channels: dict[tuple[str, str], Channel]) -> None:
    """Close what holds a connection (MQTT upstream, the city feed, a webhook's pool);
    the other HTTP channels share the caller's client."""
    for channel in channels.values():
        if isinstance(channel, Closing):
            await channel.close()
