//! Cache actors: two-tier cache-aside in front of KOS.
//!
//! State, per shard (sharded by key): the in-memory tier (entries with their expiry,
//! bounded in number), the loads in flight with the requests waiting on each (so concurrent
//! misses for one key make one load, across every request of the instance), and whether
//! Redis is being skipped after an error. Below the memory tier is Redis (shared by all
//! instances, TTLs from `[cache]` with jitter), below that the KOS gateway.
//! Errors and time-outs are never cached; an authoritative "not found" is, briefly. Redis
//! trouble is a miss: reads and writes have tight time-outs, and after an error Redis is
//! skipped for `redis_retry_ms`, then used again by itself.
//! Senders: the bill and product handlers (`Get`, `Invalidate`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::cache_front::CacheFront;
use super::kos_gateway::{
    Budget, InquireBill, InquireCustomer, KosError, KosGateway, ListProducts,
};
use crate::actors::front::FrontSet;
use crate::actors::shard::{Lifeline, Panic, ShardSet};
use crate::domain::identity::LineNumber;
use crate::domain::telecom::bill::BillSnapshot;
use crate::domain::telecom::kos::{Answer, KosBill, KosCustomer, KosProductList};
use crate::domain::telecom::BillingMonth;
use crate::infra::redis::RedisStore;
use crate::infra::telecom::shared_cache;
use crate::settings::CacheSettings;

/// What can be cached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
    Bill {
        line: LineNumber,
        month: BillingMonth,
    },
    Customer(LineNumber),
    Products,
}

impl CacheKey {
    /// The key's name, in Redis (under the prefix) and for sharding.
    pub fn name(&self) -> String {
        match self {
            CacheKey::Bill { line, month } => format!("bill:{}:{}", line.digits(), month.compact()),
            CacheKey::Customer(line) => format!("customer:{}", line.digits()),
            CacheKey::Products => "products".into(),
        }
    }

    /// The key a name stands for (the inverse of [`CacheKey::name`]); `None` for a name
    /// this version does not write.
    pub fn parse(name: &str) -> Option<Self> {
        if name == "products" {
            return Some(CacheKey::Products);
        }
        if let Some(digits) = name.strip_prefix("customer:") {
            return LineNumber::parse(digits).ok().map(CacheKey::Customer);
        }
        let (line, month) = name.strip_prefix("bill:")?.split_once(':')?;
        Some(CacheKey::Bill {
            line: LineNumber::parse(line).ok()?,
            month: BillingMonth::parse(month).ok()?,
        })
    }

    fn ttl(&self, s: &CacheSettings) -> Duration {
        Duration::from_secs(match self {
            CacheKey::Bill { .. } => s.bill_ttl_s,
            CacheKey::Customer(_) => s.customer_ttl_s,
            CacheKey::Products => s.products_ttl_s,
        })
    }
}

/// A cached KOS answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "value")]
pub enum Cached {
    Bill(Box<KosBill>),
    Customer(Box<KosCustomer>),
    Products(KosProductList),
    /// KOS said the thing does not exist (or the line is not in use).
    Refused {
        code: String,
        message: String,
    },
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Memory,
    Redis,
    Kos,
}

#[derive(Debug, Clone)]
pub struct Lookup {
    pub value: Arc<Cached>,
    /// A bill's stored form, made once when the bill is cached (not on every inquiry).
    pub snapshot: Option<BillSnapshot>,
    pub tier: Tier,
    /// How long KOS took, when it was asked.
    pub kos_ms: Option<u64>,
    /// Until when the shard keeps this answer in memory (a front keeps it no longer);
    /// `None` when it is not kept (an error, an uncacheable refusal).
    pub fresh_until: Option<Instant>,
}

