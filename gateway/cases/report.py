"""The monthly report of cases (月度考核报表): KPIs per group as CSV, or a printable HTML
page. Pure: figures in, text out."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from gateway.cases.kpis import Figures

COLUMNS = (
    ("key", "编号"),
    ("name", "名称"),
    ("reported", "上报数"),
    ("due", "应结案数"),
    ("deferred", "缓办/挂账数"),
    ("closed", "结案数"),
    ("closed_on_time", "按期结案数"),
    ("closure_rate", "结案率"),
    ("on_time_rate", "按期结案率"),
    ("rework_rate", "返工率"),
    ("extension_rate", "延期率"),
    ("open", "未结案"),
)


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of `YYYY-MM` on the site's clock."""
    first = date.fromisoformat(month + "-01")
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=tz)
    end = datetime(nxt.year, nxt.month, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _value(f: Figures, name: str) -> str:
    value = getattr(f, name)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value * 100:.1f}%"
    return str(value)


def to_csv(rows: list[Figures], total: Figures) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([zh for _, zh in COLUMNS])
    for f in [*rows, total]:
        writer.writerow([_value(f, name) for name, _ in COLUMNS])
    return out.getvalue()


def to_html(title: str, period: str, sections: list[tuple[str, list[Figures]]],
            total: Figures) -> str:  # fmt: skip
    """A printable page (A4, no scripts): one table per grouping, the total first."""
    head = "".join(f"<th>{html.escape(zh)}</th>" for _, zh in COLUMNS)

    def table(rows: list[Figures]) -> str:
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_value(f, n))}</td>" for n, _ in COLUMNS) + "</tr>"
            for f in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    parts = [f"<h2>合计</h2>{table([total])}"]
    parts += [f"<h2>{html.escape(name)}</h2>{table(rows)}" for name, rows in sections]
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "@page{size:A4 landscape;margin:12mm}body{font:12px sans-serif}"
        "table{border-collapse:collapse;width:100%;margin-bottom:16px}"
        "th,td{border:1px solid #999;padding:3px 6px;text-align:right}"
        "th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}h1{font-size:18px}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>统计周期：{html.escape(period)}</p>"
        "<p>结案率 = 结案数 ÷ (应结案数 − 缓办/挂账数)；按期结案率 = 按期结案数 ÷ "
        "(应结案数 − 缓办/挂账数)</p>" + "".join(parts) + "</body></html>"
    )
