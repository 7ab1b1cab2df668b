//! Per-client sliding-window rate limiting in Redis, shared by all instances: at most
//! `per_minute` actions in any 60 seconds (a fixed one-minute window would let twice that
//! through across a window boundary). Each client's window is a sorted set of its allowed
//! actions' times (at most `per_minute` members, expiring with the window); the check and
//! the insert are one script, on Redis's clock.
//! When Redis is unavailable the limiter lets requests through (and logs it): it protects
//! against abuse, it must not turn a Redis outage into a login outage.

use super::redis::RedisStore;

const WINDOW_MS: u64 = 60_000;

/// KEYS[1] the client's window; ARGV[1] window ms, ARGV[2] limit, ARGV[3] a unique suffix.
/// Answers `{1, 0}` when the action is allowed (and counted), `{0, ms}` when it is refused:
/// `ms` until the oldest counted action leaves the window. Refused actions are not counted.
const SLIDING_WINDOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, now .. '-' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
";

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
    let key = redis.keys.rate(action, client);
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let counted = redis
        .run(|mut conn| async move {
            let (allowed, wait_ms): (u8, i64) = ::redis::Script::new(SLIDING_WINDOW)
                .key(&key)
                .arg(WINDOW_MS)
                .arg(per_minute)
                .arg(unique)
                .invoke_async(&mut conn)
                .await?;
            Ok((allowed, wait_ms))
        })
        .await;
    match counted {
        Ok((1, _)) => Decision::Allowed,
        Ok((_, wait_ms)) => Decision::Limited {
            retry_after_s: (wait_ms.max(0) as u64).div_ceil(1000).max(1),
        },
        Err(e) => {
            tracing::warn!(error = %e, action, "rate limiter unavailable; allowing request");
            Decision::Allowed
        }
    }
}
