-- Forwarding a provider's headers to the endpoints that ask for them.
--
-- `messages.source_headers` holds the headers of the request a message was made from at
-- `/in/{source}` (a JSON list of [name, value] pairs, already filtered down to what may
-- be forwarded); NULL for published messages. Retention clears it together with the
-- payload. `endpoints.forward_source_headers` is the endpoint's opt-in. Both columns
-- have constant (or no) defaults, so neither ALTER rewrites its table.
ALTER TABLE messages ADD COLUMN source_headers jsonb;
ALTER TABLE endpoints ADD COLUMN forward_source_headers boolean NOT NULL DEFAULT false;
