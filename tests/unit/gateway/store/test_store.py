"""The SQLite store: what a step writes comes back as written, across a restart; device
history stays bounded; WAL and checkpoints. (What alerts become is decided elsewhere:
tests/unit/gateway/alerts/test_alert_stage.py.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.store.devices import HISTORY_PER_DEVICE
from gateway.store.records import DeviceState, StateChange
from gateway.store.schema import MIGRATIONS
from gateway.store.step import StepWrite
from rules.engine import Track
from sensors.kinds import Kind
from tests.unit.gateway.alertkit import DOOR, DUE, RULE, T0, at, raised, stage


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "g.db")
    yield s
    s.close()


def test_database_runs_in_wal_mode(store: Store) -> None:
    with closing(sqlite3.connect(store.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_empty_step_is_falsy_and_a_filled_one_is_not() -> None:
    assert not StepWrite()
    assert StepWrite(tracks=[((RULE, DOOR), None)])


def test_a_broken_step_is_written_not_at_all(store: Store) -> None:
    alert = raised(store, stage(store))
    step = StepWrite(
        tracks=[((RULE, "door-b1-u2"), Track(T0, DUE, is_raised=True))],
        alerts={alert.id + 1: replace(alert, id=alert.id + 1)},  # a second active one: refused
    )

    with pytest.raises(sqlite3.IntegrityError):
        store.write(step)

    assert store.devices.tracks() == []
    assert [a.id for a in store.alerts.find()] == [alert.id]


def test_reopening_the_file_keeps_tracks_states_alerts_and_outbox(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    door_state = DeviceState(DOOR, Kind.DOOR, {"open": True, "battery": 71.5}, T0, T0, at(1), True)
    pending = Track(since_at=at(100), due_at=at(280), is_raised=False)
    raised_track = Track(since_at=T0, due_at=DUE, is_raised=True)
    first = Store(path)
    first.write(
        StepWrite(
            states={DOOR: door_state},
            tracks=[((RULE, DOOR), raised_track), ((RULE, "door-b1-u2"), pending)],
        )
    )
    alert = raised(first, stage(first))
    first.close()

    second = Store(path)
    try:
        assert sorted(second.devices.tracks()) == sorted(
            [((RULE, DOOR), raised_track), ((RULE, "door-b1-u2"), pending)]
        )
        assert second.devices.states() == {DOOR: door_state}
        assert second.alerts.find() == [alert]
        assert [t.action for t in second.alerts.transitions(alert.id)] == ["raise"]
        [delivery] = second.outbox.pending()
        assert delivery.alert_id == alert.id
        # the stage of a restarted gateway has the alert in play and goes on numbering
        again = stage(second)
        assert again.book.latest(RULE, DOOR) == alert
    finally:
        second.close()


def test_ended_track_is_deleted(store: Store) -> None:
    key = (RULE, DOOR)
    store.write(StepWrite(tracks=[(key, Track(T0, DUE, is_raised=False))]))

    store.write(StepWrite(tracks=[(key, None)]))

    assert store.devices.tracks() == []


def test_seen_rows_move_only_the_instants_and_never_undo_a_full_row(store: Store) -> None:
    state = DeviceState(DOOR, Kind.DOOR, {"open": False}, T0, T0, at(1), True)
    store.write(StepWrite(states={DOOR: state}))

    repeated = replace(state, last_event_at=at(60), last_seen_at=at(61), clock_skew_s=-0.5)
    store.write(StepWrite(seen={DOOR: repeated}))
    saved = store.devices.state(DOOR)
    assert saved is not None
    assert (saved.last_event_at, saved.last_seen_at) == (at(60), at(61))
    assert saved.clock_skew_s == -0.5
    assert saved.fields == {"open": False}
    assert saved.changed_at == T0

    # a step that has the device's full row too writes that row, not the older instants
    opened = DeviceState(DOOR, Kind.DOOR, {"open": True}, at(90), at(90), at(91), True)
    store.write(StepWrite(states={DOOR: opened}, seen={DOOR: repeated}))
    assert store.devices.state(DOOR) == opened


def test_a_device_history_keeps_its_last_changes_and_no_more(store: Store) -> None:
    n = HISTORY_PER_DEVICE + 30
    changes = [(StateChange(DOOR, at(i), {"open": i % 2 == 0}), i + 1) for i in range(n)]
    for i in range(0, n, 50):
        store.write(StepWrite(history=changes[i : i + 50]))

    history = store.devices.history(DOOR, limit=500)

    assert len(history) == HISTORY_PER_DEVICE
    assert history[0] == StateChange(DOOR, at(n - 1), {"open": (n - 1) % 2 == 0})
    assert history[-1].at == at(n - HISTORY_PER_DEVICE)
    assert [c.at for c in history] == sorted((c.at for c in history), reverse=True)


def test_a_database_of_the_previous_schema_keeps_its_history_and_alerts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:
        for script in MIGRATIONS[:6]:
            db.executescript(script)
        db.execute(f"PRAGMA user_version={6}")
        db.execute(
            "INSERT INTO device_states VALUES ('door-b1-u1', 'door', '{\"open\": true}', "
            "'2026-03-02T02:00:00.000000+00:00', '2026-03-02T02:00:00.000000+00:00', "
            "'2026-03-02T02:00:01.000000+00:00', 1)"
        )
        db.executemany(
            "INSERT INTO state_changes (device_id, at, state) VALUES (?, ?, ?)",
            [(DOOR, at(i).isoformat(), '{"open": true}') for i in range(3)],
        )
        db.commit()

    migrated = Store(path)
    try:
        assert [c.at for c in migrated.devices.history(DOOR)] == [at(2), at(1), at(0)]
        state = migrated.devices.state(DOOR)
        assert state is not None
        assert (state.changes, state.last_stamp_at) == (3, T0)
    finally:
        migrated.close()


def test_migration_10_keeps_states_tracks_and_history_in_one_b_tree_each(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v9.db"
    with closing(sqlite3.connect(path)) as db:
        for number, script in enumerate(MIGRATIONS[:9], start=1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO device_states VALUES ('door-b1-u1', 'door', '{\"open\": true}', "
            "'2026-03-02T02:00:00.000000+00:00', '2026-03-02T02:00:00.000000+00:00', "
            "'2026-03-02T02:00:01.000000+00:00', 1, 0.25, 3, "
            "'2026-03-02T02:00:00.000000+00:00')"
        )
        db.execute(
            "INSERT INTO rule_tracks VALUES ('door_left_open', 'door-b1-u1', "
            "'2026-03-02T02:00:00.000000+00:00', '2026-03-02T02:05:00.000000+00:00', 0, "
            '\'{"kind": "door"}\')'
        )
        db.executemany(  # slots wrapped: the newest change is not the highest slot
            "INSERT INTO device_history VALUES ('door-b1-u1', ?, ?, ?, '{\"open\": true}')",
            [(seq % HISTORY_PER_DEVICE, seq, at(seq).isoformat()) for seq in (199, 200, 201)],
        )
        db.commit()

    migrated = Store(path)
    try:
        state = migrated.devices.state("door-b1-u1")
        assert state is not None
        assert (state.clock_skew_s, state.changes, state.is_online) == (0.25, 3, True)
        [(key, track)] = migrated.devices.tracks()
        assert key == ("door_left_open", "door-b1-u1")
        assert track.data == {"kind": "door"}
        assert [c.at for c in migrated.devices.history("door-b1-u1")] == [at(201), at(200), at(199)]
    finally:
        migrated.close()
    with closing(sqlite3.connect(path)) as db:
        tables = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert tables["device_states"].endswith("WITHOUT ROWID")
    assert tables["rule_tracks"].endswith("WITHOUT ROWID")
    assert "device_history_seq" not in indexes
    assert not any(name.startswith("sqlite_autoindex_device_states") for name in indexes)


def test_checkpoints_bring_the_wal_back_into_the_database(store: Store, tmp_path: Path) -> None:
    # past SQLite's default auto-checkpoint (1,000 pages): a commit would have checkpointed
    states = {
        f"d{i}": DeviceState(f"d{i}", Kind.DOOR, {"open": i % 2 == 0}, T0, T0, T0, True)
        for i in range(40_000)
    }
    store.write(StepWrite(states=states))
    database = tmp_path / "g.db"
    assert database.stat().st_size < 1_000_000  # the rows are still in the WAL only

    assert store.checkpoint() == 0  # nothing left in the WAL that is not in the database
    assert database.stat().st_size > 3_000_000
    with closing(sqlite3.connect(database)) as other:
        assert other.execute("SELECT count(*) FROM device_states").fetchone()[0] == 40_000
