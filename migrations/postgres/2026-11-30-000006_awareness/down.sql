ALTER TABLE auth_users DROP COLUMN share_presence, DROP COLUMN share_read_receipts;
ALTER TABLE chat_conversation_members DROP COLUMN notification_level;
DROP TABLE chat_mentions;
