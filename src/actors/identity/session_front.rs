//! Session fronts: one per HTTP worker, on its thread (`actors::front`). A front answers the
//! session check of a request from the principal a session shard last gave it for that
//! session, for as long as the shard itself would have trusted its copy, and while the
//! session bus is listening; otherwise it asks the shard.
//!
//! State: the principals it was given, by session id, each with the instant it stops being
//! trusted and the session bus's turn it was asked in (a copy from before the bus last
//! stopped listening is not used); a generation advanced by every eviction, so an answer
//! asked for before an eviction is used once and not kept.
//! Senders: the HTTP auth extractor (`Check`); the session shards (`Evict`, `EvictAll`),
//! whenever they forget a session (a logout on any instance, a revoked refresh family, a
//! suspended account) and before they answer whoever ended it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use uuid::Uuid;

use super::session::{Authenticate, Evict, EvictAll, SessionActor, SessionError};
use crate::actors::shard::{ActorError, Lifeline, Panic, ShardSet};
use crate::domain::identity::token::AccessClaims;
use crate::domain::identity::Principal;

/// Who holds a verified access token: the session's principal, or why not.
#[derive(Message)]
#[rtype(result = "Result<Result<Principal, SessionError>, ActorError>")]
pub struct Check(pub AccessClaims);

/// Checks `claims` through this worker's front: the same answers as asking the shard.
pub async fn check(
    front: &ShardSet<SessionFront>,
    claims: AccessClaims,
) -> Result<Result<Principal, SessionError>, ActorError> {
    front.ask_shard(0, Check(claims)).await.and_then(|r| r)
}

struct Known {
    principal: Principal,
    trusted_until: Instant,
    /// The session bus's turn when the shard was asked.
    turn: u64,
}

pub struct SessionFront {
    sessions: Arc<ShardSet<SessionActor>>,
    bus_live: Arc<AtomicBool>,
    bus_turns: Arc<AtomicU64>,
    known: HashMap<Uuid, Known>,
    generation: u64,
    _lifeline: Lifeline,
}

impl SessionFront {
    pub fn new(
        sessions: Arc<ShardSet<SessionActor>>,
        bus_live: Arc<AtomicBool>,
        bus_turns: Arc<AtomicU64>,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            sessions,
            bus_live,
            bus_turns,
            known: HashMap::new(),
            generation: 0,
            _lifeline: lifeline,
        }
    }

    /// The principal of `claims` from a copy that may still be trusted.
    fn answer_from_copy(&self, claims: &AccessClaims) -> Option<Principal> {
        if !self.bus_live.load(Ordering::Acquire) {
            return None;
        }
        let known = self.known.get(&claims.sid)?;
        // A copy from before the bus last stopped listening may have missed a logout (its
        // `EvictAll` may still be queued behind this request).
        if known.turn != self.bus_turns.load(Ordering::Acquire)
            || known.trusted_until <= Instant::now()
            || known.principal.user_id.as_str() != claims.sub
        {
            return None;
        }
        Some(Principal {
            // The copy's session facts; this token's own expiry.
            expires_at: claims.expires_at(),
            ..known.principal.clone()
        })
    }
}

impl Actor for SessionFront {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(15), |act, _| {
            let now = Instant::now();
            act.known.retain(|_, k| k.trusted_until > now);
        });
    }
}

impl Supervised for SessionFront {}

impl Handler<Check> for SessionFront {
    type Result = ResponseActFuture<Self, Result<Result<Principal, SessionError>, ActorError>>;

    fn handle(&mut self, msg: Check, _: &mut Context<Self>) -> Self::Result {
        let claims = msg.0;
        if let Some(principal) = self.answer_from_copy(&claims) {
            return Box::pin(fut::ready(Ok(Ok(principal))));
        }
        let sessions = self.sessions.clone();
        let asked_at = self.generation;
        let turn = self.bus_turns.load(Ordering::Acquire);
        let sid = claims.sid;
        let ask = async move {
            let user = claims.sub.clone();
            sessions.ask(&user, Authenticate(claims)).await
        };
        Box::pin(ask.into_actor(self).map(move |answer, act, _| {
            let checked = match answer {
                Ok(Ok(checked)) => checked,
                Ok(Err(e)) => return Ok(Err(e)),
                Err(e) => return Err(e),
            };
            if let Some(until) = checked.trusted_until {
                if act.generation == asked_at {
                    act.known.insert(
                        sid,
                        Known {
                            principal: checked.principal.clone(),
                            trusted_until: until,
                            turn,
                        },
                    );
                }
            }
            Ok(Ok(checked.principal))
        }))
    }
}

impl Handler<Evict> for SessionFront {
    type Result = ();

    fn handle(&mut self, msg: Evict, _: &mut Context<Self>) {
        self.known.remove(&msg.0);
        self.generation += 1;
    }
}

impl Handler<EvictAll> for SessionFront {
    type Result = ();

    fn handle(&mut self, _: EvictAll, _: &mut Context<Self>) {
        self.known.clear();
        self.generation += 1;
    }
}

impl Handler<Panic> for SessionFront {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: session front panics on request");
    }
}
