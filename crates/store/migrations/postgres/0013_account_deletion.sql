-- Account deletion. A deleted account is marked at once (deleted_at) and
-- removed by the worker afterwards; the user row goes last.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- Chat messages outlive their sender: sender_id becomes nullable and is
-- cleared when the user row goes.
ALTER TABLE chat_messages ALTER COLUMN sender_id DROP NOT NULL;
ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_sender_id_fkey;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_sender_id_fkey
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX chat_messages_sender_idx ON chat_messages (sender_id) WHERE sender_id IS NOT NULL;

-- The worker's batches find a user's rows by these.
CREATE INDEX comments_author_idx ON comments (author_id);
CREATE INDEX chat_rooms_owner_idx ON chat_rooms (owner_id) WHERE owner_id IS NOT NULL;
