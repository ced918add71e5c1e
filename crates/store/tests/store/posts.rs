//! Posts: creation (idempotency key, media), edits with their history,
//! deletes and what goes with them, feeds paged by keyset, full-text search.

use std::sync::Arc;

use starling_core::model::{Feed, LoveTarget, MediaRecord, PostEdit, PostRecord};
use starling_core::ports::{
    CommentStore, FollowStore, LoveStore, MediaStore, PostStore, SearchStore,
};
use starling_core::{Error, IdGenerator, MediaId, PostId, Timestamp, UserId};
use starling_store::SqlStore;

use super::feeds::{feed_ids, ids_of};
use crate::{T, add_comment, ev, ids, new_comment, new_post, pending, post, user};

store_tests!(
    a_post_is_stored_with_its_first_version_mentions_and_tags,
    a_post_that_cannot_be_written_leaves_nothing,
    an_idempotency_key_turns_a_retry_into_the_first_post,
    concurrent_retries_with_one_key_make_one_post,
    uploads_attach_in_order_and_all_or_nothing,
    an_edit_keeps_the_history_and_replaces_mentions_and_tags,
    only_the_author_edits_or_deletes_and_only_live_posts,
    a_deleted_post_leaves_every_feed_and_takes_its_comments_and_loves,
);

async fn text_of(s: &SqlStore, id: PostId) -> String {
    s.posts_by_ids(&[id]).await.unwrap().remove(0).text
}

fn upload(g: &IdGenerator, owner: UserId) -> MediaRecord {
    MediaRecord {
        id: MediaId(g.next()),
        owner_id: owner,
        blob_key: "m/a.webp".into(),
        preview_key: "m/a.p.webp".into(),
        content_type: "image/webp".into(),
        size: 10,
        width: 1,
        height: 1,
        post_id: None,
        position: 0,
        created_at: Timestamp(T),
    }
}

async fn a_post_is_stored_with_its_first_version_mentions_and_tags(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let zed = user(s, &g, "zed").await;
    let bob = user(s, &g, "bob").await;
    let before = pending(s).await;
    let mut np = new_post(&g, amy, "hi @zed @bob #rust #db");
    np.mentions = vec![zed, bob, zed];
    np.tags = vec!["rust".into(), "db".into(), "rust".into()];
    np.created_at = Timestamp(T);
    let id = np.id;
    let (rec, created) = s.create_post(np).await.unwrap();
    assert!(created);
    let want = PostRecord {
        id,
        author_id: amy,
        text: "hi @zed @bob #rust #db".into(),
        love_count: 0,
        comment_count: 0,
        created_at: Timestamp(T),
        edited_at: None,
    };
    assert_eq!(rec, want);
    assert_eq!(pending(s).await, before + 1, "its event is written with it");
    let ghost = PostId(g.next());
    assert_eq!(s.posts_by_ids(&[id, ghost]).await.unwrap(), vec![want]);
    let history: Vec<_> = s
        .post_history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.text, v.created_at))
        .collect();
    assert_eq!(history, [(1, rec.text.clone(), Timestamp(T))]);
    let mentions: Vec<_> = s
        .mentions_of(&[id])
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.post_id, m.user_id, m.username))
        .collect();
    assert_eq!(
        mentions,
        [(id, bob, "bob".to_owned()), (id, zed, "zed".to_owned())],
        "each once, by username"
    );
    assert_eq!(
        s.tags_of(&[id]).await.unwrap(),
        [(id, "db".to_owned()), (id, "rust".to_owned())]
    );
    let other = post(s, &g, bob).await;
    let mut both = ids_of(&s.posts_by_ids(&[other, id]).await.unwrap());
    both.sort();
    assert_eq!(both, [id, other]);
    assert!(s.mentions_of(&[other]).await.unwrap().is_empty());
    assert!(s.tags_of(&[other]).await.unwrap().is_empty());
    assert!(s.posts_by_ids(&[]).await.unwrap().is_empty());
}

