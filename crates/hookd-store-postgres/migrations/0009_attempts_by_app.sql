-- hookd PostgreSQL schema, version 9: one index fewer per attempt.
--
-- No query lists attempts by application alone: the API lists them by endpoint or by
-- message (attempts_by_endpoint, attempts_by_msg), each scoped to its application. Every
-- attempt paid for this index's insert all the same (SQLite dropped it in its 0009).
DROP INDEX attempts_by_app;
