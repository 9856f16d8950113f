-- Inspector bins and the requests they capture. Timestamps are INTEGER milliseconds;
-- headers are a JSON list of [name, value] pairs; a body is a BLOB exactly as received
-- (its first bytes up to the capture limit).
--
-- `n_requests` counts the bin's captures and numbers them: a capture increments it and
-- stores the new value as the request's `seq`, its stream position.
CREATE TABLE bins (
    id           TEXT PRIMARY KEY,
    response     TEXT NOT NULL,
    max_requests INTEGER NOT NULL,
    n_requests   INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX bins_by_expiry ON bins (expires_at);

CREATE TABLE bin_requests (
    id             TEXT PRIMARY KEY,
    bin_id         TEXT NOT NULL REFERENCES bins (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    query          TEXT,
    headers        TEXT NOT NULL,
    body           BLOB NOT NULL,
    body_size      INTEGER NOT NULL,
    body_truncated INTEGER NOT NULL,
    content_type   TEXT,
    source_ip      TEXT,
    received_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX bin_requests_by_seq ON bin_requests (bin_id, seq);
CREATE INDEX bin_requests_by_bin ON bin_requests (bin_id, id);
