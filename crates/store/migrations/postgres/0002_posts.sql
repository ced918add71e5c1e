-- Posts, their edit history, mentions and tags; comments with replies; loves.
-- Portable SQL for SQLite and PostgreSQL. Deleted posts keep their row
-- (deleted_at) so late references resolve to "gone" rather than "unknown".
CREATE TABLE posts (
    id              BIGINT PRIMARY KEY,
    author_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text            TEXT NOT NULL,
    love_count      BIGINT NOT NULL DEFAULT 0,
    comment_count   BIGINT NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created_at      BIGINT NOT NULL,
    edited_at       BIGINT,
    deleted_at      BIGINT
);
-- NULL keys are distinct in both databases: only keyed creates are deduplicated.
CREATE UNIQUE INDEX posts_idempotency_key ON posts (author_id, idempotency_key);
CREATE INDEX posts_author_idx ON posts (author_id, id);

CREATE TABLE post_versions (
    post_id    BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, version)
);

CREATE TABLE post_mentions (
    post_id BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, user_id)
);

CREATE TABLE post_tags (
    tag     TEXT NOT NULL,
    post_id BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, post_id)
);
CREATE INDEX post_tags_post_idx ON post_tags (post_id);

CREATE TABLE comments (
    id          BIGINT PRIMARY KEY,
    post_id     BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    parent_id   BIGINT REFERENCES comments (id) ON DELETE CASCADE,
    author_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    love_count  BIGINT NOT NULL DEFAULT 0,
    reply_count BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    edited_at   BIGINT,
    deleted_at  BIGINT
);
CREATE INDEX comments_thread_idx ON comments (post_id, parent_id, id);
CREATE INDEX comments_parent_idx ON comments (parent_id, id);

-- One love per user and target; posts and comments share the id space.
CREATE TABLE loves (
    target_id  BIGINT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (target_id, user_id)
);
CREATE INDEX loves_user_idx ON loves (user_id, target_id);
