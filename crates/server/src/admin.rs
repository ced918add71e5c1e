//! `starling admin`: accounts and roles from the command line, for the
//! first admin of an instance and for recovery. Writes the database
//! directly, then drops the cached copy of the user so running nodes see the
//! change at once.

use std::sync::Arc;

use anyhow::Context;
use starling_core::events::DomainEvent;
use starling_core::model::{NewUser, Role, UserRecord};
use starling_core::moderation::ModerationStore;
use starling_core::ports::UserStore;
use starling_core::types::{Email, Password, Username};
use starling_core::{EventId, IdGenerator, Timestamp, UserId};
use starling_store::SqlStore;

use crate::config::Settings;
use crate::ports::{build_cache, open_store};

pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub role: String,
    pub password: String,
}

fn parse_role(role: &str) -> anyhow::Result<Role> {
    Role::parse(role.trim())
        .with_context(|| format!("unknown role '{role}': use user, moderator or admin"))
}

/// Drops the cached user record (the key the users service reads through).
async fn forget_cached(settings: &Settings, id: UserId) -> anyhow::Result<()> {
    let cache = build_cache(settings).await?;
    cache.adapter.delete(&format!("user:{id}")).await?;
    Ok(())
}

/// Creates an account with a role; its email address counts as verified.
pub async fn create_user(settings: &Settings, a: NewAccount) -> anyhow::Result<UserRecord> {
    let role = parse_role(&a.role)?;
    let username = Username::parse(&a.username).context("--username")?;
    let email = Email::parse(&a.email).context("--email")?;
    let password = Password::parse(&a.password).context("the password")?;
    let (store, _) = open_store(settings).await?;
    let result = async {
        let hash = starling_services::passwords::hash(
            &starling_services::passwords::Hashing::new(),
            password,
        )
        .await?;
        let ids = IdGenerator::new(settings.node_id)?;
        let id = UserId(ids.next());
        let event = DomainEvent::UserRegistered { user: id }.envelope(EventId(ids.next()))?;
        let store: Arc<SqlStore> = Arc::new(store.clone());
        store
            .create_user(NewUser {
                id,
                username,
                email,
                password_hash: hash,
                display_name: None,
                created_at: Timestamp::now(),
                event,
            })
            .await?;
        let record = if role == Role::User {
            store.user_by_id(id).await?
        } else {
            store.set_role(id, role).await?
        };
        anyhow::Ok(record)
    }
    .await;
    store.close().await;
    result
}

/// Sets the role of `user` (a username or an id).
pub async fn set_role(settings: &Settings, user: &str, role: &str) -> anyhow::Result<UserRecord> {
    let role = parse_role(role)?;
    let (store, _) = open_store(settings).await?;
    let result = async {
        let found = match user.parse::<UserId>() {
            Ok(id) => store.user_by_id(id).await,
            Err(_) => store.user_by_username(user.trim()).await,
        }
        .with_context(|| format!("no user '{user}'"))?;
        let record = store.set_role(found.id, role).await?;
        forget_cached(settings, found.id).await?;
        anyhow::Ok(record)
    }
    .await;
    store.close().await;
    result
}
