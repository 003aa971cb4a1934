-- Account deactivation by an operator (chatctl user deactivate / reactivate): a
-- deactivated user cannot log in, and deactivating ends every session and connection
-- (docs/SECURITY.md). NULL: active.
ALTER TABLE users ADD COLUMN deactivated_at DATETIME(6) NULL;
