//! Sharded, supervised, bounded actor sets: the machinery every actor kind runs on.
//!
//! A `ShardSet<A>` owns N shards of actor `A`, spread round-robin over the arbiters (one
//! single-threaded event loop each). A key picks a shard, so all messages about one key meet
//! one actor.
//!
//! * **Bounded.** Each shard admits at most `mailbox` messages that are sent and not yet
//!   answered (`depth`). Past that `ask` fails at once with `ActorError::Full`, which the
//!   edge turns into "unavailable" with `Retry-After`; nothing queues without bound.
//! * **Supervised.** Shards start under `actix::Supervisor`, so an actor that stops itself is
//!   restarted in place (`Supervised::restarting`).
//! * **Panic-proof.** A panic inside a handler is caught by the arbiter's runtime, which
//!   drops the actor and closes its mailbox; actix does not restart it. Each actor therefore
//!   holds a [`Lifeline`]: when it is dropped while the set is still running, the shard's slot
//!   starts a fresh actor on the same arbiter and swaps its address in (`restarts` + 1).
//!   Requests that were waiting on the dead actor get `ActorError::Gone` (unavailable, retry).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use arc_swap::ArcSwap;
use serde::Serialize;

use crate::settings::ActorKindSettings;

/// Why a message could not be answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActorError {
    #[error("{kind} mailbox full")]
    Full {
        kind: &'static str,
        retry_after_s: u64,
    },
    #[error("{kind} actor stopped before answering")]
    Gone {
        kind: &'static str,
        retry_after_s: u64,
    },
    #[error("{kind} actor did not answer in time")]
    Timeout {
        kind: &'static str,
        retry_after_s: u64,
    },
}

/// Counters of one shard, shared with `/admin/actors` (atomics only, no locks).
#[derive(Debug, Default)]
struct ShardStats {
    depth: AtomicUsize,
    processed: AtomicU64,
    rejected: AtomicU64,
    restarts: AtomicU64,
}

/// A point-in-time view of one shard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardSnapshot {
    pub shard: usize,
    pub arbiter: usize,
    pub mailbox_capacity: usize,
    pub depth: usize,
    pub processed: u64,
    pub rejected: u64,
    pub restarts: u64,
}

/// A point-in-time view of one actor kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindSnapshot {
    pub kind: &'static str,
    pub shards: usize,
    pub mailbox_capacity: usize,
    pub depth: usize,
    pub processed: u64,
    pub rejected: u64,
    pub restarts: u64,
    pub per_shard: Vec<ShardSnapshot>,
}

impl KindSnapshot {
    /// A kind's view: its shards' and their totals.
    pub fn of(kind: &'static str, per_shard: Vec<ShardSnapshot>) -> Self {
        Self {
            kind,
            shards: per_shard.len(),
            mailbox_capacity: per_shard.iter().map(|s| s.mailbox_capacity).sum(),
            depth: per_shard.iter().map(|s| s.depth).sum(),
            processed: per_shard.iter().map(|s| s.processed).sum(),
            rejected: per_shard.iter().map(|s| s.rejected).sum(),
            restarts: per_shard.iter().map(|s| s.restarts).sum(),
            per_shard,
        }
    }

    /// Into the scrape-time metrics.
    pub fn export(&self, m: &crate::metrics::Metrics) {
        for s in &self.per_shard {
            m.set_shard(
                self.kind,
                s.shard,
                s.mailbox_capacity,
                s.depth,
                s.processed,
                s.rejected,
                s.restarts,
            );
        }
    }
}

/// What a shard's factory gets to build its actor.
pub struct ShardContext {
    pub shard: usize,
    pub arbiter: usize,
    pub lifeline: Lifeline,
}

/// Held by every shard actor; dropping it outside shutdown restarts the shard.
pub struct Lifeline {
    slot: Weak<dyn Respawn>,
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.upgrade() {
            slot.respawn();
        }
    }
}

trait Respawn: Send + Sync {
    fn respawn(&self);
}

type Factory<A> = dyn Fn(ShardContext) -> A + Send + Sync;

struct Slot<A: Actor<Context = Context<A>>> {
    kind: &'static str,
    shard: usize,
    arbiter_index: usize,
    arbiter: ArbiterHandle,
    capacity: usize,
    addr: ArcSwap<Addr<A>>,
    stats: ShardStats,
    factory: Arc<Factory<A>>,
    stopping: Arc<AtomicBool>,
    me: Weak<Slot<A>>,
}

