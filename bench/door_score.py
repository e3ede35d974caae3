"""Scoring door traffic where the user sees it: alerts at the webhook receiver against the
generator's ground truth (bench/door_traffic.py).

Expected, per *held* open (an episode): `door_left_open` raised at open + hold and cleared
at the close. A *short* open must raise nothing. An episode the generator's own lag made
ambiguous (open between 0.75 and 1.25 holds) is left out and counted. Everything else that
arrives is false: another rule's alert, a raise for a short open, a clear with no raise.

Matching an event to its episode (a door has many episodes, one after the other):

- Every event has an idempotency key (the `Idempotency-Key` header of a version-1 POST,
  `idempotency_key` of each alert in a version-2 POST). The same key twice is the same
  message delivered twice: a duplicate. gridgate's keys are
  `alert-{id}-{raised|cleared}[-r{n}]-{receiver}`: an alert that returns within 600 s of
  its clear keeps its id and gets `-r{n}`. Raise and clear of one *instance* share the key
  with the event word taken out.
- A clear's `cleared_at` is the close's event time: the episode is the door's latest whose
  close was sent at or before it (with `last_seen` in the payload the two are equal to the
  millisecond; without, the gateway stamps arrival, later than the send).
- A raise goes to the episode of its instance's clear when that has arrived. Otherwise
  a first raise (no `-r{n}`) goes by `opened_at`, the same way. A reopened alert's body
  carries its own episode's `opened_at` (since issue 13; gateways before it sent the first
  episode's), but a reopen with no clear yet is still matched safely: to the door's latest
  episode whose due (open + hold) is not after the raise's arrival; those are counted
  (`matched_by_arrival`).
- A second distinct raise (or clear) for one episode is a duplicate too.

Past due: arrival at the receiver minus due (open + hold for a raise, the close's send
for a clear). A step's lag over time: the p99 past due of the events due in each 2 s
window of the step, an expected event that never arrived counting as infinitely late.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RULE = "door_left_open"
MATCH_TOL_S = 0.005
WINDOW_S = 2.0
END_LAG_MAX_S = 1.0  # sustained: the last window's p99 within this of due
GROWTH_MAX_S = 0.25  # ... and the trend of the windows' p99 over the step below this
_EVENT_WORD = re.compile(r"-(raised|cleared)(?=-|$)")


@dataclass(frozen=True)
class Episode:
    step: int
    device_id: str
    opened_at: float  # epoch seconds, as sent
    closed_at: float
    is_held: bool | None  # None: ambiguous


@dataclass(frozen=True)
class Event:
    arrived_at: float
    event: str  # alert.raised, alert.cleared, or whatever else the body says
    key: str
    rule: str
    device_id: str
    opened_at: float | None
    cleared_at: float | None
    version: int

    @property
    def instance(self) -> str:
        return _EVENT_WORD.sub("", self.key)

    @property
    def is_reopen(self) -> bool:
        return re.search(r"-r\d+(-|$)", self.instance) is not None


def _epoch(value: Any) -> float | None:
    return None if not value else datetime.fromisoformat(value).timestamp()


def decode(records: list[tuple[float, str | None, str | None, bytes]]) -> tuple[list[Event], int]:
    """Receiver records → one Event per alert (a version-2 POST holds several); and how
    many bodies could not be read."""
    events: list[Event] = []
    bad = 0
    for arrived, key, header_event, raw in records:
        try:
            body = json.loads(raw)
            version = int(body.get("version", 1))
            if version >= 2:
                items = [(a["event"], a["idempotency_key"], a["alert"]) for a in body["alerts"]]
            else:
                event = body.get("event") or header_event
                items = [(event, key or f"alert-{body['alert']['id']}-{event}", body["alert"])]
            for event, item_key, alert in items:
                events.append(
                    Event(
                        arrived,
                        str(event),
                        str(item_key),
                        str(alert.get("rule")),
                        str(alert.get("device_id")),
                        _epoch(alert.get("opened_at")),
                        _epoch(alert.get("cleared_at")),
                        version,
                    )
                )
        except (ValueError, KeyError, TypeError):
            bad += 1
    return events, bad


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class StepScore:
    step: int
    held: int = 0
    short: int = 0
    ambiguous: int = 0
    missed_raises: int = 0
    missed_clears: int = 0
    false_raises: int = 0  # raised for a short open
    false_other: Counter[str] = field(default_factory=Counter)  # reason -> count
    duplicates: int = 0
    matched_by_arrival: int = 0
    stale_reopens: int = 0  # reopened raises whose body's opened_at is an earlier open's
    raise_late_s: list[float] = field(default_factory=list)
    clear_late_s: list[float] = field(default_factory=list)
    windows: list[tuple[float, float | None, int]] = field(default_factory=list)  # (start, p99, n)
    end_lag_s: float | None = None
    has_grown: bool = False

    @property
    def missed(self) -> int:
        return self.missed_raises + self.missed_clears

    @property
    def false(self) -> int:
        return self.false_raises + sum(self.false_other.values())

    @property
    def late_s(self) -> list[float]:
        return self.raise_late_s + self.clear_late_s


class Scorer:
    """Ground truth of one phase (one target, one mode) and the events it received."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.episodes: dict[str, list[Episode]] = defaultdict(list)  # in order, per door
        self._opens: dict[str, list[float]] = defaultdict(list)
        self._closes: dict[str, list[float]] = defaultdict(list)
        self._dues: dict[str, list[float]] = defaultdict(list)
        self.steps: dict[int, tuple[float, float]] = {}  # step -> (started_at, ended_at)
        self.events: list[Event] = []

    def add_step(self, step: int, started_at: float, ended_at: float, eps: list[Episode]) -> None:
        self.steps[step] = (started_at, ended_at)
        for e in sorted(eps, key=lambda e: e.opened_at):
            self.episodes[e.device_id].append(e)
            self._opens[e.device_id].append(e.opened_at)
            self._closes[e.device_id].append(e.closed_at)
            self._dues[e.device_id].append(e.opened_at + self.hold_s)

    def _latest(self, index: dict[str, list[float]], device_id: str, at: float | None) -> int:
        if at is None:
            return -1
        return bisect_right(index.get(device_id, []), at + MATCH_TOL_S) - 1

    def _assign(self) -> tuple[dict[int, Episode | None], set[int]]:
        """Event index → its episode (None: none fits); and the events matched by arrival."""
        out: dict[int, Episode | None] = {}
        by_arrival: set[int] = set()
        cleared: dict[str, Episode] = {}
        for n, ev in enumerate(self.events):
            if ev.rule == RULE and ev.event == "alert.cleared":
                k = self._latest(self._closes, ev.device_id, ev.cleared_at)
                out[n] = self.episodes[ev.device_id][k] if k >= 0 else None
                if out[n] is not None:
                    cleared.setdefault(ev.instance, out[n])  # type: ignore[arg-type]
        for n, ev in enumerate(self.events):
            if ev.rule != RULE or ev.event != "alert.raised":
                continue
            if ev.instance in cleared:
                out[n] = cleared[ev.instance]
                continue
            if not ev.is_reopen:
                k = self._latest(self._opens, ev.device_id, ev.opened_at)
            else:
                k = self._latest(self._dues, ev.device_id, ev.arrived_at)
                by_arrival.add(n)
            out[n] = self.episodes[ev.device_id][k] if k >= 0 else None
        return out, by_arrival

    def _step_of_arrival(self, at: float) -> int | None:
        """The last step started at or before `at` (events between steps go to the one before)."""
        started = [(s, t0) for s, (t0, _) in self.steps.items() if t0 <= at]
        return max(started, key=lambda x: x[1])[0] if started else None

    def score(self, step: int) -> StepScore:
        out = StepScore(step)
        started_at, ended_at = self.steps[step]
        assigned, by_arrival = self._assign()
        raises: dict[Episode, list[Event]] = defaultdict(list)
        clears: dict[Episode, list[Event]] = defaultdict(list)
        for n, ev in enumerate(self.events):
            episode = assigned.get(n)
            if episode is not None:
                if episode.step != step:
                    continue
                if n in by_arrival:
                    out.matched_by_arrival += 1
                if (
                    ev.is_reopen
                    and ev.event == "alert.raised"
                    and ev.opened_at is not None
                    and abs(ev.opened_at - episode.opened_at) > MATCH_TOL_S
                ):
                    out.stale_reopens += 1
                (raises if ev.event == "alert.raised" else clears)[episode].append(ev)
                continue
            if self._step_of_arrival(ev.arrived_at) != step:
                continue
            if ev.rule != RULE:
                out.false_other[f"{ev.rule} {ev.event}"] += 1
            elif ev.event not in ("alert.raised", "alert.cleared"):
                out.false_other[f"{RULE} {ev.event}"] += 1
            else:
                out.false_other[f"{RULE} {ev.event} matching no open"] += 1
        due_events: list[tuple[float, float]] = []  # (due, past due or inf)
        for episodes in self.episodes.values():
            for e in episodes:
                if e.step != step:
                    continue
                r, c = raises.get(e, []), clears.get(e, [])
                if e.is_held is None:
                    out.ambiguous += 1
                    continue
                if not e.is_held:
                    out.short += 1
                    out.false_raises += len(r)
                    if c and not r:
                        out.false_other[f"{RULE} alert.cleared for a short open, no raise"] += 1
                    continue
                out.held += 1
                out.duplicates += max(0, len(r) - 1) + max(0, len(c) - 1)
                due = e.opened_at + self.hold_s
                if r:
                    late = min(x.arrived_at for x in r) - due
                    out.raise_late_s.append(late)
                    due_events.append((due, late))
                else:
                    out.missed_raises += 1
                    due_events.append((due, math.inf))
                if c:
                    late = min(x.arrived_at for x in c) - e.closed_at
                    out.clear_late_s.append(late)
                    due_events.append((e.closed_at, late))
                else:
                    out.missed_clears += 1
                    due_events.append((e.closed_at, math.inf))
        self._lag_over_time(out, due_events, started_at, ended_at)
        return out

    @staticmethod
    def _lag_over_time(
        out: StepScore, due_events: list[tuple[float, float]], started_at: float, ended_at: float
    ) -> None:
        length = ended_at - started_at
        count = max(1, math.ceil(length / WINDOW_S - 1e-9))
        buckets: list[list[float]] = [[] for _ in range(count)]
        for due, late in due_events:
            k = min(count - 1, max(0, int((due - started_at) / WINDOW_S)))
            buckets[k].append(late)
        out.windows = [(k * WINDOW_S, pct(b, 99), len(b)) for k, b in enumerate(buckets)]
        filled = [(k, p) for k, (_, p, n) in enumerate(out.windows) if n and p is not None]
        if not filled:
            return
        out.end_lag_s = filled[-1][1]
        out.has_grown = trend_s(filled, length) > GROWTH_MAX_S


def trend_s(windows: list[tuple[int, float]], length_s: float) -> float:
    """How much later the step's end is than its start by the trend of the per-window p99
    (Theil-Sen: the median of the slopes between every two windows, so one slow window
    is not a trend); a window with an event that never came counts as 60 s."""
    points = [(k * WINDOW_S, min(p, 60.0)) for k, p in windows]
    slopes = sorted(
        (pj - pi) / (tj - ti) for n, (ti, pi) in enumerate(points) for tj, pj in points[n + 1 :]
    )
    return slopes[len(slopes) // 2] * length_s if slopes else 0.0
