"""Every adapter the gateway runs, behind one call: `adapt(topic, payload, ...)`.

    AdapterSet.load(...)      the native adapter + shipped adapter files + site folders
    .subscriptions()          the MQTT filters to subscribe to
    .adapt(topic, payload, received_at, kind_of) → Reading | Rejection

A topic goes to the one adapter whose pattern matches it (patterns never overlap: loading
refuses it). Nothing raises per message, whatever the bytes: bad input is a `Rejection`
whose `adapter` names the adapter that refused it, or "none" when no pattern matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sensors.declared import DeclaredAdapter, KindOf
from sensors.errors import FileError, Problem
from sensors.load import folder_paths, load_adapter, shipped_paths
from sensors.native import VERSION, NativeAdapter
from sensors.reading import Reading, Rejection, RejectReason
from sensors.topics import TopicFilter, TopicPattern

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
        declared: list[DeclaredAdapter] = []
        for path in paths:
            adapter = load_adapter(path)
            _check_against(adapter, native, declared)
            declared.append(adapter)
        return cls(native, declared, max_payload_bytes=max_payload_bytes)

    def subscriptions(self) -> list[str]:
        topics = list(self.native.subscriptions())
        for adapter in self.declared:
            topics.extend(p.subscription() for p in adapter.patterns)
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
        return next((a.name for a in self.declared if a.route(levels) is not None), NO_ADAPTER)

    def adapt(
        self, topic: str, payload: bytes, received_at: datetime, kind_of: KindOf
    ) -> Reading | Rejection:
        if topic.startswith(self._native_prefix):
            return self.native.adapt(topic, payload, received_at)
        levels = topic.split("/")
        for adapter in self.declared:
            found = adapter.route(levels)
            if found is not None:
                return adapter.adapt(
                    topic, found, payload, received_at, kind_of, self.max_payload_bytes
                )
        return Rejection(
            reason=RejectReason.BAD_TOPIC,
            detail="no adapter's topic pattern matches",
            topic=topic,
            received_at=received_at,
            adapter=NO_ADAPTER,
            sample=Rejection.sample_of(payload),
        )


def _check_against(
    adapter: DeclaredAdapter, native: NativeAdapter, loaded: list[DeclaredAdapter]
) -> None:
    """Refuse a name already taken or a pattern that could claim another's topic."""
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
    for i, pattern in enumerate(adapter.patterns):
        line = lines.get(("topics", i, "pattern"))
        where = f"topics[{i}].pattern"
        if pattern.overlaps(native_filter):
            problems.append(
                Problem(line, where, f"overlaps the native topics {native_filter.text}")
            )
        for other in loaded:
            clash = _first_overlap(pattern, other.patterns)
            if clash is not None:
                problems.append(
                    Problem(line, where, f"overlaps {clash.text!r} of {other.name} ({other.path})")
                )
    if problems:
        raise FileError(path, problems)


def _first_overlap(pattern: TopicPattern, others: list[TopicPattern]) -> TopicPattern | None:
    return next((o for o in others if pattern.overlaps(o)), None)
