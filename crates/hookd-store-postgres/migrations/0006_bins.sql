-- Inspector bins and the requests they capture. Headers are a jsonb list of
-- [name, value] pairs; a body is bytea exactly as received (its first bytes up to the
-- capture limit).
--
-- `n_requests` counts the bin's captures and numbers them: a capture increments it and
-- stores the new value as the request's `seq`, its stream position, in one statement.
-- The increment locks the bin's row until the capture commits, so captures of one bin
-- commit in `seq` order on every node, and a reader that sees `seq = n` sees every
-- request below it.
CREATE TABLE bins (
    id           text COLLATE "C" NOT NULL,
    response     jsonb NOT NULL,
    max_requests bigint NOT NULL,
    n_requests   bigint NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT bins_pkey PRIMARY KEY (id)
);
CREATE INDEX bins_by_expiry ON bins (expires_at);

CREATE TABLE bin_requests (
    id             text COLLATE "C" NOT NULL,
    bin_id         text COLLATE "C" NOT NULL,
    seq            bigint NOT NULL,
    method         text NOT NULL,
    path           text NOT NULL,
    query          text,
    headers        jsonb NOT NULL,
    body           bytea NOT NULL,
    body_size      bigint NOT NULL,
    body_truncated boolean NOT NULL,
    content_type   text,
    source_ip      text,
    received_at    timestamptz NOT NULL,
    CONSTRAINT bin_requests_pkey PRIMARY KEY (id),
    CONSTRAINT bin_requests_bin_id_fkey FOREIGN KEY (bin_id)
        REFERENCES bins (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX bin_requests_by_seq ON bin_requests (bin_id, seq);
CREATE INDEX bin_requests_by_bin ON bin_requests (bin_id, id);
