-- Blocking (issue 12, item 3): a row says blocker_id has blocked blocked_id. While it
-- exists, blocked_id cannot open a direct chat with blocker_id, add them to a group, see
-- their presence or typing, or message them in a direct chat (docs/API.md, "Blocking").
-- The second key answers "who has blocked me" (the push daemon's typing filter and the
-- presence recipients) from the index alone.
CREATE TABLE user_blocks (
    blocker_id BIGINT UNSIGNED NOT NULL,
    blocked_id BIGINT UNSIGNED NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (blocker_id, blocked_id),
    KEY user_blocks_blocked (blocked_id, blocker_id),
    CONSTRAINT user_blocks_blocker_fk FOREIGN KEY (blocker_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_blocks_blocked_fk FOREIGN KEY (blocked_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
