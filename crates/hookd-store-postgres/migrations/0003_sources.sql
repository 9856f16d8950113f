-- Receive side: sources, the requests they received, and provider event ids seen
-- (deduplication). Headers are a jsonb list of [name, value] pairs; a body is bytea
-- exactly as received.

CREATE TABLE sources (
    id         text COLLATE "C" NOT NULL,
    uid        text COLLATE "C",
    name       text NOT NULL,
    app_id     text COLLATE "C" NOT NULL,
    provider   text NOT NULL,
    secrets    jsonb NOT NULL,
    settings   jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT sources_pkey PRIMARY KEY (id),
    CONSTRAINT sources_uid_key UNIQUE (uid),
    CONSTRAINT sources_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES applications (id) ON DELETE CASCADE
);
CREATE INDEX sources_by_app ON sources (app_id);

-- msg_id has no foreign key: message retention may delete a message while the request
-- that made it is still kept for inspection.
CREATE TABLE inbound_requests (
    id           text COLLATE "C" NOT NULL,
    source_id    text COLLATE "C" NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    query        text,
    headers      jsonb NOT NULL,
    body         bytea NOT NULL,
    status       text NOT NULL,
    error_code   text,
    error_detail text,
    event_id     text,
    msg_id       text COLLATE "C",
    source_ip    text,
    received_at  timestamptz NOT NULL,
    CONSTRAINT inbound_requests_pkey PRIMARY KEY (id),
    CONSTRAINT inbound_requests_source_id_fkey FOREIGN KEY (source_id)
        REFERENCES sources (id) ON DELETE CASCADE
);
CREATE INDEX inbound_requests_by_source ON inbound_requests (source_id, id);
CREATE INDEX inbound_requests_by_time ON inbound_requests (received_at, id);

CREATE TABLE inbound_dedup (
    source_id     text COLLATE "C" NOT NULL,
    event_id      text NOT NULL,
    msg_id        text COLLATE "C",
    first_seen_at timestamptz NOT NULL,
    CONSTRAINT inbound_dedup_pkey PRIMARY KEY (source_id, event_id),
    CONSTRAINT inbound_dedup_source_id_fkey FOREIGN KEY (source_id)
        REFERENCES sources (id) ON DELETE CASCADE
);
CREATE INDEX inbound_dedup_by_time ON inbound_dedup (first_seen_at);
