"""Offline devices (absence) and the node alert that stands in for many of them.

A device is *silent* when nothing came from it for `silent_s` (or its availability topic
said `online: false`). If a `node_offline` rule watches the node above it (a building),
the device's own alert waits `within_s`: should enough of the node's devices go silent
within `within_s` of each other (`share` of them, at least `min_devices`), ONE alert is
raised for the node and the devices' alerts are raised with `is_inhibited=True` (kept by
the store, not sent one by one). Otherwise the device's alert is raised when its wait
ends. When devices report again and fewer than the needed number stay silent, the node's
alert clears. A device's alert raised inhibited stays so until it clears.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rules.ledger import Ledger
from rules.model import AbsenceRule, AnyRule, NodeOfflineRule
from rules.scope import NodePlaces, Where
from rules.tracks import Track, TrackKey, instant, iso, shared_data
from rules.transitions import fire
from rules.windows import allowed_from
from sensors.kinds import Kind
from sensors.reading import Reading


@dataclass(slots=True)
class Group:
    """The devices an absence rule watches under one node, for one node_offline rule."""

    rule: NodeOfflineRule
    node_id: str
    total: int = 0
    silent: dict[str, datetime] = field(default_factory=dict)  # device id -> silent since

    @property
    def need(self) -> int:
        return max(self.rule.min_devices, math.ceil(self.rule.share * self.total))

    @property
    def can_go_silent_together(self) -> bool:
        """False for a node with fewer devices than `min_devices`: it can never raise, so
        its devices' own alerts must not wait for it."""
        return self.total >= self.need

    def went_silent_together(self, ref: datetime) -> bool:
        """Whether `need` devices went silent within `within_s` up to `ref`."""
        since = ref - timedelta(seconds=self.rule.within_s)
        return sum(1 for at in self.silent.values() if since <= at <= ref) >= self.need


class Groups:
    """Which node groups a device's offline watch belongs to, found from its place: per
    absence rule, the levels its node rules watch and the group of each node there (no
    table entry per device)."""

    def __init__(self) -> None:
        # absence rule id -> [(level, node id -> group)], one entry per node rule
        self._by_rule: dict[str, list[tuple[str, dict[str, Group]]]] = {}
        self._where: Mapping[str, Where] = {}
        self._covers: Callable[[AnyRule, str], bool] = lambda _rule, _device_id: False
        self._rules: Mapping[str, AnyRule] = {}

    def build(
        self,
        node_rules: list[NodeOfflineRule],
        rules: Mapping[str, AnyRule],
        where: Mapping[str, Where],
        covers: Callable[[AnyRule, str], bool],
        node_where: NodePlaces,
    ) -> None:
        """Count the devices each node rule groups (from the site), and name the nodes."""
        self._by_rule = {}
        self._where, self._covers, self._rules = where, covers, rules
        node_where.reset(where)
        for node_rule in node_rules:
            absence = rules[node_rule.of]
            kind = node_rule.single_kind or Kind.AVAILABILITY
            groups: dict[str, tuple[Group, str]] = {}  # node id -> group, its first device
            for device_id, place in where.items():
                node = place.node_at(node_rule.level)
                if node is None or not covers(absence, device_id):
                    continue
                if node[0] not in groups:
                    groups[node[0]] = (Group(node_rule, node[0]), device_id)
                groups[node[0]][0].total += 1
            by_node: dict[str, Group] = {}
            for node_id, (group, device_id) in groups.items():
                if not group.can_go_silent_together:
                    continue  # too few devices: theirs are raised when due, not held back
                node_where.add(node_id, device_id, kind)
                by_node[node_id] = group
            if by_node:
                self._by_rule.setdefault(absence.id, []).append((node_rule.level, by_node))

    def of(self, key: TrackKey) -> tuple[Group, ...]:
        """The groups the watch `key` (absence rule, device) counts in."""
        levels = self._by_rule.get(key[0])
        where = self._where.get(key[1]) if levels else None
        if levels is None or where is None or not self._covers(self._rules[key[0]], key[1]):
            return ()
        found: list[Group] = []
        for level, by_node in levels:
            node = where.node_at(level)
            group = by_node.get(node[0]) if node is not None else None
            if group is not None:
                found.append(group)
        return tuple(found)

    def refill(self, tracks: Mapping[TrackKey, Track]) -> None:
        """Put back the silent devices known from tracks (after restore or a rebuild)."""
        if not self._by_rule:
            return
        for key, track in tracks.items():
            if key[0] in self._by_rule and "silent_at" in track.data:
                for group in self.of(key):
                    group.silent[key[1]] = instant(track.data["silent_at"])


