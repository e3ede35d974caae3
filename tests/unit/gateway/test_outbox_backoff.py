"""Retry delays of the outbox: doubling, capped, jittered on the upper half."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import OutboxSettings
from gateway.outbox.worker import backoff_s

SETTINGS = OutboxSettings(retry_min_s=1.0, retry_max_s=300.0)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311  # the jitter under test, not security


def ceiling(attempts: int, s: OutboxSettings = SETTINGS) -> float:
    return min(s.retry_max_s, s.retry_min_s * 2.0 ** (attempts - 1))


def test_delay_grows_with_attempts_until_the_cap() -> None:
    rng = seeded(1)
    delays = [backoff_s(n, SETTINGS, rng) for n in range(1, 10)]

    # each attempt's floor (half its ceiling) is the previous attempt's ceiling
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[-1] > 100 * delays[0] / 2
    assert delays[0] <= 1.0


@pytest.mark.parametrize("attempts", [1, 2, 5, 9, 10, 30, 31, 1000])
def test_delay_stays_between_half_the_ceiling_and_the_cap(attempts: int) -> None:
    rng = seeded(attempts)
    for _ in range(200):
        delay = backoff_s(attempts, SETTINGS, rng)
        assert ceiling(attempts) / 2 <= delay <= ceiling(attempts) <= SETTINGS.retry_max_s


@settings(max_examples=200, deadline=None)
@given(
    attempts=st.integers(min_value=1, max_value=10_000),
    retry_min_s=st.floats(min_value=0.001, max_value=3600),
    retry_max_s=st.floats(min_value=0.001, max_value=86400),
    seed=st.integers(),
)
def test_delay_is_bounded_for_any_settings(
    attempts: int, retry_min_s: float, retry_max_s: float, seed: int
) -> None:
    s = OutboxSettings(retry_min_s=retry_min_s, retry_max_s=retry_max_s)

    delay = backoff_s(attempts, s, seeded(seed))

    assert delay <= s.retry_max_s
    assert delay >= min(s.retry_max_s, s.retry_min_s * 2.0 ** min(attempts - 1, 30)) / 2


def test_same_seed_gives_the_same_delays() -> None:
    first = [backoff_s(n, SETTINGS, seeded(99)) for n in range(1, 12)]
    second = [backoff_s(n, SETTINGS, seeded(99)) for n in range(1, 12)]
    other = [backoff_s(n, SETTINGS, seeded(100)) for n in range(1, 12)]

    assert first == second
    assert first != other
