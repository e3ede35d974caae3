"""The rule engine: readings in, alert events out, with due times instead of sleeps.

State is one `Track` per (rule, subject): a condition holding, or a device being watched
(last report, last opening). Every track's next instant (raise, reminder, window close,
count falling back, a silent device's wait) is kept in a heap, so `tick(now)` pops only
what is due (no scan over every door) and `next_due_at()` tells the scheduler how long it
may sleep. Tracks are handed to the store after every step (`take_changes`) and handed
back on start (`restore`), so a door opened before a restart still alerts at open + hold,
and a restart never raises the same alert twice.

Readings: the gateway drops, per device, readings older than the last one applied. A
reading is applied at its event time, but never earlier than `now - max_lateness_s` (a
wrong device clock cannot backdate alerts). Timers fire at their due time, not later: a
reading that arrives after a timer fired, although its event time is before the due time,
clears the alert it would have prevented (raise, then clear). See docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import cast
from zoneinfo import ZoneInfo

from rules.inhibition import Groups, fire_absence, observe_absence
from rules.ledger import Ledger
from rules.model import (
    AbsenceRule,
    AnyRule,
    CountRule,
    HeldRule,
    ImmediateRule,
    InactivityRule,
    NodeOfflineRule,
    RuleFile,
    ThresholdRule,
)
from rules.scope import Scope, Where
from rules.tracks import AlertEvent, EventType, Track, TrackKey, shared_data
from rules.transitions import (
    fire,
    observe_count,
    observe_inactivity,
    observe_state,
    observe_threshold,
)
from rules.windows import allowed_from
from sensors.kinds import KINDS, Kind
from sensors.reading import FieldValue, Reading

_Scoped = tuple[tuple[int, Scope], ...]  # a rule's bit in a rule list, its scope

# what `restore` needs of a device's state: its kind, fields, and when its state changed
DeviceFacts = tuple[Kind, Mapping[str, FieldValue], datetime | None]

__all__ = ["AlertEvent", "Engine", "EventType", "Track", "TrackKey", "Where"]

# next_due_at() answers this when work is waiting for the next call (arming devices from
# the site, clearing alerts of removed rules): "overdue, tick now"
OVERDUE = datetime(1970, 1, 1, tzinfo=UTC)
# settings that only change how an alert reads; a rule keeps its tracks across them
_WORDING = {"title", "message", "severity", "reminder_s", "scope", "deadline"}


class Engine:
    def __init__(
        self, rules: RuleFile, tz: ZoneInfo, where: Mapping[str, Where] | None = None
    ) -> None:
        self._tz = tz
        self._led = Ledger(tz)
        self._groups = Groups()
        # kept as given, not copied (a district's worth of devices): the caller hands over a
        # new mapping through set_where rather than changing this one
        self._where: Mapping[str, Where] = where if where is not None else {}
        self._pending_clears: list[tuple[AnyRule, TrackKey, Track]] = []
        self._load(rules)

    # ---- configuration -------------------------------------------------------------

    @property
    def rules(self) -> dict[str, AnyRule]:
        return self._rules

    def _load(self, rules: RuleFile) -> None:
        self._rules: dict[str, AnyRule] = {rule.id: rule for rule in rules.rules}
        self._led.derived = frozenset(r.id for r in rules.rules if _is_derived(r))
        self._max_lateness = timedelta(seconds=rules.max_lateness_s)
        self._node_rules = [r for r in rules.rules if isinstance(r, NodeOfflineRule)]
        self._reindex()

    def _reindex(self) -> None:
        self._led.where = self._where
        # (kind of reading, kind of device, listed?) -> the rules those kinds go to, and
        # which of them have a scope (a set bit each); (that key, the bits of the scoped
        # rules covering a device) -> the rules: a handful of tuples for a whole district,
        # no entry per device
        self._by_kinds: dict[tuple[Kind, Kind, bool], tuple[tuple[str, ...], _Scoped]] = {}
        self._rule_lists: dict[
            tuple[Kind, Kind, bool, int], tuple[tuple[AnyRule, _Handler, str | None], ...]
        ] = {}
        self._pairs = {
            rule.id: (rule, _handler(rule), _needs(rule))
            for rule in self._rules.values()
            if not isinstance(rule, NodeOfflineRule)
        }
        self._groups.build(
            self._node_rules, self._rules, self._where, self._covers, self._led.node_where
        )
        self._groups.refill(self._led.tracks)
        self._needs_arming = True

    def set_where(self, where: Mapping[str, Where]) -> None:
        """Devices added, moved or removed at run time; alerts of devices gone are cleared."""
        self._where = where
        self._reindex()
        self._prune()

    def replace_rules(self, new: RuleFile) -> None:
        """Swap the rules. Tracks of rules kept with the same condition live on; others are
        dropped and their raised alerts are cleared by the next `tick`/`observe` (call
        `tick(now)` right away; `next_due_at()` says so)."""
        old = self._rules
        fresh = {rule.id: rule for rule in new.rules}
        for key, track in list(self._led.tracks.items()):
            rule = fresh.get(key[0])
            if rule is None or not _same_condition(old[key[0]], rule):
                self._led.drop(key)
                if track.is_raised:
                    self._pending_clears.append((old[key[0]], key, track))
        self._load(new)
        for key, track in self._led.tracks.items():
            self._led.timers.set(key, track.next_at())  # reminders may have changed
        self._prune()

    def _prune(self) -> None:
        """Drop tracks of devices the site or the scope no longer puts under their rule."""
        if not self._where:
            return
        for key, track in list(self._led.tracks.items()):
            rule = self._rules[key[0]]
            if isinstance(rule, NodeOfflineRule):
                if key[1] not in self._led.node_where:
                    self._led.drop(key)
                    if track.is_raised:
                        self._pending_clears.append((rule, key, track))
            elif not self._covers(rule, key[1]):
                self._led.drop(key)
                if track.is_raised:
                    self._pending_clears.append((rule, key, track))

    def _covers(self, rule: AnyRule, device_id: str) -> bool:
        where = self._where.get(device_id)
        if where is not None and where.kind not in rule.kinds:
            return False
        return rule.scope is None or rule.scope.covers(device_id, where)

    def _rules_for(
        self, device_id: str, kind: Kind
    ) -> tuple[tuple[AnyRule, _Handler, str | None], ...]:
        where = self._where.get(device_id)
        device_kind = where.kind if where is not None else kind
        kinds = (kind, device_kind, where is not None)
        found = self._by_kinds.get(kinds)
        if found is None:
            found = self._by_kinds[kinds] = self._for_kinds(*kinds)
        ids, scoped = found
        covering = 0
        for bit, scope in scoped:
            if scope.covers(device_id, where):
                covering |= bit
        key = (*kinds, covering)
        result = self._rule_lists.get(key)
        if result is None:
            result = self._rule_lists[key] = tuple(
                self._pairs[rule_id]
                for i, rule_id in enumerate(ids)
                if self._rules[rule_id].scope is None or covering & (1 << i)
            )
        return result

    def _for_kinds(
        self, kind: Kind, device_kind: Kind, is_listed: bool
    ) -> tuple[tuple[str, ...], _Scoped]:
        """The rules a reading of `kind` from a device of `device_kind` may go to, in file
        order, and the scopes among them, each with its rule's bit."""
        found: list[str] = []
        for rule in self._rules.values():
            if isinstance(rule, NodeOfflineRule):
                continue
            if kind == Kind.AVAILABILITY:
                if not isinstance(rule, AbsenceRule):
                    continue
                if not is_listed and rule.kind != "any":
                    continue
            elif kind not in rule.kinds:
                continue
            if device_kind != Kind.AVAILABILITY and device_kind not in rule.kinds:
                continue
            found.append(rule.id)
        scoped = tuple(
            (1 << i, scope)
            for i, rule_id in enumerate(found)
            if (scope := self._rules[rule_id].scope) is not None
        )
        return tuple(found), scoped

    # ---- the hot path ----------------------------------------------------------------

    @property
    def max_lateness(self) -> timedelta:
        """How far back a reading's own time is believed (the rule file's max_lateness_s)."""
        return self._max_lateness

    def observe(
        self, reading: Reading, now: datetime, until: datetime | None = None
    ) -> list[AlertEvent]:
        """Apply one reading; return what it raised or cleared right away. A timer of the
        reading's track already due by `until` (default `now`) fires now: the caller
        holds `until` back while readings received before `now` still wait."""
        self._start(now)
        led = self._led
        tracks = led.tracks
        due_of = led.timers.due_of
        at = max(reading.event_at, now - self._max_lateness)
        fields = reading.fields
        device_id = reading.device_id
        if reading.kind != Kind.AVAILABILITY and device_id not in self._where:
            led.seen_kind[device_id] = reading.kind
        for rule, how, needs in self._rules_for(device_id, reading.kind):
            if needs is not None and needs not in fields:
                continue  # the rule's field is not in this reading: nothing it could change
            key = (rule.id, device_id)
            track = tracks.get(key)
            due = due_of(key)
            if due is not None and due <= at and how is not _Handler.ABSENCE:
                # a reading later than its track's timer (a backlog, a replay): the timer
                # fires first, as it would have at its time, then the reading applies (a
                # door open past its hold and closed after raises, then clears). A silent
                # device's watch does not: the reading shows it alive, the wait was ours.
                self._fire_key(key, now, at)
                track = tracks.get(key)
            if how is _Handler.ABSENCE:
                absence = cast(AbsenceRule, rule)  # by _handler
                silent_s = absence.silent_for(self._kind_of(reading, track))
                observe_absence(led, self._groups, absence, key, track, reading, at, now, silent_s)
            elif how is _Handler.STATE:
                observe_state(
                    led, cast(HeldRule | ImmediateRule, rule), key, track, reading, at, now
                )
            elif how is _Handler.THRESHOLD:
                threshold = cast(ThresholdRule, rule)
                value = fields.get(threshold.field)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    observe_threshold(led, threshold, key, track, float(value), at)
            else:  # `needs` saw to it that the field is there: a transition or activity
                value = fields[cast(CountRule | InactivityRule, rule).field]
                if how is _Handler.COUNT:
                    observe_count(led, cast(CountRule, rule), key, track, value, at)
                else:
                    observe_inactivity(led, cast(InactivityRule, rule), key, track, value, at)
            # a timer already due (a late reading): handle it now, not at the next tick
            due = due_of(key)
            if due is not None and due <= (now if until is None else until):
                self._fire_key(key, now, until)
        return led.take_events()

    def _kind_of(self, reading: Reading, track: Track | None) -> Kind | None:
        where = self._where.get(reading.device_id)
        if where is not None:
            return where.kind
        if reading.kind != Kind.AVAILABILITY:
            return reading.kind
        return Kind(track.data["kind"]) if track is not None and "kind" in track.data else None

    def tick(self, now: datetime, until: datetime | None = None) -> list[AlertEvent]:
        """Handle every timer due by `until` (default `now`): raises, reminders, clears at
        computed instants; what fires is stamped `now`."""
        self._start(now)
        limit = now if until is None else until
        while (key := self._led.timers.pop(limit)) is not None:
            self._fire_key(key, now, until)
        return self._led.take_events()

    def next_due_at(self) -> datetime | None:
        """The earliest pending due time, for the scheduler to sleep until."""
        if self._pending_clears or self._needs_arming:
            if self._pending_clears or self._arming_work():
                return OVERDUE
            self._needs_arming = False
        return self._led.timers.next_at()

    def _fire_key(self, key: TrackKey, now: datetime, until: datetime | None = None) -> None:
        led = self._led
        limit = now if until is None else until
        for _ in range(8):  # a track has at most a few timers due at once
            track = led.tracks.get(key)
            next_at = track.next_at() if track is not None else None
            if track is None or next_at is None or next_at > limit:
                if track is not None and next_at is not None:
                    led.timers.set(key, next_at)  # popped early: back in at its instant
                return
            rule = self._rules[key[0]]
            if isinstance(rule, AbsenceRule):
                fire_absence(led, self._groups, rule, key, track, now)
            else:
                fire(led, rule, key, track, now)

    def _start(self, now: datetime) -> None:
        """Work left for the first call that knows the time."""
        for rule, key, track in self._pending_clears:
            self._led.events.append(
                self._led.event(EventType.CLEARED, rule, key, track, now, track.due_at)
            )
        self._pending_clears.clear()
        if self._needs_arming:
            self._arm(now)

    def _arming_work(self) -> list[tuple[AbsenceRule | InactivityRule, str]]:
        work: list[tuple[AbsenceRule | InactivityRule, str]] = []
        for rule in self._rules.values():
            if isinstance(rule, AbsenceRule | InactivityRule):
                work.extend(
                    (rule, device_id)
                    for device_id in self._where
                    if (rule.id, device_id) not in self._led.tracks
                    and self._covers(rule, device_id)
                    and (
                        not isinstance(rule, AbsenceRule)
                        or rule.silent_for(self._where[device_id].kind) is not None
                    )
                )
        return work

    def _arm(self, now: datetime) -> None:
        """Watch listed devices not heard of yet: silent or idle since `now`."""
        self._needs_arming = False
        for rule, device_id in self._arming_work():
            kind = self._where[device_id].kind
            if isinstance(rule, AbsenceRule):
                wait = rule.silent_for(kind)
                if wait is None:
                    continue
                # what the device's first report of its kind will say: that report moves
                # this track on in place instead of replacing it
                data = shared_data({"kind": kind.value})
            else:
                wait = rule.idle_s
                data = shared_data({})
            due = allowed_from(rule, now + timedelta(seconds=wait), self._tz)
            track = Track(since_at=now, due_at=due, is_raised=False, data=data)
            self._led.put((rule.id, device_id), track)

    # ---- persistence -----------------------------------------------------------------

    def take_changes(self) -> list[tuple[TrackKey, Track | None]]:
        """Tracks created, changed or ended since the last call (None: ended)."""
        tracks = self._led.tracks
        changes = [(key, _copy(tracks.get(key))) for key in self._led.changed]
        self._led.refreshed.difference_update(self._led.changed)
        self._led.changed.clear()
        return changes

    def take_refreshed(self) -> set[TrackKey]:
        """Tracks only moved forward by reports since the last call (offline watches):
        the caller need not save them (`restore` moves them on from the devices' last
        reports), or saves them when it sees fit, through `saved_form`."""
        refreshed, self._led.refreshed = self._led.refreshed, set()
        return refreshed

    def saved_form(self, key: TrackKey) -> Track | None:
        """A copy of the track as it stands, for the store (None: it has ended)."""
        return _copy(self._led.tracks.get(key))

    def restore(
        self,
        tracks: list[tuple[TrackKey, Track]],
        last_seen: Mapping[str, datetime] | None = None,
        states: Mapping[str, DeviceFacts] | None = None,
    ) -> None:
        """Load tracks saved by the store; tracks of rules no longer defined are dropped.

        An offline watch is saved when it starts, raises or ends, not each time a report
        moves it on (`take_refreshed`): `last_seen` (each device's last report, kept with
        its state) moves it to where the reports had taken it. A held or immediate
        condition on the kind's state field is saved once raised, not while it waits
        ("open since" is the device's state): `states` derives those again."""
        led = self._led
        seen = last_seen or {}
        for key, track in tracks:
            rule = self._rules.get(key[0])
            if rule is None:
                led.changed.add(key)
                continue
            if key[0] in led.derived and not track.is_raised:
                led.changed.add(key)  # a row of an older version: derived below instead
                continue
            if key[0] in led.derived:
                led.stored.add(key)
            copy = _copy(track)
            assert copy is not None  # noqa: S101  # track is not None
            at = seen.get(key[1])
            if (
                isinstance(rule, AbsenceRule)
                and at is not None
                and at > copy.since_at
                and not copy.is_raised
                and "silent_at" not in copy.data
            ):
                kind = Kind(copy.data["kind"]) if "kind" in copy.data else None
                where = self._where.get(key[1])
                silent_s = rule.silent_for(where.kind if where is not None else kind)
                copy.since_at = at
                copy.due_at = (
                    None
                    if silent_s is None
                    else allowed_from(rule, at + timedelta(seconds=silent_s), self._tz)
                )
            led.tracks[key] = copy
            led.timers.set(key, copy.next_at())
        for device_id, facts in (states or {}).items():
            self._derive(device_id, facts)
        self._groups.refill(led.tracks)
        self._prune()

    def _derive(self, device_id: str, facts: DeviceFacts) -> None:
        """The waiting tracks a device's state implies (a door open since `changed_at`),
        as the reading that made the state would have made them."""
        kind, fields, changed_at = facts
        if changed_at is None:
            return
        reading = Reading(device_id, kind, dict(fields), changed_at, changed_at)
        for rule, how, _ in self._rules_for(device_id, kind):
            key = (rule.id, device_id)
            if (
                rule.id in self._led.derived
                and how is _Handler.STATE
                and key not in self._led.tracks
            ):
                observe_state(
                    self._led, cast(HeldRule | ImmediateRule, rule), key, None, reading,
                    changed_at, changed_at,
                )  # fmt: skip
        # an immediate raise here (a state whose raise was never saved) comes out with the
        # next call's events

    def active(self) -> dict[TrackKey, Track]:
        return dict(self._led.tracks)


