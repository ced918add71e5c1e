-- Full-text search of posts (PostgreSQL). The 'simple' configuration (no
-- stemming, no stop words) matches what SQLite's unicode61 tokenizer does.
ALTER TABLE posts ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED;
CREATE INDEX posts_search_idx ON posts USING GIN (search);
