-- The nullable sender_id and created_by stay: a deleted account's messages have no
-- sender to restore.
DROP TABLE auth_password_resets;
DROP TABLE auth_invites;
ALTER TABLE auth_users DROP COLUMN last_active_at;
ALTER TABLE auth_users DROP COLUMN disabled_at;
ALTER TABLE auth_users DROP COLUMN admin;
