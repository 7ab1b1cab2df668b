//! Per-client fixed-window rate limiting in Redis, shared by all instances.
//! When Redis is unavailable the limiter lets requests through (and logs it): it protects
//! against abuse, it must not turn a Redis outage into a login outage.

use super::redis::RedisStore;

const WINDOW_S: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after_s: u64 },
}

/// Counts one `action` by `client`; `per_minute == 0` means unlimited.
pub async fn hit(redis: &RedisStore, action: &str, client: &str, per_minute: u32) -> Decision {
    if per_minute == 0 {
        return Decision::Allowed;
    }
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let window = now / WINDOW_S;
    let key = redis.keys.rate(action, client, window);
    let counted = redis
        .run(|mut conn| async move {
            let (count,): (u64,) = ::redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(0)
                .arg("EX")
                .arg(WINDOW_S * 2)
                .arg("NX")
                .ignore()
                .cmd("INCR")
                .arg(&key)
                .query_async(&mut conn)
                .await?;
            Ok(count)
        })
        .await;
    match counted {
        Ok(count) if count > u64::from(per_minute) => Decision::Limited {
            retry_after_s: WINDOW_S - now % WINDOW_S,
        },
        Ok(_) => Decision::Allowed,
        Err(e) => {
            tracing::warn!(error = %e, action, "rate limiter unavailable; allowing request");
            Decision::Allowed
        }
    }
}
