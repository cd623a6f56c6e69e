-- Fails while deleted messages exist (the old check refuses their empty text): a
-- schema without tombstones has no place for them.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

DROP INDEX chat_events_message_idx;
ALTER TABLE chat_events DROP COLUMN message_id;
DROP TABLE chat_message_edits;

CREATE TEMP TABLE kept_sequences AS
    SELECT name, seq FROM sqlite_sequence WHERE name = 'chat_messages';

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
