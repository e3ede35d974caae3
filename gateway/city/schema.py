"""The city's PostgreSQL schema, as numbered migrations applied in order (the number kept in
`city_schema`). One row per gateway, every event as received (the log the rest is derived
from), the alerts and cases as their last applied event shows them, rejected messages
counted by reason, and the scope tokens."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the spine
    """
    CREATE TABLE gateways (
        gateway_id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        added_at TIMESTAMPTZ NOT NULL,
        last_seq BIGINT NOT NULL DEFAULT 0,      -- the highest number received
        next_seq BIGINT NOT NULL DEFAULT 1,      -- the next number to apply (in order)
        events BIGINT NOT NULL DEFAULT 0,        -- distinct numbers applied (missing: last-events)
        redeliveries BIGINT NOT NULL DEFAULT 0,  -- a number applied already, received again
        gaps BIGINT NOT NULL DEFAULT 0,          -- a number came with some before it missing
        refused BIGINT NOT NULL DEFAULT 0,       -- updates about what the city owns
        superseded BIGINT NOT NULL DEFAULT 0,    -- older than what the item shows (a late fill)
        skipped BIGINT NOT NULL DEFAULT 0,       -- numbers given up after the hold time
        last_seen_at TIMESTAMPTZ,                -- the city's clock: the last message received
        last_event_at TIMESTAMPTZ,               -- the gateway's clock: its latest event
        lag_s DOUBLE PRECISION,                  -- received minus decided, of the last event
        health JSONB                             -- its last device health summary
    );

    CREATE TABLE events (
        gateway_id TEXT NOT NULL REFERENCES gateways (gateway_id),
        seq BIGINT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        received_at TIMESTAMPTZ NOT NULL,
        event TEXT NOT NULL,
        subject TEXT NOT NULL,                   -- alert, case or health
        item_id BIGINT,
        verdict TEXT NOT NULL,                   -- held, apply, superseded, city_owned
        record JSONB NOT NULL,
        applied BIGINT,                          -- the order the city applied them in
        PRIMARY KEY (gateway_id, seq)
    );
    CREATE SEQUENCE events_applied;
    CREATE INDEX events_held ON events (gateway_id, seq) WHERE verdict = 'held';

    CREATE TABLE items (
        gateway_id TEXT NOT NULL REFERENCES gateways (gateway_id),
        subject TEXT NOT NULL,                   -- alert or case
        item_id BIGINT NOT NULL,
        seq BIGINT NOT NULL,                     -- the event it shows
        owner TEXT NOT NULL,                     -- gateway or city (gateway/city/ownership.py)
        city_level INTEGER,                      -- the escalation level the city keeps
        state TEXT NOT NULL,
        is_open BOOLEAN NOT NULL,
        category TEXT NOT NULL,                  -- an alert's kind, a case's category
        district TEXT NOT NULL,
        street TEXT NOT NULL,
        community TEXT NOT NULL,
        node_ids TEXT NOT NULL,                  -- '/d1/s1/c1/g1/' as on the gateway
        opened_at TIMESTAMPTZ NOT NULL,
        record JSONB NOT NULL,
        PRIMARY KEY (gateway_id, subject, item_id)
    );
    CREATE INDEX items_open ON items (subject, is_open, opened_at);
    CREATE INDEX items_opened ON items (subject, opened_at);

    CREATE TABLE rejections (
        reason TEXT PRIMARY KEY,
        count BIGINT NOT NULL,
        last_topic TEXT NOT NULL,
        last_detail TEXT NOT NULL,
        last_at TIMESTAMPTZ NOT NULL
    );

    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,             -- sha256 of the bearer token
        node_id TEXT NOT NULL,                   -- what it sees: a district, a street, ...
        label TEXT NOT NULL DEFAULT '',
        created_at TIMESTAMPTZ NOT NULL
    );
    """,
)
