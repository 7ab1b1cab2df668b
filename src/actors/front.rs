//! Fronts: one actor of a kind on each HTTP worker's own thread, answering from copies the
//! kind's shards handed it, so that a request answered from a copy crosses no thread.
//!
//! A front is a [`ShardSet`] of one shard started on the worker's arbiter (supervised and
//! bounded like any other; a request waits for its own thread's actor, which no other
//! thread wakes). It keeps what a shard answered for no longer than the shard would trust
//! it itself, and asks the shard for everything else. The shards tell every front what they
//! forget (a session ended, a cache key invalidated) with [`FrontSet::notify_all`] before
//! they answer whoever made them forget it, so a request that follows a logout on any
//! worker of this instance finds the front already told. A front's copy is kept only if no
//! notice reached the front while the shard was being asked (its generation is unchanged),
//! so an answer overtaken by a notice is used once and not remembered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;

use super::group::Enrolled;
use super::shard::{ActorError, KindSnapshot, Panic, ShardContext, ShardSet};
use crate::settings::ActorKindSettings;

/// The fronts of one kind, one per HTTP worker (registered as the workers start).
pub struct FrontSet<A: Actor<Context = Context<A>>> {
    kind: &'static str,
    mailbox: usize,
    reply_timeout: Duration,
    retry_after_s: u64,
    fronts: ArcSwap<Vec<Arc<ShardSet<A>>>>,
    stopping: AtomicBool,
}

impl<A> FrontSet<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    pub fn new(
        kind: &'static str,
        mailbox: usize,
        reply_timeout: Duration,
        retry_after_s: u64,
    ) -> Self {
        Self {
            kind,
            mailbox,
            reply_timeout,
            retry_after_s,
            fronts: ArcSwap::from_pointee(Vec::new()),
            stopping: AtomicBool::new(false),
        }
    }

    /// Starts the calling worker's front on its own arbiter and registers it for notices.
    /// Called by the HTTP server's factory, which runs once on each worker's thread.
    pub fn start_here(
        &self,
        factory: impl Fn(ShardContext) -> A + Send + Sync + 'static,
    ) -> Arc<ShardSet<A>> {
        let settings = ActorKindSettings {
            mailbox: self.mailbox,
            shards: 1,
        };
        // No arbiters given: the shard starts on the current one, the worker's.
        let front = Arc::new(ShardSet::start(
            self.kind,
            settings,
            &[],
            self.reply_timeout,
            self.retry_after_s,
            factory,
        ));
        if self.stopping.load(Ordering::Acquire) {
            front.begin_shutdown();
        }
        // A worker replaced after its thread died leaves its front here, closed: notices to
        // it fail at once. Workers are replaced only then, so the list stays short.
        self.fronts.rcu(|all| {
            let mut all = Vec::clone(all);
            all.push(front.clone());
            all
        });
        front
    }

    /// Tells every front `msg`, without waiting and without dropping it for a full mailbox.
    pub fn notify_all<M>(&self, msg: M)
    where
        M: Message + Clone + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        for front in self.fronts.load().iter() {
            front.notify_all(msg.clone());
        }
    }
}

impl<A> Enrolled for FrontSet<A>
where
    A: Actor<Context = Context<A>> + Supervised + Handler<Panic>,
{
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The fronts as one kind: a "shard" per worker.
    fn snapshot(&self) -> KindSnapshot {
        let fronts = self.fronts.load();
        let mut per_shard = Vec::with_capacity(fronts.len());
        for (worker, front) in fronts.iter().enumerate() {
            for mut s in front.snapshot().per_shard {
                s.shard = worker;
                s.arbiter = worker;
                per_shard.push(s);
            }
        }
        KindSnapshot::of(self.kind, per_shard)
    }

    /// Makes the first worker's front panic (none before the server has started).
    fn panic(&self) -> BoxFuture<'_, Result<(), ActorError>> {
        let first = self.fronts.load().first().cloned();
        Box::pin(async move {
            match first {
                Some(front) => front.ask_shard(0, Panic).await,
                None => Ok(()),
            }
        })
    }

    fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        for front in self.fronts.load().iter() {
            front.begin_shutdown();
        }
    }
}
