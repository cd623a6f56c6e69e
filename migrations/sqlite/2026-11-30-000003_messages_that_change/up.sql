-- As migrations/postgres/2026-11-30-000003_messages_that_change. The new check on
-- content (erased exactly when deleted) rebuilds chat_messages, with foreign keys off so that dropping the old table cascades nowhere;
-- the new table keeps the ids, constraints and sequence.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TEMP TABLE kept_sequences AS
    SELECT name, seq FROM sqlite_sequence WHERE name = 'chat_messages';

CREATE TABLE chat_messages_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    sender_id       BIGINT REFERENCES auth_users (id),
    content         TEXT NOT NULL CHECK (
        CASE WHEN deleted_at IS NULL THEN length(content) BETWEEN 1 AND 4000
             ELSE content = '' END),
    client_id       TEXT CHECK (client_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    version         BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    edited_at       TIMESTAMP,
    deleted_at      TIMESTAMP,
    reply_to_id     BIGINT,
    CONSTRAINT chat_messages_conversation_id_unique UNIQUE (conversation_id, id),
    CONSTRAINT chat_messages_client_id_unique UNIQUE (conversation_id, sender_id, client_id)
);
INSERT INTO chat_messages_rebuilt (id, conversation_id, sender_id, content, client_id, created_at)
    SELECT id, conversation_id, sender_id, content, client_id, created_at FROM chat_messages;
DROP TABLE chat_messages;
ALTER TABLE chat_messages_rebuilt RENAME TO chat_messages;
CREATE INDEX chat_messages_reply_to_idx ON chat_messages (reply_to_id)
    WHERE reply_to_id IS NOT NULL;

UPDATE sqlite_sequence
    SET seq = max(seq, (SELECT kept.seq FROM kept_sequences kept WHERE kept.name = sqlite_sequence.name))
    WHERE name IN (SELECT name FROM kept_sequences);
DROP TABLE kept_sequences;

CREATE TABLE chat_message_edits (
    message_id  BIGINT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    version     BIGINT NOT NULL CHECK (version >= 1),
    content     TEXT NOT NULL CHECK (length(content) BETWEEN 1 AND 4000),
    written_at  TIMESTAMP NOT NULL,
    replaced_at TIMESTAMP NOT NULL,
    PRIMARY KEY (message_id, version)
);

ALTER TABLE chat_events ADD COLUMN message_id BIGINT;
CREATE INDEX chat_events_message_idx ON chat_events (message_id) WHERE message_id IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
