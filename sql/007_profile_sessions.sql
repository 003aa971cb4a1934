-- Profiles, avatars, the session list and account deletion (issue 12, items 1 and 2).
-- See docs/API.md, "Account" and docs/protocol.md, "user.updated".

-- avatar_sha256: SHA-256 of the current avatar (its version in the avatar URL), NULL
-- without one. deleted_at: the account was deleted by its owner; the row stays as the
-- "deleted user" its tombstones point at, with its username replaced by '~<id>' (a name
-- no one can register or log in with, so the old one is free again).
ALTER TABLE users
    ADD COLUMN avatar_sha256 CHAR(64) CHARACTER SET ascii NULL,
    ADD COLUMN deleted_at DATETIME(6) NULL;

-- The avatar image itself: small (avatar_max_bytes, at most 1 MiB) and read by every
-- host, so it lives in the database rather than under one host's data_dir. One row per
-- user; replaced in place.
CREATE TABLE user_avatars (
    user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    content_type VARCHAR(32) CHARACTER SET ascii NOT NULL,
    sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
    image MEDIUMBLOB NOT NULL,
    CONSTRAINT user_avatars_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The session list: when a session was last used (updated at most once a minute, so a
-- request does not cost a write), and the user agent and client address it logged in
-- from. Sessions from before this release show NULL until their next use.
ALTER TABLE sessions
    ADD COLUMN last_used_at DATETIME(6) NULL,
    ADD COLUMN user_agent VARCHAR(255) NULL,
    ADD COLUMN address VARCHAR(64) CHARACTER SET ascii NULL;