impl Lookup {
    /// What `key` was found to hold; a bill's snapshot (and answer template) made now.
    fn new(value: Cached, tier: Tier, kos_ms: Option<u64>, key: &CacheKey) -> Self {
        let snapshot = match (&value, key) {
            (Cached::Bill(bill), CacheKey::Bill { line, .. }) => BillSnapshot::of(bill, line).ok(),
            _ => None,
        };
        Self {
            value: Arc::new(value),
            snapshot,
            tier,
            kos_ms,
            fresh_until: None,
        }
    }
}

#[derive(Message)]
#[rtype(result = "Result<Lookup, KosError>")]
pub struct Get(pub CacheKey);

/// Drops a key from memory and Redis, and announces it so every instance drops it too.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Invalidate(pub CacheKey);

/// Invalidates `key` (see [`Invalidate`]) and returns once the shard has done it: this
/// instance's fronts told, Redis and the other instances asked. Never dropped for a full
/// mailbox, and sent again to the successor of a shard that panics ([`ShardSet::deliver`]):
/// an invalidation lost there would leave the old value in Redis and in every front until
/// its TTL (a changed product shown as current).
pub async fn invalidate(cache: &ShardSet<CacheActor>, key: CacheKey) {
    if let Err(e) = cache.deliver(&key.name(), Invalidate(key)).await {
        tracing::warn!(error = %e, "cache invalidation not delivered");
    }
}

/// Another instance invalidated the key named so: drop it from this shard's memory.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Forget(pub String);

/// Invalidations may have been missed (the bus reconnected): drop every customer entry.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct ForgetCustomers;

/// Hit and miss counters of all cache shards (atomics, shared with `/admin/actors`).
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Answered from a shard's or a front's memory.
    pub(super) memory_hits: AtomicU64,
    redis_hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    load_errors: AtomicU64,
    redis_errors: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheSnapshot {
    pub memory_hits: u64,
    pub redis_hits: u64,
    /// Lookups that went to KOS.
    pub misses: u64,
    /// Lookups that waited on another request's load instead of loading.
    pub coalesced: u64,
    pub load_errors: u64,
    pub redis_errors: u64,
    /// Share of lookups answered without KOS.
    pub hit_ratio: f64,
}

impl CacheSnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &crate::metrics::Metrics) {
        for (tier, v) in [
            ("memory", self.memory_hits),
            ("redis", self.redis_hits),
            ("coalesced", self.coalesced),
            ("kos", self.misses),
        ] {
            m.set_cache_lookups(tier, v);
        }
        m.set_cache_errors("redis", self.redis_errors);
        m.set_cache_errors("load", self.load_errors);
    }
}

impl CacheStats {
    pub fn snapshot(&self) -> CacheSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (m, r, miss, co) = (
            get(&self.memory_hits),
            get(&self.redis_hits),
            get(&self.misses),
            get(&self.coalesced),
        );
        let total = m + r + miss + co;
        CacheSnapshot {
            memory_hits: m,
            redis_hits: r,
            misses: miss,
            coalesced: co,
            load_errors: get(&self.load_errors),
            redis_errors: get(&self.redis_errors),
            hit_ratio: if total == 0 {
                0.0
            } else {
                (m + r + co) as f64 / total as f64
            },
        }
    }
}

/// One key's answer in a memory tier (a shard's or a front's).
pub(super) struct Entry {
    pub(super) value: Arc<Cached>,
    pub(super) snapshot: Option<BillSnapshot>,
    pub(super) expires: Instant,
}

impl Entry {
    /// What `found` holds, kept until `expires`.
    pub(super) fn of(found: &Lookup, expires: Instant) -> Self {
        Self {
            value: found.value.clone(),
            snapshot: found.snapshot.clone(),
            expires,
        }
    }

    /// The entry as a memory hit.
    pub(super) fn hit(&self) -> Lookup {
        Lookup {
            value: self.value.clone(),
            snapshot: self.snapshot.clone(),
            tier: Tier::Memory,
            kos_ms: None,
            fresh_until: Some(self.expires),
        }
    }
}

type Waiter = oneshot::Sender<Result<Lookup, KosError>>;