async fn a_post_that_cannot_be_written_leaves_nothing(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let before = pending(s).await;
    // A mention of someone who does not exist fails the post late, after
    // its row, its first version and a first mention were written.
    let mut np = new_post(&g, amy, "hi #x");
    np.idempotency_key = Some("once".into());
    np.tags = vec!["x".into()];
    np.mentions = vec![bob, UserId(g.next())];
    let (id, created_at) = (np.id, np.created_at);
    assert_err!(s.create_post(np).await, Error::NotFound { .. });
    assert!(s.posts_by_ids(&[id]).await.unwrap().is_empty());
    assert_err!(s.post_history(id).await, Error::NotFound { .. });
    assert!(
        s.feed(&Feed::Tag("x".into()), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.mentions_of(&[id]).await.unwrap().is_empty());
    assert_eq!(pending(s).await, before, "no event for a post not made");
    // Its id and its key are still free.
    let mut again = new_post(&g, amy, "hi #x");
    again.id = id;
    again.created_at = created_at;
    again.idempotency_key = Some("once".into());
    again.mentions = vec![bob];
    let (p, created) = s.create_post(again).await.unwrap();
    assert!(created);
    assert_eq!(p.id, id);
    assert_eq!(s.post_history(id).await.unwrap().len(), 1);
}

async fn an_idempotency_key_turns_a_retry_into_the_first_post(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let keyed = |author, text: &str, key: &str| {
        let mut np = new_post(&g, author, text);
        np.idempotency_key = Some(key.into());
        np
    };
    let (first, created) = s.create_post(keyed(amy, "first", "k-1")).await.unwrap();
    assert!(created);
    let before = pending(s).await;
    let mut retry = keyed(amy, "first, again", "k-1");
    retry.tags = vec!["t".into()];
    let retry_id = retry.id;
    let (again, created) = s.create_post(retry).await.unwrap();
    assert!(!created);
    assert_eq!(again, first, "the first post, as stored");
    assert_eq!(pending(s).await, before, "a retry writes no event");
    assert!(s.posts_by_ids(&[retry_id]).await.unwrap().is_empty());
    assert!(s.tags_of(&[first.id]).await.unwrap().is_empty());
    assert_eq!(s.post_history(first.id).await.unwrap().len(), 1);

    // The key is the author's own: Bob's same key is another post.
    let (bobs, created) = s.create_post(keyed(bob, "mine", "k-1")).await.unwrap();
    assert!(created);
    assert_ne!(bobs.id, first.id);
    // Another key, or none at all, is a new post each time.
    assert!(s.create_post(keyed(amy, "second", "k-2")).await.unwrap().1);
    assert!(s.create_post(new_post(&g, amy, "x")).await.unwrap().1);
    assert!(s.create_post(new_post(&g, amy, "x")).await.unwrap().1);
    assert_eq!(feed_ids(s, &Feed::Author(amy)).await.len(), 4);

    // Once the post is deleted, a late retry still makes nothing new.
    s.delete_post(first.id, amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    let (late, created) = s.create_post(keyed(amy, "first", "k-1")).await.unwrap();
    assert!(!created);
    assert_eq!(late.id, first.id);
    assert_eq!(feed_ids(s, &Feed::Author(amy)).await.len(), 3);
}

async fn concurrent_retries_with_one_key_make_one_post(s: &SqlStore) {
    let g = Arc::new(ids());
    let amy = user(s, &g, "amy").await;
    let before = pending(s).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (s, g) = (s.clone(), g.clone());
        tasks.push(tokio::spawn(async move {
            let mut np = new_post(&g, amy, &format!("try {i}"));
            np.idempotency_key = Some("same".into());
            s.create_post(np).await.unwrap()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let made: Vec<_> = results.iter().filter(|(_, created)| *created).collect();
    assert_eq!(made.len(), 1, "exactly one attempt makes the post");
    let id = made[0].0.id;
    assert!(results.iter().all(|(p, _)| p.id == id), "all get that post");
    assert_eq!(feed_ids(s, &Feed::Author(amy)).await, [id]);
    assert_eq!(pending(s).await, before + 1);
}

async fn uploads_attach_in_order_and_all_or_nothing(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let [m1, m2, m3, m4] = [(); 4].map(|()| upload(&g, amy));
    let theirs = upload(&g, bob);
    for m in [&m1, &m2, &m3, &m4, &theirs] {
        s.insert_media(m.clone()).await.unwrap();
    }
    let before = pending(s).await;
    let with = |media: Vec<MediaId>| {
        let mut np = new_post(&g, amy, "look");
        np.media_ids = media;
        np
    };
    assert_err!(
        s.create_post(with(vec![m1.id, theirs.id])).await,
        Error::Forbidden { .. }
    );
    assert_err!(
        s.create_post(with(vec![m1.id, MediaId(g.next())])).await,
        Error::NotFound { .. }
    );
    assert!(feed_ids(s, &Feed::Author(amy)).await.is_empty());
    assert_eq!(pending(s).await, before);

    // m1 was not kept by the failed attempts: it attaches now, after m2.
    let mut np = with(vec![m2.id, m1.id]);
    np.idempotency_key = Some("pics".into());
    let (p, _) = s.create_post(np).await.unwrap();
    let placed = |media: Vec<MediaRecord>| -> Vec<_> {
        media
            .into_iter()
            .map(|m| (m.id, m.post_id, m.position))
            .collect()
    };
    assert_eq!(
        placed(s.media_of(&[p.id]).await.unwrap()),
        [(m2.id, Some(p.id), 0), (m1.id, Some(p.id), 1)]
    );
    assert!(s.served_media(m1.id).await.unwrap().is_some());

    match s.create_post(with(vec![m3.id, m1.id])).await {
        Err(Error::Conflict { code, field, .. }) => {
            assert_eq!((code, field), ("media_already_attached", Some("mediaIds")))
        }
        other => panic!("expected a conflict, got {:?}", other.map(|_| ())),
    }
    assert!(
        s.served_media(m3.id).await.unwrap().is_none(),
        "m3 left alone"
    );

    // A retry of the post attaches nothing, not even uploads free to take.
    let mut retry = with(vec![m4.id]);
    retry.idempotency_key = Some("pics".into());
    assert!(!s.create_post(retry).await.unwrap().1);
    assert_eq!(s.media_of(&[p.id]).await.unwrap().len(), 2);
    assert!(s.served_media(m4.id).await.unwrap().is_none());
    let (q, _) = s.create_post(with(vec![m4.id, m3.id])).await.unwrap();
    assert_eq!(
        placed(s.media_of(&[q.id, p.id]).await.unwrap()).len(),
        4,
        "both posts' uploads"
    );
}

async fn an_edit_keeps_the_history_and_replaces_mentions_and_tags(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    let mut np = new_post(&g, amy, "v1 @bob #old");
    np.mentions = vec![bob];
    np.tags = vec!["old".into()];
    np.created_at = Timestamp(T);
    let (p, _) = s.create_post(np).await.unwrap();
    s.love(LoveTarget::Post(p.id), cat, Timestamp(T), &ev())
        .await
        .unwrap();
    add_comment(s, &g, p.id, None, bob).await;
    let edit = |text: &str, mentions: Vec<UserId>, tags: Vec<String>, at: i64| PostEdit {
        id: p.id,
        author_id: amy,
        text: text.into(),
        mentions,
        tags,
        at: Timestamp(at),
    };
    let edited = s
        .edit_post(edit("v2 @cat #new", vec![cat], vec!["new".into()], T + 1))
        .await
        .unwrap();
    let want = PostRecord {
        text: "v2 @cat #new".into(),
        love_count: 1,
        comment_count: 1,
        edited_at: Some(Timestamp(T + 1)),
        ..p.clone()
    };
    assert_eq!(edited, want, "new text, counts kept");
    assert_eq!(s.posts_by_ids(&[p.id]).await.unwrap(), vec![want]);
    let mentioned: Vec<_> = s.mentions_of(&[p.id]).await.unwrap();
    assert_eq!(
        mentioned.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        [cat]
    );
    assert_eq!(
        s.tags_of(&[p.id]).await.unwrap(),
        [(p.id, "new".to_owned())]
    );
    assert!(feed_ids(s, &Feed::Tag("old".into())).await.is_empty());
    assert_eq!(feed_ids(s, &Feed::Tag("new".into())).await, [p.id]);

    s.edit_post(edit("v3", vec![], vec![], T + 2))
        .await
        .unwrap();
    let history: Vec<_> = s
        .post_history(p.id)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.text, v.created_at.0))
        .collect();
    assert_eq!(
        history,
        [
            (1, "v1 @bob #old".to_owned(), T),
            (2, "v2 @cat #new".to_owned(), T + 1),
            (3, "v3".to_owned(), T + 2)
        ],
        "oldest first, the current text last"
    );
    assert!(s.mentions_of(&[p.id]).await.unwrap().is_empty());
    assert!(s.tags_of(&[p.id]).await.unwrap().is_empty());
}

async fn only_the_author_edits_or_deletes_and_only_live_posts(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let p = post(s, &g, amy).await;
    let ghost = PostId(g.next());
    let edit = |id, author_id| PostEdit {
        id,
        author_id,
        text: "changed".into(),
        mentions: vec![],
        tags: vec![],
        at: Timestamp::now(),
    };
    assert_err!(s.edit_post(edit(p, bob)).await, Error::Forbidden { .. });
    assert_eq!(text_of(s, p).await, "hello");
    assert_eq!(s.post_history(p).await.unwrap().len(), 1);
    assert_err!(
        s.delete_post(p, bob, Timestamp::now(), &ev()).await,
        Error::Forbidden { .. }
    );
    assert_eq!(s.posts_by_ids(&[p]).await.unwrap().len(), 1);
    assert_err!(s.edit_post(edit(ghost, amy)).await, Error::NotFound { .. });
    assert_err!(
        s.delete_post(ghost, amy, Timestamp::now(), &ev()).await,
        Error::NotFound { .. }
    );
    assert_err!(s.post_history(ghost).await, Error::NotFound { .. });

    let before = pending(s).await;
    s.delete_post(p, amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    assert_eq!(pending(s).await, before + 1, "the delete's event");
    assert_err!(
        s.delete_post(p, amy, Timestamp::now(), &ev()).await,
        Error::NotFound { .. }
    );
    assert_eq!(pending(s).await, before + 1, "no event for nothing done");
    assert_err!(s.edit_post(edit(p, amy)).await, Error::NotFound { .. });
    assert_err!(
        s.edit_post(edit(p, bob)).await,
        Error::NotFound { .. },
        "gone comes before whose"
    );
    assert_err!(s.post_history(p).await, Error::NotFound { .. });
    assert!(s.posts_by_ids(&[p]).await.unwrap().is_empty());
}

async fn a_deleted_post_leaves_every_feed_and_takes_its_comments_and_loves(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let cat = user(s, &g, "cat").await;
    s.follow(bob, amy, Timestamp::now(), &ev()).await.unwrap();
    let tagged = |text: &str| {
        let mut np = new_post(&g, amy, text);
        np.tags = vec!["gone".into()];
        np.mentions = vec![bob];
        np
    };
    let (keep, _) = s.create_post(tagged("staying words")).await.unwrap();
    let (p, _) = s.create_post(tagged("vanishing words")).await.unwrap();
    let c = add_comment(s, &g, p.id, None, bob).await;
    let r = add_comment(s, &g, p.id, Some(c), amy).await;
    s.love(LoveTarget::Post(p.id), bob, Timestamp::now(), &ev())
        .await
        .unwrap();
    s.love(LoveTarget::Comment(c), amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    let feeds = [
        Feed::Home(bob),
        Feed::Public,
        Feed::Author(amy),
        Feed::Tag("gone".into()),
    ];
    for f in &feeds {
        assert_eq!(feed_ids(s, f).await, [p.id, keep.id], "{f:?} before");
    }

    s.delete_post(p.id, amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    for f in &feeds {
        assert_eq!(feed_ids(s, f).await, [keep.id], "{f:?} after");
    }
    let words = ["words".to_owned()];
    assert_eq!(
        ids_of(&s.search_posts(&words, None, 10).await.unwrap()),
        [keep.id]
    );
    assert!(s.tags_of(&[p.id]).await.unwrap().is_empty());
    assert!(s.mentions_of(&[p.id]).await.unwrap().is_empty());
    // Its comments go with it.
    assert_err!(
        s.comments(p.id, None, None, 10).await,
        Error::NotFound { .. }
    );
    assert_err!(s.comment(c).await, Error::NotFound { .. });
    assert_err!(s.comment(r).await, Error::NotFound { .. });
    assert!(s.comments_by_ids(&[c, r]).await.unwrap().is_empty());
    let on_it = new_comment(&g, p.id, None, cat, "late");
    assert_err!(s.create_comment(on_it).await, Error::NotFound { .. });
    let under_c = new_comment(&g, p.id, Some(c), cat, "late");
    assert_err!(s.create_comment(under_c).await, Error::NotFound { .. });
    // And its loves, and its comments' loves.
    let post_t = LoveTarget::Post(p.id);
    let comment_t = LoveTarget::Comment(c);
    for (t, lover) in [(post_t, cat), (comment_t, cat)] {
        assert_err!(
            s.love(t, lover, Timestamp::now(), &ev()).await,
            Error::NotFound { .. }
        );
        assert_err!(s.lovers(t, None, 10).await, Error::NotFound { .. });
    }
    assert_err!(s.unlove(post_t, bob).await, Error::NotFound { .. });
    assert_err!(s.unlove(comment_t, amy).await, Error::NotFound { .. });
    let loved = s.loved_among(cat, &[p.id.get(), c.get()]).await.unwrap();
    assert!(loved.is_empty(), "no love stayed behind: {loved:?}");
    let kept = s.posts_by_ids(&[keep.id]).await.unwrap();
    assert_eq!((kept[0].love_count, kept[0].comment_count), (0, 0));
}
