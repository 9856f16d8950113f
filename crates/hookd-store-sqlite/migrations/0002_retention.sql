-- hookd SQLite schema, version 2: indexes for retention.
--
-- Each partial index holds only what retention may still expire, ordered by age, so a
-- retention batch reads its few hundred oldest candidates straight off the index and an
-- expired row leaves the index (the index stays as small as the retention window).
-- An expired payload is the empty string (a published payload is a JSON object, never
-- empty); an expired attempt's response is 'EXPUNGED'.

CREATE INDEX messages_payload_expiry ON messages (created_at) WHERE payload <> '';
CREATE INDEX attempts_content_expiry ON attempts (created_at) WHERE response <> 'EXPUNGED';
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);
