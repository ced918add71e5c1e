//! The group-commit writer: concurrent sends share one transaction, which is
//! what bounds chat throughput (on SQLite every write takes turns on one
//! connection).

use std::sync::{Arc, OnceLock};

use starling_core::messaging::Envelope;
use starling_core::model::MessageRecord;
use starling_core::ports::ChatStore;
use starling_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

use crate::outbox::Outbox;

/// Concurrent batch writers (on SQLite they take turns on its one writer).
const WRITERS: usize = 2;
/// Most messages in one transaction.
const BATCH_MAX: usize = 256;

struct PendingWrite {
    msg: MessageRecord,
    event: Envelope,
    reply: oneshot::Sender<Result<(MessageRecord, bool)>>,
}

pub(super) struct Writer {
    store: Arc<dyn ChatStore>,
    outbox: Arc<Outbox>,
    /// Started on first use (inside the runtime).
    queue: OnceLock<mpsc::Sender<PendingWrite>>,
}

impl Writer {
    pub(super) fn new(store: Arc<dyn ChatStore>, outbox: Arc<Outbox>) -> Self {
        Writer {
            store,
            outbox,
            queue: OnceLock::new(),
        }
    }

    /// Stores `msg` with its event; returns the stored message (the earlier
    /// one for a retried client id) and whether it is new.
    pub(super) async fn write(
        &self,
        msg: MessageRecord,
        event: Envelope,
    ) -> Result<(MessageRecord, bool)> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<PendingWrite>(4096);
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..WRITERS {
                tokio::spawn(run(rx.clone(), self.store.clone(), self.outbox.clone()));
            }
            tx
        });
        let (reply, answer) = oneshot::channel();
        queue
            .send(PendingWrite { msg, event, reply })
            .await
            .map_err(|_| Error::internal("the chat writer stopped"))?;
        answer
            .await
            .map_err(|_| Error::internal("the chat writer dropped a message"))?
    }
}

/// Takes whatever sends are waiting (up to [`BATCH_MAX`]) and stores them in
/// one transaction. If the batch fails, each is retried alone, so one bad
/// message (its room just deleted) fails only its own sender.
async fn run(
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<PendingWrite>>>,
    store: Arc<dyn ChatStore>,
    outbox: Arc<Outbox>,
) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            batch
        };
        let items: Vec<(MessageRecord, Envelope)> = batch
            .iter()
            .map(|p| (p.msg.clone(), p.event.clone()))
            .collect();
        match store.send_messages(&items).await {
            Ok(results) => {
                if results.iter().any(|(_, created)| *created) {
                    outbox.committed();
                }
                for (p, r) in batch.into_iter().zip(results) {
                    let _ = p.reply.send(Ok(r));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(p) = batch.into_iter().next() {
                    let _ = p.reply.send(Err(e));
                }
            }
            Err(_) => {
                for (p, item) in batch.into_iter().zip(items) {
                    let r = store
                        .send_messages(std::slice::from_ref(&item))
                        .await
                        .and_then(|mut v| v.pop().ok_or_else(|| Error::internal("no result")));
                    if matches!(r, Ok((_, true))) {
                        outbox.committed();
                    }
                    let _ = p.reply.send(r);
                }
            }
        }
    }
}
