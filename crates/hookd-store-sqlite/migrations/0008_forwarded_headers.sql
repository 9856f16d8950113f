-- Forwarding a provider's headers to the endpoints that ask for them.
--
-- `messages.source_headers` holds the headers of the request a message was made from at
-- `/in/{source}` (JSON list of [name, value] pairs, already filtered down to what may be
-- forwarded); NULL for published messages. Retention clears it together with the
-- payload. `endpoints.forward_source_headers` is the endpoint's opt-in (0 or 1).
ALTER TABLE messages ADD COLUMN source_headers TEXT;
ALTER TABLE endpoints ADD COLUMN forward_source_headers INTEGER NOT NULL DEFAULT 0;
