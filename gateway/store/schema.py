"""The SQLite schema, as numbered migrations applied in order (PRAGMA user_version).

Times are ISO-8601 UTC text with microseconds, so they sort as they read.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the spine
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        rule_id TEXT NOT NULL,
        title_zh TEXT NOT NULL,
        title_en TEXT NOT NULL,
        severity TEXT NOT NULL,
        kind TEXT NOT NULL,
        device_id TEXT NOT NULL,
        state TEXT NOT NULL,
        location TEXT NOT NULL,      -- JSON: [{"level", "id", "name"}, ...] district first
        node_ids TEXT NOT NULL,      -- '/d1/s1/c1/g1/b1/u1/' for prefix-free node filters
        place TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        due_at TEXT,
        raised_at TEXT NOT NULL,
        cleared_at TEXT,
        acknowledged_at TEXT,
        acknowledged_by TEXT,
        resolved_at TEXT,
        resolved_by TEXT,
        note TEXT
    );
    -- one alert per rule and device while its condition holds (dedup)
    CREATE UNIQUE INDEX alerts_one_active ON alerts (rule_id, device_id)
        WHERE cleared_at IS NULL;
    CREATE INDEX alerts_state ON alerts (state, id);
    CREATE INDEX alerts_device ON alerts (device_id, id);

    CREATE TABLE alert_log (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        state TEXT NOT NULL,
        note TEXT
    );
    CREATE INDEX alert_log_alert ON alert_log (alert_id, id);

    CREATE TABLE device_states (
        device_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        fields TEXT NOT NULL,
        changed_at TEXT,
        last_event_at TEXT,
        last_seen_at TEXT NOT NULL,
        is_online INTEGER
    );

    CREATE TABLE rule_tracks (
        rule_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        since_at TEXT NOT NULL,
        due_at TEXT,
        is_raised INTEGER NOT NULL,
        PRIMARY KEY (rule_id, device_id)
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        body TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,         -- pending, delivered, dead
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_alert ON outbox (alert_id, target, id);
    """,
    # 2: the device registry, unregistered devices, condition state of rule tracks
    """
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        node_id TEXT NOT NULL,
        name TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE unregistered (
        device_id TEXT PRIMARY KEY,
        adapter TEXT NOT NULL,
        topic TEXT NOT NULL,
        last_payload TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
    );
    CREATE INDEX unregistered_seen ON unregistered (last_seen_at);

    ALTER TABLE rule_tracks ADD COLUMN data TEXT NOT NULL DEFAULT '{}';
    """,
    # 3: people's tokens; dispatch, escalation and resolution of alerts; comments
    """
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,     -- sha256 of the bearer token; the token is not kept
        person_id TEXT NOT NULL,
        label TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE INDEX tokens_person ON tokens (person_id);

    ALTER TABLE alerts ADD COLUMN dispatched_at TEXT;
    ALTER TABLE alerts ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN ack_due_at TEXT;
    ALTER TABLE alerts ADD COLUMN resolve_due_at TEXT;
    ALTER TABLE alerts ADD COLUMN next_reminder_at TEXT;
    ALTER TABLE alerts ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN is_overdue INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN assigned_to TEXT;
    ALTER TABLE alerts ADD COLUMN resolution TEXT;
    ALTER TABLE alerts ADD COLUMN closed_at TEXT;
    ALTER TABLE alerts ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX alerts_ack_due ON alerts (ack_due_at) WHERE acknowledged_at IS NULL;
    CREATE INDEX alerts_reminder ON alerts (next_reminder_at) WHERE next_reminder_at IS NOT NULL;

    CREATE TABLE comments (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        at TEXT NOT NULL,
        person_id TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX comments_alert ON comments (alert_id, id);
    """,
    # 4: each device's recent state changes (door opened, closed, went offline)
    """
    CREATE TABLE state_changes (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        at TEXT NOT NULL,
        state TEXT NOT NULL           -- JSON: the fields that changed, or {"online": false}
    );
    CREATE INDEX state_changes_device ON state_changes (device_id, id);
    """,
    # 5: the rule's message in words, and alerts kept but not sent (inhibited by a larger one)
    """
    ALTER TABLE alerts ADD COLUMN message_zh TEXT NOT NULL DEFAULT '';
    ALTER TABLE alerts ADD COLUMN message_en TEXT NOT NULL DEFAULT '';
    ALTER TABLE alerts ADD COLUMN is_inhibited INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: people added through the API (the roster file's people are not copied here)
    """
    CREATE TABLE people (
        person_id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,            -- JSON, as a roster file entry
        updated_at TEXT NOT NULL
    );
    """,
    # 7: each episode of an alert (a reopening keeps the earlier ones); a device's clock
    # skew; device history as a ring of 200 slots per device (no trimming per write); when
    # a person's tokens and links were last revoked
    """
    CREATE TABLE alert_episodes (
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        number INTEGER NOT NULL,
        opened_at TEXT NOT NULL,
        due_at TEXT,
        raised_at TEXT NOT NULL,
        cleared_at TEXT,
        PRIMARY KEY (alert_id, number)
    ) WITHOUT ROWID;
    INSERT INTO alert_episodes
        SELECT id, reopened + 1, opened_at, due_at, raised_at, cleared_at FROM alerts;

    ALTER TABLE device_states ADD COLUMN clock_skew_s REAL;
    ALTER TABLE device_states ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE device_states ADD COLUMN last_stamp_at TEXT;
    UPDATE device_states SET last_stamp_at = last_event_at;

    CREATE TABLE device_history (
        device_id TEXT NOT NULL,
        slot INTEGER NOT NULL,          -- seq % 200: a new change overwrites the oldest
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        state TEXT NOT NULL,            -- JSON: the fields that changed, or {"online": false}
        PRIMARY KEY (device_id, slot)
    ) WITHOUT ROWID;
    CREATE INDEX device_history_seq ON device_history (device_id, seq);
    INSERT OR REPLACE INTO device_history
        SELECT device_id, (n - 1) % 200, n, at, state FROM (
            SELECT device_id, at, state,
                ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY id) AS n
            FROM state_changes) ORDER BY device_id, n;
    UPDATE device_states SET changes = coalesce(
        (SELECT max(seq) FROM device_history h WHERE h.device_id = device_states.device_id), 0);
    DROP TABLE state_changes;

    CREATE TABLE revocations (
        person_id TEXT PRIMARY KEY,
        revoked_at TEXT NOT NULL        -- tokens and action links issued before are void
    );
    CREATE INDEX outbox_pending ON outbox (state, id) WHERE state = 'pending';
    """,
    # 8: cases (事件): their rows (a few columns to query by, the whole case as JSON), the
    # history of every step, photos kept under the state folder, the alerts behind a
    # sensor case; the outbox carries messages about a case as well as about an alert
    """
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        source TEXT NOT NULL,
        category TEXT NOT NULL,
        major TEXT NOT NULL,
        node_ids TEXT NOT NULL,       -- '/d1/s1/c1/g1/' as for alerts
        people TEXT NOT NULL,         -- '/w-g1/gl-g1/': dispatched to, handler
        device_id TEXT,
        reporter_phone TEXT,
        reported_at TEXT NOT NULL,
        first_due_at TEXT,
        stage_due_at TEXT,
        closed_at TEXT,
        record TEXT NOT NULL          -- JSON: the whole case (gateway/store/cases.py)
    );
    CREATE INDEX cases_state ON cases (state, id);
    CREATE INDEX cases_reported ON cases (reported_at);
    CREATE INDEX cases_first_due ON cases (first_due_at);
    CREATE INDEX cases_device ON cases (device_id, id) WHERE device_id IS NOT NULL;

    CREATE TABLE case_history (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases (id),
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        state TEXT NOT NULL,
        note TEXT,
        photos TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX case_history_case ON case_history (case_id, id);

    CREATE TABLE case_photos (
        id TEXT PRIMARY KEY,          -- random hex, the file's name under state/cases/<case>/
        case_id INTEGER NOT NULL REFERENCES cases (id),
        at TEXT NOT NULL,
        by TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE INDEX case_photos_case ON case_photos (case_id);

    CREATE TABLE case_alerts (
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        case_id INTEGER NOT NULL REFERENCES cases (id),
        at TEXT NOT NULL,
        PRIMARY KEY (alert_id, case_id)
    ) WITHOUT ROWID;
    CREATE INDEX case_alerts_case ON case_alerts (case_id);

    CREATE TABLE outbox_v8 (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER REFERENCES alerts (id),
        case_id INTEGER REFERENCES cases (id),
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        body TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        CHECK ((alert_id IS NULL) != (case_id IS NULL))
    );
    INSERT INTO outbox_v8 (id, alert_id, event, channel, target, body, idempotency_key, state,
                           attempts, next_attempt_at, last_error, created_at, delivered_at)
        SELECT id, alert_id, event, channel, target, body, idempotency_key, state, attempts,
               next_attempt_at, last_error, created_at, delivered_at FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v8 RENAME TO outbox;
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_alert ON outbox (alert_id, target, id);
    CREATE INDEX outbox_pending ON outbox (state, id) WHERE state = 'pending';
    CREATE INDEX outbox_case ON outbox (case_id, id) WHERE case_id IS NOT NULL;
    """,
    # 9: the city feed (docs/city.md): an outbox row may be about neither an alert nor a
    # case (a device health summary), and a row of the feed carries this gateway's
    # sequence number, given in the transaction that writes the row
    """
    CREATE TABLE outbox_v9 (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER REFERENCES alerts (id),
        case_id INTEGER REFERENCES cases (id),
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        body TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        seq INTEGER UNIQUE,           -- the city feed's number, 1, 2, ... (NULL elsewhere)
        CHECK (alert_id IS NULL OR case_id IS NULL),
        CHECK (seq IS NOT NULL OR (alert_id IS NULL) != (case_id IS NULL))
    );
    INSERT INTO outbox_v9 (id, alert_id, case_id, event, channel, target, body,
                           idempotency_key, state, attempts, next_attempt_at, last_error,
                           created_at, delivered_at)
        SELECT id, alert_id, case_id, event, channel, target, body, idempotency_key, state,
               attempts, next_attempt_at, last_error, created_at, delivered_at FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v9 RENAME TO outbox;
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_alert ON outbox (alert_id, target, id);
    CREATE INDEX outbox_pending ON outbox (state, id) WHERE state = 'pending';
    CREATE INDEX outbox_case ON outbox (case_id, id) WHERE case_id IS NOT NULL;
    """,
    # 10: the tables every state change writes hold one B-tree each, not two: a device's
    # state and a rule's track are keyed rows (WITHOUT ROWID), and a device's history is
    # read through its key (a device's at most 200 slots, sorted by seq when read). Three
    # random pages less per door opened or closed, a third less SQLite work a change
    # (docs/benchmarks.md, "The run before, and what changed before it", Migration 10).
    """
    CREATE TABLE device_states_v10 (
        device_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        fields TEXT NOT NULL,
        changed_at TEXT,
        last_event_at TEXT,
        last_seen_at TEXT NOT NULL,
        is_online INTEGER,
        clock_skew_s REAL,
        changes INTEGER NOT NULL DEFAULT 0,
        last_stamp_at TEXT
    ) WITHOUT ROWID;
    INSERT INTO device_states_v10 (device_id, kind, fields, changed_at, last_event_at,
                                   last_seen_at, is_online, clock_skew_s, changes,
                                   last_stamp_at)
        SELECT device_id, kind, fields, changed_at, last_event_at, last_seen_at, is_online,
               clock_skew_s, changes, last_stamp_at FROM device_states;
    DROP TABLE device_states;
    ALTER TABLE device_states_v10 RENAME TO device_states;

    CREATE TABLE rule_tracks_v10 (
        rule_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        since_at TEXT NOT NULL,
        due_at TEXT,
        is_raised INTEGER NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (rule_id, device_id)
    ) WITHOUT ROWID;
    INSERT INTO rule_tracks_v10 (rule_id, device_id, since_at, due_at, is_raised, data)
        SELECT rule_id, device_id, since_at, due_at, is_raised, data FROM rule_tracks;
    DROP TABLE rule_tracks;
    ALTER TABLE rule_tracks_v10 RENAME TO rule_tracks;

    DROP INDEX device_history_seq;
    """,
)
