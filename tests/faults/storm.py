"""Storm door traffic to break things in the middle of, and its score at the receiver.

A storm is many doors opening and closing fast, as in issue 14's benchmark: most doors
close again well within the hold (at most `ORDINARY_MAX` of it), a share stay open for
`HELD_MIN` to `HELD_MAX` holds (each raises `door_left_open`, and clears when it closes),
and about a third of the messages re-report a door's unchanged state. The schedule is
drawn up front from a seed, in seconds from the start; every reading carries its planned
instant as its own `event_at` (as in test_overload.py), so neither the sender's pace nor
the gateway's backlog moves what the truth says. The margins (0.2 of the hold against 3)
leave no door near its hold: which doors must alert follows from the schedule alone.

`Storm.quiet` keeps a window free of traffic (for a broker restart: the publisher cannot
publish while the broker is down, and a close it held back past its door's hold would be
news no gateway had in time). No door is open across the window but held ones.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import BurstPublisher, Received

HELD_SHARE = 0.25  # of the openings
ORDINARY_MAX = 0.2  # an ordinary door closes within this share of the hold
HELD_MIN, HELD_MAX = 3.0, 3.5  # a held door stays open this many holds
REPEAT_SHARE = 0.3  # of the messages: the door's state again, unchanged
CLOSED_GAP_S = (0.05, 0.6)  # between a close and the next opening of a door
CHUNK_S = 0.05  # the sender's pace: what fell due is written at once, every 50 ms
BURST_ROUNDS = 20  # 6,000 messages: more than the gateway's Receive Maximum (2,000)
MATCH_S = 0.005  # an alert's opened_at against the stamp of the opening sent


@dataclass(frozen=True)
class Opening:
    device_id: str
    opened_s: float
    closed_s: float
    is_held: bool


@dataclass
class Storm:
    """The planned readings (seconds from the start, door, open?) and the openings."""

    doors: list[str]
    duration_s: float  # no opening starts later
    hold_s: float
    seed: int = 14
    quiet: tuple[float, float] | None = None  # no reading in [start, end)
    # every door re-reports its state BURST_ROUNDS times in the 20 ms before this
    burst_at: float | None = None
    readings: list[tuple[float, str, bool]] = field(default_factory=list)
    openings: list[Opening] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)  # noqa: S311  # a schedule drawn, not a secret
        hold = self.hold_s
        for device in self.doors:
            t = rng.uniform(0, CLOSED_GAP_S[1])
            while t < self.duration_s:
                opened = self._after_quiet(t, margin=ORDINARY_MAX * hold)
                is_held = rng.random() < HELD_SHARE
                span = (
                    rng.uniform(HELD_MIN, HELD_MAX) if is_held else rng.uniform(0.02, ORDINARY_MAX)
                )
                closed = self._after_quiet(opened + span * hold, margin=0.0)
                self.openings.append(Opening(device, opened, closed, is_held))
                self._add(opened, device, is_open=True)
                self._add_repeats(rng, device, opened, closed, is_open=True)
                self._add(closed, device, is_open=False)
                gap = rng.uniform(*CLOSED_GAP_S)
                self._add_repeats(rng, device, closed, closed + gap, is_open=False)
                t = closed + gap
        if self.burst_at is not None:  # within the quiet window's margin: no door changes
            for k in range(BURST_ROUNDS):
                at = self.burst_at - 0.02 + k * 0.02 / BURST_ROUNDS
                open_then = {o.device_id for o in self.openings if o.opened_s < at < o.closed_s}
                for device in self.doors:
                    self._add(at, device, is_open=device in open_then)
        self.readings.sort()

    def _after_quiet(self, t: float, margin: float) -> float:
        """`t`, or past the quiet window when `t` falls in it (or `margin` before it)."""
        if self.quiet is None:
            return t
        start, end = self.quiet
        return end + (t - start + margin) if start - margin <= t < end else t

    def _add(self, t: float, device: str, *, is_open: bool) -> None:
        self.readings.append((t, device, is_open))

    def _add_repeats(
        self, rng: random.Random, device: str, start: float, end: float, *, is_open: bool
    ) -> None:
        """Re-reports of the state between `start` and `end` (a state change is one
        message; a third of all messages are repeats: about one per two changes)."""
        if rng.random() < REPEAT_SHARE / (1 - REPEAT_SHARE):
            at = self._after_quiet(rng.uniform(start, end), margin=0.0)
            if start < at < end:  # pushed past the quiet window: beyond the change after it
                self._add(at, device, is_open=is_open)

    @property
    def held(self) -> list[Opening]:
        return [o for o in self.openings if o.is_held]

    @property
    def end_s(self) -> float:
        return self.readings[-1][0]


class StormSender:
    """Sends a storm's readings at their planned instants (QoS 1, a raw socket:
    `BurstPublisher`) from a thread. `pause_at(t)` stops it before the readings of `t`
    on; `resume()` goes on, on a new connection when `reconnect()` made one."""

    def __init__(self, storm: Storm, broker_port: int, topic_root: str) -> None:
        self.storm = storm
        self.topic_root = topic_root
        self._port = broker_port
        self.publisher = BurstPublisher(broker_port)
        self.acked_before = 0  # PUBACKs of publishers replaced by `reconnect`
        self.sent = 0
        self.max_lag_s = 0.0  # the sender's own lag behind the schedule
        self._until = float("inf")
        self._is_paused = False
        self.start_at = datetime.now(UTC)
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error: BaseException | None = None

    def start(self) -> None:
        self.start_at = datetime.now(UTC)
        self._start = time.monotonic()
        self._thread.start()

    def elapsed_s(self) -> float:
        return time.monotonic() - self._start

    def stamp(self, t: float) -> datetime:
        return self.start_at + timedelta(seconds=t)

    def _message(self, t: float, device: str, is_open: bool) -> tuple[str, bytes]:
        body = {"kind": "door", "event_at": self.stamp(t).isoformat(), "fields": {"open": is_open}}
        return f"{self.topic_root}/v1/{device}/reading", json.dumps(body).encode()

    def _run(self) -> None:
        readings = self.storm.readings
        i = 0
        try:
            while i < len(readings):
                if readings[i][0] >= self._until:
                    self._is_paused = True
                    time.sleep(0.01)
                    continue
                self._is_paused = False
                now = self.elapsed_s()
                j = i
                while j < len(readings) and readings[j][0] <= now and readings[j][0] < self._until:
                    j += 1
                if j > i:
                    self.max_lag_s = max(self.max_lag_s, now - readings[i][0])
                    self.publisher.send([self._message(*r) for r in readings[i:j]])
                    self.sent = i = j
                time.sleep(CHUNK_S)
        except BaseException as exc:  # re-raised in the test's thread by `join`
            self._error = exc

    def pause_at(self, t: float) -> None:
        """Send nothing planned at `t` or later until `resume()`."""
        self._until = t

    def is_paused(self) -> bool:
        """Paused, with everything planned before the pause sent."""
        return self._is_paused

    def reconnect(self) -> None:
        """A new connection (the broker was restarted while paused)."""
        self.acked_before += self.publisher.acked
        self.publisher.close()
        self.publisher = BurstPublisher(self._port)

    def resume(self) -> None:
        self._until = float("inf")

    def is_done(self) -> bool:
        return self.sent == len(self.storm.readings)

    def acked(self) -> int:
        return self.acked_before + self.publisher.acked

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        if self._error is not None:
            raise self._error
        assert not self._thread.is_alive(), "the storm sender did not finish"

    def close(self) -> None:
        self.publisher.close()


@dataclass
class Score:
    """What the receiver got against what the storm's truth says."""

    expected: int  # raises and clears: two per held opening
    items: int  # alert items received, repeats included
    repeats: int  # items whose idempotency key had arrived already (a redelivery)
    lost: list[str]  # a held opening's raise or clear that never arrived
    false: list[str]  # an alert for no held opening (a door closed within its hold)
    duplicates: list[str]  # one event under two keys, or one opening alerted twice
    out_of_order: list[str]  # a clear arrived before its raise
    posts: int

    @property
    def is_clean(self) -> bool:
        return not (self.lost or self.false or self.duplicates or self.out_of_order)

    def figures(self) -> dict[str, Any]:
        return {
            "alert_events_expected": self.expected,
            "posts": self.posts,
            "items_received": self.items,
            "items_redelivered_same_key": self.repeats,
            "lost": len(self.lost),
            "false": len(self.false),
            "duplicate": len(self.duplicates),
            "out_of_order": len(self.out_of_order),
        }


