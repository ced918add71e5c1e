//! Feeds and post search: newest first, paged by keyset without gaps or
//! duplicates, each feed holding its own posts, deleted ones in none.

use starling_core::model::{Feed, NewPost, PostEdit, PostRecord};
use starling_core::ports::{FollowStore, PostStore, SearchStore};
use starling_core::{PostId, Timestamp};
use starling_store::SqlStore;

use crate::{T, ev, ids, new_post, post, user};

store_tests!(
    feeds_page_newest_first_without_gaps_or_duplicates,
    each_feed_holds_its_own_posts,
    feed_since_walks_forward_oldest_first,
    search_finds_live_posts_containing_every_word,
);

pub(crate) fn ids_of(posts: &[PostRecord]) -> Vec<PostId> {
    posts.iter().map(|p| p.id).collect()
}

pub(crate) async fn feed_ids(s: &SqlStore, feed: &Feed) -> Vec<PostId> {
    ids_of(&s.feed(feed, None, 100).await.unwrap())
}

/// Every id of `feed`, `limit` at a time, checking each page.
async fn paged(s: &SqlStore, feed: &Feed, limit: u32) -> Vec<PostId> {
    let (mut all, mut before) = (Vec::new(), None);
    loop {
        let page = ids_of(&s.feed(feed, before, limit).await.unwrap());
        assert!(page.len() <= limit as usize);
        assert!(page.windows(2).all(|w| w[0] > w[1]), "newest first");
        let Some(&last) = page.last() else {
            return all;
        };
        assert!(
            page.iter().all(|id| !all.contains(id)),
            "a page repeats an earlier one: {page:?}"
        );
        all.extend(page);
        before = Some(last);
    }
}

