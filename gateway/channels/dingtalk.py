"""DingTalk (钉钉) custom robot with 加签 (signing): POST {"msgtype": "markdown",
"markdown": {"title", "text"}} to `https://oapi.dingtalk.com/robot/send?access_token=T`
plus `&timestamp=<ms>&sign=<s>`, where

    s = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))

and the timestamp must be within an hour of DingTalk's clock. It answers {"errcode": 0};
310000 for a bad sign, 130101 when sent faster than 20 a minute. Budget and digest come
from `Robot` (gateway/channels/wecom.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import httpx

from gateway.channels.wecom import Robot
from gateway.config import DingtalkChannel


def sign(secret: str, timestamp_ms: int) -> str:
    """The `sign` query value (already URL-encoded) for `timestamp_ms`."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode())


class Dingtalk(Robot):
    # 300001: token does not exist; 310000: sign, keyword or IP check failed;
    # 400102: robot stopped. Retrying cannot help: a dead letter, retried after a fix.
    GIVE_UP_CODES = frozenset({300001, 310000, 400102})

    def __init__(self, settings: DingtalkChannel, client: httpx.AsyncClient, tz: ZoneInfo) -> None:
        url = str(settings.url)
        self._secret = settings.secret
        super().__init__(
            settings.name,
            url,
            client,
            tz,
            per_minute=settings.per_minute,
            window_s=settings.window_s,
            timeout_s=settings.timeout_s,
            secrets=(
                settings.secret.get_secret_value(),
                httpx.URL(url).params.get("access_token") or "",
            ),
        )

    def request_url(self) -> str:
        timestamp_ms = int(time.time() * 1000)
        signature = sign(self._secret.get_secret_value(), timestamp_ms)
        joiner = "&" if "?" in self._url else "?"
        return f"{self._url}{joiner}timestamp={timestamp_ms}&sign={signature}"

    def payload(self, title: str, content: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": content}}
