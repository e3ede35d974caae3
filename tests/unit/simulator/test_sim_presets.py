"""Presets at real scale, the roster of people, and determinism per seed."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import yaml

from simulator.errors import SiteError
from simulator.roster import generate_roster, roster_yaml
from simulator.site import PRESETS, Layout, generate, generate_site, spread


def _count(site: dict[str, Any]) -> Counter[str]:
    levels: Counter[str] = Counter()
    for street in site["district"]["streets"]:
        levels["street"] += 1
        for community in street["communities"]:
            levels["community"] += 1
            for grid in community["grids"]:
                levels["grid"] += 1
                levels["building"] += len(grid["buildings"])
    return levels


@pytest.mark.parametrize(
    ("preset", "communities", "grids", "buildings"),
    [("district-620", 86, 620, 3720), ("subdistrict-19", 19, 152, 489), ("demo", 1, 1, 3)],
)
def test_presets_have_the_real_counts(
    preset: str, communities: int, grids: int, buildings: int
) -> None:
    levels = _count(generate(7, PRESETS[preset]))
    assert (levels["community"], levels["grid"], levels["building"]) == (
        communities,
        grids,
        buildings,
    )
    assert 1 <= levels["street"] <= 6


def test_the_demo_preset_is_the_demo_site() -> None:
    assert generate(7, PRESETS["demo"]) == generate_site(7)


def test_counts_are_spread_evenly() -> None:
    assert spread(489, 152) == [4] * 33 + [3] * 119
    assert sum(spread(620, 86)) == 620


def test_large_sites_have_unique_community_names_and_ids() -> None:
    site = generate(3, PRESETS["district-620"])
    communities = [c for s in site["district"]["streets"] for c in s["communities"]]
    assert len({c["name"] for c in communities}) == 86
    assert len({c["id"] for c in communities}) == 86


def test_a_layout_with_fewer_grids_than_communities_is_refused() -> None:
    with pytest.raises(SiteError, match="streets <= communities"):
        Layout(communities=5, grids=2, buildings=9)


def test_the_roster_covers_every_grid_community_and_street() -> None:
    site = generate(7, PRESETS["subdistrict-19"])
    people = generate_roster(site, seed=7)
    roles = Counter(p["role"] for p in people)
    assert roles == {"grid_leader": 152, "grid_worker": 456, "community": 38, "street": 4}
    phones = [p["phone"] for p in people]
    assert len(set(phones)) == len(phones)
    assert all(p.startswith("1380000") and len(p) == 11 for p in phones)
    grids = {
        g["id"] for s in site["district"]["streets"] for c in s["communities"] for g in c["grids"]
    }
    covered = {n for p in people if p["role"] == "grid_worker" for n in p["nodes"]}
    assert covered == grids
    assert {tuple(c) for p in people for c in [p["channels"]]} >= {("sms", "wecom")}


def test_the_roster_file_reads_back_with_string_times_and_phones() -> None:
    people = generate_roster(generate_site(7), seed=7)
    text = roster_yaml(people)
    raw = yaml.safe_load(text)
    assert raw["people"] == people
    first = raw["people"][0]
    assert set(first) == {"id", "name", "role", "phone", "nodes", "duty", "channels"}
    assert isinstance(first["duty"][0]["from"], str)
    assert "&id" not in text


def test_site_and_roster_are_the_same_for_a_seed_and_differ_for_another() -> None:
    layout = PRESETS["subdistrict-19"]
    assert generate(5, layout) == generate(5, layout)
    assert generate_roster(generate(5, layout), 5) == generate_roster(generate(5, layout), 5)
    assert generate_roster(generate(5, layout), 6) != generate_roster(generate(5, layout), 5)
    assert generate(5, layout) != generate(6, layout)
