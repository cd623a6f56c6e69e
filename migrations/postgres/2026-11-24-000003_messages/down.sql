DROP TABLE chat_seen_messages;
DROP TABLE chat_message_reactions;
DROP TABLE chat_emojis;
ALTER TABLE chat_conversation_members DROP CONSTRAINT chat_conversation_members_last_seen_fk;
DROP TABLE chat_messages;
