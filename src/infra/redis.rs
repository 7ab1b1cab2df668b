//! Redis: a bb8 pool of multiplexed connections, the key layout, and tight time-outs so a
//! slow or absent Redis is reported as unavailable instead of holding requests.

use std::future::Future;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use bb8_redis::RedisConnectionManager;
use secrecy::ExposeSecret;

use super::{ms, StoreError};
use crate::settings::RedisSettings;

pub type RedisPool = bb8::Pool<RedisConnectionManager>;

/// A pool plus the key prefix and command time-out every caller must use.
#[derive(Clone)]
pub struct RedisStore {
    pool: RedisPool,
    pub keys: Keys,
    command_timeout: Duration,
}

impl RedisStore {
    /// Builds the pool without connecting. Must be called inside a tokio runtime.
    pub fn new(settings: &RedisSettings) -> Result<Self, StoreError> {
        let manager = RedisConnectionManager::new(settings.url.expose_secret())?;
        let pool = bb8::Pool::builder()
            .max_size(settings.pool_max_size)
            .min_idle(None)
            .connection_timeout(ms(settings.acquire_timeout_ms))
            .test_on_check_out(false)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            keys: Keys::new(&settings.key_prefix),
            command_timeout: ms(settings.command_timeout_ms),
        })
    }

    /// Runs `f` with a connection, bounded by the command time-out. Connections are
    /// multiplexed, so `f` gets its own handle and the pool slot is released at once.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, ::redis::RedisError>>,
    {
        let work = async {
            let conn: MultiplexedConnection = self.pool.get().await?.clone();
            Ok::<T, StoreError>(f(conn).await?)
        };
        match tokio::time::timeout(self.command_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::RedisUnavailable("command timed out".into())),
        }
    }
}

/// Every key and channel phonebill uses, under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash of one live session: `data` (JSON) and `gen` (current refresh generation).
    pub fn session(&self, sid: &uuid::Uuid) -> String {
        format!("{}session:{sid}", self.prefix)
    }

    /// Pub/sub channel on which logouts and revocations are announced to every instance.
    pub fn session_events(&self) -> String {
        format!("{}events:session", self.prefix)
    }

    /// Fixed-window counter of `action` by `client` in window number `window`.
    pub fn rate(&self, action: &str, client: &str, window: u64) -> String {
        format!("{}rate:{action}:{client}:{window}", self.prefix)
    }
}
