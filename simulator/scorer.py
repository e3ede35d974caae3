"""The scorer: what the gateway raised, against what it should have raised (the truth).

A raised alert is matched with an expected one of the same rule and device that was due at
or before it was raised (`early_s` of slack for clocks a little apart), the latest such one
not yet matched. A raised alert with nothing due before it is false; one whose expected
alerts are all matched already is a duplicate. An expected alert left unmatched is missed,
unless it is due after `until` (not yet due: the run has not got there). Latency past due
is raised_at - due_at of each match; a match later than `late_s` counts as late too.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from simulator.errors import SimulatorError
from simulator.truth import ExpectedAlert

PAGE = 500


@dataclass(frozen=True)
class RaisedAlert:
    rule: str
    device_id: str
    raised_at: datetime
    alert_id: str | None = None


@dataclass
class Score:
    matched: list[tuple[ExpectedAlert, RaisedAlert]] = field(default_factory=list)
    missed: list[ExpectedAlert] = field(default_factory=list)
    false: list[RaisedAlert] = field(default_factory=list)
    duplicate: list[RaisedAlert] = field(default_factory=list)
    not_yet_due: list[ExpectedAlert] = field(default_factory=list)
    redelivered: int = 0  # the same alert id delivered again (webhook retries): not counted
    late_s: float = 60.0

    @property
    def is_clean(self) -> bool:
        return not (self.missed or self.false or self.duplicate)

    def latencies_s(self, rule: str | None = None) -> list[float]:
        return sorted(
            (r.raised_at - e.due_at).total_seconds()
            for e, r in self.matched
            if rule is None or e.rule == rule
        )

    def table(self) -> str:
        rules = sorted(
            {e.rule for e, _ in self.matched}
            | {a.rule for a in [*self.missed, *self.not_yet_due]}
            | {a.rule for a in [*self.false, *self.duplicate]}
        )
        head = ("rule", "expected", "matched", "missed", "false", "dup", "late", "p50 s", "p99 s")
        rows = [(*head, "max s")]
        for rule in [*rules, None]:
            lat = self.latencies_s(rule)

            def n(items: list[Any], rule: str | None = rule) -> str:
                return str(sum(1 for i in items if rule is None or i.rule == rule))

            matched = [e for e, _ in self.matched]
            rows.append(
                (
                    rule or "all",
                    str(int(n(matched)) + int(n(self.missed))),
                    n(matched),
                    n(self.missed),
                    n(self.false),
                    n(self.duplicate),
                    str(sum(1 for x in lat if x > self.late_s)),
                    _fmt(percentile(lat, 50)),
                    _fmt(percentile(lat, 99)),
                    _fmt(lat[-1] if lat else None),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                           enumerate(zip(row, widths, strict=True))) for row in rows]  # fmt: skip
        extra = f"not yet due: {len(self.not_yet_due)}; redelivered webhooks: {self.redelivered}"
        return "\n".join([*lines, extra])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def score(
    expected: list[ExpectedAlert],
    raised: list[RaisedAlert],
    *,
    until: datetime | None = None,
    early_s: float = 1.0,
    late_s: float = 60.0,
) -> Score:
    result = Score(late_s=late_s)
    due = [e for e in expected if until is None or e.due_at <= until]
    result.not_yet_due = [e for e in expected if until is not None and e.due_at > until]
    wanted: dict[tuple[str, str], list[ExpectedAlert]] = defaultdict(list)
    for e in sorted(due, key=lambda a: a.due_at):
        wanted[(e.rule, e.device_id)].append(e)
    unseen = {id(e) for e in due}
    early = timedelta(seconds=early_s)
    for alert in sorted(raised, key=lambda a: a.raised_at):
        candidates = [e for e in wanted.get((alert.rule, alert.device_id), [])
                      if e.due_at - early <= alert.raised_at]  # fmt: skip
        if not candidates:
            result.false.append(alert)
            continue
        open_ = [e for e in candidates if id(e) in unseen]
        if not open_:
            result.duplicate.append(alert)
            continue
        chosen = open_[-1]
        unseen.discard(id(chosen))
        result.matched.append((chosen, alert))
    result.missed = [e for e in due if id(e) in unseen]
    return result


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise SimulatorError(f"instant {text!r} has no UTC offset")
    return value


def raised_from_api(
    base_url: str, since: datetime | None = None, token: str | None = None
) -> list[RaisedAlert]:
    """Every alert the gateway's API lists (newest first, paged by id)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    out: list[RaisedAlert] = []
    params: dict[str, str | int] = {"limit": PAGE}
    if since is not None:
        params["raised_after"] = since.isoformat()
    try:
        with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=10) as client:
            while True:
                response = client.get("/alerts", params=params)
                response.raise_for_status()
                page = response.json()
                out += [
                    RaisedAlert(a["rule"], a["device_id"], _instant(a["raised_at"]), str(a["id"]))
                    for a in page
                ]
                if len(page) < PAGE:
                    return out
                params["before_id"] = min(int(a["id"]) for a in page)
    except httpx.HTTPError as exc:
        raise SimulatorError(f"cannot read alerts from {base_url}: {exc}") from exc


def raised_from_webhook_log(path: Path) -> tuple[list[RaisedAlert], int]:
    """`alert.raised` bodies recorded by `simulate receive`; and how many were repeats."""
    seen: set[str] = set()
    out: list[RaisedAlert] = []
    repeats = 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SimulatorError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)["body"]
            if not isinstance(body, dict) or body.get("event") != "alert.raised":
                continue
            alert = body["alert"]
            key = str(alert.get("id"))
            if key in seen:
                repeats += 1
                continue
            seen.add(key)
            raised_at = _instant(alert["raised_at"])
            out.append(RaisedAlert(alert["rule"], alert["device_id"], raised_at, key))
        except (ValueError, KeyError, TypeError) as exc:
            raise SimulatorError(f"{path}:{number}: not a recorded webhook: {exc}") from exc
    return out, repeats
