"""Every shipped adapter, checked as a whole: names, topics, fields, ranges and samples.

An integrator adding `sensors/adapters/<name>.yaml` and its samples gets these checks
without writing a test.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from sensors import fieldmap
from sensors.adapt import AdapterSet
from sensors.check import Sample, SampleError, mismatch, read_samples, run
from sensors.declared import DeclaredAdapter
from sensors.kinds import KINDS, Kind
from sensors.load import SAMPLES_DIR, shipped_paths
from sensors.reading import Reading, RejectReason
from sensors.topics import TopicFilter

ADAPTERS = AdapterSet.load()
NAMES = [a.name for a in ADAPTERS.declared]


def samples_of(name: str) -> list[Sample]:
    loaded = read_samples(SAMPLES_DIR / f"{name}.jsonl")
    bad = [s for s in loaded if isinstance(s, SampleError)]
    assert not bad, bad
    return [s for s in loaded if isinstance(s, Sample)]


def declared(name: str) -> DeclaredAdapter:
    adapter = ADAPTERS.adapter(name)
    assert isinstance(adapter, DeclaredAdapter)
    return adapter


def test_the_shipped_adapters_are_loaded() -> None:
    assert {"native", "zigbee2mqtt", "acme_json"} <= set(ADAPTERS.names)
    assert len(ADAPTERS.declared) == len(shipped_paths())


def test_adapter_names_are_unique() -> None:
    assert len(ADAPTERS.names) == len(set(ADAPTERS.names))


def test_adapter_name_matches_its_file_name() -> None:
    for adapter in ADAPTERS.declared:
        assert adapter.path is not None
        assert adapter.path.stem == adapter.name


def test_no_two_adapters_could_claim_one_topic() -> None:
    claims = [(a.name, c) for a in ADAPTERS.declared for c in a.claims]
    for (name_a, a), (name_b, b) in itertools.combinations(claims, 2):
        if name_a != name_b:  # an adapter's unmatched filter covers its own patterns
            assert not a.overlaps(b), f"{name_a} {a.text} overlaps {name_b} {b.text}"


def test_subscriptions_cover_every_pattern_once() -> None:
    subscriptions = [TopicFilter.parse(t) for t in ADAPTERS.subscriptions()]

    assert len(subscriptions) == len({s.text for s in subscriptions})
    for adapter in ADAPTERS.declared:
        for pattern in adapter.patterns:
            topic = [lit or "x" for lit in pattern.literals]
            covering = [s.text for s in subscriptions if s.matches(topic)]
            assert len(covering) == 1, (pattern.text, covering)


@pytest.mark.parametrize("name", NAMES)
def test_every_mapped_field_exists_on_its_kind(name: str) -> None:
    for kind, mapped in declared(name).field_maps.items():
        for field in mapped:
            assert KINDS[kind].fields[field.name] == field.spec


@pytest.mark.parametrize("name", [*NAMES, "native"])
def test_every_sample_gives_what_it_expects(name: str) -> None:
    samples = samples_of(name)
    assert samples

    for sample in samples:
        result = run(ADAPTERS, sample)
        assert mismatch(result, sample.expect) is None, (sample.line, result)


@pytest.mark.parametrize("name", [*NAMES, "native"])
def test_every_expected_reading_respects_its_kinds_ranges(name: str) -> None:
    for sample in samples_of(name):
        if "kind" not in sample.expect:
            assert sample.expect["reject"] in set(RejectReason), sample.line
            continue
        spec = KINDS[Kind(sample.expect["kind"])]
        for field, value in sample.expect.get("fields", {}).items():
            assert field in spec.fields, (sample.line, field)
            checked = fieldmap.check(spec.fields[field], value)
            assert not isinstance(checked, fieldmap.Problem), (sample.line, checked)


@pytest.mark.parametrize("name", NAMES)
def test_samples_show_every_kind_an_adapter_maps_and_some_rejections(name: str) -> None:
    samples = samples_of(name)
    results = [run(ADAPTERS, s) for s in samples]
    kinds = {r.kind for r in results if isinstance(r, Reading)}

    assert set(declared(name).field_maps) <= kinds
    assert any(not isinstance(r, Reading) for r in results)


def test_samples_exist_only_for_known_adapters() -> None:
    for path in SAMPLES_DIR.glob("*.jsonl"):
        assert Path(path).stem in ADAPTERS.names, path
