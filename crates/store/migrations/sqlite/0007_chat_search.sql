-- Full-text search of chat messages (SQLite FTS5), kept by triggers. A
-- retraction empties the text, so it leaves the index too.
CREATE VIRTUAL TABLE chat_messages_fts USING fts5(text, content = 'chat_messages', content_rowid = 'id', tokenize = 'unicode61');
CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF text ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO chat_messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
