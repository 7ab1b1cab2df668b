//! How a bounded context registers its actors: one call per actor kind starts its shards
//! and enrols it, so `/admin/actors`, `/metrics`, `/admin/faults/panic` and shutdown know
//! every kind without being told twice.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::BoxFuture;

use super::front::FrontSet;
use super::shard::{ActorError, KindSnapshot, Panic, ShardContext, ShardSet};
use crate::infra::Stores;
use crate::settings::ActorKindSettings;

/// What every enrolled actor kind offers, whatever its messages.
pub trait Enrolled: Send + Sync {
    fn kind(&self) -> &'static str;
    fn snapshot(&self) -> KindSnapshot;
    /// Makes shard 0 panic (fault injection).
    fn panic(&self) -> BoxFuture<'_, Result<(), ActorError>>;
    /// No more restarts: the application is stopping.
    fn begin_shutdown(&self);
}

impl<A> Enrolled for ShardSet<A>
where
    A: Actor<Context = Context<A>> + Supervised + Handler<Panic>,
{
    fn kind(&self) -> &'static str {
        ShardSet::kind(self)
    }

    fn snapshot(&self) -> KindSnapshot {
        ShardSet::snapshot(self)
    }

    fn panic(&self) -> BoxFuture<'_, Result<(), ActorError>> {
        Box::pin(self.ask_shard(0, Panic))
    }

    fn begin_shutdown(&self) {
        ShardSet::begin_shutdown(self)
    }
}

/// Which arbiters an actor kind runs on.
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    /// Shards spread round-robin over every arbiter.
    Spread,
    /// All on the last arbiter (away from the KOS gateway's first one): the background
    /// writers and their followers, which wake each other.
    Background,
}

/// Starts actor kinds for the contexts and remembers each one it started.
pub struct Launcher {
    handles: Vec<ArbiterHandle>,
    /// One set of pools per arbiter: a connection is driven by the loop that uses it.
    stores: Arc<Vec<Stores>>,
    reply_timeout: Duration,
    retry_after_s: u64,
    enrolled: Vec<Arc<dyn Enrolled>>,
}

impl Launcher {
    pub fn new(
        handles: Vec<ArbiterHandle>,
        stores: Arc<Vec<Stores>>,
        reply_timeout: Duration,
        retry_after_s: u64,
    ) -> Self {
        Self {
            handles,
            stores,
            reply_timeout,
            retry_after_s,
            enrolled: Vec::new(),
        }
    }

    /// The stores of the arbiter a shard runs on.
    pub fn stores(&self) -> Arc<Vec<Stores>> {
        self.stores.clone()
    }

    /// The stores of the background arbiter.
    pub fn background_stores(&self) -> Stores {
        self.stores[self.stores.len() - 1].clone()
    }

    /// The stores of the first arbiter (the session bus's).
    pub fn first_stores(&self) -> Stores {
        self.stores[0].clone()
    }

    /// Runs a task (not an actor) on the first arbiter.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.handles[0].spawn(task);
    }

    /// Starts and enrols one actor kind with the common reply time-out.
    pub fn start<A>(
        &mut self,
        kind: &'static str,
        settings: ActorKindSettings,
        placement: Placement,
        factory: impl Fn(ShardContext) -> A + Send + Sync + 'static,
    ) -> Arc<ShardSet<A>>
    where
        A: Actor<Context = Context<A>> + Supervised + Handler<Panic>,
    {
        let timeout = self.reply_timeout;
        self.start_with_timeout(kind, settings, placement, timeout, factory)
    }

    /// As `start`, for a kind whose replies may take longer than the common time-out; it is
    /// given at least `at_least`.
    pub fn start_with_timeout<A>(
        &mut self,
        kind: &'static str,
        settings: ActorKindSettings,
        placement: Placement,
        at_least: Duration,
        factory: impl Fn(ShardContext) -> A + Send + Sync + 'static,
    ) -> Arc<ShardSet<A>>
    where
        A: Actor<Context = Context<A>> + Supervised + Handler<Panic>,
    {
        let background = [self.handles[self.handles.len() - 1].clone()];
        let arbiters = match placement {
            Placement::Spread => &self.handles[..],
            Placement::Background => &background[..],
        };
        let set = Arc::new(ShardSet::start(
            kind,
            settings,
            arbiters,
            self.reply_timeout.max(at_least),
            self.retry_after_s,
            factory,
        ));
        self.enrolled.push(set.clone());
        set
    }

    /// The common reply time-out.
    pub fn reply_timeout(&self) -> Duration {
        self.reply_timeout
    }

    /// Enrols a kind whose actors are started elsewhere (the HTTP workers' fronts).
    pub fn enrol_fronts<A>(&mut self, fronts: FrontSet<A>) -> Arc<FrontSet<A>>
    where
        A: Actor<Context = Context<A>> + Supervised + Handler<Panic>,
    {
        let fronts = Arc::new(fronts);
        self.enrolled.push(fronts.clone());
        fronts
    }

    /// Every kind started, in start order.
    pub fn finish(self) -> Vec<Arc<dyn Enrolled>> {
        self.enrolled
    }
}
