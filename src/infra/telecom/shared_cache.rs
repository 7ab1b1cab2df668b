//! The shared tier of the bill/product cache in Redis: `cache:{name}` JSON values with a
//! TTL, and the cache-events channel on which an invalidation reaches every instance's
//! memory tier. The cache actors own the memory tier; every Redis command of the cache is
//! here.

use std::time::Duration;

use crate::infra::redis::RedisStore;
use crate::infra::StoreError;

/// A value and its remaining time to live in milliseconds (Redis's `PTTL`), if present;
/// bounded by `timeout`.
pub async fn read(
    redis: &RedisStore,
    name: &str,
    timeout: Duration,
) -> Result<(Option<String>, i64), StoreError> {
    let key = redis.keys.cache(name);
    redis
        .run_within(timeout, |mut conn| async move {
            redis::pipe()
                .get(&key)
                .pttl(&key)
                .query_async::<(Option<String>, i64)>(&mut conn)
                .await
        })
        .await
}

/// Stores `json` under `name` for `keep` (at least a second); bounded by `timeout`.
pub async fn write(
    redis: &RedisStore,
    name: &str,
    json: String,
    keep: Duration,
    timeout: Duration,
) -> Result<(), StoreError> {
    let key = redis.keys.cache(name);
    let secs = keep.as_secs().max(1);
    redis
        .run_within(timeout, |mut conn| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(json)
                .arg("EX")
                .arg(secs)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
}

/// Deletes `name` and announces it, so every instance drops its memory copy.
pub async fn invalidate(redis: &RedisStore, name: &str) -> Result<(), StoreError> {
    let key = redis.keys.cache(name);
    let channel = redis.keys.cache_events();
    let name = name.to_string();
    redis
        .run(|mut conn| async move {
            redis::pipe()
                .del(&key)
                .ignore()
                .publish(&channel, &name)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await
}
