"""An alert or a case as a feed event carries it comes back whole at the city; a record
that is not one is a ValueError (the city's counted bad_record), whatever it holds."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.city.records import alert_of, alert_record, case_from
from gateway.store import Store
from gateway.store.step import StepWrite
from rules.engine import EventType
from tests.unit.gateway.alertkit import DUE, SITE, item, stage


def test_an_alert_comes_back_whole(tmp_path: Any) -> None:
    store = Store(tmp_path / "g.db")
    made = stage(store)
    write = StepWrite()
    made.on_events(write, [item(EventType.RAISED, DUE)], DUE)
    [alert] = write.alerts.values()
    assert alert_of(json.loads(json.dumps(alert_record(alert)))) == alert
    assert SITE.placement(alert.device_id) is not None
    store.close()


@pytest.mark.parametrize("bad", [[], {"id": 1}, {"id": "x", "location": []}, None, "alert"])
def test_a_record_that_is_not_an_alert_or_a_case_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # each kind of fault, one kind of error
        alert_of(bad)
    with pytest.raises(ValueError):  # noqa: PT011
        case_from(bad)


@given(st.dictionaries(st.sampled_from(["id", "state", "location", "severity", "raised_at",
                                        "reported_at", "source"]),
                       st.none() | st.integers() | st.text(max_size=5)))  # fmt: skip
def test_hostile_records_raise_only_value_error(data: dict[str, Any]) -> None:
    for read in (alert_of, case_from):
        with contextlib.suppress(ValueError):
            read(data)
