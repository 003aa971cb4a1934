-- Presence shared by every chat-push daemon (issue 4). See docs/protocol.md, "Presence".

-- One row per running chat-push. A daemon refreshes heartbeat_at every few seconds; the
-- connection counts of a daemon whose heartbeat is stale no longer count (it crashed).
CREATE TABLE push_daemons (
    daemon_id VARCHAR(100) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    started_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    heartbeat_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY push_daemons_heartbeat (heartbeat_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- How many connections each user holds on each daemon. A row whose count drops to 0 is
-- kept with last_seen = the moment it did, so the offline delay can be applied by any
-- daemon; old rows are deleted by the sweep.
CREATE TABLE presence_connections (
    daemon_id VARCHAR(100) CHARACTER SET ascii NOT NULL,
    user_id BIGINT UNSIGNED NOT NULL,
    connections INT UNSIGNED NOT NULL,
    last_seen DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (daemon_id, user_id),
    KEY presence_connections_user (user_id),
    CONSTRAINT presence_connections_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The presence last announced for each user (the REST answer, and what a daemon compares
-- against before writing a presence event). Locked FOR UPDATE while it changes, so two
-- daemons never announce the same change twice.
CREATE TABLE user_presence (
    user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    online TINYINT(1) NOT NULL DEFAULT 0,
    last_seen DATETIME(6) NULL,
    CONSTRAINT user_presence_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
