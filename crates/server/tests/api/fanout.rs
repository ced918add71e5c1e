//! The fan-out port's contract, one suite for every implementation: the
//! Socket.IO one (the server's own, observed through real Socket.IO clients,
//! on the embedded and the scaled-out backends) and the in-memory one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use starling_adapters::fanout_memory::{MemoryConnection, MemoryFanout};
use starling_core::live::{ChatEvent, Fanout};
use starling_core::{RoomId, UserId};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestUser};
use crate::sio::{Sio, SioClient};

backend_tests!(socket_fanout_keeps_the_contract);

/// How long to wait for something that must not arrive.
const QUIET: Duration = Duration::from_millis(400);

/// What the suite needs of an implementation: three users, a room the
/// first two are in, connections, and a way to see what they received.
trait Harness {
    type Conn;
    fn fanout(&self) -> Arc<dyn Fanout>;
    /// `(a, b, c, room)`: a and b are in `room`, c is not.
    fn people(&self) -> (UserId, UserId, UserId, RoomId);
    /// A new connection of person 0, 1 or 2.
    async fn connect(&mut self, who: usize) -> Self::Conn;
    async fn join(&mut self, conn: &Self::Conn, room: RoomId);
    /// `event` about `room` arrives on `conn`.
    async fn expect(&mut self, conn: &Self::Conn, event: &str, room: RoomId);
    /// Nothing named `event` arrives on `conn` for a while.
    async fn expect_none(&mut self, conn: &Self::Conn, event: &str, room: RoomId);
}

async fn contract<H: Harness>(h: &mut H) {
    let fanout = h.fanout();
    let (a, b, _c, room) = h.people();
    let a_home = h.connect(0).await;
    let a_room = h.connect(0).await;
    let b_room = h.connect(1).await;
    let c_conn = h.connect(2).await;
    h.join(&a_room, room).await;
    h.join(&b_room, room).await;
    let retracted = ChatEvent::MessagesRetracted {
        room,
        message_ids: Vec::new(),
    };
    let typing = ChatEvent::Typing {
        room,
        user: a,
        typing: true,
    };

    // To users: every connection of each, whatever rooms it opened.
    fanout.to_users(&[a], &retracted).await;
    h.expect(&a_home, "message-retracted", room).await;
    h.expect(&a_room, "message-retracted", room).await;
    h.expect_none(&b_room, "message-retracted", room).await;
    h.expect_none(&c_conn, "message-retracted", room).await;

    // To a room: the connections that opened it, and no others.
    fanout.to_room(room, &typing, None).await;
    h.expect(&a_room, "typing", room).await;
    h.expect(&b_room, "typing", room).await;
    h.expect_none(&a_home, "typing", room).await;
    h.expect_none(&c_conn, "typing", room).await;

    // Except one user: none of theirs.
    fanout.to_room(room, &typing, Some(a)).await;
    h.expect(&b_room, "typing", room).await;
    h.expect_none(&a_room, "typing", room).await;

    // Leaving: the user's connections stop hearing the room at once.
    fanout.leave(&[b], room).await;
    fanout.to_room(room, &typing, None).await;
    h.expect(&a_room, "typing", room).await;
    h.expect_none(&b_room, "typing", room).await;
    // ... but still hear what is sent to them.
    fanout.to_users(&[b], &retracted).await;
    h.expect(&b_room, "message-retracted", room).await;

    // Nobody to send to is not an error.
    fanout.to_users(&[], &retracted).await;
    fanout.leave(&[], room).await;
}

// ---- the Socket.IO fan-out of a running server ----

struct Sockets {
    app: TestApp,
    sio: Arc<Sio>,
    users: [TestUser; 3],
    room: RoomId,
    opened: usize,
}

impl Harness for Sockets {
    type Conn = SioClient;

    fn fanout(&self) -> Arc<dyn Fanout> {
        self.app.fanout()
    }

    fn people(&self) -> (UserId, UserId, UserId, RoomId) {
        let id = |u: &TestUser| u.id.parse().unwrap();
        (
            id(&self.users[0]),
            id(&self.users[1]),
            id(&self.users[2]),
            self.room,
        )
    }

