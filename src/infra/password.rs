//! argon2id password hashing on blocking threads, with bounded concurrency and a bounded
//! queue: past `concurrency + queue` waiting logins, `Busy` is answered at once so a login
//! storm sheds load instead of starving the event loops.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::settings::AuthSettings;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

pub struct PasswordHasher {
    argon2: Argon2<'static>,
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    capacity: usize,
    concurrency: usize,
    /// Verified against when the user does not exist, so that path costs the same.
    dummy_hash: String,
}

impl PasswordHasher {
    /// Start-up only: computes the dummy hash once.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let argon2 = argon2id(settings)?;
        let concurrency = if settings.hash_concurrency == 0 {
            crate::settings::cores()
        } else {
            settings.hash_concurrency
        };
        let capacity = concurrency + settings.hash_queue;
        let dummy_hash = hash_with(&argon2, "phonebill-dummy-password")?;
        Ok(Self {
            argon2,
            admission: Arc::new(Semaphore::new(capacity)),
            workers: Arc::new(Semaphore::new(concurrency)),
            capacity,
            concurrency,
            dummy_hash,
        })
    }

    /// Hashes a new password (PHC string with its own salt and parameters).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let argon2 = self.argon2.clone();
        self.on_worker(move || {
            hash_with(&argon2, &password).map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    /// Checks `password` against `hash`; with no hash (unknown user) does the same work and
    /// answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        let argon2 = self.argon2.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matched = self
            .on_worker(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matched)
    }

    /// Logins waiting for or holding a hashing slot.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.admission.available_permits()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    async fn on_worker<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let admitted = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let slot = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Busy)?;
        // The permits live as long as the hashing itself, even if the caller goes away.
        tokio::task::spawn_blocking(move || {
            let _held = (admitted, slot);
            work()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

/// argon2id with the configured cost parameters.
pub fn argon2id(settings: &AuthSettings) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        None,
    )
    .map_err(|e| anyhow::anyhow!("auth.argon2_*: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC hash of `password` with a fresh salt.
pub fn hash_with(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}
