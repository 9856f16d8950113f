-- Following a source live (`hookd listen --source`, `GET /api/v1/source/{source}/stream`):
-- for each message of the source's application, the stream looks up the verified request
-- that became it. Only requests that made or repeated a message carry a msg_id.
CREATE INDEX inbound_requests_by_message ON inbound_requests (msg_id) WHERE msg_id IS NOT NULL;
