//! Comments: threads paged oldest first, counts on posts and parents, edits,
//! and deletes that leave a placeholder only where replies hang on.

use std::collections::HashSet;
use std::sync::Arc;

use starling_core::model::{CommentRecord, LoveTarget};
use starling_core::ports::{CommentStore, LoveStore, PostStore};
use starling_core::{CommentId, Error, PostId, Timestamp};
use starling_store::SqlStore;

use crate::{T, add_comment, ev, ids, new_comment, pending, post, user};

store_tests!(
    a_thread_pages_oldest_first_one_level_at_a_time,
    every_comment_counts_on_its_post_and_replies_on_their_parent,
    a_comment_needs_a_live_post_and_a_parent_on_that_post,
    an_edit_changes_the_text_of_a_live_comment_only,
    a_deleted_comment_stays_as_a_placeholder_only_while_it_has_replies,
    concurrent_comments_and_deletes_keep_counts_exact,
);

fn ids_of(comments: &[CommentRecord]) -> Vec<CommentId> {
    comments.iter().map(|c| c.id).collect()
}

async fn comment_count(s: &SqlStore, p: PostId) -> i64 {
    s.posts_by_ids(&[p]).await.unwrap()[0].comment_count
}

async fn reply_count(s: &SqlStore, c: CommentId) -> i64 {
    s.comment(c).await.unwrap().reply_count
}

/// Every comment of `post` under `parent`, `limit` at a time, checking each page.
async fn paged(
    s: &SqlStore,
    post: PostId,
    parent: Option<CommentId>,
    limit: u32,
) -> Vec<CommentId> {
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let page = ids_of(&s.comments(post, parent, after, limit).await.unwrap());
        assert!(page.len() <= limit as usize);
        assert!(page.windows(2).all(|w| w[0] < w[1]), "oldest first");
        let Some(&last) = page.last() else {
            return all;
        };
        assert!(
            page.iter().all(|id| !all.contains(id)),
            "a page repeats an earlier one: {page:?}"
        );
        all.extend(page);
        after = Some(last);
    }
}

async fn a_thread_pages_oldest_first_one_level_at_a_time(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let p = post(s, &g, amy).await;
    let quiet = post(s, &g, amy).await;
    // Top-level comments and replies interleaved (all stamped alike), so
    // only the parent tells them apart, not the ids' range.
    let (mut top, mut replies) = (Vec::new(), Vec::new());
    let first = s
        .create_comment(new_comment(&g, p, None, bob, "first"))
        .await
        .unwrap();
    top.push(first.id);
    for i in 0..6 {
        let author = if i % 2 == 0 { amy } else { bob };
        if i < 3 {
            replies.push(add_comment(s, &g, p, Some(first.id), author).await);
        }
        top.push(add_comment(s, &g, p, None, author).await);
    }
    let deep = s
        .create_comment(new_comment(&g, p, Some(replies[0]), amy, "deep"))
        .await
        .unwrap();
    assert_eq!(paged(s, p, None, 3).await, top);
    assert_eq!(paged(s, p, None, 1).await, top);
    assert_eq!(paged(s, p, Some(first.id), 2).await, replies);
    assert_eq!(paged(s, p, Some(replies[0]), 10).await, [deep.id]);
    assert!(paged(s, p, Some(top[1]), 10).await.is_empty());
    assert!(paged(s, quiet, None, 10).await.is_empty());
    assert_err!(
        s.comments(PostId(g.next()), None, None, 10).await,
        Error::NotFound { .. }
    );

    assert_eq!(s.comment(deep.id).await.unwrap(), deep, "as created");
    let stored = s.comment(first.id).await.unwrap();
    assert_eq!((stored.text.as_str(), stored.author_id), ("first", bob));
    assert_eq!((stored.parent_id, stored.created_at), (None, Timestamp(T)));
    let ghost = CommentId(g.next());
    assert_err!(s.comment(ghost).await, Error::NotFound { .. });
    let found: HashSet<_> = ids_of(
        &s.comments_by_ids(&[first.id, deep.id, ghost])
            .await
            .unwrap(),
    )
    .into_iter()
    .collect();
    assert_eq!(found, HashSet::from([first.id, deep.id]));
    assert!(s.comments_by_ids(&[]).await.unwrap().is_empty());
}

