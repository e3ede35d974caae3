"""Generic webhook: POST the versioned alert body as JSON.

Version 1 (the default): one alert event per POST, the body of gateway/alerts/notice.py.
Version 2 (`"version": 2` on the receiver): the events due for that receiver together,
up to `max_alerts` per POST, in order, Alertmanager-style:

    {"version": 2, "receiver": "ops",
     "alerts": [{"idempotency_key": "...", "version": 1, "event": "alert.raised",
                 "alert": {...}}, ...]}

each item being exactly the version-1 body plus its idempotency key.

Headers a receiver can rely on:
    Idempotency-Key        the same for every retry of one event to one target
                           (version 2: of the first item; each item carries its own)
    X-Gridgate-Event       alert.raised, alert.cleared, ... (version 2: "batch")
    X-Gridgate-Delivery    the outbox row id (version 2: the ids, comma-separated)
    X-Gridgate-Timestamp   unix seconds when this attempt was signed
    X-Gridgate-Signature   sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>, when a
                           secret is configured
Any 2xx is delivered; anything else, or no answer, is retried by the outbox (version 2:
the whole batch). Deliveries to one receiver run `max_in_flight` at a time over the HTTP
client's kept-alive connections.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from gateway.channels.base import Outcome, Result
from gateway.config import WebhookTarget
from gateway.store.records import Delivery


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def batch_body(receiver: str, deliveries: list[Delivery]) -> bytes:
    """The version-2 body: each row's version-1 body with its idempotency key first
    (joined as text: the rows' bodies are JSON objects already)."""
    items = [
        '{"idempotency_key": ' + json.dumps(d.idempotency_key) + ", " + d.body.lstrip()[1:]
        for d in deliveries
    ]
    head = '{"version": 2, "receiver": ' + json.dumps(receiver) + ', "alerts": ['
    return (head + ", ".join(items) + "]}").encode()


class Webhook:
    def __init__(self, target: WebhookTarget, client: httpx.AsyncClient) -> None:
        self.name = target.name
        self.concurrency = target.max_in_flight
        self._target = target
        self._client = client
        self._url = str(target.url)

    async def deliver(self, delivery: Delivery) -> Result:
        return await self._post(
            delivery.body.encode(),
            delivery.idempotency_key,
            delivery.event,
            str(delivery.id),
        )

    async def _post(self, body: bytes, key: str, event: str, ids: str) -> Result:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
            "X-Gridgate-Event": event,
            "X-Gridgate-Delivery": ids,
            "X-Gridgate-Timestamp": timestamp,
            "User-Agent": f"gridgate-webhook/{self._target.version}",
        }
        if self._target.secret is not None:
            headers["X-Gridgate-Signature"] = signature(
                self._target.secret.get_secret_value(), timestamp, body
            )
        try:
            response = await self._client.post(
                self._url, content=body, headers=headers, timeout=self._target.timeout_s
            )
        except httpx.HTTPError as exc:
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])
        if response.is_success:
            return Result(Outcome.DELIVERED, str(response.status_code))
        return Result(Outcome.RETRY, f"HTTP {response.status_code}")


class BatchWebhook(Webhook):
    """A version-2 receiver: the due events together (`Batching`)."""

    def __init__(self, target: WebhookTarget, client: httpx.AsyncClient) -> None:
        super().__init__(target, client)
        self.max_batch = target.max_alerts

    async def deliver(self, delivery: Delivery) -> Result:
        return await self.deliver_batch([delivery])

    async def deliver_batch(self, deliveries: list[Delivery]) -> Result:
        return await self._post(
            batch_body(self.name, deliveries),
            deliveries[0].idempotency_key,
            "batch",
            ",".join(str(d.id) for d in deliveries),
        )
