"""Signed, expiring action links: one alert, one person, no login.

    https://gateway.example/a/<token>      token = base64url(json payload) + "." + base64url(mac)

The payload says which alert, which person, when it was issued and until when; the MAC is
HMAC-SHA256 with the gateway's link secret. A link opens a small page for that alert where
that person can acknowledge or resolve it with one tap; any other alert, an expired link,
or a link issued before the person's tokens were revoked (or the person removed) is
refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta


class LinkError(Exception):
    """A link that is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class LinkClaim:
    alert_id: int
    person_id: str
    issued_at: datetime
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LinkSigner:
    secret: bytes
    base_url: str
    valid_for: timedelta = timedelta(hours=24)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def token(self, alert_id: int, person_id: str, now: datetime) -> str:
        expires = int((now + self.valid_for).timestamp())
        issued = round(now.timestamp(), 3)
        payload = _b64(
            json.dumps({"a": alert_id, "p": person_id, "i": issued, "e": expires}).encode()
        )
        return f"{payload}.{self._mac(payload)}"

    def url(self, alert_id: int, person_id: str, now: datetime) -> str:
        return f"{self.base_url.rstrip('/')}/a/{self.token(alert_id, person_id, now)}"

    def verify(self, token: str, now: datetime) -> LinkClaim:
        payload, _, mac = token.partition(".")
        if not payload or not mac or len(token) > 1000:
            raise LinkError("malformed link")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise LinkError("link signature does not match")
        try:
            data = json.loads(_unb64(payload))
            claim = LinkClaim(
                alert_id=int(data["a"]),
                person_id=str(data["p"]),
                issued_at=datetime.fromtimestamp(float(data["i"]), tz=now.tzinfo),
                expires_at=datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise LinkError("malformed link") from exc
        if claim.expires_at <= now:
            raise LinkError("link expired")
        return claim
