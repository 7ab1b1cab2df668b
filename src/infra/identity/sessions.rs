//! Sessions in Redis: `session:{sid}` hashes (`data` JSON, `gen` refresh generation,
//! `until` absolute end; TTL the refresh lifetime), a set of each user's sessions for ending
//! them all, and the session-events channel that announces every end to every instance.
//! The session actors own the in-memory side; every Redis command about sessions is here.

use redis::AsyncCommands as _;
use uuid::Uuid;

use crate::infra::redis::RedisStore;
use crate::infra::StoreError;

/// What the session-events channel carries for an ended session.
pub fn event_payload(user_id: &str, sid: Uuid) -> String {
    format!("{user_id}\t{sid}")
}

pub fn parse_event_payload(payload: &str) -> Option<(&str, Uuid)> {
    let (user, sid) = payload.split_once('\t')?;
    Some((user, sid.parse().ok()?))
}

/// Stores a new session (generation 0) and adds it to its user's set. `ttl_s`: until the
/// first refresh; `until`: the absolute end, seconds since the epoch.
pub async fn open(
    redis: &RedisStore,
    sid: Uuid,
    user_id: &str,
    data: &str,
    ttl_s: u64,
    lifetime_s: u64,
    until: u64,
) -> Result<(), StoreError> {
    let key = redis.keys.session(&sid);
    let index = redis.keys.user_sessions(user_id);
    let until = until.to_string();
    redis
        .run(|mut conn| async move {
            redis::pipe()
                .atomic()
                .hset_multiple(
                    &key,
                    &[("data", data), ("gen", "0"), ("until", until.as_str())],
                )
                .ignore()
                .expire(&key, ttl_s as i64)
                .ignore()
                // The user's sessions, for ending them all; kept as long as the longest of
                // them can live.
                .sadd(&index, sid.to_string())
                .ignore()
                .expire(&index, lifetime_s as i64)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await
}

/// A session's stored JSON, if it lives.
pub async fn load(redis: &RedisStore, sid: Uuid) -> Result<Option<String>, StoreError> {
    let key = redis.keys.session(&sid);
    redis
        .run(|mut conn| async move { conn.hget(&key, "data").await })
        .await
}

/// Rotates a refresh token atomically. Returns the new generation; -1 if the session is
/// gone or past its absolute lifetime (`until`, set at login; then it is deleted); -2 if
/// the presented generation was already spent, in which case the session (the whole token
/// family) is deleted and the revocation announced, in the same step. A refresh extends the
/// session by the refresh lifetime, never past `until`. ARGV[5] is the account's
/// permissions now, comma-joined: a session stored with others ends too (-1, announced).
const ROTATE_SCRIPT: &str = r"
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen then return -1 end
local now = tonumber(redis.call('TIME')[1])
local untilv = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local stale = false
local ok, old = pcall(cjson.decode, redis.call('HGET', KEYS[1], 'data') or '')
if ok and type(old) == 'table' and type(old['permissions']) == 'table' then
  stale = table.concat(old['permissions'], ',') ~= ARGV[5]
end
if stale or (untilv > 0 and now >= untilv) then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[4], ARGV[3])
  return -1
end
if tonumber(gen) ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[4], ARGV[3])
  return -2
end
local next = tonumber(ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'gen', next)
local expires = now + tonumber(ARGV[2])
if untilv > 0 and untilv < expires then expires = untilv end
redis.call('EXPIREAT', KEYS[1], expires)
return next
";

/// What a refresh did to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The next generation, now current.
    Rotated(u64),
    /// Gone, past its lifetime or stored with other permissions (ended and announced).
    Ended,
    /// The generation was spent already: the whole family ended and announced.
    Reused,
}

/// Rotates session `sid` of `user_id` from `generation` (atomic, on Redis's clock), extending
/// it by `ttl_s`; `permissions` are the account's now, comma-joined.
pub async fn rotate(
    redis: &RedisStore,
    sid: Uuid,
    user_id: &str,
    generation: u64,
    ttl_s: u64,
    permissions: &str,
) -> Result<Rotation, StoreError> {
    let key = redis.keys.session(&sid);
    let channel = redis.keys.session_events();
    let payload = event_payload(user_id, sid);
    let next: i64 = redis
        .run(|mut conn| async move {
            redis::Script::new(ROTATE_SCRIPT)
                .key(&key)
                .arg(generation)
                .arg(ttl_s)
                .arg(&payload)
                // The channel is an argument, not a key: on Redis Cluster a script's keys
                // must share a slot.
                .arg(&channel)
                .arg(permissions)
                .invoke_async(&mut conn)
                .await
        })
        .await?;
    Ok(match next {
        -1 => Rotation::Ended,
        -2 => Rotation::Reused,
        n => Rotation::Rotated(n.max(0) as u64),
    })
}

/// Ends session `sid` and announces it.
pub async fn close(redis: &RedisStore, sid: Uuid, user_id: &str) -> Result<(), StoreError> {
    let key = redis.keys.session(&sid);
    let channel = redis.keys.session_events();
    let payload = event_payload(user_id, sid);
    redis
        .run(|mut conn| async move {
            redis::pipe()
                .del(&key)
                .ignore()
                .publish(&channel, &payload)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await
}

/// Ends every session of `user` and announces each; the ones ended.
pub async fn end_user(redis: &RedisStore, user: &str) -> Result<Vec<Uuid>, StoreError> {
    let index = redis.keys.user_sessions(user);
    let channel = redis.keys.session_events();
    let sids: Vec<String> = redis
        .run(|mut conn| {
            let index = index.clone();
            async move { conn.smembers(&index).await }
        })
        .await?;
    let sids: Vec<Uuid> = sids.iter().filter_map(|s| s.parse().ok()).collect();
    let keys: Vec<String> = sids.iter().map(|sid| redis.keys.session(sid)).collect();
    let payloads: Vec<String> = sids.iter().map(|sid| event_payload(user, *sid)).collect();
    redis
        .run(|mut conn| async move {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for key in &keys {
                pipe.del(key).ignore();
            }
            pipe.del(&index).ignore();
            for payload in &payloads {
                pipe.publish(&channel, payload).ignore();
            }
            pipe.query_async::<()>(&mut conn).await
        })
        .await?;
    Ok(sids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_payload_round_trips() {
        let sid = Uuid::new_v4();
        let p = event_payload("user01", sid);
        assert_eq!(parse_event_payload(&p), Some(("user01", sid)));
        assert_eq!(parse_event_payload("garbage"), None);
    }
}
