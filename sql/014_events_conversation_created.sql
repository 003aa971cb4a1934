-- A resume reads, for every conversation of the resuming user, the events after the
-- client's position and those at or below it created inside the gap window
-- (push/job_batch.c, SQL_BACKLOG). events_conversation (conversation_id, id) serves the
-- first half as a range; without an index on (conversation_id, created_at) the second
-- half read every event the conversation ever had. Measured with a 2,000-member group of
-- 300,000 old events: 256 of its members resuming took MariaDB about 270 s (about 1 s
-- per member) before, 15-20 ms with this index.
ALTER TABLE events ADD KEY events_conversation_created (conversation_id, created_at);
