-- Offline notifications through webhooks, and bot accounts (issue 13, items 5 and 6; see
-- docs/WEBHOOKS.md and docs/API.md, "Bots").

-- A bot is a user row that cannot log in with a password (its password_hash is '!',
-- which never verifies) and authenticates with a bot token instead. Shown as
-- "is_bot": true in every user object.
ALTER TABLE users ADD COLUMN is_bot BOOLEAN NOT NULL DEFAULT FALSE;

-- A bot's API token: only its SHA-256 is stored, like a session's. One token per bot;
-- `chatctl bot token NAME` replaces it.
CREATE TABLE bot_tokens (
    user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    token_hash BINARY(32) NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY bot_tokens_token (token_hash),
    CONSTRAINT bot_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Where chat-notify posts. kind 'offline': an operator's webhook (chatctl webhook add),
-- which gets a notification for every user a message would notify while they are
-- offline. kind 'bot': a bot's outgoing URL (chatctl bot add --url), which gets every
-- message posted in the bot's conversations by someone else. The secret signs each body
-- (HMAC-SHA256); chat-notify must read it, so it is stored as is and never returned by
-- the API (docs/WEBHOOKS.md, "Secrets").
CREATE TABLE webhooks (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind ENUM('offline', 'bot') CHARACTER SET ascii NOT NULL,
    url VARCHAR(2000) CHARACTER SET ascii NOT NULL,
    secret CHAR(43) CHARACTER SET ascii NOT NULL,
    bot_user_id BIGINT UNSIGNED NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY webhooks_bot (bot_user_id),
    CONSTRAINT webhooks_bot_fk FOREIGN KEY (bot_user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per notification to send: stored before the first attempt, so a restart of
-- chat-notify loses nothing. (webhook_id, event_id, user_id) is unique: evaluating an
-- event twice cannot enqueue it twice. State 'pending' rows are tried at
-- next_attempt_at; 'delivered' and 'dropped' (after notify_max_attempts) rows are kept
-- for event_retention_hours, for `chatctl webhook list`'s counts and for inspection.
CREATE TABLE webhook_deliveries (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    webhook_id BIGINT UNSIGNED NOT NULL,
    event_id BIGINT UNSIGNED NOT NULL,
    user_id BIGINT UNSIGNED NOT NULL,
    message_id BIGINT UNSIGNED NOT NULL,
    body MEDIUMTEXT NOT NULL,
    state ENUM('pending', 'delivered', 'dropped') CHARACTER SET ascii NOT NULL DEFAULT 'pending',
    attempts INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_error VARCHAR(255) NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    finished_at DATETIME(6) NULL,
    UNIQUE KEY webhook_deliveries_once (webhook_id, event_id, user_id),
    KEY webhook_deliveries_due (state, next_attempt_at),
    KEY webhook_deliveries_finished (finished_at),
    CONSTRAINT webhook_deliveries_webhook_fk FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- chat-notify's cursors into the event log, one per stream ('offline', 'bot'): every
-- message.created event with an id up to event_id has been evaluated. Moved in the
-- transaction that enqueues the deliveries, under this row's lock.
CREATE TABLE notify_cursors (
    stream VARCHAR(16) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    event_id BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Which chat-notify works: the holder of this lease, renewed every second or so. A
-- named lock (GET_LOCK) would be simpler, but MariaDB refuses it on a Galera cluster
-- (WSREP_ON), the scale-out path; a row is the same on every node, and two nodes
-- renewing it at once conflict at certification, so one wins.
CREATE TABLE notify_leader (
    name VARCHAR(16) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    holder VARCHAR(100) CHARACTER SET ascii NOT NULL,
    expires_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO notify_leader (name, holder, expires_at) VALUES ('chat_notify', '', '1970-01-01');

-- Start after the events that exist now: a new installation does not notify for
-- history.
INSERT INTO notify_cursors (stream, event_id)
SELECT 'offline', COALESCE(MAX(id), 0) FROM events
UNION ALL SELECT 'bot', COALESCE(MAX(id), 0) FROM events;
