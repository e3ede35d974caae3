"""Words for people: an outbox body (the notice, docs/webhooks.md, plus routing's extras)
rendered as zh-CN (default) or English markdown, plain text, SMS template params, digests.

Pure functions of the body and the site timezone; times are shown on the site's wall clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SEVERITY_WORDS = {
    "zh": {"info": "提示", "warning": "警告", "critical": "严重", "emergency": "紧急"},
    "en": {"info": "Info", "warning": "Warning", "critical": "Critical", "emergency": "Emergency"},
}
EVENT_WORDS = {
    "zh": {
        "alert.raised": "告警",
        "alert.cleared": "已恢复",
        "alert.escalated": "升级告警",
        "alert.reminded": "提醒",
        "alert.assigned": "已指派",
        "case.reported": "居民上报待核实",
        "case.filed": "已立案",
        "case.dispatched": "派单",
        "case.accepted": "已接单",
        "case.returned": "退单",
        "case.handled": "已处置待核查",
        "case.verified": "已结案",
        "case.reworked": "返工",
        "case.extension_requested": "延期申请",
        "case.extension_approved": "延期已批准",
        "case.extension_denied": "延期未批准",
        "case.held": "挂账",
        "case.cancelled": "已作废",
        "case.called_back": "已回访",
        "case.reminded": "催办",
        "case.escalated": "超时升级",
    },
    "en": {
        "alert.raised": "Alert",
        "alert.cleared": "Cleared",
        "alert.escalated": "Escalated",
        "alert.reminded": "Reminder",
        "alert.assigned": "Assigned",
        "case.reported": "Reported, to check",
        "case.filed": "Case filed",
        "case.dispatched": "Case for you",
        "case.accepted": "Accepted",
        "case.returned": "Returned",
        "case.handled": "Handled, to verify",
        "case.verified": "Case closed",
        "case.reworked": "Rework",
        "case.extension_requested": "Extension requested",
        "case.extension_approved": "Extension approved",
        "case.extension_denied": "Extension denied",
        "case.held": "On hold",
        "case.cancelled": "Cancelled",
        "case.called_back": "Called back",
        "case.reminded": "Reminder",
        "case.escalated": "Overdue, escalated",
    },
}
LABELS = {
    "zh": {
        "place": "地点",
        "since": "开始",
        "cleared": "恢复",
        "escalation": "升级",
        "link": "查看并处理",
        "digest": "{n} 条新告警",
        "more": "……另有 {n} 条",
    },
    "en": {
        "place": "Place",
        "since": "Since",
        "cleared": "Cleared",
        "escalation": "Escalation",
        "link": "Open and act",
        "digest": "{n} new alerts",
        "more": "... and {n} more",
    },
}
TIME_FORMAT = "%Y-%m-%d %H:%M"
SMS_PARAM_MAX = 35  # providers cap one template variable (Aliyun: 35 characters)


@dataclass(frozen=True)
class Notice:
    """What a text channel needs from one outbox body."""

    event: str
    alert: dict[str, Any]
    link: str | None
    escalation_level: int | None
    audience: str | None
    recipients: list[dict[str, Any]]
    subject: str = "alert"  # or "case": which object the body carries (same fields read)

    @property
    def severity(self) -> str:
        return str(self.alert.get("severity", "info"))

    @property
    def is_urgent(self) -> bool:
        """Critical and emergency alerts: never held back by quiet hours or phone limits."""
        return self.severity in {"critical", "emergency"}

    def title(self, lang: str) -> str:
        title = self.alert.get("title") or {}
        return str(title.get(lang) or title.get("zh") or self.alert.get("rule", "?"))

    @property
    def place(self) -> str:
        return str(self.alert.get("place", ""))

    def location_id(self, level: str) -> str:
        for node in self.alert.get("location", []):
            if node.get("level") == level:
                return str(node.get("id", ""))
        return ""


def parse(body: str) -> Notice:
    """Read one outbox body; a body that is not the notice JSON raises ValueError."""
    data = json.loads(body)
    subject = "case" if isinstance(data, dict) and isinstance(data.get("case"), dict) else "alert"
    if not isinstance(data, dict) or not isinstance(data.get(subject), dict):
        raise ValueError("the body has no 'alert' object")
    link = data.get("link")
    level = data.get("escalation_level")
    recipients = data.get("recipients") or []
    if not isinstance(recipients, list):
        raise ValueError("'recipients' is not a list")
    return Notice(
        event=str(data.get("event", "")),
        alert=data[subject],
        link=link if isinstance(link, str) and link.startswith(("https://", "http://")) else None,
        escalation_level=level if isinstance(level, int) else None,
        audience=data.get("audience") if isinstance(data.get("audience"), str) else None,
        recipients=[r for r in recipients if isinstance(r, dict)],
        subject=subject,
    )


def local_time(iso: str | None, tz: ZoneInfo) -> str:
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).astimezone(tz).strftime(TIME_FORMAT)
    except ValueError:
        return iso


def headline(notice: Notice, lang: str = "zh") -> str:
    """Severity, event and title in one line, e.g. `【警告】告警` + title."""
    severity = SEVERITY_WORDS[lang].get(notice.severity, notice.severity)
    event = EVENT_WORDS[lang].get(notice.event, notice.event)
    sep = "：" if lang == "zh" else ": "
    return f"【{severity}】{event}{sep}{notice.title(lang)}"


def markdown(notice: Notice, tz: ZoneInfo, lang: str = "zh") -> str:
    """One alert as markdown for a chat robot."""
    words = LABELS[lang]
    sep = "：" if lang == "zh" else ": "
    lines = [f"### {headline(notice, lang)}"]
    lines.append(f"> {words['place']}{sep}{notice.place}")
    lines.append(f"> {words['since']}{sep}{local_time(notice.alert.get('opened_at'), tz)}")
    if notice.event == "alert.cleared":
        cleared = local_time(notice.alert.get("cleared_at"), tz)
        lines.append(f"> {words['cleared']}{sep}{cleared}")
    if notice.escalation_level:
        lines.append(f"> {words['escalation']}{sep}{notice.escalation_level}")
    if notice.link:
        lines.append("")
        lines.append(f"[{words['link']}]({notice.link})")
    return "\n".join(lines)


def digest_markdown(notices: list[Notice], tz: ZoneInfo, lang: str = "zh") -> str:
    """Several alerts in one robot message: one line each, worst first."""
    order = {"emergency": 0, "critical": 1, "warning": 2, "info": 3}
    ranked = sorted(notices, key=lambda n: order.get(n.severity, 9))
    lines = [f"### {LABELS[lang]['digest'].format(n=len(notices))}"]
    for n in ranked:
        since = local_time(n.alert.get("opened_at"), tz)
        line = f"- {headline(n, lang)} · {n.place} · {since}"
        if n.link:
            line += f" [{LABELS[lang]['link']}]({n.link})"
        lines.append(line)
    return "\n".join(lines)


def fit(text: str, max_bytes: int) -> str:
    """Cut `text` at a line so that its UTF-8 form fits `max_bytes`, saying how much went."""
    if len(text.encode()) <= max_bytes:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        more = LABELS["zh"]["more"].format(n=len(lines) - i)
        if size + len(line.encode()) + len(more.encode()) + 2 > max_bytes:
            return "\n".join([*kept, more])
        kept.append(line)
        size += len(line.encode()) + 1
    return "\n".join(kept)  # pragma: no cover  # the first check returned already


def sms_params(notice: Notice, tz: ZoneInfo) -> dict[str, str]:
    """Template variables of the alert SMS: place, title, time (site wall clock)."""
    at = notice.alert.get("opened_at") or notice.alert.get("raised_at")
    return {
        "place": _cut(notice.place, keep_end=True),  # the unit door says more than the district
        "title": _cut(notice.title("zh")),
        "time": local_time(at, tz),
    }


def _cut(text: str, *, keep_end: bool = False) -> str:
    if len(text) <= SMS_PARAM_MAX:
        return text
    if keep_end:
        return "…" + text[len(text) - SMS_PARAM_MAX + 1 :]
    return text[: SMS_PARAM_MAX - 1] + "…"


SECRET_PARAMS = frozenset({"key", "access_token", "sign", "accesskeyid", "signature"})


def masked_url(url: str) -> str:
    """`url` with credential query values (key, access_token, sign, AccessKeyId, Signature)
    replaced by `***`, for logs and error details."""
    base, _, query = url.partition("?")
    if not query:
        return url
    parts = []
    for pair in query.split("&"):
        name, eq, _value = pair.partition("=")
        parts.append(f"{name}{eq}***" if eq and name.lower() in SECRET_PARAMS else pair)
    return base + "?" + "&".join(parts)
