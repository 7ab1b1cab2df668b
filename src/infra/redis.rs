//! Redis: a bb8 pool of multiplexed connections, the key layout, and tight time-outs so a
//! slow or absent Redis is reported as unavailable instead of holding requests.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use bb8_redis::RedisConnectionManager;
use secrecy::ExposeSecret;

use super::{ms, StoreError};
use crate::settings::RedisSettings;

/// A pooled Redis connection and whether a command on it failed at the I/O level.
pub struct RedisConnection {
    conn: MultiplexedConnection,
    broken: Arc<AtomicBool>,
}

/// bb8-redis's manager, plus what it lacks: it never reports a connection as broken, so a
/// pool would keep handing out dead connections after a Redis restart. Connections that
/// failed are marked and bb8 drops them when they come back.
pub struct RedisManager(RedisConnectionManager);

impl bb8::ManageConnection for RedisManager {
    type Connection = RedisConnection;
    type Error = ::redis::RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        Ok(RedisConnection {
            conn: self.0.connect().await?,
            broken: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.0.is_valid(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.broken.load(Ordering::Relaxed)
    }
}

pub type RedisPool = bb8::Pool<RedisManager>;

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
        let manager = RedisManager(RedisConnectionManager::new(settings.url.expose_secret())?);
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

    /// Runs `f` like [`run`](Self::run), bounded by `timeout` instead of the configured one.
    pub async fn run_within<T, F, Fut>(&self, timeout: Duration, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, ::redis::RedisError>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let pooled = tokio::time::timeout_at(deadline, self.pool.get())
            .await
            .map_err(|_| StoreError::RedisUnavailable("no connection in time".into()))??;
        // Multiplexed: `f` gets its own handle; the pooled one stays checked out until the
        // outcome is known, so a failed connection is marked broken before it goes back.
        match tokio::time::timeout_at(deadline, f(pooled.conn.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                {
                    pooled.broken.store(true, Ordering::Relaxed);
                }
                Err(e.into())
            }
            Err(_) => {
                pooled.broken.store(true, Ordering::Relaxed);
                Err(StoreError::RedisUnavailable("command timed out".into()))
            }
        }
    }

    /// Runs `f` with a connection, bounded by the command time-out.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, ::redis::RedisError>>,
    {
        self.run_within(self.command_timeout, f).await
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

    /// A cached KOS answer (`name` from `CacheKey::name`).
    pub fn cache(&self, name: &str) -> String {
        format!("{}cache:{name}", self.prefix)
    }

    /// Pub/sub channel on which cache invalidations are announced to every instance.
    pub fn cache_events(&self) -> String {
        format!("{}events:cache", self.prefix)
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
