"""SMS through an Aliyun-style provider: signed request, template params, per-number limit,
quiet hours, throttling; the local provider recomputes the HMAC-SHA1 signature."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from gateway.channels.base import Channel
from gateway.channels.sms import Sms
from gateway.config import OutboxSettings, SmsChannel
from rules.model import Severity
from tests.integration.channels.conftest import Rig
from tests.integration.channels.servers import SmsProvider

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
STAFF = {"recipients": [{"person_id": "p1", "name": "王网格员", "phone": "13800000001"}]}
RESIDENTS = {
    "audience": "residents",
    "recipients": [{"phone": "13900000001"}, {"phone": "13900000002"}],
}


def sms_channel(server: SmsProvider, **overrides: Any) -> Callable[[httpx.AsyncClient], Any]:
    settings = SmsChannel.model_validate(
        {
            "type": "sms",
            "name": "sms",
            "url": server.url,
            "access_key_id": server.access_key_id,
            "access_key_secret": server.access_key_secret,
            "sign_name": server.sign_name,
            "template_code": server.template_code,
            **overrides,
        }
    )

    def build(http: httpx.AsyncClient) -> dict[tuple[str, str], Channel]:
        return {("sms", "sms"): Sms(settings, http, TZ)}

    return build


def quiet_now() -> dict[str, str]:
    """Quiet hours around the present moment (site time), ending in about an hour."""
    local = datetime.now(TZ)
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}


def not_quiet_now() -> dict[str, str]:
    """Quiet hours that do not hold now: the tests run at any hour."""
    local = datetime.now(TZ)
    start, end = local + timedelta(hours=2), local + timedelta(hours=3)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}


def test_sms_is_one_signed_request_with_place_title_and_local_time(
    rig: Rig, sms: SmsProvider
) -> None:
    [alert] = rig.raise_alerts(1, "sms", "sms", extra=RESIDENTS)

    rig.run(
        sms_channel(sms, quiet_hours=not_quiet_now()),
        lambda: rig.counts()["delivered"] == 1,
        what="the SMS",
    )

    [sent] = sms.accepted
    assert sent["phones"] == ["13900000001", "13900000002"]
    assert sent["params"] == {
        "place": alert.place,
        "title": "告警0",
        "time": alert.opened_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M"),
    }


def test_a_wrong_secret_is_refused_by_the_provider_and_never_delivered(
    rig: Rig, sms: SmsProvider
) -> None:
    rig.raise_alerts(1, "sms", "sms", extra=STAFF)

    rig.run(
        sms_channel(sms, access_key_secret="wrong-secret"),  # noqa: S106  # wrong on purpose
        lambda: rig.counts()["dead"] == 1,
        what="the dead letter",
    )

    assert sms.accepted == []
    assert sms.refused == [{"Code": "SignatureDoesNotMatch"}]
    [dead] = rig.store.outbox.dead_letters()
    assert dead.error.startswith("Code SignatureDoesNotMatch")
    for secret in ("wrong-secret", sms.access_key_id, "13800000001"):
        assert secret not in dead.error


def test_a_number_gets_at_most_its_hourly_texts_and_the_rest_are_dead_letters(
    rig: Rig, sms: SmsProvider
) -> None:
    rig.raise_alerts(4, "sms", "sms", extra=STAFF)

    rig.run(
        sms_channel(sms, per_number_per_hour=2),
        lambda: rig.counts()["delivered"] + rig.counts()["dead"] == 4,
        what="all rows settled",
    )

    assert sms.texts_to("13800000001") == 2
    dead = rig.store.outbox.dead_letters()
    assert len(dead) == 2
    assert all(d.error.startswith("rate limited") for d in dead)


def test_critical_alerts_pass_the_per_number_limit(rig: Rig, sms: SmsProvider) -> None:
    rig.raise_alerts(3, "sms", "sms", extra=STAFF, severity=Severity.CRITICAL)

    rig.run(
        sms_channel(sms, per_number_per_hour=1),
        lambda: rig.counts()["delivered"] == 3,
        what="3 deliveries",
    )

    assert sms.texts_to("13800000001") == 3


def test_quiet_hours_defer_reminders_to_residents_but_not_urgent_alerts_to_staff(
    rig: Rig, sms: SmsProvider
) -> None:
    rig.raise_alerts(1, "sms", "sms", extra=RESIDENTS, device_id="door-b1-u1")
    rig.raise_alerts(
        1, "sms", "sms", extra=STAFF, device_id="door-b1-u2", severity=Severity.EMERGENCY
    )
    quiet = quiet_now()

    def settled() -> bool:
        next_at = rig.next_attempt_at()
        return (
            rig.counts()["delivered"] == 1 and next_at is not None and next_at > datetime.now(UTC)
        )

    rig.run(sms_channel(sms, quiet_hours=quiet), settled, what="one sent, one deferred")

    [sent] = sms.accepted
    assert sent["phones"] == ["13800000001"]
    assert rig.counts() == {"pending": 1, "delivered": 1, "dead": 0}
    next_at = rig.next_attempt_at()
    assert next_at is not None
    assert next_at.astimezone(TZ).strftime("%H:%M") == quiet["end"]
    assert next_at - datetime.now(UTC) <= timedelta(hours=1)


def test_provider_throttling_is_retried_until_it_accepts(rig: Rig, sms: SmsProvider) -> None:
    sms.busy = True
    rig.raise_alerts(1, "sms", "sms", extra=STAFF)

    def retried_then_free() -> bool:
        if len(sms.refused) >= 2:
            sms.busy = False
        return rig.counts()["delivered"] == 1

    rig.run(
        sms_channel(sms),
        retried_then_free,
        settings=OutboxSettings(retry_min_s=0.05, retry_max_s=0.1, max_attempts=50),
        what="delivery after throttling",
    )

    assert {r["Code"] for r in sms.refused} == {"isv.BUSINESS_LIMIT_CONTROL"}
    assert len(sms.accepted) == 1