pub struct CacheActor {
    settings: CacheSettings,
    redis: RedisStore,
    kos: Arc<ShardSet<KosGateway>>,
    stats: Arc<CacheStats>,
    memory: HashMap<CacheKey, Entry>,
    loading: HashMap<CacheKey, Vec<Waiter>>,
    /// Keys invalidated while their load was running: the load's answer goes to its waiters
    /// but is not remembered (it may be what the invalidation removed).
    overtaken: HashSet<CacheKey>,
    skip_redis_until: Option<Instant>,
    /// The HTTP workers' cache fronts, told of every key this shard drops.
    fronts: Arc<FrontSet<CacheFront>>,
    _lifeline: Lifeline,
}

impl CacheActor {
    pub fn new(
        settings: CacheSettings,
        redis: RedisStore,
        kos: Arc<ShardSet<KosGateway>>,
        stats: Arc<CacheStats>,
        fronts: Arc<FrontSet<CacheFront>>,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            settings,
            redis,
            kos,
            stats,
            memory: HashMap::new(),
            loading: HashMap::new(),
            overtaken: HashSet::new(),
            skip_redis_until: None,
            fronts,
            _lifeline: lifeline,
        }
    }

    fn remember(&mut self, key: CacheKey, found: &Lookup, ttl: Duration) {
        let now = Instant::now();
        if !self.memory.contains_key(&key) {
            make_room(&mut self.memory, self.settings.memory_entries, now);
        }
        self.memory.insert(key, Entry::of(found, now + ttl));
    }

    fn jitter(&self, ttl: Duration) -> Duration {
        let cut =
            rand::thread_rng().gen_range(0.0..=f64::from(self.settings.ttl_jitter_percent) / 100.0);
        ttl.mul_f64(1.0 - cut)
    }
}

/// Makes room for one more entry in a memory tier holding at most `capacity`: expired
/// entries go first; if it is still full of live ones, the eighth expiring first goes too, so
/// the scan is paid once per `capacity / 8` insertions rather than on every one.
pub(super) fn make_room(memory: &mut HashMap<CacheKey, Entry>, capacity: usize, now: Instant) {
    if memory.len() < capacity {
        return;
    }
    memory.retain(|_, e| e.expires > now);
    if memory.len() < capacity {
        return;
    }
    let mut expiries: Vec<Instant> = memory.values().map(|e| e.expires).collect();
    let cut = (capacity / 8).clamp(1, expiries.len()) - 1;
    let (_, &mut last_dropped, _) = expiries.select_nth_unstable(cut);
    memory.retain(|_, e| e.expires > last_dropped);
}

impl Actor for CacheActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(30), |act, _| {
            let now = Instant::now();
            act.memory.retain(|_, e| e.expires > now);
        });
    }
}

impl Supervised for CacheActor {}

/// Which codes are an authoritative "does not exist / not usable" worth caching briefly.
fn cacheable_refusal(code: &str) -> bool {
    matches!(code, "1001" | "1002" | "1003")
}