/// Starts one supervised actor of a shard on its arbiter.
fn start_actor<A>(
    factory: &Arc<Factory<A>>,
    capacity: usize,
    lifeline_to: Weak<dyn Respawn>,
    shard: usize,
    arbiter_index: usize,
    arbiter: &ArbiterHandle,
) -> Addr<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    let factory = factory.clone();
    Supervisor::start_in_arbiter(arbiter, move |ctx: &mut Context<A>| {
        ctx.set_mailbox_capacity(capacity);
        factory(ShardContext {
            shard,
            arbiter: arbiter_index,
            lifeline: Lifeline { slot: lifeline_to },
        })
    })
}

impl<A> Respawn for Slot<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    fn respawn(&self) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        // A stopped arbiter (an HTTP worker's, as the server stops) cannot run a successor.
        if !self.arbiter.spawn(std::future::ready(())) {
            return;
        }
        tracing::error!(
            kind = self.kind,
            shard = self.shard,
            "actor died; starting a new one"
        );
        let me: Weak<dyn Respawn> = self.me.clone();
        let addr = start_actor(
            &self.factory,
            self.capacity,
            me,
            self.shard,
            self.arbiter_index,
            &self.arbiter,
        );
        self.addr.store(Arc::new(addr));
        self.stats.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Decrements a shard's depth when an `ask` ends, however it ends.
struct InFlight<'a>(&'a ShardStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.depth.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct ShardSet<A: Actor<Context = Context<A>>> {
    kind: &'static str,
    slots: Vec<Arc<Slot<A>>>,
    reply_timeout: Duration,
    retry_after_s: u64,
    stopping: Arc<AtomicBool>,
}

