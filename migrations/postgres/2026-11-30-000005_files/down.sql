-- Messages with files and no text would break the old check: they are erased first,
-- and so are earlier versions without text.
UPDATE chat_messages SET deleted_at = coalesce(deleted_at, now() AT TIME ZONE 'UTC')
    WHERE content = '' AND deleted_at IS NULL;
DELETE FROM chat_message_edits WHERE content = '';
ALTER TABLE chat_message_edits DROP CONSTRAINT chat_message_edits_content_check;
ALTER TABLE chat_message_edits ADD CONSTRAINT chat_message_edits_content_check
    CHECK (char_length(content) BETWEEN 1 AND 4000);
ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_content_check;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_content_check CHECK (
    CASE WHEN deleted_at IS NULL THEN char_length(content) BETWEEN 1 AND 4000
         ELSE content = '' END
);
DROP TABLE chat_attachments;
