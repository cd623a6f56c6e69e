DROP INDEX chat_messages_trigram_idx;
DROP INDEX chat_messages_search_idx;
ALTER TABLE chat_messages DROP COLUMN search;
-- pg_trgm stays: other schemas of this database may use it.
