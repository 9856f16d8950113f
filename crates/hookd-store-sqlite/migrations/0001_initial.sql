-- hookd SQLite schema, version 1.
--
-- Timestamps are INTEGER milliseconds since the Unix epoch (UTC). Lists and maps are JSON
-- text. A message payload is TEXT exactly as published.
--
-- Queue invariant: deliveries.next_attempt_at is NOT NULL exactly while the delivery is
-- unfinished (status pending = 1 or sending = 3); the partial index deliveries_due is
-- therefore the queue.

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE endpoints (
    id               TEXT PRIMARY KEY,
    app_id           TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uid              TEXT,
    url              TEXT NOT NULL,
    description      TEXT NOT NULL,
    disabled         INTEGER NOT NULL,
    event_types      TEXT,
    channels         TEXT,
    throttle_rate    INTEGER,
    metadata         TEXT NOT NULL,
    headers          TEXT NOT NULL,
    secret           TEXT NOT NULL,
    retired_secrets  TEXT NOT NULL,
    signature_scheme TEXT NOT NULL,
    signature_header TEXT,
    failing_since    INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX endpoints_by_app ON endpoints (app_id, id);
CREATE UNIQUE INDEX endpoints_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;

CREATE TABLE event_types (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL,
    archived      INTEGER NOT NULL,
    deprecated    INTEGER NOT NULL,
    schemas       TEXT,
    group_name    TEXT,
    feature_flags TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_id   TEXT,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,
    channels   TEXT NOT NULL,
    tags       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_by_app ON messages (app_id, id);
CREATE UNIQUE INDEX messages_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;

-- app_id is copied from the message for scoping; the cascade comes through the message
-- and the endpoint, so it needs no foreign key (nor the index one would need).
-- WITHOUT ROWID: a delivery row is small and always found by its id, so keeping it in
-- the id b-tree itself saves one b-tree write per delivery on every insert and update.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    app_id           TEXT NOT NULL,
    msg_id           TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    status           INTEGER NOT NULL,
    n_attempts       INTEGER NOT NULL,
    trigger_type     INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    lease_token      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (msg_id, endpoint_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, status, created_at);

CREATE TABLE attempts (
    id                   TEXT PRIMARY KEY,
    app_id               TEXT NOT NULL,
    msg_id               TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id          TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    url                  TEXT NOT NULL,
    status               INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms INTEGER NOT NULL,
    trigger_type         INTEGER NOT NULL,
    request_headers      TEXT NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX attempts_by_app ON attempts (app_id, id);
CREATE INDEX attempts_by_msg ON attempts (msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);

CREATE TABLE idempotency_keys (
    key        TEXT PRIMARY KEY,
    status     INTEGER NOT NULL,
    body       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
