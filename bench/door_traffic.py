"""Door traffic in Zigbee2MQTT's format, played in a process of its own, with its ground truth.

Each door is a closed-open-closed cycle: it opens, stays open for a drawn duration, closes,
stays closed for a drawn gap, and so on. An open is either *held* (open 1.5-2.5 x the hold:
door_left_open must raise at open + hold and clear at the close) or *short* (0.1-0.5 x the
hold: nothing must be raised), never in between, so that no open is ambiguous. Beside the
state changes, a share of the messages (`REREPORT_SHARE`) are re-reports of the state a
door is already in, at random instants, as battery sensors do.

Every message is the payload of an Aqara MCCGQ11LM behind Zigbee2MQTT, on
`zigbee2mqtt/<device_id>` (sensors/adapters/samples/zigbee2mqtt.jsonl has the real thing):

    {"battery":87,"contact":false,"device_temperature":26,"linkquality":143,
     "power_outage_count":4,"voltage":3015,"last_seen":"2026-11-26T04:01:02.345Z"}

`contact: false` means open. `last_seen` (Zigbee2MQTT's `advanced.last_seen: ISO_8601`) is
the instant the burst holding the message was built, just before it is written; without it
(`last_seen=False`) the gateway takes the arrival time as event time.

The generator speaks MQTT 3.1.1 on a plain socket (bench/load.py's Publisher: bursts in one
`sendall`, PUBACKs on a thread). It records what it did, not what it planned: each episode's
open and close at the instants they were sent (the scorer's ground truth) and its own lag
(how long after its scheduled instant each burst went out), so that a step where the
generator fell behind is marked invalid instead of blamed on the gateway.
"""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection

from bench.load import Publisher, publish_packet

REREPORT_SHARE = 0.30  # of all messages: the same state again
HELD_MIN, HELD_MAX = 1.5, 2.5  # an open held this many holds (the alert is due at 1.0)
SHORT_MIN, SHORT_MAX = 0.1, 0.5  # a short open: closed well before the hold
MIN_GAP_S = 0.15  # a door stays closed at least this long between two opens
REPORT_SPACING_S = 0.03  # a re-report keeps this far from the door's state changes
TICK_S = 0.002
BURST_MAX = 2000

OPEN, CLOSE, REREPORT, OPEN_HELD = 0, 1, 2, 3


@dataclass(frozen=True)
class Traffic:
    """What one step plays. `open_budget[i]`: how many more times door i may open in this
    step (the driver keeps every door under door_flapping's 30 opens in 10 minutes)."""

    port: int
    client_id: str
    device_ids: list[str]
    rate: float
    duration_s: float
    held_share: float
    hold_s: float
    seed: int
    open_budget: list[int] | None = None
    warmup: bool = False  # every door reports itself closed once, nothing else
    last_seen: bool = True


@dataclass
class Played:
    """What the generator did: ground truth and its own timing."""

    started_at: float  # epoch seconds of the step's instant 0
    elapsed_s: float
    sent: int
    state_changes: int
    rereports: int
    # (door index, opened at, closed at, planned held?) in epoch seconds, as sent
    episodes: list[tuple[int, float, float, bool]] = field(default_factory=list)
    lag_s: list[tuple[float, float]] = field(default_factory=list)  # (at, lag) per burst
    cpu_s: float = 0.0
    acked: bool = True


def _episodes(
    rng: random.Random, t_end: float, cycle_s: float, held_share: float, hold_s: float, cap: int
) -> list[tuple[float, float, bool]]:
    """One door's opens over [0, t_end): (open at, close at, held?)."""
    mean_open = hold_s * (
        held_share * (HELD_MIN + HELD_MAX) / 2 + (1 - held_share) * (SHORT_MIN + SHORT_MAX) / 2
    )
    gap = max(MIN_GAP_S, cycle_s - mean_open)
    out: list[tuple[float, float, bool]] = []
    t = rng.uniform(0, cycle_s)  # a door is somewhere in its cycle when the step starts
    while len(out) < cap:
        is_held = rng.random() < held_share
        low, high = (HELD_MIN, HELD_MAX) if is_held else (SHORT_MIN, SHORT_MAX)
        duration = hold_s * rng.uniform(low, high)
        if t + duration > t_end:
            break
        out.append((t, t + duration, is_held))
        t += duration + max(MIN_GAP_S, rng.uniform(0.5 * gap, 1.5 * gap))
    return out


