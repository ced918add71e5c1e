-- Blocks and mutes between users. Portable SQL (the same text on both engines).
-- A row says `user_id` blocks (or mutes) `target_id`; both are private to
-- `user_id`. Blocking also removes the follows both ways (in the store's
-- transaction, not here).
CREATE TABLE blocks (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, target_id)
);
CREATE INDEX blocks_list_idx ON blocks (user_id, created_at, target_id);
CREATE INDEX blocks_target_idx ON blocks (target_id, user_id);

CREATE TABLE mutes (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, target_id)
);
CREATE INDEX mutes_list_idx ON mutes (user_id, created_at, target_id);
