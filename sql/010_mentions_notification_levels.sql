-- Mentions and per-conversation notification levels (issue 13, items 1 and 2; see
-- docs/API.md, "Mentions" and "Notification levels").

-- One row per user a message mentions: "@username" resolved at send and at each edit,
-- and "@all"/"@here" expanded at send into a row for every participant they reach
-- (@here: those online then). The unread mention count of a conversation is then one
-- index range: user_id, conversation_id, message_id > last_read_message_id. The sender
-- is never mentioned by their own message. Rows go with the message (edit rewrites
-- them, delete and scrub remove them).
CREATE TABLE message_mentions (
    message_id BIGINT UNSIGNED NOT NULL,
    conversation_id BIGINT UNSIGNED NOT NULL,
    user_id BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (message_id, user_id),
    KEY message_mentions_unread (user_id, conversation_id, message_id),
    CONSTRAINT message_mentions_message_fk FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT message_mentions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The mention entities of the message JSON ([{"kind": "user"|"all"|"here", "user_id"
-- (null but for "user"), "offset", "length"}], offsets and lengths in UTF-16 code
-- units), computed by the server from the text at send and edit (shared/mentions.c);
-- NULL when the text mentions nobody.
ALTER TABLE messages ADD COLUMN mentions_json TEXT NULL;

-- A participant's notification level. NULL means the default: 'all' for direct chats,
-- 'mentions' for groups of more than 50 participants, else 'all'. muted_until silences
-- the conversation until then (whatever the level).
ALTER TABLE participants
    ADD COLUMN notify_level ENUM('all', 'mentions', 'none') CHARACTER SET ascii NULL,
    ADD COLUMN muted_until DATETIME(6) NULL;
