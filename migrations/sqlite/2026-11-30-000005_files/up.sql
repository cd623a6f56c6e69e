-- As migrations/postgres/2026-11-30-000005_files. Allowing a message without text
-- changes the checks on content, which rebuilds chat_messages and chat_message_edits (SQLite cannot change a
-- CHECK in place) with foreign keys off, as 2026-11-30-000003 did; the search
-- triggers go with the old table and are made again.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TEMP TABLE kept_sequences AS
    SELECT name, seq FROM sqlite_sequence WHERE name = 'chat_messages';

DROP TRIGGER chat_messages_search_delete;
DROP TRIGGER chat_messages_search_update;
DROP TRIGGER chat_messages_search_insert;

CREATE TABLE chat_messages_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    sender_id       BIGINT REFERENCES auth_users (id),
    content         TEXT NOT NULL CHECK (
        CASE WHEN deleted_at IS NULL THEN length(content) <= 4000
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
INSERT INTO chat_messages_rebuilt (id, conversation_id, sender_id, content, client_id, created_at,
                                   version, edited_at, deleted_at, reply_to_id)
    SELECT id, conversation_id, sender_id, content, client_id, created_at,
           version, edited_at, deleted_at, reply_to_id FROM chat_messages;
DROP TABLE chat_messages;
ALTER TABLE chat_messages_rebuilt RENAME TO chat_messages;
CREATE INDEX chat_messages_reply_to_idx ON chat_messages (reply_to_id)
    WHERE reply_to_id IS NOT NULL;

UPDATE sqlite_sequence
    SET seq = max(seq, (SELECT kept.seq FROM kept_sequences kept WHERE kept.name = sqlite_sequence.name))
    WHERE name IN (SELECT name FROM kept_sequences);
DROP TABLE kept_sequences;

-- As migrations/sqlite/2026-11-30-000004_search (the rows keep their ids, so the
-- index stays as it was).
CREATE TRIGGER chat_messages_search_insert AFTER INSERT ON chat_messages
WHEN new.content <> ''
BEGIN
    INSERT INTO chat_messages_search (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER chat_messages_search_update AFTER UPDATE OF content ON chat_messages
BEGIN
    INSERT INTO chat_messages_search (chat_messages_search, rowid, content)
        SELECT 'delete', old.id, old.content WHERE old.content <> '';
    INSERT INTO chat_messages_search (rowid, content)
        SELECT new.id, new.content WHERE new.content <> '';
END;
CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages
WHEN old.content <> ''
BEGIN
    INSERT INTO chat_messages_search (chat_messages_search, rowid, content)
        VALUES ('delete', old.id, old.content);
END;

-- An earlier version of a message with files may have had no text.
CREATE TABLE chat_message_edits_rebuilt (
    message_id  BIGINT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    version     BIGINT NOT NULL CHECK (version >= 1),
    content     TEXT NOT NULL CHECK (length(content) <= 4000),
    written_at  TIMESTAMP NOT NULL,
    replaced_at TIMESTAMP NOT NULL,
    PRIMARY KEY (message_id, version)
);
INSERT INTO chat_message_edits_rebuilt SELECT message_id, version, content, written_at, replaced_at
    FROM chat_message_edits;
DROP TABLE chat_message_edits;
ALTER TABLE chat_message_edits_rebuilt RENAME TO chat_message_edits;

CREATE TABLE chat_attachments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uploader_id    BIGINT REFERENCES auth_users (id) ON DELETE SET NULL,
    message_id     BIGINT REFERENCES chat_messages (id) ON DELETE SET NULL,
    position       INTEGER NOT NULL DEFAULT 0,
    filename       TEXT NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0),
    width          INTEGER,
    height         INTEGER,
    thumbnail_type TEXT,
    storage_key    TEXT NOT NULL UNIQUE,
    created_at     TIMESTAMP NOT NULL,
    stored_at      TIMESTAMP,
    discarded_at   TIMESTAMP
);
CREATE INDEX chat_attachments_message_idx ON chat_attachments (message_id)
    WHERE message_id IS NOT NULL;
CREATE INDEX chat_attachments_purge_idx ON chat_attachments (created_at)
    WHERE message_id IS NULL OR discarded_at IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
