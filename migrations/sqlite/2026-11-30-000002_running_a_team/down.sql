-- Fails while messages or conversations of deleted accounts exist (the NOT NULL
-- columns refuse them): a schema that requires a sender has no place for them.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

DROP TABLE auth_password_resets;
DROP TABLE auth_invites;
ALTER TABLE auth_users DROP COLUMN last_active_at;
ALTER TABLE auth_users DROP COLUMN disabled_at;
ALTER TABLE auth_users DROP COLUMN admin;

CREATE TEMP TABLE kept_sequences AS
    SELECT name, seq FROM sqlite_sequence WHERE name IN ('chat_conversations', 'chat_messages');

CREATE TABLE chat_conversations_rebuilt (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    title            TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    created_by       BIGINT NOT NULL REFERENCES auth_users (id),
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
    sender_id       BIGINT NOT NULL REFERENCES auth_users (id),
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
