-- Send slots for endpoints with a throttleRate (see hookd_core::throttle).
--
-- endpoint_send_slots holds each throttled endpoint's next free slot (milliseconds,
-- rounded up so slots are never closer than the rate allows); a row exists only once
-- the endpoint has been throttled. deliveries.send_slot_at is the slot a waiting
-- delivery reserved, cleared when it is used.

CREATE TABLE endpoint_send_slots (
    endpoint_id  TEXT PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    next_send_at INTEGER NOT NULL
);

ALTER TABLE deliveries ADD COLUMN send_slot_at INTEGER;
