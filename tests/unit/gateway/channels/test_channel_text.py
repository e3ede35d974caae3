"""What people read: zh-CN / English markdown, digests, SMS params, masked URLs."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.channels import text

TZ = ZoneInfo("Asia/Shanghai")


def body(**extra: Any) -> str:
    alert = {
        "id": 7,
        "rule": "door_left_open",
        "title": {"zh": "门未关闭", "en": "Door left open"},
        "severity": "warning",
        "place": "阳光社区 / 第1网格 / 1号楼 / 1单元 / 单元门",
        "location": [{"level": "district", "id": "d1", "name": "示例区"}],
        "opened_at": "2026-03-02T14:05:00+00:00",
        "cleared_at": "2026-03-02T14:20:00+00:00",
    }
    message = {"version": 1, "event": "alert.raised", "alert": alert, **extra}
    return json.dumps(message, ensure_ascii=False)


def test_markdown_names_severity_title_place_local_time_and_link() -> None:
    notice = text.parse(body(link="https://grid.example.org/a/tok", escalation_level=2))

    md = text.markdown(notice, TZ)

    assert md.splitlines()[0] == "### 【警告】告警：门未关闭"
    assert "> 地点：阳光社区 / 第1网格 / 1号楼 / 1单元 / 单元门" in md
    assert "> 开始：2026-03-02 22:05" in md  # 14:05 UTC on the site's wall clock
    assert "> 升级：2" in md
    assert md.endswith("[查看并处理](https://grid.example.org/a/tok)")


def test_english_and_cleared() -> None:
    notice = text.parse(body(event="alert.cleared"))
    md = text.markdown(notice, TZ, "en")
    assert md.startswith("### 【Warning】Cleared: Door left open")
    assert "> Cleared: 2026-03-02 22:20" in md


def test_a_link_that_is_not_http_is_left_out() -> None:
    assert text.parse(body(link="javascript:alert(1)")).link is None


@pytest.mark.parametrize(
    "bad", ["[]", '{"alert": 3}', "{not json", '{"alert": {}, "recipients": 1}']
)
def test_unreadable_bodies_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match=r"alert|recipients|Expecting|expected"):
        text.parse(bad)


def test_digest_lists_every_alert_worst_first() -> None:
    a = text.parse(body())
    b = text.parse(body().replace('"warning"', '"emergency"').replace("门未关闭", "烟雾报警"))

    md = text.digest_markdown([a, b], TZ)

    lines = md.splitlines()
    assert lines[0] == "### 2 条新告警"
    assert "烟雾报警" in lines[1]
    assert "门未关闭" in lines[2]


def test_fit_cuts_at_a_line_and_says_how_many_lines_went() -> None:
    long = "\n".join(f"- 第{i}行 " + "x" * 50 for i in range(100))
    cut = text.fit(long, 500)
    assert len(cut.encode()) <= 500
    assert cut.endswith("条")
    assert text.fit("short", 500) == "short"


def test_sms_params_keep_the_end_of_a_long_place() -> None:
    notice = text.parse(body().replace("阳光社区 / ", "非常非常非常非常非常长的社区名字 / " * 3))
    params = text.sms_params(notice, TZ)
    assert len(params["place"]) == text.SMS_PARAM_MAX
    assert params["place"].endswith("单元门")
    assert params == {"place": params["place"], "title": "门未关闭", "time": "2026-03-02 22:05"}


def test_masked_url_hides_keys_tokens_and_signs() -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=xyz%3D"
    assert text.masked_url(url) == (
        "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=1&sign=***"
    )
    assert text.masked_url("https://h/send?key=k1") == "https://h/send?key=***"
    assert text.masked_url("https://h/plain") == "https://h/plain"