def plan(traffic: Traffic) -> list[tuple[float, int, int]]:
    """The step's messages, (seconds in, door index, code), in order; code is OPEN (short),
    OPEN_HELD, CLOSE or REREPORT.

    State changes come from each door's cycle; their mean length is calibrated (two passes)
    so that state changes are (1 - REREPORT_SHARE) of `rate` over the step. Re-reports go to
    doors drawn at random, at random instants away from that door's state changes."""
    n = len(traffic.device_ids)
    total = round(traffic.rate * traffic.duration_s)
    if traffic.warmup:
        return [(i / traffic.rate, i, REREPORT) for i in range(n)]
    t_end = traffic.duration_s - 0.05  # every door is closed again when the step ends
    changes_wanted = total * (1 - REREPORT_SHARE)
    per_door_s = 2 * n / (changes_wanted / traffic.duration_s)  # one cycle per door
    budget = traffic.open_budget or [10**9] * n
    # an open still going at the end of the step is dropped, and long (held) ones are the
    # likelier to be: the chance of drawing a held open is raised until the share is right
    held_p = traffic.held_share
    for _ in range(4):
        rng = random.Random(traffic.seed)
        doors = [
            _episodes(rng, t_end, per_door_s, held_p, traffic.hold_s, budget[i]) for i in range(n)
        ]
        opens = sum(len(d) for d in doors)
        held = sum(h for d in doors for _, _, h in d)
        changes = 2 * opens
        share = held / opens if opens else traffic.held_share
        if changes == 0 or (
            abs(changes - changes_wanted) <= 0.005 * changes_wanted
            and abs(share - traffic.held_share) <= 0.05 * traffic.held_share
        ):
            break
        per_door_s *= changes / changes_wanted
        if share > 0:
            held_p = min(0.95, held_p * traffic.held_share / share)
    mean_open = traffic.hold_s * (
        traffic.held_share * (HELD_MIN + HELD_MAX) / 2
        + (1 - traffic.held_share) * (SHORT_MIN + SHORT_MAX) / 2
    )
    if per_door_s < mean_open + MIN_GAP_S:
        raise ValueError(
            f"{traffic.rate:,.0f} msg/s over {n:,} doors needs a door to open every "
            f"{per_door_s:.2f} s; its opens alone last {mean_open:.2f} s on average"
        )
    events: list[tuple[float, int, int]] = []
    changes_at: list[list[float]] = []
    for i, episodes in enumerate(doors):
        instants = []
        for opened, closed, held in episodes:
            events.append((opened, i, OPEN_HELD if held else OPEN))
            events.append((closed, i, CLOSE))
            instants += (opened, closed)
        changes_at.append(instants)
    rereports = max(0, total - len(events))
    taken: dict[int, list[float]] = {}
    placed = 0
    while placed < rereports:
        i = rng.randrange(n)
        at = rng.uniform(0, traffic.duration_s)
        near = changes_at[i] + taken.get(i, [])
        if any(abs(at - x) < REPORT_SPACING_S for x in near):
            continue
        taken.setdefault(i, []).append(at)
        events.append((at, i, REREPORT))
        placed += 1
    events.sort()
    return events


def _stamp(ms: int) -> bytes:
    """Zigbee2MQTT's ISO_8601 last_seen, in UTC, to the millisecond."""
    second = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{second}.{ms % 1000:03d}Z".encode()


class _Payloads:
    """Per-door constant parts of the payload, so that a message is a few concatenations."""

    def __init__(self, device_ids: list[str], rng: random.Random, last_seen: bool) -> None:
        self.topics = []
        self.heads = []
        self.tails = []
        for device_id in device_ids:
            raw = f"zigbee2mqtt/{device_id}".encode()
            self.topics.append(struct.pack("!H", len(raw)) + raw)
            self.heads.append(b'{"battery":%d,"contact":' % rng.randint(40, 100))
            self.tails.append(b',"device_temperature":%d,"linkquality":' % rng.randint(18, 30))
        self.middles = [
            b'%d,"power_outage_count":%d,"voltage":%d'
            % (rng.randint(30, 220), rng.randint(0, 40), rng.randint(2900, 3100))
            for _ in range(509)
        ]
        self.last_seen = last_seen

    def payload(self, i: int, is_open: bool, k: int, stamp: bytes) -> bytes:
        end = b',"last_seen":"' + stamp + b'"}' if self.last_seen else b"}"
        return (
            self.heads[i]
            + (b"false" if is_open else b"true")
            + self.tails[i]
            + self.middles[k % 509]
            + end
        )


def run(traffic: Traffic, conn: Connection) -> None:
    """Plan the step, send "ready", wait for "go", play it, send back a `Played`."""
    events = plan(traffic)
    payloads = _Payloads(traffic.device_ids, random.Random(traffic.seed + 1), traffic.last_seen)
    publisher = Publisher(traffic.port, traffic.client_id)
    conn.send(("ready", len(events)))
    conn.recv()
    is_open = [False] * len(traffic.device_ids)
    opened_at = [0.0] * len(traffic.device_ids)
    is_held = [False] * len(traffic.device_ids)
    played = Played(0.0, 0.0, 0, 0, 0)
    mid = last_ms = j = 0
    n = len(events)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    played.started_at = time.time()
    while j < n:
        now = time.monotonic() - t0
        if events[j][0] > now:
            time.sleep(min(TICK_S, events[j][0] - now))
            continue
        ms = int(time.time() * 1000)
        if ms <= last_ms:  # a door twice in a row must get two event times
            time.sleep(0.0005)
            continue
        last_ms = ms
        stamp, at = _stamp(ms), ms / 1000
        played.lag_s.append((now, now - events[j][0]))
        in_burst: set[int] = set()
        packets = []
        start = j
        while j < n and events[j][0] <= now and j - start < BURST_MAX:
            _, i, code = events[j]
            if i in in_burst:
                break  # the rest go in the next burst, with a later last_seen
            in_burst.add(i)
            if code in (OPEN, OPEN_HELD):
                is_open[i], opened_at[i], is_held[i] = True, at, code == OPEN_HELD
                played.state_changes += 1
            elif code == CLOSE:
                is_open[i] = False
                played.episodes.append((i, opened_at[i], at, is_held[i]))
                played.state_changes += 1
            else:
                played.rereports += 1
            mid = mid % 65535 + 1
            payload = payloads.payload(i, is_open[i], j, stamp)
            packets.append(publish_packet(payloads.topics[i], mid, payload))
            j += 1
        publisher.send(b"".join(packets), len(packets), played.sent)
        played.sent += len(packets)
    played.elapsed_s = time.monotonic() - t0
    played.cpu_s = time.process_time() - cpu0
    played.acked = publisher.wait_acked(played.sent, 30)
    publisher.close()
    conn.send(played)
    conn.close()
