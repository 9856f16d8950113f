-- Live streams: every message gets a position in commit order, readable by every node.
--
-- Ids and sequence numbers are handed out before commit, so across nodes (and across
-- concurrent transactions on one node) they do not follow commit order: a reader that
-- saw number n+1 may later see n appear. The position is therefore the pair
-- (transaction id, sequence): a reader only hands out rows whose transaction id is below
-- the oldest transaction still running (pg_snapshot_xmin), and no transaction that ends
-- later can add a row below that line, so what a reader has passed never grows again.
ALTER TABLE messages ADD COLUMN stream_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE messages ADD COLUMN stream_seq bigserial;
CREATE INDEX messages_stream ON messages (app_id, stream_xid, stream_seq);
