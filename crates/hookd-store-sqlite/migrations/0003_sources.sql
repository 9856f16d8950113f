-- Receive side: sources, the requests they received, and provider event ids seen
-- (deduplication). Timestamps are INTEGER milliseconds; headers are a JSON list of
-- [name, value] pairs; a body is a BLOB exactly as received.

CREATE TABLE sources (
    id         TEXT PRIMARY KEY,
    uid        TEXT UNIQUE,
    name       TEXT NOT NULL,
    app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    secrets    TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX sources_by_app ON sources (app_id);

-- msg_id has no foreign key: message retention may delete a message while the request
-- that made it is still kept for inspection.
CREATE TABLE inbound_requests (
    id           TEXT PRIMARY KEY,
    source_id    TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    query        TEXT,
    headers      TEXT NOT NULL,
    body         BLOB NOT NULL,
    status       TEXT NOT NULL,
    error_code   TEXT,
    error_detail TEXT,
    event_id     TEXT,
    msg_id       TEXT,
    source_ip    TEXT,
    received_at  INTEGER NOT NULL
);
CREATE INDEX inbound_requests_by_source ON inbound_requests (source_id, id);
CREATE INDEX inbound_requests_by_time ON inbound_requests (received_at, id);

CREATE TABLE inbound_dedup (
    source_id     TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    event_id      TEXT NOT NULL,
    msg_id        TEXT,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (source_id, event_id)
);
CREATE INDEX inbound_dedup_by_time ON inbound_dedup (first_seen_at);
