-- Send slots for endpoints with a throttleRate (see hookd_core::throttle), shared by
-- every node on this database.
--
-- endpoint_send_slots holds each throttled endpoint's next free slot; a row exists only
-- once the endpoint has been throttled, and it is narrow so that moving it on (one
-- UPDATE per throttled send) does not rewrite the wide endpoints row.
-- deliveries.send_slot_at is the slot a waiting delivery reserved, cleared when it is
-- used; adding a nullable column without a default rewrites nothing.

CREATE TABLE endpoint_send_slots (
    endpoint_id  text COLLATE "C" NOT NULL,
    next_send_at timestamptz NOT NULL,
    CONSTRAINT endpoint_send_slots_pkey PRIMARY KEY (endpoint_id),
    CONSTRAINT endpoint_send_slots_endpoint_id_fkey FOREIGN KEY (endpoint_id)
        REFERENCES endpoints (id) ON DELETE CASCADE
);

ALTER TABLE deliveries ADD COLUMN send_slot_at timestamptz;
