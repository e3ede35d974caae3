"""The scorer on hand-made cases: a match, a miss, a duplicate, a false and a late alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulator.cli import EXIT_FAILED, main
from simulator.scorer import RaisedAlert, percentile, raised_from_webhook_log, score
from simulator.truth import ExpectedAlert, truth_jsonl

T0 = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_an_alert_raised_after_its_due_time_matches_with_its_latency() -> None:
    result = score(
        [ExpectedAlert("door_left_open", "d1", _at(10))],
        [RaisedAlert("door_left_open", "d1", _at(10.25))],
    )
    assert result.is_clean
    assert result.latencies_s() == [0.25]


def test_a_miss_a_duplicate_a_false_and_a_late_alert() -> None:
    expected = [
        ExpectedAlert("door_left_open", "d1", _at(10)),
        ExpectedAlert("smoke_detected", "s1", _at(20)),  # missed
        ExpectedAlert("gas_detected", "g1", _at(30)),  # late
    ]
    raised = [
        RaisedAlert("door_left_open", "d1", _at(10.1)),
        RaisedAlert("door_left_open", "d1", _at(12)),  # duplicate
        RaisedAlert("door_left_open", "d2", _at(15)),  # false: nothing expected there
        RaisedAlert("smoke_detected", "s1", _at(5)),  # false: raised before anything was due
        RaisedAlert("gas_detected", "g1", _at(130)),
    ]
    result = score(expected, raised, late_s=60)
    assert [e.device_id for e in result.missed] == ["s1"]
    assert [r.device_id for r in result.duplicate] == ["d1"]
    assert sorted(r.device_id for r in result.false) == ["d2", "s1"]
    assert [round(x, 3) for x in result.latencies_s()] == [0.1, 100.0]
    assert not result.is_clean
    table = result.table()
    assert "gas_detected" in table
    assert table.splitlines()[-2].split()[:7] == ["all", "3", "2", "1", "2", "1", "1"]


def test_an_alert_due_after_until_is_not_yet_due_rather_than_missed() -> None:
    result = score([ExpectedAlert("elderly_inactive", "d1", _at(86_400))], [], until=_at(60))
    assert result.is_clean
    assert len(result.not_yet_due) == 1


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (50, 99, None)


def _hook(alert_id: int, rule: str, device_id: str, raised_at: datetime, event: str) -> str:
    body = {"version": 1, "event": event, "alert": {"id": alert_id, "rule": rule,
            "device_id": device_id, "raised_at": raised_at.isoformat()}}  # fmt: skip
    return json.dumps({"received_at": raised_at.isoformat(), "body": body}) + "\n"


def test_the_webhook_log_counts_each_alert_once_and_the_command_scores_it(
    tmp_path: Path, capsys: object
) -> None:
    log = tmp_path / "hooks.jsonl"
    log.write_text(
        _hook(1, "door_left_open", "d1", _at(10.2), "alert.raised")
        + _hook(1, "door_left_open", "d1", _at(10.2), "alert.raised")  # a retry
        + _hook(1, "door_left_open", "d1", _at(10.2), "alert.cleared")
        + _hook(2, "smoke_detected", "s9", _at(40), "alert.raised"),
        encoding="utf-8",
    )
    raised, repeats = raised_from_webhook_log(log)
    assert [(r.rule, r.device_id) for r in raised] == [
        ("door_left_open", "d1"),
        ("smoke_detected", "s9"),
    ]
    assert repeats == 1
    truth = tmp_path / "truth.jsonl"
    truth.write_text(truth_jsonl([ExpectedAlert("door_left_open", "d1", _at(10))]))
    code = main(
        ["score", "--truth", str(truth), "--webhook-log", str(log), "--until", _at(99).isoformat()]
    )
    assert code == EXIT_FAILED  # the smoke alert is false
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "smoke_detected" in out
