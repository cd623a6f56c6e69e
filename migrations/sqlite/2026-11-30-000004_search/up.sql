-- Search: every message's text in an FTS5 index of trigrams (three characters at a
-- time, so any part of a word, and text in scripts without spaces, is found), kept in
-- step with chat_messages by triggers in the same transaction as each change. The
-- index holds no copy of the text (content = 'chat_messages'), and a deleted message,
-- whose text is erased, leaves nothing in it.
CREATE VIRTUAL TABLE chat_messages_search USING fts5(
    content,
    content = 'chat_messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);

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

-- The messages written before this migration.
INSERT INTO chat_messages_search (rowid, content)
    SELECT id, content FROM chat_messages WHERE content <> '';
