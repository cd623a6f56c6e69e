-- As migrations/postgres/2026-11-30-000002_running_a_team. Making chat_messages.sender_id
-- and chat_conversations.created_by nullable rebuilds both tables (SQLite's documented
-- way to change a column), with foreign keys off so that dropping the old tables
-- cascades nowhere; the new tables keep the ids, constraints and sequences.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

ALTER TABLE auth_users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE auth_users SET admin = TRUE WHERE id = (SELECT min(id) FROM auth_users);
ALTER TABLE auth_users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE auth_users ADD COLUMN last_active_at TIMESTAMP;

CREATE TABLE auth_invites (
    code       TEXT PRIMARY KEY CHECK (length(code) BETWEEN 16 AND 64),
    created_by BIGINT REFERENCES auth_users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    uses_left  BIGINT NOT NULL CHECK (uses_left >= 0),
    CONSTRAINT auth_invites_expiry_after_creation CHECK (expires_at > created_at)
);

CREATE TABLE auth_password_resets (
    user_id    BIGINT PRIMARY KEY REFERENCES auth_users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL CHECK (code_hash <> ''),
    expires_at TIMESTAMP NOT NULL
);

CREATE TEMP TABLE kept_sequences AS
    SELECT name, seq FROM sqlite_sequence WHERE name IN ('chat_conversations', 'chat_messages');

CREATE TABLE chat_conversations_rebuilt (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    title            TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    created_by       BIGINT REFERENCES auth_users (id),
    created_at       TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at       TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    last_activity_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    closed_at        TIMESTAMP,
    last_event_seq   BIGINT NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0)
);
INSERT INTO chat_conversations_rebuilt
    (id, title, created_by, created_at, updated_at, last_activity_at, closed_at, last_event_seq)
    SELECT id, title, created_by, created_at, updated_at, last_activity_at, closed_at, last_event_seq
    FROM chat_conversations;
DROP TABLE chat_conversations;
ALTER TABLE chat_conversations_rebuilt RENAME TO chat_conversations;

CREATE TABLE chat_messages_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    sender_id       BIGINT REFERENCES auth_users (id),
    content         TEXT NOT NULL CHECK (length(content) BETWEEN 1 AND 4000),
    client_id       TEXT CHECK (client_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT chat_messages_conversation_id_unique UNIQUE (conversation_id, id),
    CONSTRAINT chat_messages_client_id_unique UNIQUE (conversation_id, sender_id, client_id)
);
INSERT INTO chat_messages_rebuilt (id, conversation_id, sender_id, content, client_id, created_at)
    SELECT id, conversation_id, sender_id, content, client_id, created_at FROM chat_messages;
DROP TABLE chat_messages;
ALTER TABLE chat_messages_rebuilt RENAME TO chat_messages;

UPDATE sqlite_sequence
    SET seq = max(seq, (SELECT kept.seq FROM kept_sequences kept WHERE kept.name = sqlite_sequence.name))
    WHERE name IN (SELECT name FROM kept_sequences);
DROP TABLE kept_sequences;

COMMIT;
PRAGMA foreign_keys = ON;
