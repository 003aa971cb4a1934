-- rate_buckets.allowed holds how many tokens one take handed out (its cost plus any
-- lease), and a cost can be the size of a bulk invitation (POST .../participants/ with
-- 2,000 user_ids). A TINYINT overflowed above 127: the RETURNING row failed, the limit
-- failed open for that request, and the statement's next use waited out db_timeout_s
-- (shared/db.c now drops a statement whose result failed). INT holds any cost an INT
-- setting allows.
ALTER TABLE rate_buckets MODIFY allowed INT NOT NULL DEFAULT 1;
