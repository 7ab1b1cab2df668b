//! Session actors: own live login sessions and their refresh-token families.
//!
//! State: an in-memory copy of the sessions of the users this shard owns (sharded by user
//! id), each kept `[cache] session_ttl_s` before it is read from Redis again, plus
//! tombstones of sessions ended recently so a late Redis read cannot resurrect one, and an
//! epoch that `EvictAll` advances so reads started before it are not cached.
//! While the session bus is not listening (`bus_live` false) logouts of other instances
//! cannot reach this one, so the in-memory copies are not trusted: every check reads Redis.
//! Only when Redis itself cannot be asked is a session this shard has seen honoured from
//! memory (nobody can log out meanwhile: logout needs Redis too).
//! The truth is in Redis (`session:{sid}` hash: `data` JSON, `gen` refresh generation, TTL =
//! refresh lifetime), so every instance sees every session.
//! Senders: the HTTP workers' session fronts (`Authenticate`, for the checks their copies
//! cannot answer), the auth endpoints (`OpenSession`, `Refresh`, `CloseSession`) and the
//! session bus (`Evict`, `EvictAll`), which relays logouts announced by any instance over
//! Redis pub/sub. Every session a shard forgets, it tells the fronts (`session_front`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::session_front::SessionFront;
use crate::actors::front::FrontSet;
use crate::actors::shard::{Lifeline, Panic};
use crate::domain::identity::token::{AccessClaims, IssuedTokens, RefreshClaims, TokenKeys};
use crate::domain::identity::{CustomerId, LineNumber, Permissions, Principal, UserId, UserName};
use crate::infra::identity::sessions::{self, Rotation};
use crate::infra::redis::RedisStore;
use crate::infra::StoreError;

/// What a session remembers about its user (stored as JSON in Redis).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: String,
    pub customer_id: String,
    pub user_name: String,
    pub line_number: String,
    pub permissions: Vec<String>,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No such live session: logged out, revoked or expired.
    #[error("session ended")]
    Ended,
    /// A refresh token that was already used: the whole family is now revoked.
    #[error("refresh token reused; session revoked")]
    Reused,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("token signing failed")]
    Signing,
}

#[derive(Message)]
#[rtype(result = "Result<IssuedTokens, SessionError>")]
pub struct OpenSession(pub SessionRecord);

#[derive(Message)]
#[rtype(result = "Result<Authenticated, SessionError>")]
pub struct Authenticate(pub AccessClaims);

/// A session check's answer, and until when the session's facts may be trusted without
/// asking again (`None`: not at all, e.g. read while the session bus was not listening).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    pub trusted_until: Option<Instant>,
}

/// Rotates the refresh token of `claims`; `permissions` are the account's now: a session
/// created with others ends instead (the user logs in again and gets the new ones).
#[derive(Message)]
#[rtype(result = "Result<IssuedTokens, SessionError>")]
pub struct Refresh {
    pub claims: RefreshClaims,
    pub permissions: Vec<String>,
}

#[derive(Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct CloseSession {
    pub user_id: String,
    pub sid: Uuid,
}

/// Ends every live session of a user, on every instance (the account was suspended or its
/// permissions changed). Answers how many there were.
#[derive(Message)]
#[rtype(result = "Result<usize, SessionError>")]
pub struct EndUserSessions(pub String);

/// Another instance (or this one) ended session `sid`: forget it.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Evict(pub Uuid);

/// The session bus (re)subscribed and may have missed announcements: re-check every
/// remembered session with Redis before trusting it again.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct EvictAll;

struct Remembered {
    record: Arc<SessionRecord>,
    loaded_at: Instant,
    /// Must be read from Redis again before it is trusted (announcements may have been
    /// missed); still the fallback while Redis cannot be asked.
    stale: bool,
}

pub struct SessionActor {
    redis: RedisStore,
    tokens: Arc<TokenKeys>,
    memory_ttl: Duration,
    /// A session's absolute lifetime from its login (refreshes do not extend it).
    lifetime: Duration,
    bus_live: Arc<AtomicBool>,
    sessions: HashMap<Uuid, Remembered>,
    tombstones: HashMap<Uuid, Instant>,
    epoch: u64,
    /// The HTTP workers' session fronts, told of every session this shard forgets.
    fronts: Arc<FrontSet<SessionFront>>,
    _lifeline: Lifeline,
}

