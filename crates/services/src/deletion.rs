//! Account deletion. `DELETE /api/profile` marks the account deleted in the
//! request (sessions end, login fails, the profile and everything it wrote
//! stop being served, the username and email are free again) and writes an
//! `account.deleted` event in the same transaction; [`AccountPurger`], a
//! consumer of that event, then removes what the account left a batch at a
//! time. Every batch is its own transaction and finds only what is left, so
//! a crash part-way is finished by the event's redelivery. The user row goes
//! last; what still references it goes with it (every user column is
//! `ON DELETE CASCADE`, chat messages' sender `ON DELETE SET NULL`).

use std::sync::Arc;

use async_trait::async_trait;
use starling_core::events::DomainEvent;
use starling_core::messaging::{Envelope, EventHandler};
use starling_core::model::{PurgeStep, Purged};
use starling_core::ports::{AccountDeletionStore, BlobStore, UserStore};
use starling_core::{Error, Result, Timestamp, UserId};

use crate::Accounts;
use crate::chat::Chat;
use crate::notifications::Notifications;
use crate::outbox::Outbox;
use crate::passwords;
use crate::posts::Posts;
use crate::timeline::Timelines;
use crate::users::Users;

/// Rows per purge batch (one transaction each).
const BATCH: u32 = 200;

/// The ports deletion uses.
#[derive(Clone)]
pub struct DeletionPorts {
    pub store: Arc<dyn AccountDeletionStore>,
    pub users: Arc<dyn UserStore>,
    pub blobs: Arc<dyn BlobStore>,
}

/// The services deletion works with: it ends sessions, and drops what they
/// cache about what it removed.
pub struct DeletionDeps {
    pub accounts: Arc<Accounts>,
    pub users: Arc<Users>,
    pub posts: Arc<Posts>,
    pub timelines: Arc<Timelines>,
    pub notifications: Arc<Notifications>,
    pub chat: Arc<Chat>,
    pub outbox: Arc<Outbox>,
}

pub struct Deletion {
    ports: DeletionPorts,
    deps: DeletionDeps,
    hashing: passwords::Hashing,
}

impl Deletion {
    pub fn new(ports: DeletionPorts, deps: DeletionDeps) -> Self {
        Deletion {
            ports,
            deps,
            hashing: passwords::Hashing::new(),
        }
    }

    /// Deletes `me`'s account once `password` is theirs: 403 `wrong_password`
    /// otherwise. Everything but the mark happens in the worker.
    pub async fn delete_account(&self, me: UserId, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(Error::field("password", "is required"));
        }
        let record = self.ports.users.user_by_id(me).await?;
        let stored = self
            .ports
            .users
            .credentials(&record.username)
            .await?
            .filter(|c| c.id == me)
            .map(|c| c.password_hash);
        if !passwords::verify(&self.hashing, password.to_owned(), stored).await? {
            return Err(Error::denied("wrong_password", "the password is not right"));
        }
        let event = self
            .deps
            .outbox
            .event(&DomainEvent::AccountDeleted { user: me })?;
        self.ports
            .store
            .mark_deleted(me, Timestamp::now(), &event)
            .await?;
        self.deps.outbox.committed();
        tracing::info!(user_id = %me, "account deleted; removal queued");
        self.deps.accounts.end_sessions_of(me, None).await?;
        self.forget_user(me).await;
        Ok(())
    }

    /// Removes everything a deleted account left, then the account. Does
    /// nothing for an account that is not marked deleted (or is gone).
    pub async fn purge(&self, user: UserId) -> Result<()> {
        let Some(account) = self.ports.store.deleted_account(user).await? else {
            return Ok(());
        };
        // Files first: a row goes only once its files are gone, so a crash
        // in between leaves the row to find them again.
        loop {
            let batch = self.ports.store.media_owned_by(user, None, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for m in &batch {
                self.ports.blobs.delete(&m.blob_key).await?;
                self.ports.blobs.delete(&m.preview_key).await?;
            }
            let ids: Vec<_> = batch.iter().map(|m| m.id).collect();
            self.ports.store.delete_media_rows(&ids).await?;
        }
        if let Some(key) = &account.avatar_key {
            self.ports.blobs.delete(key).await?;
        }
        loop {
            let rooms = self.ports.store.rooms_of_member(user, BATCH).await?;
            if rooms.is_empty() {
                break;
            }
            for room in rooms {
                self.deps.chat.leave_deleted(user, room).await?;
            }
        }
        self.ports.store.forget_direct_rooms(user).await?;
        for step in PurgeStep::ALL {
            loop {
                let purged = self.ports.store.purge_batch(user, step, BATCH).await?;
                if purged.rows == 0 {
                    break;
                }
                self.stale(&purged).await;
            }
        }
        let recipients = self.ports.store.remove_user(user).await?;
        self.stale(&Purged {
            recipients,
            ..Purged::default()
        })
        .await;
        self.forget_user(user).await;
        tracing::info!(user_id = %user, "deleted account removed");
        Ok(())
    }

    /// Finishes deletions whose event did not (a dead-lettered or lost
    /// event): accounts marked over `grace` ago and still there. Returns how
    /// many it removed.
    pub async fn sweep(&self, grace: std::time::Duration) -> Result<usize> {
        let before = Timestamp(Timestamp::now().millis() - grace.as_millis() as i64);
        let users = self.ports.store.unfinished_deletions(before, 100).await?;
        for user in &users {
            self.purge(*user).await?;
        }
        Ok(users.len())
    }

    /// Cached copies of what a batch changed.
    async fn stale(&self, purged: &Purged) {
        self.deps.users.invalidate(&purged.users).await;
        for post in &purged.posts {
            self.deps.posts.invalidate(*post).await;
        }
        for user in &purged.recipients {
            self.deps.notifications.uncount(*user).await;
        }
    }

    async fn forget_user(&self, user: UserId) {
        self.deps.users.invalidate(&[user]).await;
        self.deps.timelines.forget(user).await;
        self.deps.timelines.forget_user_posts(user).await;
    }
}

/// The `account.deleted` consumer: removes the account's rows and files.
pub struct AccountPurger(pub Arc<Deletion>);

impl AccountPurger {
    pub const GROUP: &'static str = "account-deletion";
    pub const PATTERNS: &'static [&'static str] = &["account.deleted"];
}

#[async_trait]
impl EventHandler for AccountPurger {
    async fn handle(&self, event: &Envelope) -> Result<()> {
        let DomainEvent::AccountDeleted { user } = DomainEvent::decode(event)? else {
            return Ok(());
        };
        self.0.purge(user).await
    }
}
