-- Live streams: every message gets a position in commit order.
--
-- Message ids sort by creation time in one process, but publishes are committed in
-- batches by the writer, so two messages can commit in the other order of their ids.
-- A stream that resumes "after id X" would then skip the earlier-id message committed
-- later. `seq` is handed out by the single writer as rows are inserted, so it follows
-- commit order; AUTOINCREMENT never reuses a number, even after the newest message is
-- deleted, and (unlike the rowid of `messages`) survives VACUUM.
CREATE TABLE message_stream (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    msg_id TEXT NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE
);
CREATE INDEX message_stream_by_app ON message_stream (app_id, seq);

-- Messages that exist already, in the order they were written.
INSERT INTO message_stream (app_id, msg_id) SELECT app_id, id FROM messages ORDER BY rowid;

-- Every insert, by any code path, gets its position in the same transaction.
CREATE TRIGGER message_stream_position AFTER INSERT ON messages
BEGIN
    INSERT INTO message_stream (app_id, msg_id) VALUES (NEW.app_id, NEW.id);
END;
