-- hookd PostgreSQL schema, version 10: fewer foreign-key checks per message.
--
-- Every foreign-key check runs a lookup of its parent row and locks it FOR KEY SHARE.
-- Per message these were: each delivery's message (a row lock, written to the WAL), each
-- attempt's message and each attempt's endpoint. The endpoint is one row that every
-- attempt to it on every node locked, so under load its lock became a multixact that
-- the checks queued on. Three of those checks guarded nothing the store does not
-- already guarantee:
--
-- - `deliveries_msg_id_fkey`: a delivery is written in the statement that writes its
--   message, or later for a message that exists (resend, recover), and a message is only
--   ever deleted with its application, after the application's endpoints and with them
--   every delivery (`deliveries_endpoint_id_fkey` stays, and still cascades).
-- - `attempts_msg_id_fkey`, `attempts_endpoint_id_fkey`: an attempt is an append-only
--   log line of its delivery. An outcome writes its attempt only while it holds the
--   delivery row locked (its own UPDATE, or FOR KEY SHARE when the lease was lost), so a
--   deletion that cascades to the delivery either waits for the attempt to commit or
--   makes it skip; deleting an endpoint or an application deletes the endpoints first
--   and their attempts after, in one transaction, where that second statement sees
--   every attempt the cascade waited for.
ALTER TABLE deliveries
    DROP CONSTRAINT deliveries_msg_id_fkey;
ALTER TABLE attempts
    DROP CONSTRAINT attempts_msg_id_fkey,
    DROP CONSTRAINT attempts_endpoint_id_fkey;
