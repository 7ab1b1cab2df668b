//! Cache fronts: one per HTTP worker, on its thread (`actors::front`). A front answers a
//! cache lookup from the answers a cache shard gave it, each kept until the shard's own
//! copy expires, and asks the shard for everything else (which coalesces misses, reads
//! Redis and KOS).
//!
//! State: the answers it was given, by key, bounded by `[actors.cache_front] entries`; a
//! generation advanced by every invalidation, so an answer asked for before one is used
//! once and not kept.
//! Senders: the bill and product handlers (`Fetch`); the cache shards (`Forget`,
//! `ForgetCustomers`) whenever they drop a key, before they answer whoever dropped it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::cache::{make_room, CacheActor, CacheKey, CacheStats, Entry, Forget, ForgetCustomers};
use super::cache::{Get, Lookup};
use super::kos_gateway::KosError;
use crate::actors::shard::{ActorError, Lifeline, Panic, ShardSet};

/// What `key` holds: from the front's copy, or from the shard.
#[derive(Message)]
#[rtype(result = "Result<Result<Lookup, KosError>, ActorError>")]
pub struct Fetch(pub CacheKey);

/// Looks `key` up through this worker's front: the same answers as asking the shard.
pub async fn fetch(
    front: &ShardSet<CacheFront>,
    key: CacheKey,
) -> Result<Result<Lookup, KosError>, ActorError> {
    front.ask_shard(0, Fetch(key)).await.and_then(|r| r)
}

pub struct CacheFront {
    cache: Arc<ShardSet<CacheActor>>,
    stats: Arc<CacheStats>,
    capacity: usize,
    memory: HashMap<CacheKey, Entry>,
    generation: u64,
    _lifeline: Lifeline,
}

impl CacheFront {
    pub fn new(
        cache: Arc<ShardSet<CacheActor>>,
        stats: Arc<CacheStats>,
        capacity: usize,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            cache,
            stats,
            capacity,
            memory: HashMap::new(),
            generation: 0,
            _lifeline: lifeline,
        }
    }
}

impl Actor for CacheFront {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(30), |act, _| {
            let now = Instant::now();
            act.memory.retain(|_, e| e.expires > now);
        });
    }
}

impl Supervised for CacheFront {}

impl Handler<Fetch> for CacheFront {
    type Result = ResponseActFuture<Self, Result<Result<Lookup, KosError>, ActorError>>;

    fn handle(&mut self, msg: Fetch, _: &mut Context<Self>) -> Self::Result {
        let key = msg.0;
        let now = Instant::now();
        if let Some(e) = self.memory.get(&key).filter(|e| e.expires > now) {
            self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Box::pin(fut::ready(Ok(Ok(e.hit()))));
        }
        let cache = self.cache.clone();
        let asked_at = self.generation;
        let ask_key = key.clone();
        let ask = async move { cache.ask(&ask_key.name(), Get(ask_key)).await };
        Box::pin(ask.into_actor(self).map(move |answer, act, _| {
            if let Ok(Ok(found)) = &answer {
                if let Some(expires) = found.fresh_until {
                    if act.generation == asked_at && expires > Instant::now() {
                        if !act.memory.contains_key(&key) {
                            make_room(&mut act.memory, act.capacity, Instant::now());
                        }
                        act.memory.insert(key, Entry::of(found, expires));
                    }
                }
            }
            answer
        }))
    }
}

impl Handler<Forget> for CacheFront {
    type Result = ();

    fn handle(&mut self, msg: Forget, _: &mut Context<Self>) {
        if let Some(key) = CacheKey::parse(&msg.0) {
            self.memory.remove(&key);
        }
        self.generation += 1;
    }
}

impl Handler<ForgetCustomers> for CacheFront {
    type Result = ();

    fn handle(&mut self, _: ForgetCustomers, _: &mut Context<Self>) {
        self.memory
            .retain(|k, _| !matches!(k, CacheKey::Customer(_)));
        self.generation += 1;
    }
}

impl Handler<Panic> for CacheFront {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: cache front panics on request");
    }
}
