-- Fails while messages or conversations of deleted accounts exist: a schema that
-- requires a sender has no place for them.
ALTER TABLE chat_conversations ALTER COLUMN created_by SET NOT NULL;
ALTER TABLE chat_messages ALTER COLUMN sender_id SET NOT NULL;
DROP TABLE auth_password_resets;
DROP TABLE auth_invites;
ALTER TABLE auth_users DROP COLUMN last_active_at;
ALTER TABLE auth_users DROP COLUMN disabled_at;
ALTER TABLE auth_users DROP COLUMN admin;
