-- Full-text search of posts (SQLite FTS5). The index follows the posts table
-- through triggers; deleted posts are excluded at query time by joining posts.
CREATE VIRTUAL TABLE posts_fts USING fts5(text, content = 'posts', content_rowid = 'id', tokenize = 'unicode61');
INSERT INTO posts_fts (rowid, text) SELECT id, text FROM posts;
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF text ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO posts_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