impl SessionActor {
    pub fn new(
        redis: RedisStore,
        tokens: Arc<TokenKeys>,
        memory_ttl: Duration,
        lifetime: Duration,
        bus_live: Arc<AtomicBool>,
        fronts: Arc<FrontSet<SessionFront>>,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            redis,
            tokens,
            memory_ttl,
            lifetime,
            bus_live,
            sessions: HashMap::new(),
            tombstones: HashMap::new(),
            epoch: 0,
            fronts,
            _lifeline: lifeline,
        }
    }

    /// Forgets `sid` here and on every worker's front (before whoever ended it is answered).
    fn forget(&mut self, sid: Uuid) {
        self.sessions.remove(&sid);
        self.tombstones.insert(sid, Instant::now());
        self.fronts.notify_all(Evict(sid));
    }

    fn sweep(&mut self) {
        // Copies are kept as long as an access token lives, as the fallback for Redis
        // outages; they are trusted without asking Redis only for `memory_ttl`.
        let keep = self
            .memory_ttl
            .max(Duration::from_secs(self.tokens.access_ttl_s()));
        self.sessions.retain(|_, c| c.loaded_at.elapsed() < keep);
        self.tombstones.retain(|_, at| at.elapsed() < keep);
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = (self.memory_ttl / 4).max(Duration::from_secs(1));
        ctx.run_interval(every, |act, _| act.sweep());
    }
}

impl Supervised for SessionActor {}

/// Payload announced on the session channel: `user_id` TAB `sid`.
fn principal_of(record: &SessionRecord, claims: &AccessClaims) -> Option<Principal> {
    Some(Principal {
        user_id: UserId::parse(&record.user_id).ok()?,
        customer_id: CustomerId::parse(&record.customer_id).ok()?,
        user_name: UserName::parse(&record.user_name).ok()?,
        line_number: LineNumber::parse(&record.line_number).ok()?,
        permissions: Permissions::from_names(&record.permissions),
        session_id: claims.sid,
        expires_at: claims.expires_at(),
    })
}

impl Handler<OpenSession> for SessionActor {
    type Result = ResponseActFuture<Self, Result<IssuedTokens, SessionError>>;

    fn handle(&mut self, msg: OpenSession, _: &mut Context<Self>) -> Self::Result {
        let record = msg.0;
        let sid = Uuid::new_v4();
        let redis = self.redis.clone();
        let tokens = self.tokens.clone();
        let lifetime = self.lifetime.as_secs().max(1);
        let ttl = tokens.refresh_ttl_s().min(lifetime);
        let fut = async move {
            let data = serde_json::to_string(&record).map_err(|_| SessionError::Signing)?;
            sessions::open(
                &redis,
                sid,
                &record.user_id,
                &data,
                ttl,
                lifetime,
                record.created_at.max(0) as u64 + lifetime,
            )
            .await?;
            let issued = tokens
                .issue(&record.user_id, sid, 0, Utc::now())
                .map_err(|_| SessionError::Signing)?;
            Ok::<_, SessionError>((issued, record))
        };
        Box::pin(fut.into_actor(self).map(move |result, act, _| {
            let (issued, record) = result?;
            act.sessions.insert(
                sid,
                Remembered {
                    record: Arc::new(record),
                    loaded_at: Instant::now(),
                    stale: false,
                },
            );
            Ok(issued)
        }))
    }
}

impl Handler<Authenticate> for SessionActor {
    type Result = ResponseActFuture<Self, Result<Authenticated, SessionError>>;

