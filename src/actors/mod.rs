//! Actors: where state and I/O meet. Each file is one actor kind (its messages, state and
//! handlers); `shard` is the machinery they all run on.

pub mod bus;
pub mod identity;
pub mod shard;
pub mod telecom;

use std::sync::Arc;

use serde::Serialize;

use crate::infra::identity::password::PasswordHasher;
use identity::account::AccountActor;
use identity::session::SessionActor;
use shard::{ActorError, KindSnapshot, Panic, ShardSet};
use telecom::cache::{CacheActor, CacheSnapshot, CacheStats};
use telecom::history::{HistorySnapshot, HistoryWriter};
use telecom::kos_gateway::{GatewaySnapshot, KosGateway};
use telecom::notifier::{Notifier, NotifierSnapshot};
use telecom::product_change::ProductChanger;
use telecom::reconciler::{Reconciler, ReconcilerSnapshot};

/// Every actor set of one instance; what HTTP handlers talk to.
pub struct Actors {
    pub sessions: Arc<ShardSet<SessionActor>>,
    pub accounts: ShardSet<AccountActor>,
    pub kos: Arc<ShardSet<KosGateway>>,
    pub cache: Arc<ShardSet<CacheActor>>,
    pub cache_stats: Arc<CacheStats>,
    pub history: ShardSet<HistoryWriter>,
    pub notifier: Arc<ShardSet<Notifier>>,
    pub products: ShardSet<ProductChanger>,
    pub reconciler: ShardSet<Reconciler>,
    pub hasher: Arc<PasswordHasher>,
}

/// The login hashing pool as `/admin/actors` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HasherSnapshot {
    pub concurrency: usize,
    pub capacity: usize,
    pub in_flight: usize,
}

/// Everything `/admin/actors` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorsSnapshot {
    pub actors: Vec<KindSnapshot>,
    pub password_hasher: HasherSnapshot,
    /// `None` when the gateway could not answer (e.g. being replaced).
    pub kos_gateway: Option<GatewaySnapshot>,
    /// `None` when PostgreSQL could not be asked.
    pub mvno_notifier: Option<NotifierSnapshot>,
    pub cache: CacheSnapshot,
    pub history_writer: Option<HistorySnapshot>,
    /// Product changes whose outcome is still being settled.
    pub reconciler: Option<ReconcilerSnapshot>,
}

impl Actors {
    /// Actor kinds that `/admin/faults/panic?actor=KIND` accepts.
    pub const KINDS: [&'static str; 8] = [
        "session",
        "account",
        "kos",
        "notifier",
        "cache",
        "history",
        "products",
        "reconciler",
    ];

    pub async fn snapshot(&self) -> ActorsSnapshot {
        let kos_gateway = self
            .kos
            .ask_shard(0, telecom::kos_gateway::Snapshot)
            .await
            .ok();
        let mvno_notifier = match self
            .notifier
            .ask_shard(0, telecom::notifier::Snapshot)
            .await
        {
            Ok(Ok(s)) => Some(s),
            _ => None,
        };
        let history_writer = self
            .history
            .ask_shard(0, telecom::history::Snapshot)
            .await
            .ok();
        let reconciler = match self
            .reconciler
            .ask_shard(0, telecom::reconciler::Snapshot)
            .await
        {
            Ok(Ok(s)) => Some(s),
            _ => None,
        };
        ActorsSnapshot {
            actors: vec![
                self.sessions.snapshot(),
                self.accounts.snapshot(),
                self.kos.snapshot(),
                self.cache.snapshot(),
                self.history.snapshot(),
                self.notifier.snapshot(),
                self.products.snapshot(),
                self.reconciler.snapshot(),
            ],
            reconciler,
            cache: self.cache_stats.snapshot(),
            history_writer,
            password_hasher: HasherSnapshot {
                concurrency: self.hasher.concurrency(),
                capacity: self.hasher.capacity(),
                in_flight: self.hasher.in_flight(),
            },
            kos_gateway,
            mvno_notifier,
        }
    }

    /// Makes shard 0 of `kind` panic. `None` for an unknown kind; otherwise whether the
    /// actor died before answering.
    pub async fn panic(&self, kind: &str) -> Option<bool> {
        let outcome: Result<(), ActorError> = match kind {
            "session" => self.sessions.ask_shard(0, Panic).await,
            "account" => self.accounts.ask_shard(0, Panic).await,
            "kos" => self.kos.ask_shard(0, Panic).await,
            "notifier" => self.notifier.ask_shard(0, Panic).await,
            "cache" => self.cache.ask_shard(0, Panic).await,
            "history" => self.history.ask_shard(0, Panic).await,
            "products" => self.products.ask_shard(0, Panic).await,
            "reconciler" => self.reconciler.ask_shard(0, Panic).await,
            _ => return None,
        };
        Some(outcome.is_err())
    }

    /// Writes what the history writer holds (shutdown).
    pub async fn flush(&self) {
        let _ = self.history.ask_shard(0, telecom::history::Flush).await;
    }

    pub fn begin_shutdown(&self) {
        self.cache.begin_shutdown();
        self.products.begin_shutdown();
        self.reconciler.begin_shutdown();
        self.history.begin_shutdown();
        self.sessions.begin_shutdown();
        self.accounts.begin_shutdown();
        self.kos.begin_shutdown();
        self.notifier.begin_shutdown();
    }
}
