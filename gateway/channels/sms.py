"""SMS through an HTTP provider speaking Aliyun Dysmsapi's SendSms (RPC, signature v1).

One outbox row is one POST (form body) with every phone of its recipients as a comma list
in `PhoneNumbers`, so a row is sent whole or not at all and a retry never texts half the
list twice. The template gets `{"place", "title", "time"}` (site wall clock).

The request is signed: sort every parameter but `Signature`, join `k=v` pairs percent-
encoded (RFC 3986: space %20, `*` %2A, `~` kept) with `&`, and take

    Signature = base64(HMAC-SHA1(key=secret + "&", msg="POST&%2F&" + percent(joined)))

The provider answers {"Code": "OK", ...}; any other Code is an error (throttling
`isv.BUSINESS_LIMIT_CONTROL` is retried, a bad signature or number is given up).

Nobody is spammed (docs/channels.md):
- at most `per_number_per_hour` texts per phone; numbers over it are left out of the send,
  and a row whose every number is over it is given up as a dead letter "rate limited";
- during quiet hours (site wall clock) a reminder to residents that is not urgent is
  deferred until they end. Critical and emergency alerts ignore both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from gateway.channels import text
from gateway.channels.base import Outcome, Result
from gateway.channels.ratelimit import KeyedWindows
from gateway.config import SmsChannel
from gateway.places.roster import masked_phone
from gateway.store.records import Delivery

log = logging.getLogger(__name__)

HOUR_S = 3600.0
PHONE = re.compile(r"^\+?[0-9]{6,20}$")
# Codes no retry can fix: the request, key, signature, template or number is wrong
GIVE_UP_CODES = frozenset(
    {
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
        "MissingParameter",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.INVALID_PARAMETERS",
        "isv.TEMPLATE_MISSING_PARAMETERS",
    }
)


def percent(value: str) -> str:
    return quote(value, safe="~")


def string_to_sign(params: dict[str, str], method: str = "POST") -> str:
    joined = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent('/')}&{percent(joined)}"


def signature(secret: str, params: dict[str, str], method: str = "POST") -> str:
    mac = hmac.new((secret + "&").encode(), string_to_sign(params, method).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def quiet_until(local: datetime, start: time, end: time) -> datetime | None:
    """When quiet hours that hold at `local` (aware, site zone) end; None outside them."""
    now = local.time()
    inside = start <= now < end if start <= end else now >= start or now < end
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=local.tzinfo)
    return ends if ends > local else ends + timedelta(days=1)


class Sms:
    def __init__(
        self,
        settings: SmsChannel,
        client: httpx.AsyncClient,
        tz: ZoneInfo,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = settings.name
        self._settings = settings
        self._client = client
        self._tz = tz
        self._now = now
        self._per_number = KeyedWindows(settings.per_number_per_hour, HOUR_S)

    def params(self, phones: list[str], template: dict[str, str], at: datetime) -> dict[str, str]:
        """The signed request parameters for one send."""
        s = self._settings
        params = {
            "AccessKeyId": s.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": ",".join(phones),
            "RegionId": s.region_id,
            "SignName": s.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": s.template_code,
            "TemplateParam": json.dumps(template, ensure_ascii=False),
            "Timestamp": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params["Signature"] = signature(s.access_key_secret.get_secret_value(), params)
        return params

    async def deliver(self, delivery: Delivery) -> Result:
        try:
            notice = text.parse(delivery.body)
        except ValueError as exc:
            return Result(Outcome.GIVE_UP, f"unreadable body: {exc}")
        if notice.event == "alert.cleared":
            return Result(Outcome.DELIVERED, "not sent: SMS carries raised alerts only")
        phones = sorted({str(r.get("phone", "")).strip() for r in notice.recipients} - {""})
        phones = [p for p in phones if PHONE.match(p)]
        if not phones:
            return Result(Outcome.GIVE_UP, "no valid phone number among the recipients")
        now = self._now()
        if notice.audience == "residents" and not notice.is_urgent:
            q = self._settings.quiet_hours
            until = quiet_until(now.astimezone(self._tz), q.start, q.end)
            if until is not None:
                return Result(Outcome.DEFER, "quiet hours", until.astimezone(UTC))
        allowed = [p for p in phones if notice.is_urgent or self._per_number.available(p, now) > 0]
        if not allowed:
            return Result(
                Outcome.GIVE_UP,
                f"rate limited: {len(phones)} number(s) had "
                f"{self._settings.per_number_per_hour} SMS in the last hour",
            )
        for phone in allowed:  # reserve now: concurrent rows see it; given back on failure
            self._per_number.take(phone, now)
        result = await self._send(allowed, text.sms_params(notice, self._tz), now)
        if result.outcome != Outcome.DELIVERED:
            for phone in allowed:
                self._per_number.give_back(phone, now)
            return result
        skipped = len(phones) - len(allowed)
        if skipped:
            log.warning(
                "sms_numbers_rate_limited delivery_id=%s alert_id=%s skipped=%s numbers=%s",
                delivery.id,
                delivery.alert_id,
                skipped,
                ",".join(masked_phone(p) for p in phones if p not in allowed),
            )
            return Result(Outcome.DELIVERED, f"{result.detail}; {skipped} number(s) rate limited")
        return result

    async def _send(self, phones: list[str], template: dict[str, str], now: datetime) -> Result:
        params = self.params(phones, template, now)
        try:
            response = await self._client.post(
                str(self._settings.url), data=params, timeout=self._settings.timeout_s
            )
        except httpx.HTTPError as exc:
            return Result(Outcome.RETRY, self._scrub(f"{type(exc).__name__}: {exc}", params))
        try:
            answer = response.json()
            code = str(answer["Code"])
        except (ValueError, KeyError, TypeError):
            return Result(Outcome.RETRY, f"HTTP {response.status_code}, not the provider's JSON")
        if code == "OK":
            return Result(Outcome.DELIVERED, f"Code OK BizId={str(answer.get('BizId', ''))[:64]}")
        detail = self._scrub(f"Code {code}: {str(answer.get('Message', ''))[:200]}", params)
        if code in GIVE_UP_CODES:
            return Result(Outcome.GIVE_UP, detail)
        return Result(Outcome.RETRY, detail)

    def _scrub(self, detail: str, params: dict[str, str]) -> str:
        for secret in (
            self._settings.access_key_secret.get_secret_value(),
            params["AccessKeyId"],
            params["Signature"],
            percent(params["Signature"]),
            *params["PhoneNumbers"].split(","),
        ):
            if secret:
                detail = detail.replace(secret, "***")
        return detail[:300]
