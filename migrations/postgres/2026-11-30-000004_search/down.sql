DROP INDEX chat_messages_trigram_idx;
DROP INDEX chat_messages_search_idx;
ALTER TABLE chat_messages DROP COLUMN search;
ALTER TABLE chat_messages ALTER COLUMN content SET STATISTICS -1;
-- pg_trgm stays: other schemas of this database may use it.
