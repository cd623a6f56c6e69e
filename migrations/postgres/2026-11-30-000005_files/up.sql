-- Files: uploaded first, then attached to a message when it is sent.
--
-- A row is written before the file's bytes are stored and marked `stored_at` once
-- they all are, so a file never stored (a crash, a refused upload) is still a row
-- that the purge finds. Only a stored file that its uploader has not attached yet
-- may be attached. The bytes live in the file store (--storage) under
-- `storage_key`, never under anything the uploader chose.
CREATE TABLE chat_attachments (
    id             BIGSERIAL PRIMARY KEY,
    uploader_id    BIGINT REFERENCES auth_users (id) ON DELETE SET NULL,
    message_id     BIGINT REFERENCES chat_messages (id) ON DELETE SET NULL,
    -- Its place among its message's files, from 0.
    position       INTEGER NOT NULL DEFAULT 0,
    filename       TEXT NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 200),
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0),
    width          INTEGER,
    height         INTEGER,
    -- The thumbnail's type, when one is stored.
    thumbnail_type TEXT,
    storage_key    TEXT NOT NULL UNIQUE,
    created_at     TIMESTAMP NOT NULL,
    stored_at      TIMESTAMP,
    -- Set when its message is deleted: the purge removes its bytes, then the row.
    discarded_at   TIMESTAMP
);
CREATE INDEX chat_attachments_message_idx ON chat_attachments (message_id)
    WHERE message_id IS NOT NULL;
-- What the purge looks for: files never attached, and files of deleted messages.
CREATE INDEX chat_attachments_purge_idx ON chat_attachments (created_at)
    WHERE message_id IS NULL OR discarded_at IS NOT NULL;

-- A message that carries files may have no text, now or in an earlier version.
ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_content_check;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_content_check CHECK (
    CASE WHEN deleted_at IS NULL THEN char_length(content) <= 4000
         ELSE content = '' END
);
ALTER TABLE chat_message_edits DROP CONSTRAINT chat_message_edits_content_check;
ALTER TABLE chat_message_edits ADD CONSTRAINT chat_message_edits_content_check
    CHECK (char_length(content) <= 4000);
