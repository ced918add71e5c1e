//! The [`Fanout`] port in memory: connections are channels in this process.
//! Nodes without sockets use it with nobody connected (delivery goes
//! nowhere, as a Socket.IO server with no clients would); the services'
//! rule tests connect users to it and read what each received.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use starling_core::live::{ChatEvent, Fanout};
use starling_core::{RoomId, UserId};
use tokio::sync::mpsc;

#[derive(Default)]
struct Connections {
    next: u64,
    open: HashMap<u64, Open>,
}

struct Open {
    user: UserId,
    rooms: HashSet<RoomId>,
    tx: mpsc::UnboundedSender<ChatEvent>,
}

#[derive(Clone, Default)]
pub struct MemoryFanout {
    connections: Arc<Mutex<Connections>>,
}

/// One open connection: what it receives, in order. Closed when dropped.
pub struct MemoryConnection {
    id: u64,
    user: UserId,
    connections: Arc<Mutex<Connections>>,
    rx: mpsc::UnboundedReceiver<ChatEvent>,
}

impl MemoryFanout {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a connection for `user`.
    pub fn connect(&self, user: UserId) -> MemoryConnection {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = match self.connections.lock() {
            Ok(mut c) => {
                c.next += 1;
                let id = c.next;
                c.open.insert(
                    id,
                    Open {
                        user,
                        rooms: HashSet::new(),
                        tx,
                    },
                );
                id
            }
            Err(_) => 0,
        };
        MemoryConnection {
            id,
            user,
            connections: self.connections.clone(),
            rx,
        }
    }

    fn each(&self, mut f: impl FnMut(&mut Open)) {
        if let Ok(mut c) = self.connections.lock() {
            c.open.values_mut().for_each(&mut f);
        }
    }
}

impl MemoryConnection {
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Opens `room` on this connection (as `join-room` does on a socket).
    pub fn join(&self, room: RoomId) {
        if let Ok(mut c) = self.connections.lock()
            && let Some(open) = c.open.get_mut(&self.id)
        {
            open.rooms.insert(room);
        }
    }

    /// The next event, if one is waiting.
    pub fn try_next(&mut self) -> Option<ChatEvent> {
        self.rx.try_recv().ok()
    }

    /// Everything waiting.
    pub fn drain(&mut self) -> Vec<ChatEvent> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// The next event, waiting for it.
    pub async fn next(&mut self) -> Option<ChatEvent> {
        self.rx.recv().await
    }
}

impl Drop for MemoryConnection {
    fn drop(&mut self) {
        if let Ok(mut c) = self.connections.lock() {
            c.open.remove(&self.id);
        }
    }
}

#[async_trait]
impl Fanout for MemoryFanout {
    async fn to_users(&self, users: &[UserId], event: &ChatEvent) {
        self.each(|open| {
            if users.contains(&open.user) {
                let _ = open.tx.send(event.clone());
            }
        });
    }

    async fn to_room(&self, room: RoomId, event: &ChatEvent, except: Option<UserId>) {
        self.each(|open| {
            if open.rooms.contains(&room) && Some(open.user) != except {
                let _ = open.tx.send(event.clone());
            }
        });
    }

    async fn leave(&self, users: &[UserId], room: RoomId) {
        self.each(|open| {
            if users.contains(&open.user) {
                open.rooms.remove(&room);
            }
        });
    }
}