async fn feeds_page_newest_first_without_gaps_or_duplicates(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let mut made = Vec::new();
    for i in 0..23 {
        // All in the same millisecond: the id orders them, not the time.
        let mut np = new_post(&g, amy, &format!("post {i}"));
        np.created_at = Timestamp(T);
        made.push(s.create_post(np).await.unwrap().0.id);
    }
    let gone = made.remove(10);
    s.delete_post(gone, amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    let want: Vec<_> = made.iter().rev().copied().collect();
    for f in [Feed::Public, Feed::Author(amy), Feed::Home(amy)] {
        assert_eq!(paged(s, &f, 4).await, want, "{f:?}");
    }
    assert_eq!(paged(s, &Feed::Public, 1).await, want);
    // A cursor on a post deleted meanwhile still goes on from there.
    let after_gone = ids_of(&s.feed(&Feed::Public, Some(gone), 3).await.unwrap());
    assert_eq!(after_gone, [made[9], made[8], made[7]]);
    assert!(
        s.feed(&Feed::Public, Some(made[0]), 5)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn each_feed_holds_its_own_posts(s: &SqlStore) {
    let g = ids();
    let [amy, bob, cat, dan] = [
        user(s, &g, "amy").await,
        user(s, &g, "bob").await,
        user(s, &g, "cat").await,
        user(s, &g, "dan").await,
    ];
    s.follow(amy, bob, Timestamp::now(), &ev()).await.unwrap();
    s.follow(dan, bob, Timestamp::now(), &ev()).await.unwrap();
    let make = |author, tag: Option<&str>| {
        let mut np = new_post(&g, author, "text");
        np.tags = tag.into_iter().map(str::to_owned).collect();
        np
    };
    let add = async |np: NewPost| s.create_post(np).await.unwrap().0.id;
    let a1 = add(make(amy, Some("x"))).await;
    let b1 = add(make(bob, None)).await;
    let c1 = add(make(cat, Some("x"))).await;
    let b2 = add(make(bob, Some("y"))).await;
    let a2 = add(make(amy, None)).await;
    assert_eq!(feed_ids(s, &Feed::Home(amy)).await, [a2, b2, b1, a1]);
    assert_eq!(feed_ids(s, &Feed::Home(cat)).await, [c1]);
    assert_eq!(feed_ids(s, &Feed::Home(bob)).await, [b2, b1]);
    assert_eq!(feed_ids(s, &Feed::Public).await, [a2, b2, c1, b1, a1]);
    assert_eq!(feed_ids(s, &Feed::Author(bob)).await, [b2, b1]);
    assert_eq!(feed_ids(s, &Feed::Tag("x".into())).await, [c1, a1]);
    assert!(feed_ids(s, &Feed::Tag("z".into())).await.is_empty());
    let celebs = |viewer, min_followers| Feed::FollowedCelebrities {
        viewer,
        min_followers,
    };
    assert_eq!(feed_ids(s, &celebs(amy, 2)).await, [b2, b1]);
    assert!(feed_ids(s, &celebs(amy, 3)).await.is_empty());
    assert!(feed_ids(s, &celebs(cat, 0)).await.is_empty());
    s.unfollow(amy, bob).await.unwrap();
    assert_eq!(feed_ids(s, &Feed::Home(amy)).await, [a2, a1]);
    assert!(feed_ids(s, &celebs(amy, 1)).await.is_empty());
}

async fn feed_since_walks_forward_oldest_first(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let bob = user(s, &g, "bob").await;
    let (mut mine, mut all) = (Vec::new(), Vec::new());
    for i in 0..9 {
        let p = post(s, &g, amy).await;
        mine.push(p);
        all.push(p);
        if i % 4 == 0 {
            all.push(post(s, &g, bob).await);
        }
    }
    let amys = Feed::Author(amy);
    let since = async |f: &Feed, p: PostId, n: u32| ids_of(&s.feed_since(f, p, n).await.unwrap());
    assert_eq!(since(&amys, mine[2], 3).await, mine[3..6]);
    assert_eq!(since(&amys, mine[5], 3).await, mine[6..9]);
    assert!(since(&amys, mine[8], 3).await.is_empty());
    assert_eq!(since(&amys, PostId::from_i64(0), 2).await, mine[..2]);
    assert_eq!(since(&Feed::Public, all[0], 100).await, all[1..]);
    s.delete_post(mine[4], amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    assert_eq!(since(&amys, mine[2], 3).await, [mine[3], mine[5], mine[6]]);
}

async fn search_finds_live_posts_containing_every_word(s: &SqlStore) {
    let g = ids();
    let amy = user(s, &g, "amy").await;
    let add = async |text: &str| s.create_post(new_post(&g, amy, text)).await.unwrap().0.id;
    let p1 = add("Rust engines run fast").await;
    let p2 = add("rust is fun").await;
    let p3 = add("engines roar").await;
    let p4 = add("rust engines, deleted soon").await;
    let p5 = add("rust or bust").await;
    s.delete_post(p4, amy, Timestamp::now(), &ev())
        .await
        .unwrap();
    let find = async |words: &[&str], before: Option<PostId>, limit: u32| {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        ids_of(&s.search_posts(&words, before, limit).await.unwrap())
    };
    assert_eq!(find(&["rust", "engines"], None, 10).await, [p1]);
    assert_eq!(find(&["rust"], None, 10).await, [p5, p2, p1]);
    assert_eq!(find(&["rust"], None, 2).await, [p5, p2]);
    assert_eq!(find(&["rust"], Some(p2), 2).await, [p1]);
    // Query words are words, never search syntax.
    assert_eq!(find(&["or"], None, 10).await, [p5]);
    assert_eq!(find(&["rust", "or"], None, 10).await, [p5]);
    assert!(find(&["nothing"], None, 10).await.is_empty());
    assert!(find(&[], None, 10).await.is_empty());
    // An edit re-indexes the post: new words found, old ones not.
    s.edit_post(PostEdit {
        id: p3,
        author_id: amy,
        text: "rust engines hum".into(),
        mentions: vec![],
        tags: vec![],
        at: Timestamp::now(),
    })
    .await
    .unwrap();
    assert_eq!(find(&["rust", "engines"], None, 10).await, [p3, p1]);
    assert!(find(&["roar"], None, 10).await.is_empty());
}
