-- hookd PostgreSQL schema, version 1.
--
-- Ids are `text COLLATE "C"`: they mix upper and lower case, and listings page on them,
-- so they must compare byte by byte whatever the database's default collation is.
-- Timestamps are timestamptz. Lists and maps are jsonb, except a message payload, which
-- is text exactly as published (jsonb would reorder keys and respell numbers, and the
-- payload is the signed body).
--
-- Constraint names are part of the contract: the store turns a violation of a named
-- unique constraint into `Conflict` and of a named foreign key into `NotFound`.
--
-- Queue invariant (checked by `deliveries_due_while_unfinished`): next_attempt_at is NOT
-- NULL exactly while the delivery is unfinished (status pending = 1 or sending = 3); the
-- partial index deliveries_due is therefore the queue.

CREATE TABLE applications (
    id            text COLLATE "C" NOT NULL,
    uid           text COLLATE "C",
    name          text NOT NULL,
    throttle_rate integer,
    metadata      jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT applications_pkey PRIMARY KEY (id),
    CONSTRAINT applications_uid_key UNIQUE (uid)
);

CREATE TABLE endpoints (
    id               text COLLATE "C" NOT NULL,
    app_id           text COLLATE "C" NOT NULL,
    uid              text COLLATE "C",
    url              text NOT NULL,
    description      text NOT NULL,
    disabled         boolean NOT NULL,
    event_types      jsonb,
    channels         jsonb,
    throttle_rate    integer,
    metadata         jsonb NOT NULL,
    headers          jsonb NOT NULL,
    secret           text NOT NULL,
    retired_secrets  jsonb NOT NULL,
    signature_scheme text NOT NULL,
    signature_header text,
    failing_since    timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT endpoints_pkey PRIMARY KEY (id),
    CONSTRAINT endpoints_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES applications (id) ON DELETE CASCADE,
    CONSTRAINT endpoints_uid_key UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_by_app ON endpoints (app_id, id);

CREATE TABLE event_types (
    name          text COLLATE "C" NOT NULL,
    description   text NOT NULL,
    archived      boolean NOT NULL,
    deprecated    boolean NOT NULL,
    schemas       jsonb,
    group_name    text,
    feature_flags jsonb,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT event_types_pkey PRIMARY KEY (name)
);

CREATE TABLE messages (
    id         text COLLATE "C" NOT NULL,
    app_id     text COLLATE "C" NOT NULL,
    event_id   text,
    event_type text NOT NULL,
    payload    text NOT NULL,
    channels   jsonb NOT NULL,
    tags       jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT messages_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES applications (id) ON DELETE CASCADE,
    CONSTRAINT messages_event_id_key UNIQUE (app_id, event_id)
);
CREATE INDEX messages_by_app ON messages (app_id, id);

-- app_id is copied from the message for scoping; the cascade comes through the message
-- and the endpoint. A claim only rewrites the lease columns, which no index covers, so
-- the spare room per page lets those updates stay HOT (no index writes).
CREATE TABLE deliveries (
    id               text COLLATE "C" NOT NULL,
    app_id           text COLLATE "C" NOT NULL,
    msg_id           text COLLATE "C" NOT NULL,
    endpoint_id      text COLLATE "C" NOT NULL,
    status           smallint NOT NULL,
    n_attempts       integer NOT NULL,
    trigger_type     smallint NOT NULL,
    next_attempt_at  timestamptz,
    lease_token      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT deliveries_msg_id_fkey FOREIGN KEY (msg_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id)
        REFERENCES endpoints (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_msg_endpoint_key UNIQUE (msg_id, endpoint_id),
    CONSTRAINT deliveries_due_while_unfinished
        CHECK ((status IN (1, 3)) = (next_attempt_at IS NOT NULL))
) WITH (fillfactor = 80);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status IN (1, 3);
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, status, created_at);

CREATE TABLE attempts (
    id                   text COLLATE "C" NOT NULL,
    app_id               text COLLATE "C" NOT NULL,
    msg_id               text COLLATE "C" NOT NULL,
    endpoint_id          text COLLATE "C" NOT NULL,
    url                  text NOT NULL,
    status               smallint NOT NULL,
    response_status_code integer NOT NULL,
    response             text NOT NULL,
    response_duration_ms bigint NOT NULL,
    trigger_type         smallint NOT NULL,
    request_headers      jsonb NOT NULL,
    created_at           timestamptz NOT NULL,
    CONSTRAINT attempts_pkey PRIMARY KEY (id),
    CONSTRAINT attempts_msg_id_fkey FOREIGN KEY (msg_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT attempts_endpoint_id_fkey FOREIGN KEY (endpoint_id)
        REFERENCES endpoints (id) ON DELETE CASCADE
);
CREATE INDEX attempts_by_app ON attempts (app_id, id);
CREATE INDEX attempts_by_msg ON attempts (msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);

CREATE TABLE idempotency_keys (
    key        text NOT NULL,
    status     integer NOT NULL,
    body       bytea NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (key)
);

CREATE TABLE settings (
    key   text NOT NULL,
    value text NOT NULL,
    CONSTRAINT settings_pkey PRIMARY KEY (key)
);
