//! argon2id password hashing on a fixed pool of `concurrency` dedicated threads, with a
//! bounded queue: past `concurrency + queue` waiting logins, `Busy` is answered at once so a
//! login storm sheds load instead of starving the event loops.
//!
//! Dedicated threads, not tokio's blocking pool: each hash takes `argon2_memory_kib` (19 MiB)
//! of working memory, and the allocator keeps what a thread freed for that thread; hashing
//! on whichever of hundreds of blocking threads was free grew the process to 600 MB after
//! 60 parallel logins. With a fixed pool it is bounded by `concurrency` × 19 MiB.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
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

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordHasher {
    argon2: Argon2<'static>,
    admission: Arc<Semaphore>,
    jobs: std::sync::mpsc::Sender<Job>,
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
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..concurrency {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || loop {
                    // The lock is held only to take the next job; the threads end when the
                    // hasher (the sending side) is dropped.
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job (e.g. no OS randomness) must not end the worker:
                        // its caller sees its reply channel dropped.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                })
                .map_err(|e| {
                    anyhow::anyhow!("auth.hash_concurrency: cannot start hashing threads: {e}")
                })?;
        }
        Ok(Self {
            argon2,
            admission: Arc::new(Semaphore::new(capacity)),
            jobs,
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
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matched = self
            .on_worker(move || verify_in_place(&password, &hash))
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
        let (reply, answer) = tokio::sync::oneshot::channel();
        // The admission permit lives as long as the hashing itself, even if the caller goes.
        let job: Job = Box::new(move || {
            let _held = admitted;
            let _ = reply.send(work());
        });
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("hashing threads stopped".into()))?;
        answer
            .await
            .map_err(|_| HashError::Failed("hashing thread ended without answer".into()))
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

thread_local! {
    /// Each hashing thread's argon2 working memory, reused by every verification on it.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Verifies `password` against a PHC string with the parameters stored in it, in the
/// calling thread's reusable working memory (no 19 MiB allocation per login).
pub fn verify_in_place(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let ctx = Argon2::new(algorithm, version, params);
    let computed = BLOCKS.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        ctx.hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut out,
            &mut memory[..blocks],
        )
    });
    // `Output` compares in constant time.
    computed.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// A PHC hash of `password` with a fresh salt.
pub fn hash_with(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}