def alert_items(requests: list[Received]) -> list[tuple[int, dict[str, Any]]]:
    """(POST number, item) of every alert item of the version 2 bodies received, in
    arrival order."""
    items: list[tuple[int, dict[str, Any]]] = []
    for number, request in enumerate(requests):
        body = request.json()
        assert body["version"] == 2, body
        items += [(number, item) for item in body["alerts"]]
    return items


def score(storm: Storm, sender: StormSender, requests: list[Received]) -> Score:
    """Match each alert received to a held opening by door and opening instant.

    A receiver drops an item whose idempotency key it had already (docs/webhooks.md): a
    repeat under the same key is a redelivery, counted but not a duplicate. A duplicate
    is the same event of an alert episode under a second key, or a second alert episode
    for an opening already alerted."""
    items = alert_items(requests)
    first: dict[str, dict[str, Any]] = {}
    post_of: dict[str, int] = {}
    for number, item in items:
        key = item["idempotency_key"]
        if key in first:
            same = (first[key]["event"], first[key]["alert"]["id"], first[key]["alert"]["episode"])
            assert same == (item["event"], item["alert"]["id"], item["alert"]["episode"]), key
            continue
        first[key] = item
        post_of[key] = number
    held_at: dict[str, list[Opening]] = defaultdict(list)
    for opening in storm.held:
        held_at[opening.device_id].append(opening)

    def opening_of(item: dict[str, Any]) -> Opening | None:
        alert = item["alert"]
        opened_at = datetime.fromisoformat(alert["opened_at"])
        for opening in held_at.get(alert["device_id"], []):
            if abs((opened_at - sender.stamp(opening.opened_s)).total_seconds()) <= MATCH_S:
                return opening
        return None

    lost, false, duplicates, out_of_order = [], [], [], []
    keys_of: Counter[tuple[int, int, str]] = Counter()
    seen: dict[tuple[Opening, str], int] = {}  # (opening, event) -> alert id
    arrived: dict[tuple[int, int], list[tuple[str, str]]] = defaultdict(list)
    for key, item in first.items():
        alert, event = item["alert"], item["event"]
        what = f"{event} {alert['device_id']} opened_at={alert['opened_at']} key={key}"
        if alert["rule"] != "door_left_open" or event not in ("alert.raised", "alert.cleared"):
            false.append(what)
            continue
        keys_of[(alert["id"], alert["episode"], event)] += 1
        arrived[(alert["id"], alert["episode"])].append((event, key))
        opening = opening_of(item)
        if opening is None:
            false.append(what)
        elif (opening, event) in seen:
            duplicates.append(what)
        else:
            seen[(opening, event)] = alert["id"]
    duplicates += [f"{k} under {n} keys" for k, n in keys_of.items() if n > 1]
    for opening in storm.held:
        for event in ("alert.raised", "alert.cleared"):
            if (opening, event) not in seen:
                lost.append(f"{event} {opening.device_id} opened_s={opening.opened_s:.3f}")
    for episode, events in arrived.items():
        if events[0][0] != "alert.raised":
            out_of_order.append(
                f"alert {episode}: " + ", ".join(f"{k} (POST {post_of[k]})" for _, k in events)
            )
    return Score(
        expected=2 * len(storm.held),
        items=len(items),
        repeats=len(items) - len(first),
        lost=lost,
        false=false,
        duplicates=duplicates,
        out_of_order=out_of_order,
        posts=len(requests),
    )
