"""A case event's body: the reporter masked; text channels render it as they render an
alert (SMS params, robot markdown), the MQTT upstream keeps it under `case`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.cases.notice import notice
from gateway.channels import text
from gateway.channels.mqtt_upstream import topic_for
from gateway.config import DEFAULT_SITE
from gateway.places.site import load_site
from gateway.store.records import Case, CaseSource, CaseState, Reporter
from rules.model import Severity

SITE = load_site(DEFAULT_SITE)
TZ = ZoneInfo("Asia/Shanghai")


def case() -> Case:
    return Case(
        id=12,
        source=CaseSource.RESIDENT,
        category="exposed_rubbish",
        major="environment",
        title_zh="暴露垃圾",
        title_en="Exposed rubbish",
        severity=Severity.WARNING,
        state=CaseState.DISPATCHED,
        location=SITE.nodes["b1"],
        place="阳光社区 / 第1网格 / 1号楼",
        description="楼下垃圾",
        reporter=Reporter(name="张三丰", phone="13912345678"),
        reported_at=datetime(2026, 3, 9, 2, 0, tzinfo=UTC),
    )


def test_the_body_masks_the_reporter_and_text_channels_render_it() -> None:
    body = json.dumps(
        {**notice(case(), "case.dispatched"), "link": "http://gw/static/cases.html#case=12"}
    )
    assert "13912345678" not in body
    assert "张三丰" not in body
    parsed = text.parse(body)
    assert parsed.subject == "case"
    assert text.headline(parsed) == "【警告】派单：暴露垃圾"
    assert "阳光社区 / 第1网格 / 1号楼" in text.markdown(parsed, TZ)
    assert text.sms_params(parsed, TZ) == {
        "place": "阳光社区 / 第1网格 / 1号楼",
        "title": "暴露垃圾",
        "time": "2026-03-09 10:00",
    }
    assert topic_for("district/{district_id}/{event}", parsed) == "district/d1/case_dispatched"