    fn handle(&mut self, msg: Authenticate, _: &mut Context<Self>) -> Self::Result {
        let claims = msg.0;
        let sid = claims.sid;
        if self.tombstones.contains_key(&sid) {
            return Box::pin(fut::ready(Err(SessionError::Ended)));
        }
        let trusted = self.bus_live.load(Ordering::Acquire);
        if let Some(cached) = self.sessions.get(&sid).filter(|c| trusted && !c.stale) {
            if cached.loaded_at.elapsed() < self.memory_ttl {
                let answer = if cached.record.user_id == claims.sub {
                    principal_of(&cached.record, &claims)
                        .map(|principal| Authenticated {
                            principal,
                            trusted_until: Some(cached.loaded_at + self.memory_ttl),
                        })
                        .ok_or(SessionError::Ended)
                } else {
                    Err(SessionError::Ended)
                };
                return Box::pin(fut::ready(answer));
            }
        }
        let redis = self.redis.clone();
        let epoch = self.epoch;
        let memory_ttl = self.memory_ttl;
        // A copy marked stale may have missed a logout (announced while the bus was down):
        // it is not honoured even when Redis cannot be asked.
        let fallback = self
            .sessions
            .get(&sid)
            .filter(|c| !c.stale)
            .map(|c| c.record.clone());
        let load = async move {
            let data = sessions::load(&redis, sid).await?;
            match data {
                Some(json) => {
                    serde_json::from_str::<SessionRecord>(&json).map_err(|_| SessionError::Ended)
                }
                None => Err(SessionError::Ended),
            }
        };
        Box::pin(load.into_actor(self).map(move |loaded, act, _| {
            let record = match (loaded, fallback) {
                (Ok(r), _) => Arc::new(r),
                (Err(SessionError::Store(e)), Some(seen)) if !act.tombstones.contains_key(&sid) => {
                    tracing::debug!(error = %e, "Redis unavailable; honouring a session seen before");
                    return principal_of(&seen, &claims)
                        .map(|principal| Authenticated {
                            principal,
                            trusted_until: None,
                        })
                        .ok_or(SessionError::Ended);
                }
                (Err(e), _) => return Err(e),
            };
            // A logout that arrived while Redis was being read wins (session ids are never
            // reused, so any tombstone is final).
            if act.tombstones.contains_key(&sid) || record.user_id != claims.sub {
                return Err(SessionError::Ended);
            }
            // Only a read that started after the last EvictAll may be remembered (and
            // trusted by a front), and only while the bus is listening.
            let mut trusted_until = None;
            if act.epoch == epoch {
                let loaded_at = Instant::now();
                act.sessions.insert(
                    sid,
                    Remembered {
                        record: record.clone(),
                        loaded_at,
                        stale: false,
                    },
                );
                if act.bus_live.load(Ordering::Acquire) {
                    trusted_until = Some(loaded_at + memory_ttl);
                }
            }
            principal_of(&record, &claims)
                .map(|principal| Authenticated {
                    principal,
                    trusted_until,
                })
                .ok_or(SessionError::Ended)
        }))
    }
}

impl Handler<Refresh> for SessionActor {
    type Result = ResponseActFuture<Self, Result<IssuedTokens, SessionError>>;

    fn handle(&mut self, msg: Refresh, _: &mut Context<Self>) -> Self::Result {
        let claims = msg.claims;
        let permissions = msg.permissions.join(",");
        let redis = self.redis.clone();
        let tokens = self.tokens.clone();
        let sid = claims.sid;
        let rotate = async move {
            let ttl = tokens.refresh_ttl_s();
            let rotation = sessions::rotate(
                &redis,
                claims.sid,
                &claims.sub,
                claims.generation,
                ttl,
                &permissions,
            )
            .await?;
            match rotation {
                Rotation::Ended => Err(SessionError::Ended),
                Rotation::Reused => {
                    tracing::warn!(user = %claims.sub, "spent refresh token presented; session revoked");
                    Err(SessionError::Reused)
                }
                Rotation::Rotated(n) => tokens
                    .issue(&claims.sub, claims.sid, n, Utc::now())
                    .map_err(|_| SessionError::Signing),
            }
        };
        Box::pin(rotate.into_actor(self).map(move |result, act, _| {
            // The revocation is announced on the bus too, but this instance must not wait
            // for its own announcement: the family's access tokens end now.
            if matches!(result, Err(SessionError::Reused | SessionError::Ended)) {
                act.forget(sid);
            }
            result
        }))
    }
}

impl Handler<CloseSession> for SessionActor {
    type Result = ResponseFuture<Result<(), SessionError>>;

    fn handle(&mut self, msg: CloseSession, _: &mut Context<Self>) -> Self::Result {
        self.forget(msg.sid);
        let redis = self.redis.clone();
        Box::pin(async move {
            sessions::close(&redis, msg.sid, &msg.user_id).await?;
            Ok(())
        })
    }
}

impl Handler<EndUserSessions> for SessionActor {
    type Result = ResponseActFuture<Self, Result<usize, SessionError>>;

    fn handle(&mut self, msg: EndUserSessions, _: &mut Context<Self>) -> Self::Result {
        let redis = self.redis.clone();
        let user = msg.0;
        let end = async move { Ok::<_, SessionError>(sessions::end_user(&redis, &user).await?) };
        Box::pin(end.into_actor(self).map(|ended, act, _| {
            let sids = ended?;
            for sid in &sids {
                act.forget(*sid);
            }
            Ok(sids.len())
        }))
    }
}

impl Handler<Evict> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: Evict, _: &mut Context<Self>) {
        self.forget(msg.0);
    }
}

impl Handler<EvictAll> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: EvictAll, _: &mut Context<Self>) {
        for cached in self.sessions.values_mut() {
            cached.stale = true;
        }
        self.epoch += 1;
        self.fronts.notify_all(EvictAll);
    }
}

impl Handler<Panic> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: session actor panics on request");
    }
}
