"""Every adapter the gateway runs, behind one call: `adapt(topic, payload, ...)`.

    AdapterSet.load(...)      the native adapter + shipped adapter files + site folders
    .subscriptions()          the MQTT filters to subscribe to
    .adapt(topic, payload, received_at, kind_of) → Reading | Rejection

A topic goes to the one adapter whose pattern matches it (patterns never overlap: loading
refuses it), else to the adapter whose `unmatched` filter covers it. Nothing raises per
message, whatever the bytes: bad input is a `Rejection` whose `adapter` names the adapter
that refused it, or "none" when no adapter claims the topic.

`check_against` is the one overlap check: the gateway's loading (`gridgate check-config`,
start-up) and `gridgate sensors check` both build their set through `of_paths`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sensors.declared import DeclaredAdapter, KindOf, Route
from sensors.errors import FileError, Problem
from sensors.load import folder_paths, load_adapter, shipped_paths
from sensors.native import VERSION, NativeAdapter
from sensors.reading import Reading, Rejection, RejectReason
from sensors.topics import TopicFilter, TopicPattern

Claim = TopicPattern | TopicFilter

__all__ = ["AdapterSet", "KindOf"]

NO_ADAPTER = "none"
RESERVED_NAMES = frozenset({NO_ADAPTER, "native"})


class AdapterSet:
    """The native adapter and every declared adapter, routed by topic."""

    def __init__(
        self,
        native: NativeAdapter,
        declared: Sequence[DeclaredAdapter],
        *,
        max_payload_bytes: int = 65536,
    ) -> None:
        self.native = native
        self.declared = list(declared)
        self.max_payload_bytes = max_payload_bytes
        self._native_prefix = f"{native.topic_root}/{VERSION}/"
        self._native_filter = TopicFilter.parse(f"{native.topic_root}/{VERSION}/#")
        self.names: list[str] = [native.name, *(a.name for a in self.declared)]
        # the adapters a topic can go to, by its first level: a pattern's first level is
        # its vendor's prefix ("zigbee2mqtt", "shellies") far more often than a
        # placeholder, so a message asks one adapter's patterns, not every adapter's. An
        # index by prefix and not a cache by topic: a cache held a topic string, a split
        # and a dict per device (35 MB at 100,000 doors) to save ~2 us a message.
        self._by_prefix: dict[str, list[DeclaredAdapter]] = {}
        self._any_prefix: list[DeclaredAdapter] = []
        for adapter in self.declared:
            prefixes = {route.pattern.literals[0] for route in adapter.routes}
            if None in prefixes:
                self._any_prefix.append(adapter)
                continue
            for prefix in sorted(p for p in prefixes if p is not None):
                self._by_prefix.setdefault(prefix, []).append(adapter)
        for candidates in self._by_prefix.values():
            candidates.extend(self._any_prefix)

    @classmethod
    def load(
        cls,
        *,
        native_topic_root: str = "gridgate",
        max_payload_bytes: int = 65536,
        extra_dirs: Sequence[Path] = (),
        max_clock_skew: timedelta = timedelta(minutes=5),
    ) -> AdapterSet:
        """Shipped adapters, then each site folder's `*.yaml`; raise FileError on any
        bad file, a repeated adapter name, or a topic pattern two adapters would share.

        `max_clock_skew`: how far ahead of arrival an event time may be (a simulation
        running faster than the wall clock needs far more than the default)."""
        native = NativeAdapter(
            topic_root=native_topic_root,
            max_payload_bytes=max_payload_bytes,
            max_clock_skew=max_clock_skew,
        )
        paths = shipped_paths() + [p for folder in extra_dirs for p in folder_paths(folder)]
        return cls.of_paths(native, paths, max_payload_bytes=max_payload_bytes)

    @classmethod
    def of_paths(
        cls, native: NativeAdapter, paths: Sequence[Path], *, max_payload_bytes: int = 65536
    ) -> AdapterSet:
        """Load each file (a path given twice is read once) and check it against the
        native topics and every adapter loaded before it."""
        declared: list[DeclaredAdapter] = []
        seen: set[Path] = set()
        for path in paths:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            adapter = load_adapter(path)
            check_against(adapter, native, declared)
            declared.append(adapter)
        return cls(native, declared, max_payload_bytes=max_payload_bytes)

    def subscriptions(self) -> list[str]:
        topics = list(self.native.subscriptions())
        for adapter in self.declared:
            topics.extend(adapter.subscriptions())
        return list(dict.fromkeys(topics))

    def adapter(self, name: str) -> NativeAdapter | DeclaredAdapter | None:
        if name == self.native.name:
            return self.native
        return next((a for a in self.declared if a.name == name), None)

    def name_for(self, topic: str) -> str:
        """The name of the adapter that handles `topic` ("none" when none does)."""
        if topic.startswith(self._native_prefix):
            return self.native.name
        levels = topic.split("/")
        routed = self._route(levels)
        if routed is not None:
            return routed[0].name
        return next((a.name for a in self.declared if a.is_unmatched(levels)), NO_ADAPTER)

    def _route(
        self, levels: list[str]
    ) -> tuple[DeclaredAdapter, tuple[Route, dict[str, str]]] | None:
        """The adapter whose pattern fits `levels`, with the route and its placeholders'
        values; patterns never overlap (loading refuses it), so at most one fits."""
        for adapter in self._by_prefix.get(levels[0], self._any_prefix):
            found = adapter.route(levels)
            if found is not None:
                return adapter, found
        return None

    def adapt(
        self, topic: str, payload: bytes, received_at: datetime, kind_of: KindOf
    ) -> Reading | Rejection:
        if topic.startswith(self._native_prefix):
            return self.native.adapt(topic, payload, received_at)
        levels = topic.split("/")
        routed = self._route(levels)
        if routed is not None:
            adapter, found = routed
            problem = adapter.topic_problem(levels, found)
            if problem is not None:
                return Rejection(
                    reason=problem[0],
                    detail=problem[1],
                    topic=topic,
                    received_at=received_at,
                    adapter=adapter.name,
                    device_id=None,
                    sample=Rejection.sample_of(payload),
                )
            return adapter.adapt(
                topic, found, payload, received_at, kind_of, self.max_payload_bytes
            )
        for adapter in self.declared:
            if adapter.is_unmatched(levels):
                return adapter.adapt_unmatched(topic, payload, received_at, self.max_payload_bytes)
        return Rejection(
            reason=RejectReason.BAD_TOPIC,
            detail="no adapter's topic pattern matches",
            topic=topic,
            received_at=received_at,
            adapter=NO_ADAPTER,
            sample=Rejection.sample_of(payload),
        )


def check_against(
    adapter: DeclaredAdapter, native: NativeAdapter, loaded: Sequence[DeclaredAdapter]
) -> None:
    """Refuse a name already taken, or a topic this adapter could claim that the native
    topics or another adapter claim too (a pattern, or an `unmatched` filter)."""
    path = adapter.path or Path(adapter.name)
    problems: list[Problem] = []
    lines = adapter.lines
    name_line = lines.get(("name",))
    if adapter.name in RESERVED_NAMES:
        problems.append(Problem(name_line, "name", f"{adapter.name!r} is reserved"))
    for other in loaded:
        if other.name == adapter.name:
            problems.append(
                Problem(name_line, "name", f"{adapter.name!r} is also the name of {other.path}")
            )
    native_filter = TopicFilter.parse(f"{native.topic_root}/{VERSION}/#")
    for i, claim in enumerate(adapter.claims):
        if isinstance(claim, TopicPattern):
            line, where = lines.get(("topics", i, "pattern")), f"topics[{i}].pattern"
        else:
            line, where = lines.get(("unmatched",)), f"unmatched ({claim.text})"
        if claim.overlaps(native_filter):
            problems.append(
                Problem(line, where, f"overlaps the native topics {native_filter.text}")
            )
        for other in loaded:
            clash = _first_overlap(claim, other.claims)
            if clash is not None:
                problems.append(
                    Problem(line, where, f"overlaps {clash.text!r} of {other.name} ({other.path})")
                )
    if problems:
        raise FileError(path, problems)


def _first_overlap(claim: Claim, others: list[Claim]) -> Claim | None:
    return next((o for o in others if claim.overlaps(o)), None)
