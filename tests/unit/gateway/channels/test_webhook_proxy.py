"""A webhook whose URL the environment sends through a proxy goes through httpx (which
speaks to proxies); every other one over the webhook's own client. Real local servers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from gateway.channels.base import Outcome
from gateway.channels.webhook import Webhook, is_proxied
from gateway.config import WebhookTarget
from gateway.store.records import Delivery

DELIVERY = Delivery(
    id=7,
    alert_id=3,
    event="alert.raised",
    channel="webhook",
    target="ops",
    body='{"version": 1, "event": "alert.raised"}',
    idempotency_key="3:raised:ops",
    attempts=0,
    created_at=datetime(2026, 12, 4, tzinfo=UTC),
    next_attempt_at=datetime(2026, 12, 4, tzinfo=UTC),
)


def test_the_environment_decides_which_urls_are_proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert not is_proxied("http://hooks.example.org/a")

    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.org:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.org,127.0.0.1")
    assert is_proxied("http://hooks.example.org/a")
    assert not is_proxied("https://hooks.example.org/a")  # no proxy for https
    assert not is_proxied("http://internal.example.org:8080/a")
    assert not is_proxied("http://user:pw@127.0.0.1:9000/a")

    monkeypatch.setenv("ALL_PROXY", "http://proxy.example.org:3128")
    assert is_proxied("https://hooks.example.org/a")


async def _deliver_through_proxy(monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, Outcome]:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        seen.append(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = WebhookTarget.model_validate({"name": "ops", "url": "http://hooks.invalid/in"})
    async with httpx.AsyncClient() as client:
        hook = Webhook(target, client)
        result = await hook.deliver(DELIVERY)
        await hook.close()
    server.close()
    return seen[0], result.outcome


def test_a_proxied_webhook_is_sent_to_the_proxy_with_the_whole_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request, outcome = asyncio.run(asyncio.wait_for(_deliver_through_proxy(monkeypatch), 20))

    assert outcome == Outcome.DELIVERED
    assert request.startswith(b"POST http://hooks.invalid/in HTTP/1.1\r\n")
    assert b"idempotency-key: 3:raised:ops" in request.lower()
    assert request.endswith(DELIVERY.body.encode())