/// Loads a key from KOS: the answer to cache, or a refusal not worth caching.
async fn load_from_kos(
    kos: &ShardSet<KosGateway>,
    key: &CacheKey,
) -> Result<Answer<Cached>, KosError> {
    let retry_after_s = 1;
    let gone = |e: crate::actors::shard::ActorError| {
        KosError::Unavailable(format!("{e} (retry in {retry_after_s}s)"))
    };
    let answer = match key {
        CacheKey::Bill { line, month } => kos
            .ask_shard(
                0,
                InquireBill {
                    line: line.clone(),
                    month: month.compact(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                },
            )
            .await
            .map_err(gone)??
            .map(|b| Cached::Bill(Box::new(b))),
        CacheKey::Customer(line) => kos
            .ask_shard(
                0,
                InquireCustomer {
                    line: line.clone(),
                    budget: Budget::Customers,
                },
            )
            .await
            .map_err(gone)??
            .map(|c| Cached::Customer(Box::new(c))),
        CacheKey::Products => kos
            .ask_shard(0, ListProducts)
            .await
            .map_err(gone)??
            .map(Cached::Products),
    };
    Ok(answer)
}

impl Handler<Get> for CacheActor {
    type Result = ResponseFuture<Result<Lookup, KosError>>;

    fn handle(&mut self, msg: Get, ctx: &mut Context<Self>) -> Self::Result {
        let key = msg.0;
        let now = Instant::now();
        if let Some(e) = self.memory.get(&key).filter(|e| e.expires > now) {
            self.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            let hit = e.hit();
            return Box::pin(async move { Ok(hit) });
        }
        let (tx, rx) = oneshot::channel();
        let answer = async move {
            rx.await
                .unwrap_or_else(|_| Err(KosError::Unavailable("cache shard restarted".into())))
        };
        if let Some(waiters) = self.loading.get_mut(&key) {
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
            waiters.push(tx);
            return Box::pin(answer);
        }
        self.loading.insert(key.clone(), vec![tx]);

        let use_redis = self.skip_redis_until.is_none_or(|t| now >= t);
        let redis = self.redis.clone();
        let kos = self.kos.clone();
        let stats = self.stats.clone();
        let name = key.name();
        let redis_timeout = Duration::from_millis(self.settings.redis_timeout_ms);
        let ttl = self.jitter(key.ttl(&self.settings));
        let refusal_ttl = self.jitter(Duration::from_secs(self.settings.not_found_ttl_s));
        let load_key = key.clone();
        let load = async move {
            let mut redis_ok = true;
            if use_redis {
                match shared_cache::read(&redis, &name, redis_timeout).await {
                    Ok((Some(json), pttl)) => {
                        if let Ok(value) = serde_json::from_str::<Cached>(&json) {
                            stats.redis_hits.fetch_add(1, Ordering::Relaxed);
                            let left = Duration::from_millis(pttl.max(1000) as u64).min(ttl);
                            let found = Lookup::new(value, Tier::Redis, None, &load_key);
                            return (Ok(found), left, redis_ok);
                        }
                    }
                    Ok((None, _)) => {}
                    Err(_) => redis_ok = false,
                }
            }
            stats.misses.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let loaded = load_from_kos(&kos, &load_key).await;
            let kos_ms = Some(started.elapsed().as_millis() as u64);
            let (value, keep) = match loaded {
                Ok(Answer::Ok(v)) => (v, ttl),
                Ok(Answer::Refused { code, message }) => {
                    let keep = if cacheable_refusal(&code) {
                        refusal_ttl
                    } else {
                        Duration::ZERO
                    };
                    (Cached::Refused { code, message }, keep)
                }
                Err(e) => {
                    stats.load_errors.fetch_add(1, Ordering::Relaxed);
                    return (Err(e), Duration::ZERO, redis_ok);
                }
            };
            if use_redis && redis_ok && !keep.is_zero() {
                if let Ok(json) = serde_json::to_string(&value) {
                    let written =
                        shared_cache::write(&redis, &name, json, keep, redis_timeout).await;
                    redis_ok = written.is_ok();
                }
            }
            (
                Ok(Lookup::new(value, Tier::Kos, kos_ms, &load_key)),
                keep,
                redis_ok,
            )
        };
        ctx.spawn(
            load.into_actor(self)
                .map(move |(result, keep, redis_ok), act, _| {
                    if !redis_ok {
                        act.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
                        act.skip_redis_until = Some(
                            Instant::now() + Duration::from_millis(act.settings.redis_retry_ms),
                        );
                    }
                    let mut result = result;
                    let overtaken = act.overtaken.remove(&key);
                    if let Ok(found) = &mut result {
                        if !keep.is_zero() && !overtaken {
                            found.fresh_until = Some(Instant::now() + keep);
                            act.remember(key.clone(), found, keep);
                        }
                    }
                    for waiter in act.loading.remove(&key).unwrap_or_default() {
                        let _ = waiter.send(result.clone());
                    }
                }),
        );
        Box::pin(answer)
    }
}

impl Handler<Invalidate> for CacheActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Invalidate, _: &mut Context<Self>) -> Self::Result {
        self.memory.remove(&msg.0);
        if self.loading.contains_key(&msg.0) {
            self.overtaken.insert(msg.0.clone());
        }
        self.fronts.notify_all(Forget(msg.0.name()));
        let redis = self.redis.clone();
        let name = msg.0.name();
        Box::pin(async move {
            if let Err(e) = shared_cache::invalidate(&redis, &name).await {
                tracing::warn!(error = %e, "cache invalidation could not reach Redis");
            }
        })
    }
}

