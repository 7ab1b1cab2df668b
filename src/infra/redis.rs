//! Redis: a bb8 pool of multiplexed connections, the key layout, and tight time-outs so a
//! slow or absent Redis is reported as unavailable instead of holding requests.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use bb8_redis::RedisConnectionManager;
use secrecy::{ExposeSecret, SecretString};

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
pub struct RedisManager {
    inner: RedisConnectionManager,
    down: Unreachable,
}

/// When Redis last refused a new connection: until then (milliseconds on `clock`) requests
/// skip it. Set only by failed connects (not by a busy pool or a slow command), cleared by
/// the next successful one; shared by the manager and every clone of the store.
#[derive(Clone)]
struct Unreachable {
    until_ms: Arc<AtomicU64>,
    pause_ms: u64,
    clock: Instant,
}

impl Unreachable {
    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn now(&self) -> bool {
        self.now_ms() < self.until_ms.load(Ordering::Relaxed)
    }

    fn mark(&self) {
        self.until_ms
            .store(self.now_ms() + self.pause_ms, Ordering::Relaxed);
    }

    fn clear(&self) {
        self.until_ms.store(0, Ordering::Relaxed);
    }
}

impl bb8::ManageConnection for RedisManager {
    type Connection = RedisConnection;
    type Error = ::redis::RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        match self.inner.connect().await {
            Ok(conn) => {
                self.down.clear();
                Ok(RedisConnection {
                    conn,
                    broken: Arc::new(AtomicBool::new(false)),
                })
            }
            Err(e) => {
                self.down.mark();
                Err(e)
            }
        }
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.inner.is_valid(&mut conn.conn).await
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
    down: Unreachable,
}

impl RedisStore {
    /// Builds the pool without connecting. Must be called inside a tokio runtime.
    pub fn new(settings: &RedisSettings) -> Result<Self, StoreError> {
        let down = Unreachable {
            until_ms: Arc::new(AtomicU64::new(0)),
            pause_ms: settings.unavailable_pause_ms,
            clock: Instant::now(),
        };
        let manager = RedisManager {
            inner: RedisConnectionManager::new(settings.url.expose_secret())?,
            down: down.clone(),
        };
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
            down,
        })
    }

    /// Runs `f` like [`run`](Self::run), bounded by `timeout` instead of the configured one.
    pub async fn run_within<T, F, Fut>(&self, timeout: Duration, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, ::redis::RedisError>>,
    {
        // Redis refused a connection a moment ago: fail at once (callers fall back to memory
        // or answer 503) rather than each waiting for the time-outs; during an outage every
        // request would otherwise wait `acquire_timeout_ms` (measured: ~500 ms each).
        if self.down.now() {
            return Err(StoreError::RedisUnavailable(
                "refused a connection a moment ago; not tried again yet".into(),
            ));
        }
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

    /// A client's sliding window of `action`s (a sorted set of their times).
    pub fn rate(&self, action: &str, client: &str) -> String {
        format!("{}rate:{action}:{client}", self.prefix)
    }

    /// The ids of a user's live sessions (a set), so that all of them can be ended at once.
    pub fn user_sessions(&self, user_id: &str) -> String {
        format!("{}user-sessions:{user_id}", self.prefix)
    }
}

/// A subscription of its own connection (pub/sub needs one).
pub type PubSub = ::redis::aio::PubSub;

/// Subscribes to `channels` on a connection of its own (2 s to connect).
pub async fn subscribe(url: &SecretString, channels: &[&str]) -> anyhow::Result<PubSub> {
    let client = ::redis::Client::open(url.expose_secret())?;
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    for channel in channels {
        pubsub.subscribe(*channel).await?;
    }
    Ok(pubsub)
}

impl RedisStore {
    /// Whether Redis answers (`PING`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(
            |mut conn| async move { ::redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(|_| ())
    }

    /// Publishes `payload` on `channel`.
    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let (channel, payload) = (channel.to_string(), payload.to_string());
        self.run(|mut conn| async move {
            ::redis::cmd("PUBLISH")
                .arg(channel)
                .arg(payload)
                .query_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(|_| ())
    }
}
