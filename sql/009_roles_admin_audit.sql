-- Group roles, site administrators and the audit log (issue 12, items 4 and 5; see
-- docs/API.md, "Group roles" and "Site administration").

-- A group participant is an admin or a member. Direct chats have no admins: both
-- participants stay 'member' and the role rules do not apply to them.
ALTER TABLE participants
    ADD COLUMN role ENUM('member', 'admin') CHARACTER SET ascii NOT NULL DEFAULT 'member';

-- Existing groups: the creator is the first admin while they still take part ...
UPDATE participants p JOIN conversations c ON c.id = p.conversation_id
SET p.role = 'admin'
WHERE c.is_group AND p.user_id = c.created_by;

-- ... else the earliest participant (joined_at, then id: the order the list shows), so
-- every group with participants has an admin.
UPDATE participants p JOIN (
    SELECT q.conversation_id, q.user_id,
           ROW_NUMBER() OVER (PARTITION BY q.conversation_id ORDER BY q.joined_at, q.user_id) AS n
    FROM participants q JOIN conversations c ON c.id = q.conversation_id
    WHERE c.is_group AND (c.created_by IS NULL OR NOT EXISTS (
        SELECT 1 FROM participants k
        WHERE k.conversation_id = q.conversation_id AND k.user_id = c.created_by))
) first ON first.conversation_id = p.conversation_id AND first.user_id = p.user_id AND first.n = 1
SET p.role = 'admin';

-- Site administrators (chatctl user add --admin, chatctl user admin NAME). Only they
-- reach /api/admin/; everyone else gets 404 there.
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;

-- Every moderation action, by a site admin, a group admin or the operator (chatctl,
-- actor_id NULL). The names are copied at the time of the action and no foreign key
-- ties a row to a user, conversation or message: the log outlives what it is about.
CREATE TABLE audit_log (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    actor_id BIGINT UNSIGNED NULL,
    actor_name VARCHAR(32) CHARACTER SET ascii NOT NULL,
    action VARCHAR(40) CHARACTER SET ascii NOT NULL,
    target_user_id BIGINT UNSIGNED NULL,
    target_name VARCHAR(32) CHARACTER SET ascii NULL,
    conversation_id BIGINT UNSIGNED NULL,
    message_id BIGINT UNSIGNED NULL,
    detail VARCHAR(100) NULL,
    KEY audit_actor (actor_id, id),
    KEY audit_target (target_user_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
