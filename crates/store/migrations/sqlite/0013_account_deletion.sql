-- Account deletion. A deleted account is marked at once (deleted_at) and
-- removed by the worker afterwards; the user row goes last.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- Chat messages outlive their sender: sender_id becomes nullable and is
-- cleared when the user row goes. SQLite cannot change a column constraint,
-- so the table is rebuilt. Foreign keys are on while migrating, and dropping
-- the old table deletes its rows first, cascading to chat_hidden: those rows
-- are kept aside and put back. The search triggers are dropped with the
-- table, recreated, and the index rebuilt from the table.
CREATE TEMP TABLE chat_hidden_keep AS SELECT user_id, message_id FROM chat_hidden;
DROP TRIGGER chat_messages_fts_insert;
DROP TRIGGER chat_messages_fts_update;
DROP TRIGGER chat_messages_fts_delete;
CREATE TABLE chat_messages_new (
    id            BIGINT PRIMARY KEY,
    room_id       BIGINT NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    sender_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    text          TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    retracted_at  BIGINT,
    UNIQUE (room_id, sender_id, client_msg_id)
);
INSERT INTO chat_messages_new (id, room_id, sender_id, text, client_msg_id, created_at, retracted_at)
    SELECT id, room_id, sender_id, text, client_msg_id, created_at, retracted_at FROM chat_messages;
DROP TABLE chat_messages;
ALTER TABLE chat_messages_new RENAME TO chat_messages;
CREATE INDEX chat_messages_room_idx ON chat_messages (room_id, id);
CREATE INDEX chat_messages_sender_idx ON chat_messages (sender_id) WHERE sender_id IS NOT NULL;
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
INSERT INTO chat_messages_fts (chat_messages_fts) VALUES ('rebuild');
INSERT INTO chat_hidden (user_id, message_id) SELECT user_id, message_id FROM chat_hidden_keep;
DROP TABLE chat_hidden_keep;

-- The worker's batches find a user's rows by these.
CREATE INDEX comments_author_idx ON comments (author_id);
CREATE INDEX chat_rooms_owner_idx ON chat_rooms (owner_id) WHERE owner_id IS NOT NULL;