    async fn connect(&mut self, who: usize) -> SioClient {
        self.opened += 1;
        let name = format!("{}-{}", self.users[who].username, self.opened);
        self.sio.connect(&name, &self.users[who].access).await
    }

    async fn join(&mut self, conn: &SioClient, room: RoomId) {
        let ack = conn
            .call("join-room", json!({"roomId": room.to_string()}))
            .await;
        assert_eq!(ack["room"]["id"], room.to_string(), "{ack}");
    }

    async fn expect(&mut self, conn: &SioClient, event: &str, room: RoomId) {
        conn.expect(event, json!({"roomId": room.to_string()}))
            .await;
    }

    async fn expect_none(&mut self, conn: &SioClient, event: &str, room: RoomId) {
        conn.expect_none(event, json!({"roomId": room.to_string()}), QUIET)
            .await;
    }
}

async fn socket_fanout_keeps_the_contract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Some(sio) = Sio::start(&app.base).await else {
        return;
    };
    let users = [
        app.register("ann").await,
        app.register("bob").await,
        app.register("cid").await,
    ];
    let created = app
        .post(
            "/api/chat/rooms",
            Some(&users[0].access),
            json!({"name": "pair", "memberIds": [users[1].id]}),
        )
        .await
        .assert_status(201)
        .clone();
    let room = created["id"].as_str().unwrap().parse().unwrap();
    let mut h = Sockets {
        app,
        sio,
        users,
        room,
        opened: 0,
    };
    contract(&mut h).await;
    h.app.stop().await;
}

// ---- the in-memory fan-out ----

struct Memory {
    fanout: MemoryFanout,
    people: [UserId; 3],
    room: RoomId,
}

fn room_of(event: &ChatEvent) -> Option<RoomId> {
    match event {
        ChatEvent::MessagesRetracted { room, .. } | ChatEvent::Typing { room, .. } => Some(*room),
        ChatEvent::ReceiveMessage(m) | ChatEvent::NewMessage(m) => Some(m.record.room_id),
        ChatEvent::MessageRead(mark) => Some(mark.room_id),
        ChatEvent::RoomUpdated { room_id, .. } => Some(*room_id),
        ChatEvent::Presence(_) => None,
    }
}

impl Harness for Memory {
    type Conn = tokio::sync::Mutex<MemoryConnection>;

    fn fanout(&self) -> Arc<dyn Fanout> {
        Arc::new(self.fanout.clone())
    }

    fn people(&self) -> (UserId, UserId, UserId, RoomId) {
        (self.people[0], self.people[1], self.people[2], self.room)
    }

    async fn connect(&mut self, who: usize) -> Self::Conn {
        tokio::sync::Mutex::new(self.fanout.connect(self.people[who]))
    }

    async fn join(&mut self, conn: &Self::Conn, room: RoomId) {
        conn.lock().await.join(room);
    }

    async fn expect(&mut self, conn: &Self::Conn, event: &str, room: RoomId) {
        let mut conn = conn.lock().await;
        let got = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match conn.next().await {
                    Some(e) if e.name() == event && room_of(&e) == Some(room) => return true,
                    Some(_) => {}
                    None => return false,
                }
            }
        })
        .await;
        assert_eq!(got, Ok(true), "no {event} about {room}");
    }

    async fn expect_none(&mut self, conn: &Self::Conn, event: &str, room: RoomId) {
        tokio::time::sleep(QUIET / 4).await;
        let got = conn.lock().await.drain();
        assert!(
            !got.iter()
                .any(|e| e.name() == event && room_of(e) == Some(room)),
            "an unexpected {event}: {got:?}"
        );
    }
}

#[tokio::test]
async fn memory_fanout_keeps_the_contract() {
    let mut h = Memory {
        fanout: MemoryFanout::new(),
        people: [1, 2, 3].map(UserId::from_i64),
        room: RoomId::from_i64(10),
    };
    contract(&mut h).await;
}