impl<A> ShardSet<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    /// Starts `settings.shards` actors built by `factory`, spread over `arbiters`.
    pub fn start(
        kind: &'static str,
        settings: ActorKindSettings,
        arbiters: &[ArbiterHandle],
        reply_timeout: Duration,
        retry_after_s: u64,
        factory: impl Fn(ShardContext) -> A + Send + Sync + 'static,
    ) -> Self {
        let factory: Arc<Factory<A>> = Arc::new(factory);
        let stopping = Arc::new(AtomicBool::new(false));
        let slots = (0..settings.shards)
            .map(|shard| {
                let arbiter_index = shard % arbiters.len().max(1);
                let arbiter = arbiters
                    .get(arbiter_index)
                    .cloned()
                    .unwrap_or_else(Arbiter::current);
                Arc::new_cyclic(|me: &Weak<Slot<A>>| {
                    let lifeline_to: Weak<dyn Respawn> = me.clone();
                    let addr = start_actor(
                        &factory,
                        settings.mailbox,
                        lifeline_to,
                        shard,
                        arbiter_index,
                        &arbiter,
                    );
                    Slot {
                        kind,
                        shard,
                        arbiter_index,
                        arbiter,
                        capacity: settings.mailbox,
                        addr: ArcSwap::from_pointee(addr),
                        stats: ShardStats::default(),
                        factory: factory.clone(),
                        stopping: stopping.clone(),
                        me: me.clone(),
                    }
                })
            })
            .collect::<Vec<_>>();
        Self {
            kind,
            slots,
            reply_timeout,
            retry_after_s,
            stopping,
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn slot_for(&self, key: &(impl Hash + ?Sized)) -> &Slot<A> {
        // DefaultHasher::new() uses fixed keys, so a key maps to the same shard every run.
        let mut h = std::hash::DefaultHasher::new();
        key.hash(&mut h);
        let index = (h.finish() % self.slots.len() as u64) as usize;
        &self.slots[index]
    }

    /// Sends `msg` to the shard owning `key` and waits for the answer.
    pub async fn ask<M>(&self, key: &(impl Hash + ?Sized), msg: M) -> Result<M::Result, ActorError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.ask_slot(self.slot_for(key), msg).await
    }

    /// Sends `msg` to shard `index` (modulo the shard count).
    pub async fn ask_shard<M>(&self, index: usize, msg: M) -> Result<M::Result, ActorError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let slot = &self.slots[index % self.slots.len()];
        self.ask_slot(slot, msg).await
    }

    async fn ask_slot<M>(&self, slot: &Slot<A>, msg: M) -> Result<M::Result, ActorError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let stats = &slot.stats;
        if stats.depth.fetch_add(1, Ordering::AcqRel) >= slot.capacity {
            stats.depth.fetch_sub(1, Ordering::AcqRel);
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(ActorError::Full {
                kind: self.kind,
                retry_after_s: self.retry_after_s,
            });
        }
        let _in_flight = InFlight(stats);
        let addr = slot.addr.load_full();
        let retry_after_s = self.retry_after_s;
        let kind = self.kind;
        match tokio::time::timeout(self.reply_timeout, addr.send(msg)).await {
            Ok(Ok(reply)) => {
                stats.processed.fetch_add(1, Ordering::Relaxed);
                Ok(reply)
            }
            Ok(Err(MailboxError::Closed)) => {
                // The actor died: wait (briefly) for its replacement so the caller's next
                // request reaches it.
                self.await_successor(slot, &addr, Duration::from_millis(100))
                    .await;
                Err(ActorError::Gone {
                    kind,
                    retry_after_s,
                })
            }
            Ok(Err(MailboxError::Timeout)) | Err(_) => Err(ActorError::Timeout {
                kind,
                retry_after_s,
            }),
        }
    }

    /// Fire-and-forget to the shard owning `key`.
    pub fn tell<M>(&self, key: &(impl Hash + ?Sized), msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.tell_slot(self.slot_for(key), msg);
    }

    fn tell_slot<M>(&self, slot: &Slot<A>, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        // `try_send` respects the mailbox capacity (`do_send` would not).
        match slot.addr.load().try_send(msg) {
            Ok(()) => {
                slot.stats.processed.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                slot.stats.rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Delivers a control message to the shard owning `key`, for messages whose loss would
    /// be wrong (an invalidation, a relayed logout). It is never dropped for a full mailbox:
    /// actix queues it past the capacity, or, once the shard's sender has been parked by an
    /// earlier overflow, holds it until there is room. If the shard dies before handling it
    /// (a panic: its mailbox is dropped), it is sent again to the successor, unless shutdown
    /// has begun. Its answer is awaited at most the reply time-out and a message not answered
    /// by then is not sent again: if it was queued the shard still handles it; if it was held
    /// for room in a mailbox full all that time, it is dropped (`Timeout`).
    pub async fn deliver<M>(&self, key: &(impl Hash + ?Sized), msg: M) -> Result<(), ActorError>
    where
        M: Message<Result = ()> + Clone + Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.deliver_slot(self.slot_for(key), msg).await
    }

    /// `deliver` to every shard, one after the other; a shard it cannot reach is skipped.
    pub async fn deliver_all<M>(&self, msg: M)
    where
        M: Message<Result = ()> + Clone + Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        for slot in &self.slots {
            let _ = self.deliver_slot(slot, msg.clone()).await;
        }
    }

    async fn deliver_slot<M>(&self, slot: &Slot<A>, msg: M) -> Result<(), ActorError>
    where
        M: Message<Result = ()> + Clone + Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let gone = ActorError::Gone {
            kind: self.kind,
            retry_after_s: self.retry_after_s,
        };
        let sent = async {
            for _ in 0..SUCCESSORS_AWAITED {
                let addr = slot.addr.load_full();
                if addr.send(msg.clone()).await.is_ok() {
                    slot.stats.processed.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                if !self
                    .await_successor(slot, &addr, Duration::from_secs(1))
                    .await
                {
                    break;
                }
            }
            Err(gone)
        };
        tokio::time::timeout(self.reply_timeout, sent)
            .await
            .unwrap_or(Err(ActorError::Timeout {
                kind: self.kind,
                retry_after_s: self.retry_after_s,
            }))
    }

    /// Waits up to `patience` for the actor at `dead` to be replaced after its death (its
    /// successor is installed within milliseconds); false if it was not, or shutdown has
    /// begun (no successor is coming).
    async fn await_successor(
        &self,
        slot: &Slot<A>,
        dead: &Arc<Addr<A>>,
        patience: Duration,
    ) -> bool {
        for _ in 0..patience.as_millis() {
            if self.stopping.load(Ordering::Acquire) {
                return false;
            }
            if !Arc::ptr_eq(&slot.addr.load_full(), dead) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        false
    }

    /// Enqueues `msg` on every shard without waiting, past the mailbox capacity if need be:
    /// for notices that must not be lost and are sent from where nothing can wait (an
    /// eviction or an invalidation told to the fronts: one per logout or change, small).
    pub fn notify_all<M>(&self, msg: M)
    where
        M: Message + Clone + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        for slot in &self.slots {
            slot.addr.load().do_send(msg.clone());
            slot.stats.processed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Stops restarting shards; called before the arbiters stop.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn snapshot(&self) -> KindSnapshot {
        let per_shard: Vec<ShardSnapshot> = self
            .slots
            .iter()
            .map(|s| ShardSnapshot {
                shard: s.shard,
                arbiter: s.arbiter_index,
                mailbox_capacity: s.capacity,
                depth: s.stats.depth.load(Ordering::Relaxed),
                processed: s.stats.processed.load(Ordering::Relaxed),
                rejected: s.stats.rejected.load(Ordering::Relaxed),
                restarts: s.stats.restarts.load(Ordering::Relaxed),
            })
            .collect();
        KindSnapshot::of(self.kind, per_shard)
    }
}

/// Successors [`ShardSet::deliver`] sends a message again to, each after the one before
/// died with it queued: a message that kills every shard it reaches is given up.
const SUCCESSORS_AWAITED: usize = 3;

impl<A: Actor<Context = Context<A>>> Drop for ShardSet<A> {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
    }
}

/// Fault injection: makes the receiving actor panic (`[admin] fault_injection`).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Panic;

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the `Bump`s it handled; panics on `Panic`.
    struct Counter {
        bumps: Arc<AtomicUsize>,
        _lifeline: Lifeline,
    }

    impl Actor for Counter {
        type Context = Context<Self>;
    }

    impl Supervised for Counter {}

    #[derive(Clone, Message)]
    #[rtype(result = "()")]
    struct Bump;

    impl Handler<Bump> for Counter {
        type Result = ();

        fn handle(&mut self, _: Bump, _: &mut Context<Self>) {
            self.bumps.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Handler<Panic> for Counter {
        type Result = ();

        fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
            panic!("test: the shard dies");
        }
    }

    fn counters(bumps: &Arc<AtomicUsize>, arbiter: &Arbiter) -> ShardSet<Counter> {
        let bumps = bumps.clone();
        ShardSet::start(
            "counter",
            ActorKindSettings {
                mailbox: 4,
                shards: 1,
            },
            &[arbiter.handle()],
            Duration::from_secs(5),
            1,
            move |cx| Counter {
                bumps: bumps.clone(),
                _lifeline: cx.lifeline,
            },
        )
    }

    /// A message queued behind the panic that kills its shard is lost with the dead
    /// actor's mailbox; `deliver` hands it to the successor, once, and so does `deliver_all`.
    #[actix::test]
    async fn a_message_queued_behind_a_panic_reaches_the_successor() {
        let arbiter = Arbiter::new();
        let bumps = Arc::new(AtomicUsize::new(0));
        let set = counters(&bumps, &arbiter);

        set.tell(&0, Panic);
        let kept = set.deliver(&0, Bump).await;
        assert!(kept.is_ok(), "{kept:?}");
        assert_eq!(bumps.load(Ordering::SeqCst), 1);
        assert_eq!(set.snapshot().restarts, 1);

        set.tell(&0, Panic);
        set.deliver_all(Bump).await;
        assert_eq!(bumps.load(Ordering::SeqCst), 2);
        assert_eq!(set.snapshot().restarts, 2);

        set.begin_shutdown();
        arbiter.stop();
    }

    /// Once shutdown has begun, a shard that is gone is not waited for.
    #[actix::test]
    async fn no_redelivery_once_shutdown_has_begun() {
        let arbiter = Arbiter::new();
        let bumps = Arc::new(AtomicUsize::new(0));
        let set = counters(&bumps, &arbiter);
        set.begin_shutdown();
        set.tell(&0, Panic);
        let started = std::time::Instant::now();
        let lost = set.deliver(&0, Bump).await;
        assert!(matches!(lost, Err(ActorError::Gone { .. })), "{lost:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(bumps.load(Ordering::SeqCst), 0);
        arbiter.stop();
    }
}