async fn every_comment_counts_on_its_post_and_replies_on_their_parent(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let p = post(s, &g, amy).await;
    let q = post(s, &g, amy).await;
    let before = pending(s).await;
    let c1 = add_comment(s, &g, p, None, amy).await;
    let r1 = add_comment(s, &g, p, Some(c1), amy).await;
    let r2 = add_comment(s, &g, p, Some(c1), amy).await;
    let rr = add_comment(s, &g, p, Some(r1), amy).await;
    add_comment(s, &g, q, None, amy).await;
    assert_eq!(pending(s).await, before + 5, "one event per comment");
    assert_eq!(
        comment_count(s, p).await,
        4,
        "replies count on the post too"
    );
    assert_eq!(comment_count(s, q).await, 1);
    assert_eq!(reply_count(s, c1).await, 2, "direct replies only");
    assert_eq!(reply_count(s, r1).await, 1);
    assert_eq!(reply_count(s, r2).await, 0);
    assert_eq!(reply_count(s, rr).await, 0);
}

async fn a_comment_needs_a_live_post_and_a_parent_on_that_post(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let p = post(s, &g, amy).await;
    let q = post(s, &g, amy).await;
    let on_q = add_comment(s, &g, q, None, amy).await;
    let before = pending(s).await;
    let attempts = [
        new_comment(&g, PostId(g.next()), None, amy, "no post"),
        new_comment(&g, p, Some(CommentId(g.next())), amy, "no parent"),
        new_comment(&g, p, Some(on_q), amy, "parent elsewhere"),
    ];
    let tried: Vec<CommentId> = attempts.iter().map(|c| c.id).collect();
    for c in attempts {
        assert_err!(s.create_comment(c).await, Error::NotFound { .. });
    }
    // Nothing of the attempts stayed: no rows, counts or events.
    assert!(s.comments_by_ids(&tried).await.unwrap().is_empty());
    assert!(s.comments(p, None, None, 10).await.unwrap().is_empty());
    assert_eq!(comment_count(s, p).await, 0);
    assert_eq!(comment_count(s, q).await, 1);
    assert_eq!(reply_count(s, on_q).await, 0);
    assert_eq!(pending(s).await, before);
    // The same reply on the parent's own post is fine.
    add_comment(s, &g, q, Some(on_q), amy).await;
    assert_eq!(reply_count(s, on_q).await, 1);

    s.delete_post(p, amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    let late = new_comment(&g, p, None, amy, "too late");
    assert_err!(s.create_comment(late).await, Error::NotFound { .. });
}

async fn an_edit_changes_the_text_of_a_live_comment_only(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let p = post(s, &g, amy).await;
    let c = s
        .create_comment(new_comment(&g, p, None, bob, "good"))
        .await
        .unwrap();
    s.love(LoveTarget::Comment(c.id), amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    let edited = s
        .edit_comment(c.id, "better", Timestamp(T + 5))
        .await
        .unwrap();
    let want = CommentRecord {
        text: "better".into(),
        love_count: 1,
        edited_at: Some(Timestamp(T + 5)),
        ..c.clone()
    };
    assert_eq!(edited, want);
    assert_eq!(s.comment(c.id).await.unwrap(), want);
    assert_err!(
        s.edit_comment(CommentId(g.next()), "x", Timestamp::now())
            .await,
        Error::NotFound { .. }
    );
    // A deleted comment kept for its replies cannot be edited back to life.
    let kept = add_comment(s, &g, p, None, bob).await;
    add_comment(s, &g, p, Some(kept), amy).await;
    s.delete_comment(kept, Timestamp::now()).await.unwrap();
    assert_err!(
        s.edit_comment(kept, "back", Timestamp::now()).await,
        Error::NotFound { .. }
    );
    let placeholder = s.comment(kept).await.unwrap();
    assert_eq!((placeholder.deleted, placeholder.text.as_str()), (true, ""));
}

async fn a_deleted_comment_stays_as_a_placeholder_only_while_it_has_replies(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let p = post(s, &g, amy).await;
    let c1 = add_comment(s, &g, p, None, amy).await;
    let c2 = add_comment(s, &g, p, None, amy).await;
    let c3 = add_comment(s, &g, p, None, amy).await;
    let r1 = add_comment(s, &g, p, Some(c1), bob).await;
    let r2 = add_comment(s, &g, p, Some(c1), bob).await;
    s.love(LoveTarget::Comment(c2), bob, Timestamp::now(), &ev())
        .await
        .unwrap();
    assert_eq!(comment_count(s, p).await, 5);

    // Without replies: gone outright, with its loves.
    s.delete_comment(c2, Timestamp::now()).await.unwrap();
    assert_err!(s.comment(c2).await, Error::NotFound { .. });
    assert!(s.comments_by_ids(&[c2]).await.unwrap().is_empty());
    assert_eq!(paged(s, p, None, 10).await, [c1, c3]);
    assert_eq!(comment_count(s, p).await, 4);
    assert!(
        s.loved_among(bob, &[c2.get()]).await.unwrap().is_empty(),
        "its loves went with it"
    );

    // With replies: a placeholder, still in its place, its replies under it.
    s.delete_comment(c1, Timestamp::now()).await.unwrap();
    let placeholder = s.comment(c1).await.unwrap();
    assert!(placeholder.deleted);
    assert_eq!(
        (placeholder.text.as_str(), placeholder.reply_count),
        ("", 2)
    );
    let listed = s.comments(p, None, None, 10).await.unwrap();
    assert_eq!(ids_of(&listed), [c1, c3]);
    assert!(listed[0].deleted && !listed[1].deleted);
    assert_eq!(paged(s, p, Some(c1), 10).await, [r1, r2]);
    assert_eq!(comment_count(s, p).await, 3, "a placeholder does not count");
    assert_err!(
        s.delete_comment(c1, Timestamp::now()).await,
        Error::NotFound { .. },
        "deleting it twice"
    );
    assert_eq!(comment_count(s, p).await, 3);
    assert_err!(
        s.love(LoveTarget::Comment(c1), bob, Timestamp::now(), &ev())
            .await,
        Error::NotFound { .. }
    );

    s.delete_comment(r1, Timestamp::now()).await.unwrap();
    assert_eq!(reply_count(s, c1).await, 1);
    assert_eq!(paged(s, p, Some(c1), 10).await, [r2]);
    assert_eq!(comment_count(s, p).await, 2, "c3 and r2");
    assert_err!(
        s.delete_comment(CommentId(g.next()), Timestamp::now())
            .await,
        Error::NotFound { .. }
    );
}

async fn concurrent_comments_and_deletes_keep_counts_exact(s: &SqlStore) {
    // Replies, new threads and deletes at once: on PostgreSQL, rows locked
    // in different orders would deadlock here.
    let g = Arc::new(ids());
    let amy = user(s, &g, "amy").await;
    let p = post(s, &g, amy).await;
    let root = add_comment(s, &g, p, None, amy).await;
    let mut old = Vec::new();
    for _ in 0..6 {
        old.push(add_comment(s, &g, p, Some(root), amy).await);
    }
    let mut tasks = Vec::new();
    for i in 0..18 {
        let (s, g) = (s.clone(), g.clone());
        let victim = old[i % 6];
        tasks.push(tokio::spawn(async move {
            match i / 6 {
                0 => s
                    .create_comment(new_comment(&g, p, None, amy, "top"))
                    .await
                    .map(drop),
                1 => s
                    .create_comment(new_comment(&g, p, Some(root), amy, "reply"))
                    .await
                    .map(drop),
                _ => s.delete_comment(victim, Timestamp::now()).await,
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(paged(s, p, None, 100).await.len(), 7);
    assert_eq!(paged(s, p, Some(root), 100).await.len(), 6);
    assert_eq!(reply_count(s, root).await, 6, "6 - 6 + 6");
    assert_eq!(comment_count(s, p).await, 13, "1 + 6 + 6 + 6 - 6");
}
