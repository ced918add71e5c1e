//! argon2id password hashing, off the async runtime (it is deliberately slow).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use starling_core::types::Password;
use starling_core::{Error, Result};
use tokio::sync::Semaphore;

/// Bounds how many hashes run at once: each takes 19 MiB and a core's worth of
/// time, so a burst of sign-ups or logins queues here instead of growing the
/// blocking thread pool (and memory) without bound.
pub struct Hashing(Semaphore);

impl Hashing {
    /// Two per core.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Hashing(Semaphore::new(cores * 2))
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.0
            .acquire()
            .await
            .map_err(|_| Error::internal("password hashing is shut down"))
    }
}

impl Default for Hashing {
    fn default() -> Self {
        Self::new()
    }
}

/// Hashes with argon2id and the crate's recommended cost (19 MiB, 2 passes).
pub async fn hash(hashing: &Hashing, password: Password) -> Result<String> {
    let _permit = hashing.permit().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

/// Verifies `password` against a stored hash. With `None` (no such user) it
/// still does the work of one verification, so both answers take as long.
pub async fn verify(hashing: &Hashing, password: String, stored: Option<String>) -> Result<bool> {
    let _permit = hashing.permit().await?;
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::internal(format!("stored hash unreadable: {e}")))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && stored != DUMMY_HASH)
    })
    .await
    .map_err(|e| Error::internal(format!("verifying task: {e}")))?
}

/// The argon2id hash of a random password nobody knows, with the default cost.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3RhcmxpbmdkdW1teXNhbHQ$1iI6mwxS5ZcxlxJlIcwq1aEOnOnjh1ZTw2D6ycQYqfQ";
