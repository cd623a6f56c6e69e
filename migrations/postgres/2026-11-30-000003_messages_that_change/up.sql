-- Messages that change: edits with their history, deletions that erase, replies.
--
-- A message's `version` starts at 1 and grows with each edit and with its deletion,
-- so that a client applies a change only over an older copy. A deleted message stays
-- as a tombstone (its id, sender and time) with its text erased: content is '' then,
-- and only then.
ALTER TABLE chat_messages
    ADD COLUMN version     BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN edited_at   TIMESTAMP,
    ADD COLUMN deleted_at  TIMESTAMP,
    ADD COLUMN reply_to_id BIGINT;
ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_content_check;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_content_check CHECK (
    CASE WHEN deleted_at IS NULL THEN char_length(content) BETWEEN 1 AND 4000
         ELSE content = '' END
);
-- A reply answers a message of its own conversation. The send statement checks that,
-- under the conversation's lock, and messages are never removed (a deletion leaves a
-- tombstone), so no foreign key guards it again: its trigger on every insert cost 3%
-- of send throughput (natter-bench send, 2026-11-30).
-- "The replies to m", when m is deleted and its excerpt must go from their events.
CREATE INDEX chat_messages_reply_to_idx ON chat_messages (reply_to_id)
    WHERE reply_to_id IS NOT NULL;

-- The versions a message had before each edit, for its author and the conversation's
-- owner. Erased with the message's text.
CREATE TABLE chat_message_edits (
    message_id  BIGINT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    version     BIGINT NOT NULL CHECK (version >= 1),
    content     TEXT NOT NULL CHECK (char_length(content) BETWEEN 1 AND 4000),
    -- When this version was written (the message's time, or the edit that made it).
    written_at  TIMESTAMP NOT NULL,
    replaced_at TIMESTAMP NOT NULL,
    PRIMARY KEY (message_id, version)
);

-- The message whose text an event carries (message_created and message_edited: the
-- message; added_to_conversation: the conversation's last message), so that deleting
-- a message finds every copy of its text in the log, and those in its replies' events.
ALTER TABLE chat_events ADD COLUMN message_id BIGINT;
CREATE INDEX chat_events_message_idx ON chat_events (message_id) WHERE message_id IS NOT NULL;
