-- Awareness: who a message mentions, what notifies a member, and what a person
-- shares of their reading.
--
-- A mention is recorded when the message is sent (or when an edit adds it), for
-- people who are members then; a mention removed by a later edit stays (it was seen
-- as one). Unread and mention counts are computed from the read pointer
-- (chat_conversation_members.last_seen_message_id), never stored.
CREATE TABLE chat_mentions (
    user_id         BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    message_id      BIGINT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, conversation_id, message_id)
);
CREATE INDEX chat_mentions_message_idx ON chat_mentions (message_id);

-- NULL: the default (`all`, or `mentions` in conversations over 20 members).
ALTER TABLE chat_conversation_members ADD COLUMN notification_level TEXT
    CHECK (notification_level IN ('all', 'mentions', 'none'));

ALTER TABLE auth_users
    ADD COLUMN share_read_receipts BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN share_presence      BOOLEAN NOT NULL DEFAULT TRUE;
