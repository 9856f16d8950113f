-- Cheaper message and attempt inserts.
--
-- A message's stream position moves from the `message_stream` table (filled by a trigger)
-- into `messages.stream_seq`, which the writer thread sets as it inserts the message
-- (crate::stream_positions). The trigger cost three b-tree inserts, an AUTOINCREMENT
-- update and a foreign-key check per message, and, being a trigger, a statement journal
-- for every insert into `messages`.
--
-- Positions already handed out keep their numbers, so stream cursors held by clients stay
-- valid. `settings.stream_seq_reserved` is the highest position the writer may hand out
-- without first raising it; it starts at the highest position AUTOINCREMENT ever gave
-- (`sqlite_sequence`, which also remembers positions of deleted messages), so no position
-- is ever handed out twice.
ALTER TABLE messages ADD COLUMN stream_seq INTEGER;
UPDATE messages SET stream_seq = (SELECT s.seq FROM message_stream s WHERE s.msg_id = messages.id);
INSERT INTO settings (key, value)
SELECT 'stream_seq_reserved', CAST(max(
    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'message_stream'), 0),
    coalesce((SELECT max(seq) FROM message_stream), 0)) AS TEXT)
WHERE true -- (SQLite's parser needs a WHERE before an upsert clause of INSERT ... SELECT)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;
DROP TRIGGER message_stream_position;
DROP TABLE message_stream;
CREATE INDEX messages_by_stream ON messages (app_id, stream_seq);

-- No query lists attempts by application alone: the API lists them by endpoint or by
-- message (attempts_by_endpoint, attempts_by_msg), each scoped to its application.
DROP INDEX attempts_by_app;
