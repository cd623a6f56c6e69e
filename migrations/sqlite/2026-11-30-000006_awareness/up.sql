-- As migrations/postgres/2026-11-30-000006_awareness.
CREATE TABLE chat_mentions (
    user_id         BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    message_id      BIGINT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, conversation_id, message_id)
) WITHOUT ROWID;
CREATE INDEX chat_mentions_message_idx ON chat_mentions (message_id);

ALTER TABLE chat_conversation_members ADD COLUMN notification_level TEXT
    CHECK (notification_level IN ('all', 'mentions', 'none'));

ALTER TABLE auth_users ADD COLUMN share_read_receipts BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE auth_users ADD COLUMN share_presence BOOLEAN NOT NULL DEFAULT TRUE;
