-- Full-text search of chat messages (PostgreSQL), 'simple' like posts. A
-- retraction empties the text, so it leaves the index too.
ALTER TABLE chat_messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED;
CREATE INDEX chat_messages_search_idx ON chat_messages USING GIN (search);
