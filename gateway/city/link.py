"""The city feed's channel: publishes a gateway's feed rows, in order, to the city topic
(gateway/city/envelope.py), through the edge broker (bridged to the city) or straight to
the city's broker. One target, one order: the outbox sends the next rows only once the
last ones are acknowledged (a row's order key is the feed's, gateway/store/records.py), so a
link down for hours keeps every row pending and sends them in order when it returns,
`batch` at a time, each batch waiting for all of its PUBACKs."""

from __future__ import annotations

from gateway.channels.base import Result
from gateway.channels.mqttlink import Broker, MqttLink
from gateway.city import envelope
from gateway.city.feed import CHANNEL
from gateway.config import CitySettings, MqttSettings
from gateway.store.records import Delivery


def broker_of(city: CitySettings, edge: MqttSettings, gateway_id: str) -> Broker:
    """The city's broker when one is set, else the edge broker (its bridge carries on)."""
    address = city.broker_address
    if address is not None:
        return Broker(
            host=address[0],
            port=address[1],
            username=city.username,
            password=city.password.get_secret_value() if city.password else None,
            client_id=f"gridgate-feed-{gateway_id}",
            reconnect_max_s=city.reconnect_max_s,
        )
    return Broker(
        host=edge.host,
        port=edge.port,
        username=edge.username,
        password=edge.password.get_secret_value() if edge.password else None,
        tls=edge.tls,
        ca_file=edge.ca_file,
        client_id=f"gridgate-feed-{gateway_id}",
        reconnect_max_s=city.reconnect_max_s,
    )


class CityLink:
    name = CHANNEL

    def __init__(self, settings: CitySettings, broker: Broker, gateway_id: str) -> None:
        self.max_batch = settings.batch
        self._timeout_s = settings.timeout_s
        self._topic = envelope.topic(settings.topic, gateway_id)
        self._link = MqttLink("city-feed", broker)

    async def deliver(self, delivery: Delivery) -> Result:
        return await self.deliver_batch([delivery])

    async def deliver_batch(self, deliveries: list[Delivery]) -> Result:
        messages = [(self._topic, envelope.encode(d)) for d in deliveries]
        return await self._link.publish(messages, 1, self._timeout_s)

    async def close(self) -> None:
        await self._link.close()
