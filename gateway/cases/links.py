"""Signed links of the case side, with a key of their own derived from the gateway's
link secret (an alert's action link is never a case link, nor the other way round):

    /report/<token>    a community's (or grid's) public report page, printed as a QR code
                       on the notice board: no expiry, revoked by changing the secret
    /c/<token>         a resident's own report: its state and timeline, and the callback
                       (回访) once closed; for the phone that reported it, 180 days

token = base64url(json payload) + "." + base64url(HMAC-SHA256(key, payload)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta


class CaseLinkError(Exception):
    """A link that is malformed, forged, of the wrong kind or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def phone_tag(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CaseLinks:
    secret: bytes
    base_url: str
    resident_valid_for: timedelta = timedelta(days=180)

    @classmethod
    def derived(cls, link_secret: bytes, base_url: str) -> CaseLinks:
        return cls(hmac.new(link_secret, b"gridgate cases", hashlib.sha256).digest(), base_url)

    def _sign(self, data: dict[str, object]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        mac = _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())
        return f"{payload}.{mac}"

    def _open(self, token: str, kind: str) -> dict[str, object]:
        payload, _, mac = token.partition(".")
        if not payload or not mac or len(token) > 1000:
            raise CaseLinkError("malformed link")
        good = _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, good):
            raise CaseLinkError("link signature does not match")
        try:
            data = json.loads(_unb64(payload))
        except ValueError as exc:
            raise CaseLinkError("malformed link") from exc
        if not isinstance(data, dict) or data.get("k") != kind:
            raise CaseLinkError("not a link of this kind")
        return data

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"

    # ---- a community's report page ------------------------------------------------------

    def report_token(self, node_id: str) -> str:
        return self._sign({"k": "report", "n": node_id})

    def report_node(self, token: str) -> str:
        node = self._open(token, "report").get("n")
        if not isinstance(node, str):
            raise CaseLinkError("malformed link")
        return node

    # ---- a resident's own report ------------------------------------------------------------

    def resident_token(self, case_id: int, phone: str, now: datetime) -> str:
        expires = int((now + self.resident_valid_for).timestamp())
        return self._sign({"k": "resident", "c": case_id, "p": phone_tag(phone), "e": expires})

    def resident_case(self, token: str, now: datetime) -> tuple[int, str]:
        """(case id, the reporter's phone tag) of a resident link."""
        data = self._open(token, "resident")
        try:
            case_id, tag, expires = int(str(data["c"])), str(data["p"]), int(str(data["e"]))
        except (KeyError, ValueError) as exc:
            raise CaseLinkError("malformed link") from exc
        if expires <= now.timestamp():
            raise CaseLinkError("link expired")
        return case_id, tag
