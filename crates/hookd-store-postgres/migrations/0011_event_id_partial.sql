-- hookd PostgreSQL schema, version 11: only messages with an eventId in its unique index.
--
-- `eventId` is optional, and most messages have none; each still wrote an index entry
-- of (app_id, NULL) that no lookup or conflict can ever use (NULLs are distinct). The
-- SQLite store's index was partial from the start. The index keeps its name, which a
-- unique violation reports and the store turns into the 409 naming the eventId.
--
-- N.B.: plain CREATE INDEX, because migrations run in a transaction; on a large existing
-- database this locks writes to messages while the index builds.
ALTER TABLE messages DROP CONSTRAINT messages_event_id_key;
CREATE UNIQUE INDEX messages_event_id_key ON messages (app_id, event_id)
    WHERE event_id IS NOT NULL;
