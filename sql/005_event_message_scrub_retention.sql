-- Deleting a message scrubs its text from the event log, and retention runs by itself
-- (security item 3). See docs/protocol.md, "Resume after a delete", and
-- docs/ARCHITECTURE.md, "Cleanup".

-- The message whose content an event's payload carries: the message itself for
-- message.*, the conversation's last_message for conversation.created/updated and
-- participant.added. Filled by chat_event_append (shared/store_events.c); a delete
-- rewrites the rows that name its message (chat_events_scrub_message).
ALTER TABLE events
    ADD COLUMN message_id BIGINT UNSIGNED NULL AFTER conversation_id,
    ADD KEY events_message (message_id);

UPDATE events SET message_id = CASE
    WHEN type LIKE 'message.%' THEN JSON_VALUE(payload, '$.id')
    WHEN type = 'participant.added' THEN JSON_VALUE(payload, '$.conversation.last_message.id')
    ELSE JSON_VALUE(payload, '$.last_message.id') END
WHERE type IN ('message.created', 'message.updated', 'message.deleted',
               'conversation.created', 'conversation.updated', 'participant.added');

-- Messages deleted before this release: their earlier events get the tombstone the
-- message.deleted event already holds.
UPDATE events e JOIN events d ON d.message_id = e.message_id AND d.type = 'message.deleted'
SET e.payload = d.payload
WHERE e.type IN ('message.created', 'message.updated');

UPDATE events e JOIN events d ON d.message_id = e.message_id AND d.type = 'message.deleted'
SET e.payload = JSON_SET(e.payload, '$.last_message', JSON_EXTRACT(d.payload, '$'))
WHERE e.type IN ('conversation.created', 'conversation.updated');

UPDATE events e JOIN events d ON d.message_id = e.message_id AND d.type = 'message.deleted'
SET e.payload = JSON_SET(e.payload, '$.conversation.last_message', JSON_EXTRACT(d.payload, '$'))
WHERE e.type = 'participant.added';

-- When each periodic task last started, on the database's clock: the daemon that claims
-- a run moves last_run_at forward in one UPDATE, so however many hosts try, one runs per
-- interval (shared/retention.c).
CREATE TABLE maintenance_runs (
    task VARCHAR(40) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    last_run_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO maintenance_runs (task, last_run_at) VALUES ('retention', '1970-01-02 00:00:00');