def observe_absence(
    led: Ledger,
    groups: Groups,
    rule: AbsenceRule,
    key: TrackKey,
    track: Track | None,
    reading: Reading,
    at: datetime,
    now: datetime,
    silent_s: float | None,
) -> None:
    """Any report proves the device alive; `online: false` may say it is not."""
    if reading.kind == Kind.AVAILABILITY and reading.fields.get("online") is False:
        if not rule.on_unavailable:
            return  # the broker's last will is not a report from the device
        if track is None:
            track = Track(since_at=at, due_at=None, is_raised=False)
        if not track.is_raised and "silent_at" not in track.data:
            go_silent(led, groups, rule, key, track, at, now, cause="unavailable")
        return
    if track is not None and at < track.since_at:
        return  # a late report: the device was seen since
    is_watching = track is not None and not (track.is_raised or "silent_at" in track.data)
    if track is not None and not is_watching:
        back(led, groups, rule, key, track, at)
    if (
        track is not None
        and reading.kind != Kind.AVAILABILITY
        and len(track.data) == 1
        and track.data.get("kind") == reading.kind  # a StrEnum: equal to its value
    ):
        data = track.data  # what the lines below would make of it again: the commonest case
    else:
        data = {} if reading.kind == Kind.AVAILABILITY else {"kind": reading.kind.value}
        if track is not None and "kind" in track.data:
            data = {"kind": track.data["kind"], **data}
        data = shared_data(data)
    due = None if silent_s is None else allowed_from(rule, at + timedelta(seconds=silent_s), led.tz)
    if is_watching and track is not None and track.data == data and led.tracks.get(key) is track:
        # a device watched and still reporting: by far the commonest
        track.since_at = at
        track.due_at = due
        led.refresh(key, track)
        return
    led.put(key, Track(since_at=at, due_at=due, is_raised=False, data=data))


def go_silent(
    led: Ledger,
    groups: Groups,
    rule: AbsenceRule,
    key: TrackKey,
    track: Track,
    silent_at: datetime,
    now: datetime,
    *,
    cause: str = "silent",
) -> None:
    """The device went silent at `silent_at`: raise, or wait for its node to decide."""
    track.data = {**track.data, "silent_at": iso(silent_at), "cause": cause}
    members = groups.of(key)
    if not members:
        led.raise_alert(rule, key, track, now, silent_at)
        return
    is_inhibited = False
    for group in members:
        group.silent[key[1]] = silent_at
        node_key = (group.rule.id, group.node_id)
        node_track = led.tracks.get(node_key)
        if node_track is not None and node_track.is_raised:
            is_inhibited = True
        elif group.went_silent_together(silent_at):
            _raise_node(led, group, node_key, silent_at, now, rule)
            is_inhibited = True
    if is_inhibited:
        led.raise_alert(rule, key, track, now, silent_at, is_inhibited=True)
        return
    wait = max(g.rule.within_s for g in members)
    track.data = {**track.data, "emit_at": iso(silent_at + timedelta(seconds=wait))}
    led.put(key, track)


def _raise_node(
    led: Ledger,
    group: Group,
    node_key: TrackKey,
    ref: datetime,
    now: datetime,
    absence: AbsenceRule,
) -> None:
    since = ref - timedelta(seconds=group.rule.within_s)
    recent = [at for at in group.silent.values() if since <= at <= ref]
    data = {"count": len(group.silent), "total": group.total}
    node_track = Track(since_at=min(recent), due_at=ref, is_raised=False, data=data)
    led.raise_alert(group.rule, node_key, node_track, now, ref)
    for device_id in group.silent:  # members still waiting: raised now, inhibited
        key = (absence.id, device_id)
        member = led.tracks.get(key)
        if member is not None and not member.is_raised and "emit_at" in member.data:
            led.raise_alert(
                absence, key, member, now, instant(member.data["silent_at"]), is_inhibited=True
            )


def back(
    led: Ledger, groups: Groups, rule: AbsenceRule, key: TrackKey, track: Track, at: datetime
) -> None:
    """The device reported again at `at`: clear its alert and maybe its node's."""
    for group in groups.of(key):
        group.silent.pop(key[1], None)
        node_key = (group.rule.id, group.node_id)
        node_track = led.tracks.get(node_key)
        if node_track is not None and len(group.silent) < group.need:
            node_track.data = {**node_track.data, "count": len(group.silent)}
            led.clear_alert(group.rule, node_key, node_track, at, keep=False)
    led.clear_alert(rule, key, track, at, keep=True)


def fire_absence(
    led: Ledger, groups: Groups, rule: AbsenceRule, key: TrackKey, track: Track, now: datetime
) -> None:
    if track.is_raised:
        fire(led, rule, key, track, now)
    elif "emit_at" in track.data:
        led.raise_alert(rule, key, track, now, instant(track.data["silent_at"]))
    elif track.due_at is not None:
        go_silent(led, groups, rule, key, track, track.due_at, now)
