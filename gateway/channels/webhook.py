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
the whole batch). Deliveries to one receiver run `max_in_flight` at a time over as many
kept-alive connections of its own (gateway/channels/http11.py); a receiver whose URL goes
through a proxy (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, not in `NO_PROXY`) is sent to
through httpx, which speaks to proxies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from gateway.channels.base import Outcome, Result
from gateway.channels.http11 import Http11Pool, HttpFailure
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


class _Poster(Protocol):
    async def post(self, body: bytes, headers: dict[str, str], timeout_s: float) -> int: ...

    async def aclose(self) -> None: ...


class _ThroughHttpx:
    """A proxied receiver: httpx's client (shared, closed by its owner)."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client = client
        self._url = url

    async def post(self, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        try:
            response = await self._client.post(
                self._url, content=body, headers=headers, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise HttpFailure(type(exc).__name__, str(exc)) from None
        return response.status_code

    async def aclose(self) -> None:
        return None


def is_proxied(url: str) -> bool:
    """Whether the environment sends `url` through a proxy, as httpx reads it."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.netloc.rpartition("@")[2])


class Webhook:
    def __init__(self, target: WebhookTarget, client: httpx.AsyncClient) -> None:
        self.name = target.name
        self.concurrency = target.max_in_flight
        self._target = target
        url = str(target.url)
        self._poster: _Poster = (
            _ThroughHttpx(client, url)
            if is_proxied(url)
            else Http11Pool(url, max_connections=target.max_in_flight)
        )

    async def close(self) -> None:
        await self._poster.aclose()

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
            status = await self._poster.post(body, headers, self._target.timeout_s)
        except HttpFailure as exc:
            return Result(Outcome.RETRY, str(exc)[:300])
        if 200 <= status < 300:
            return Result(Outcome.DELIVERED, str(status))
        return Result(Outcome.RETRY, f"HTTP {status}")


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
