"""WeCom (企业微信) group robot: POST {"msgtype": "markdown", "markdown": {"content": ...}}
to the robot's webhook URL (`.../cgi-bin/webhook/send?key=KEY`); it answers
{"errcode": 0, "errmsg": "ok"}. A robot takes about 20 messages a minute (errcode 45009
beyond that), so the channel carries a budget and can send a digest (docs/channels.md).

`Robot` is the part WeCom and DingTalk share: the budget, the digest, the POST and the
reading of errcode. The key in the URL is a credential: logs and errors show it masked.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gateway.channels import text
from gateway.channels.base import Outcome, Result
from gateway.channels.ratelimit import Window
from gateway.config import WecomChannel
from gateway.store.records import Delivery

MAX_CONTENT_BYTES = 4000  # WeCom's markdown limit is 4096 bytes
DIGEST_MAX_ITEMS = 10  # lines per digest message: 10 stay well under the byte limit


class Robot:
    """A chat robot reached by one HTTP POST of JSON, answering {"errcode": ...}."""

    # errcodes that no retry can fix (wrong key, robot removed): a dead letter at once
    GIVE_UP_CODES: frozenset[int] = frozenset()

    def __init__(
        self,
        name: str,
        url: str,
        client: httpx.AsyncClient,
        tz: ZoneInfo,
        *,
        per_minute: int,
        window_s: float,
        timeout_s: float,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.budget = Window(per_minute, window_s)
        self.digest_max_items = DIGEST_MAX_ITEMS
        self._url = url
        self._client = client
        self._tz = tz
        self._timeout_s = timeout_s
        self._secrets = secrets

    def request_url(self) -> str:
        return self._url

    def payload(self, title: str, content: str) -> dict[str, Any]:
        raise NotImplementedError

    async def deliver(self, delivery: Delivery) -> Result:
        try:
            notice = text.parse(delivery.body)
        except ValueError as exc:
            return Result(Outcome.GIVE_UP, f"unreadable body: {exc}")
        content = text.fit(text.markdown(notice, self._tz), MAX_CONTENT_BYTES)
        return await self._post(self.payload(text.headline(notice), content))

    async def deliver_digest(self, deliveries: list[Delivery]) -> Result:
        notices = []
        for d in deliveries:
            try:
                notices.append(text.parse(d.body))
            except ValueError:
                continue  # such a row fails alone when sent by itself; skip it here
        if not notices:
            return Result(Outcome.GIVE_UP, "no readable body in the digest")
        content = text.fit(text.digest_markdown(notices, self._tz), MAX_CONTENT_BYTES)
        title = text.LABELS["zh"]["digest"].format(n=len(notices))
        return await self._post(self.payload(title, content))

    async def _post(self, payload: dict[str, Any]) -> Result:
        url = self.request_url()
        try:
            response = await self._client.post(
                url,
                content=json.dumps(payload, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self._timeout_s,
            )
        except httpx.HTTPError as exc:
            return Result(Outcome.RETRY, self._scrub(f"{type(exc).__name__}: {exc}", url))
        if not response.is_success:
            return Result(Outcome.RETRY, f"HTTP {response.status_code}")
        try:
            answer = response.json()
            code = int(answer.get("errcode", -1))
        except (ValueError, AttributeError, TypeError):
            return Result(Outcome.RETRY, "answer is not the robot's JSON")
        if code == 0:
            return Result(Outcome.DELIVERED, "errcode 0")
        detail = self._scrub(f"errcode {code}: {str(answer.get('errmsg', ''))[:200]}", url)
        if code in self.GIVE_UP_CODES:
            return Result(Outcome.GIVE_UP, detail)
        return Result(Outcome.RETRY, detail)  # throttled (45009, 130101) or unknown

    def _scrub(self, detail: str, url: str) -> str:
        detail = detail.replace(url, text.masked_url(url))
        for secret in self._secrets:
            if secret:
                detail = detail.replace(secret, "***")
        return detail[:300]


class Wecom(Robot):
    # 93000: invalid webhook url (wrong or deleted key); 40058/44004: message rejected
    GIVE_UP_CODES = frozenset({93000, 40058, 44004})

    def __init__(self, settings: WecomChannel, client: httpx.AsyncClient, tz: ZoneInfo) -> None:
        url = str(settings.url)
        super().__init__(
            settings.name,
            url,
            client,
            tz,
            per_minute=settings.per_minute,
            window_s=settings.window_s,
            timeout_s=settings.timeout_s,
            secrets=(httpx.URL(url).params.get("key") or "",),
        )

    def payload(self, title: str, content: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": content}}