class _Handler(Enum):
    """Which `observe_*` a rule's readings go to (decided once per rule, not per reading)."""

    ABSENCE = 1
    STATE = 2
    THRESHOLD = 3
    COUNT = 4
    INACTIVITY = 5


def _handler(rule: AnyRule) -> _Handler:
    if isinstance(rule, AbsenceRule):
        return _Handler.ABSENCE
    if isinstance(rule, HeldRule | ImmediateRule):
        return _Handler.STATE
    if isinstance(rule, ThresholdRule):
        return _Handler.THRESHOLD
    if isinstance(rule, CountRule):
        return _Handler.COUNT
    if isinstance(rule, InactivityRule):
        return _Handler.INACTIVITY
    raise TypeError(f"no reading handler for {type(rule).__name__}")  # node_offline: not here


def _needs(rule: AnyRule) -> str | None:
    """The one field a reading must carry for the rule to look at it (None: any reading
    matters, as for an offline watch, or several fields do, as for `all:`). Skipping the
    rest early is what a heartbeat mostly is: seven rules, one of them interested."""
    if isinstance(rule, AbsenceRule):
        return None
    field: str | None = getattr(rule, "field", None)
    return field


def _is_derived(rule: AnyRule) -> bool:
    """A held or immediate condition on the state field of every kind it covers: while it
    waits, the device's state (the field's value, and since when) says all it holds."""
    if not isinstance(rule, HeldRule | ImmediateRule) or rule.field is None:
        return False
    return all(KINDS[kind].state_field == rule.field for kind in rule.kinds)


def _copy(track: Track | None) -> Track | None:
    # data is never changed in place, so the copy may share it
    return (
        None if track is None else Track(track.since_at, track.due_at, track.is_raised, track.data)
    )


def _same_condition(old: AnyRule, new: AnyRule) -> bool:
    return type(old) is type(new) and old.model_dump(exclude=_WORDING) == new.model_dump(
        exclude=_WORDING
    )
