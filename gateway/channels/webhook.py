"""Generic webhook: POST the versioned alert body as JSON.

Headers a receiver can rely on:
    Idempotency-Key        the same for every retry of one event to one target
    X-Gridgate-Event       alert.raised, alert.cleared, ...
    X-Gridgate-Delivery    the outbox row id
    X-Gridgate-Timestamp   unix seconds when this attempt was signed
    X-Gridgate-Signature   sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>, when a
                           secret is configured
Any 2xx is delivered; anything else, or no answer, is retried by the outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from gateway.channels.base import Outcome, Result
from gateway.config import WebhookTarget
from gateway.store.db import Delivery


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Webhook:
    def __init__(self, target: WebhookTarget, client: httpx.AsyncClient) -> None:
        self.name = target.name
        self._target = target
        self._client = client

    async def deliver(self, delivery: Delivery) -> Result:
        body = delivery.body.encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": delivery.idempotency_key,
            "X-Gridgate-Event": delivery.event,
            "X-Gridgate-Delivery": str(delivery.id),
            "X-Gridgate-Timestamp": timestamp,
            "User-Agent": "gridgate-webhook/1",
        }
        if self._target.secret is not None:
            headers["X-Gridgate-Signature"] = signature(
                self._target.secret.get_secret_value(), timestamp, body
            )
        try:
            response = await self._client.post(
                str(self._target.url),
                content=body,
                headers=headers,
                timeout=self._target.timeout_s,
            )
        except httpx.HTTPError as exc:
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])
        if response.is_success:
            return Result(Outcome.DELIVERED, str(response.status_code))
        return Result(Outcome.RETRY, f"HTTP {response.status_code}")
