-- Running Natter for a team: admins, disabled accounts, invitations, password resets,
-- and accounts that can be deleted while their messages stay.

-- The first account of an instance is its admin; on an instance from before admins,
-- the earliest registered becomes it.
ALTER TABLE auth_users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE auth_users SET admin = TRUE WHERE id = (SELECT min(id) FROM auth_users);
-- A disabled account cannot sign in; it stays a member of its conversations.
ALTER TABLE auth_users ADD COLUMN disabled_at TIMESTAMP;
-- When a request last came from this person (noted every few minutes, as sessions'
-- last_used_at is).
ALTER TABLE auth_users ADD COLUMN last_active_at TIMESTAMP;

-- Invitations to register while registration is by invite. The code is shown to
-- admins (they copy its link), so it is kept as it is.
CREATE TABLE auth_invites (
    code       TEXT PRIMARY KEY CHECK (char_length(code) BETWEEN 16 AND 64),
    created_by BIGINT REFERENCES auth_users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    uses_left  BIGINT NOT NULL CHECK (uses_left >= 0),
    CONSTRAINT auth_invites_expiry_after_creation CHECK (expires_at > created_at)
);

-- One-time password reset codes an admin hands out: only their hash is kept, one per
-- person (a new one replaces the old).
CREATE TABLE auth_password_resets (
    user_id    BIGINT PRIMARY KEY REFERENCES auth_users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL CHECK (code_hash <> ''),
    expires_at TIMESTAMP NOT NULL
);

-- A deleted account's messages stay, from nobody ("Deleted account"); so do the
-- conversations it started.
ALTER TABLE chat_messages ALTER COLUMN sender_id DROP NOT NULL;
ALTER TABLE chat_conversations ALTER COLUMN created_by DROP NOT NULL;
