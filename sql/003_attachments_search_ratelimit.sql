-- Attachments, message search and rate-limit buckets (issue 3).

-- One row per upload. The bytes live on disk under data_dir/attachments/, named by
-- sha256 (never by the user's filename), so identical content is stored once and many
-- rows may share one file. message_id is NULL until a message takes the attachment;
-- `chatctl gc` removes rows still unattached after 24 hours, and a file once no row
-- names its hash. Deleting the uploader or the message removes the row (the file goes
-- at the next gc).
CREATE TABLE attachments (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uploader_id BIGINT UNSIGNED NOT NULL,
    message_id BIGINT UNSIGNED NULL,
    filename VARCHAR(255) NOT NULL,
    content_type VARCHAR(127) CHARACTER SET ascii NOT NULL,
    size BIGINT UNSIGNED NOT NULL,
    sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY attachments_message (message_id, id),
    KEY attachments_sha256 (sha256),
    KEY attachments_unattached (created_at),
    CONSTRAINT attachments_uploader_fk FOREIGN KEY (uploader_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT attachments_message_fk FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Search: InnoDB FULLTEXT over message text. Words shorter than innodb_ft_min_token_size
-- (server default 3) are not indexed; the API falls back to LIKE for such queries.
ALTER TABLE messages ADD FULLTEXT KEY messages_text (text);

-- Token buckets for rate limiting, shared by every chat-api worker and chat-httpd thread
-- (and by every host using this database). MEMORY: no disk write per request, and the
-- buckets need no durability (a restart of MariaDB only refills them). One row per
-- (route class, user or client address); `chatctl gc` drops idle ones. Times are
-- seconds since the epoch by the database's clock, so all hosts agree.
CREATE TABLE rate_buckets (
    bucket VARCHAR(80) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    tokens DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    allowed TINYINT NOT NULL DEFAULT 1
) ENGINE=MEMORY;