impl Handler<Forget> for CacheActor {
    type Result = ();

    fn handle(&mut self, msg: Forget, _: &mut Context<Self>) {
        match CacheKey::parse(&msg.0) {
            Some(key) => {
                self.memory.remove(&key);
                if self.loading.contains_key(&key) {
                    self.overtaken.insert(key);
                }
                self.fronts.notify_all(msg);
            }
            // (The name is not logged: it carries a line number.)
            None => tracing::debug!("invalidation of a key this version does not cache"),
        }
    }
}

impl Handler<ForgetCustomers> for CacheActor {
    type Result = ();

    fn handle(&mut self, _: ForgetCustomers, _: &mut Context<Self>) {
        self.memory
            .retain(|k, _| !matches!(k, CacheKey::Customer(_)));
        let loading = self.loading.keys();
        self.overtaken.extend(
            loading
                .filter(|k| matches!(k, CacheKey::Customer(_)))
                .cloned(),
        );
        self.fronts.notify_all(ForgetCustomers);
    }
}

impl Handler<Panic> for CacheActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: cache actor panics on request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bill(line: &str, month: &str) -> CacheKey {
        CacheKey::Bill {
            line: LineNumber::parse(line).unwrap(),
            month: BillingMonth::parse(month).unwrap(),
        }
    }

    #[test]
    fn names_parse_back_into_their_keys() {
        for key in [
            bill("010-1234-5001", "202611"),
            CacheKey::Customer(LineNumber::parse("01012345002").unwrap()),
            CacheKey::Products,
        ] {
            assert_eq!(CacheKey::parse(&key.name()), Some(key));
        }
        for name in [
            "",
            "bill:",
            "bill:01012345001",
            "customer:123",
            "bill:x:202611",
            "other",
        ] {
            assert_eq!(CacheKey::parse(name), None, "{name}");
        }
    }

    #[test]
    fn a_full_tier_drops_expired_entries_then_the_eighth_expiring_first() {
        let now = Instant::now();
        let value = Arc::new(Cached::Products(KosProductList { products: vec![] }));
        let entry = |secs: u64| Entry {
            value: value.clone(),
            snapshot: None,
            expires: now + Duration::from_secs(secs),
        };
        let mut memory = HashMap::new();
        for i in 0..16u32 {
            let key = bill(&format!("0101234{:04}", 5000 + i), "202611");
            memory.insert(key, entry(u64::from(i) + 1));
        }
        // Not full: nothing goes.
        make_room(&mut memory, 17, now);
        assert_eq!(memory.len(), 16);
        // Full of live entries: the two (16 / 8) expiring first go, and only they.
        make_room(&mut memory, 16, now);
        assert_eq!(memory.len(), 14);
        assert!(memory
            .values()
            .all(|e| e.expires > now + Duration::from_secs(2)));
        // Expired entries are enough: nothing live goes.
        make_room(&mut memory, 14, now + Duration::from_secs(4));
        assert_eq!(memory.len(), 12);
        assert!(memory
            .values()
            .all(|e| e.expires > now + Duration::from_secs(4)));
    }
}
