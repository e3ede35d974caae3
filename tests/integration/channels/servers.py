"""Local stand-ins for the providers, each checking requests the way the provider documents:

- WeCom group robot: POST /cgi-bin/webhook/send?key=KEY, JSON {"msgtype": "markdown"|"text"}
  with the content, at most 4096 bytes; errcode 93000 for a wrong key, 45009 after
  `per_window` messages in `window_s`.
- DingTalk custom robot: POST /robot/send?access_token=T&timestamp=MS&sign=S; the sign is
  recomputed from the secret, the timestamp must be within an hour; errcode 310000 for a
  bad sign or timestamp, 130101 after `per_window` messages in `window_s`.
- SMS (Aliyun Dysmsapi SendSms, RPC signature v1): form POST; required parameters present,
  signature recomputed with HMAC-SHA1, nonce not reused; Code OK, SignatureDoesNotMatch,
  MissingParameter, isv.BUSINESS_LIMIT_CONTROL.

They are written from the providers' public documentation, independently of the gateway's
code: a shared misunderstanding would otherwise pass unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from gateway.runtime.broker import free_port


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class Provider:
    """A threaded HTTP server; `accepted` holds each message the provider would show."""

    per_window: int = 20
    window_s: float = 60.0
    port: int = field(default_factory=free_port)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    _sent_at: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def over_budget(self) -> bool:
        """Count this message in the sliding window; True when it is one too many."""
        now = time.monotonic()
        with self._lock:
            self._sent_at = [t for t in self._sent_at if t > now - self.window_s]
            if len(self._sent_at) >= self.per_window:
                return True
            self._sent_at.append(now)
            return False

    def handle(self, path: str, query: dict[str, str], body: bytes, headers: Any) -> Answer:
        raise NotImplementedError

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                split = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
                answer = provider.handle(split.path, query, body, self.headers)
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass
class WecomRobot(Provider):
    key: str = "wecom-key-0001"

    @property
    def url(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={self.key}"

    def handle(self, path: str, query: dict[str, str], body: bytes, headers: Any) -> Answer:
        if path != "/cgi-bin/webhook/send" or query.get("key") != self.key:
            return self._refuse(93000, "invalid webhook url")
        data = _json(body)
        if data is None:
            return self._refuse(40001, "invalid json")
        kind = data.get("msgtype")
        if kind not in ("markdown", "text") or not isinstance(data.get(kind), dict):
            return self._refuse(40008, "invalid message type")
        content = data[kind].get("content")
        if not isinstance(content, str) or not content:
            return self._refuse(44004, "empty content")
        if len(content.encode()) > 4096:
            return self._refuse(40058, "content exceeds 4096 bytes")
        if self.over_budget():
            return self._refuse(45009, "api freq out of limit")
        self.accepted.append({"msgtype": kind, "content": content})
        return Answer(200, {"errcode": 0, "errmsg": "ok"})

    def _refuse(self, code: int, message: str) -> Answer:
        self.refused.append({"errcode": code})
        return Answer(200, {"errcode": code, "errmsg": message})


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """Base64 of HMAC-SHA256 over "timestamp\\nsecret" (before URL encoding)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


@dataclass
class DingtalkRobot(Provider):
    access_token: str = "ding-token-0001"  # noqa: S105  # the test robot's own
    secret: str = "SEC-ding-secret-0001"  # noqa: S105  # the test robot's own

    @property
    def url(self) -> str:
        return f"{self.base}/robot/send?access_token={self.access_token}"

    def handle(self, path: str, query: dict[str, str], body: bytes, headers: Any) -> Answer:
        if path != "/robot/send" or query.get("access_token") != self.access_token:
            return self._refuse(300001, "token is not exist")
        stamp = query.get("timestamp", "")
        if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 3_600_000:
            return self._refuse(310000, "invalid timestamp")
        # parse_qs already decoded the query value once, as DingTalk does
        if not hmac.compare_digest(query.get("sign", ""), dingtalk_sign(self.secret, stamp)):
            return self._refuse(310000, "sign not match")
        data = _json(body)
        if data is None or data.get("msgtype") != "markdown":
            return self._refuse(40035, "msgtype must be markdown here")
        markdown = data.get("markdown")
        if not isinstance(markdown, dict) or not all(
            isinstance(markdown.get(k), str) and markdown[k] for k in ("title", "text")
        ):
            return self._refuse(40035, "markdown needs title and text")
        if self.over_budget():
            return self._refuse(130101, "send too fast, exceed 20 times per minute")
        self.accepted.append({"title": markdown["title"], "content": markdown["text"]})
        return Answer(200, {"errcode": 0, "errmsg": "ok"})

    def _refuse(self, code: int, message: str) -> Answer:
        self.refused.append({"errcode": code, "errmsg": message})
        return Answer(200, {"errcode": code, "errmsg": message})


