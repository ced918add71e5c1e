//! Presence: a user is online while they have a chat socket anywhere; the
//! people they share a room with hear when that starts and stops.

use std::future::ready;

use starling_core::UserId;
use starling_core::live::ChatEvent;

use crate::World;
use starling_adapters::fanout_memory::MemoryConnection;

/// The presence events `conn` received: (whose, online).
fn presence(conn: &mut MemoryConnection) -> Vec<(UserId, bool)> {
    conn.drain()
        .into_iter()
        .map(|e| match e {
            ChatEvent::Presence(s) => (s.user, s.online),
            other => panic!("expected presence, got {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn contacts_hear_the_first_socket_open_and_the_last_close() {
    let w = World::new().await;
    let (ann, bob, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("carol").await,
    );
    w.s.chat.direct(ann, bob).await.unwrap();
    let mut bob_conn = w.connect(bob);
    let mut carol_conn = w.connect(carol);

    assert!(w.s.chat.socket_opened(ann), "her first socket");
    w.s.chat.came_online(ann).await;
    assert_eq!(presence(&mut bob_conn), [(ann, true)]);
    assert!(
        carol_conn.drain().is_empty(),
        "Carol shares no room with Ann"
    );
    assert!(w.s.chat.presence(ann).await.unwrap().online);

    // A second socket is not news, and closing one of two is not either.
    assert!(!w.s.chat.socket_opened(ann));
    w.s.chat.socket_closed(ann, ready(false)).await;
    assert!(bob_conn.drain().is_empty());
    assert!(w.s.chat.presence(ann).await.unwrap().online);

    // The last one closes: offline, and seen just now.
    w.s.chat.socket_closed(ann, ready(false)).await;
    assert_eq!(presence(&mut bob_conn), [(ann, false)]);
    assert!(carol_conn.drain().is_empty());
    let status = w.s.chat.presence(ann).await.unwrap();
    assert!(!status.online);
    assert!(status.last_seen_at.is_some());
}

#[tokio::test]
async fn the_last_socket_here_closing_says_nothing_while_one_is_open_elsewhere() {
    let w = World::new().await;
    let (ann, bob) = (w.user("ann").await, w.user("bob").await);
    w.s.chat.direct(ann, bob).await.unwrap();
    let mut bob_conn = w.connect(bob);

    assert!(w.s.chat.socket_opened(ann));
    w.s.chat.came_online(ann).await;
    assert_eq!(presence(&mut bob_conn), [(ann, true)]);

    w.s.chat.socket_closed(ann, ready(true)).await;
    assert!(bob_conn.drain().is_empty());
    assert!(w.s.chat.presence(ann).await.unwrap().online);
}