REQUIRED_SMS = (
    "AccessKeyId",
    "Action",
    "Format",
    "PhoneNumbers",
    "SignName",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "TemplateCode",
    "Timestamp",
    "Version",
    "Signature",
)


def _rfc3986(text: str) -> str:
    return quote(text, safe="-_.~")


def aliyun_signature(secret: str, params: dict[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in pairs)
    to_sign = "POST&" + _rfc3986("/") + "&" + _rfc3986(canonical)
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class SmsProvider(Provider):
    access_key_id: str = "LTAI-test-id-0001"
    access_key_secret: str = "sms-secret-0001"  # noqa: S105  # the test provider's own
    sign_name: str = "网格通知"
    template_code: str = "SMS_000001"
    busy: bool = False  # answer isv.BUSINESS_LIMIT_CONTROL to everything
    _nonces: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"{self.base}/"

    def handle(self, path: str, query: dict[str, str], body: bytes, headers: Any) -> Answer:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()} | query
        missing = [k for k in REQUIRED_SMS if not form.get(k)]
        if missing:
            return self._refuse(400, "MissingParameter", f"missing {missing[0]}")
        if form["AccessKeyId"] != self.access_key_id:
            return self._refuse(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        expected = aliyun_signature(self.access_key_secret, form)
        if not hmac.compare_digest(form["Signature"], expected):
            return self._refuse(400, "SignatureDoesNotMatch", "Specified signature is not matched.")
        if form["SignatureNonce"] in self._nonces:
            return self._refuse(400, "SignatureNonceUsed", "nonce used")
        self._nonces.add(form["SignatureNonce"])
        fixed = {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "Format": "JSON",
        }
        wrong = [k for k, v in fixed.items() if form[k] != v]
        if wrong or form["SignName"] != self.sign_name:
            return self._refuse(400, "isv.INVALID_PARAMETERS", f"bad {(wrong or ['SignName'])[0]}")
        if form["TemplateCode"] != self.template_code:
            return self._refuse(400, "isv.SMS_TEMPLATE_ILLEGAL", "template not found")
        try:
            params = json.loads(form.get("TemplateParam", "{}"))
        except ValueError:
            return self._refuse(400, "isv.INVALID_JSON_PARAM", "TemplateParam is not JSON")
        if not all(
            isinstance(params.get(k), str) and params[k] for k in ("place", "title", "time")
        ):
            return self._refuse(400, "isv.TEMPLATE_MISSING_PARAMETERS", "place, title, time")
        if self.busy:
            return self._refuse(200, "isv.BUSINESS_LIMIT_CONTROL", "触发流控")
        phones = form["PhoneNumbers"].split(",")
        self.accepted.append({"phones": phones, "params": params, "timestamp": form["Timestamp"]})
        return Answer(200, {"Code": "OK", "Message": "OK", "BizId": f"biz-{len(self.accepted)}"})

    def _refuse(self, status: int, code: str, message: str) -> Answer:
        self.refused.append({"Code": code})
        return Answer(status, {"Code": code, "Message": message, "RequestId": "req-test"})

    def texts_to(self, phone: str) -> int:
        return sum(phone in a["phones"] for a in self.accepted)


__all__ = ["DingtalkRobot", "SmsProvider", "WecomRobot"]
