//! Telecom's actors: the KOS gateway with its circuit breakers, the bill/product cache, the
//! bill-inquiry history writer, the MVNO notifier, product changes and their reconciler;
//! and the use cases that run across them (`bill_inquiry`, `settlement`). `Telecom::start`
//! is the one place its actor kinds are registered.

pub mod bill_history;
pub mod bill_inquiry;
pub mod cache;
pub mod cache_front;
pub mod kos_gateway;
pub mod notifier;
pub mod product_change;
pub mod reconciler;
pub mod settlement;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::front::FrontSet;
use super::group::{Launcher, Placement};
use super::shard::ShardSet;
use crate::infra::telecom::spool::Spool;
use crate::metrics::Metrics;
use crate::settings::{ActorKindSettings, Settings};
use bill_history::{HistoryInlet, HistorySnapshot, HistoryWriter};
use cache::{CacheActor, CacheSnapshot, CacheStats};
use cache_front::CacheFront;
use kos_gateway::{GatewaySnapshot, KosGateway};
use notifier::{Notifier, NotifierSnapshot};
use product_change::{ChangeDeps, ProductChanger};
use reconciler::{Reconciler, ReconcilerSnapshot};

/// Telecom's actor sets of one instance.
pub struct Telecom {
    pub kos: Arc<ShardSet<KosGateway>>,
    pub cache: Arc<ShardSet<CacheActor>>,
    pub cache_stats: Arc<CacheStats>,
    /// One per HTTP worker (started by the server's factory with `start_cache_front`).
    pub cache_fronts: Arc<FrontSet<CacheFront>>,
    front_entries: usize,
    pub history: Arc<ShardSet<HistoryWriter>>,
    /// Where inquiries hand their records to `history` (admission without a round trip).
    pub inlet: HistoryInlet,
    pub notifier: Arc<ShardSet<Notifier>>,
    pub products: Arc<ShardSet<ProductChanger>>,
    pub reconciler: Arc<ShardSet<Reconciler>>,
}

/// Where telecom's outside systems answer.
pub struct Endpoints {
    pub kos_url: String,
    pub mvno_url: String,
}

/// What `/admin/actors` shows of telecom besides its actor kinds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelecomSnapshot {
    /// `None` when the gateway could not answer (e.g. being replaced).
    pub kos_gateway: Option<GatewaySnapshot>,
    /// `None` when PostgreSQL could not be asked.
    pub mvno_notifier: Option<NotifierSnapshot>,
    pub cache: CacheSnapshot,
    pub history_writer: Option<HistorySnapshot>,
    /// Product changes whose outcome is still being settled.
    pub reconciler: Option<ReconcilerSnapshot>,
}

impl TelecomSnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &Metrics) {
        if let Some(g) = &self.kos_gateway {
            g.export(m);
        }
        self.cache.export(m);
        if let Some(h) = &self.history_writer {
            h.export(m);
        }
        if let Some(n) = &self.mvno_notifier {
            n.export(m);
        }
        if let Some(r) = &self.reconciler {
            r.export(m);
        }
    }
}

impl Telecom {
    pub fn start(
        l: &mut Launcher,
        settings: &Settings,
        endpoints: &Endpoints,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let (kos_settings, url) = (settings.kos.clone(), endpoints.kos_url.clone());
        let client = crate::infra::telecom::kos::client(&settings.kos)
            .map_err(|e| anyhow::anyhow!("kos: cannot build the HTTP client: {e}"))?;
        let kos = l.start(
            "kos",
            settings.actors.kos.as_kind(),
            Placement::Spread,
            move |cx| {
                KosGateway::new(
                    &kos_settings,
                    client.clone(),
                    url.clone(),
                    Some(metrics.clone()),
                    cx.lifeline,
                )
            },
        );
        let cache_stats = Arc::new(CacheStats::default());
        let cache_fronts = l.enrol_fronts(FrontSet::new(
            "cache_front",
            settings.actors.cache_front.mailbox,
            l.reply_timeout(),
            settings.actors.retry_after_s,
        ));
        let (stores, k, stats, cs, fronts) = (
            l.stores(),
            kos.clone(),
            cache_stats.clone(),
            settings.cache.clone(),
            cache_fronts.clone(),
        );
        let cache = l.start(
            "cache",
            settings.actors.cache,
            Placement::Spread,
            move |cx| {
                let redis = stores[cx.arbiter % stores.len()].redis.clone();
                let (k, stats, fronts) = (k.clone(), stats.clone(), fronts.clone());
                CacheActor::new(cs.clone(), redis, k, stats, fronts, cx.lifeline)
            },
        );
        let (mvno, url) = (settings.mvno.clone(), endpoints.mvno_url.clone());
        let client = crate::infra::telecom::outbox::mvno_client(&settings.mvno)
            .map_err(|e| anyhow::anyhow!("mvno: cannot build the HTTP client: {e}"))?;
        let db = l.background_stores().db;
        // This process's name as holder of the bill-result stream's lease: the same for
        // every restart of the notifier actor, another for another process.
        let holder = format!("phonebill-{}", uuid::Uuid::new_v4());
        let notifier = l.start(
            "notifier",
            settings.actors.notifier.as_kind(),
            Placement::Background,
            move |cx| {
                Notifier::new(
                    db.clone(),
                    client.clone(),
                    url.clone(),
                    mvno.clone(),
                    holder.clone(),
                    cx.lifeline,
                )
            },
        );
        // This instance's slot of the spool, held until it exits (whatever happens to the
        // writer actor).
        let spool = Spool::claim(&settings.actors.history.spool_dir).map_err(|e| {
            anyhow::anyhow!("actors.history.spool_dir: cannot claim a spool slot: {e}")
        })?;
        // The history writer shares the notifier's arbiter: it wakes it after each write.
        let (db, hs, n) = (
            l.background_stores().db,
            settings.actors.history.clone(),
            notifier.clone(),
        );
        // The inlet's queue and count outlive any one writer actor (a successor takes over
        // what its predecessor had queued).
        let held = Arc::new(bill_history::Held::default());
        let (queue, queued) = crossbeam_channel::unbounded();
        let writer_held = held.clone();
        let history = l.start(
            "history",
            ActorKindSettings {
                mailbox: settings.actors.history.mailbox,
                shards: 1,
            },
            Placement::Background,
            move |cx| {
                HistoryWriter::new(
                    db.clone(),
                    spool.clone(),
                    hs.clone(),
                    n.clone(),
                    queued.clone(),
                    writer_held.clone(),
                    cx.lifeline,
                )
            },
        );
        let inlet = HistoryInlet::new(queue, history.clone(), held, &settings.actors.history);
        // A change may take two KOS reads, the KOS change and a few database round trips:
        // its actor is given at least that long to answer.
        let change_worst_ms = 2 * settings.kos.inquiry_timeout_ms
            + settings.kos.change_timeout_ms
            + 4 * settings.database.acquire_timeout_ms
            + 1000;
        let deps = ChangeDeps {
            db: l.first_stores().db,
            kos: kos.clone(),
            cache: cache.clone(),
            idempotency_ttl: chrono::Duration::seconds(settings.products.idempotency_ttl_s as i64),
            first_check_after: chrono::Duration::milliseconds(
                (settings.kos.change_timeout_ms + settings.products.first_check_delay_ms) as i64,
            ),
        };
        let stores = l.stores();
        let products = l.start_with_timeout(
            "products",
            settings.actors.products,
            Placement::Spread,
            Duration::from_millis(change_worst_ms),
            move |cx| {
                let mut deps = deps.clone();
                deps.db = stores[cx.arbiter % stores.len()].db.clone();
                ProductChanger::new(deps, cx.lifeline)
            },
        );
        let (db, k, c, ps) = (
            l.background_stores().db,
            kos.clone(),
            cache.clone(),
            settings.products.clone(),
        );
        let reconciler = l.start(
            "reconciler",
            settings.actors.reconciler.as_kind(),
            Placement::Background,
            move |cx| Reconciler::new(db.clone(), k.clone(), c.clone(), ps.clone(), cx.lifeline),
        );
        Ok(Self {
            kos,
            cache,
            cache_stats,
            cache_fronts,
            front_entries: settings.actors.cache_front.entries,
            history,
            inlet,
            notifier,
            products,
            reconciler,
        })
    }

    /// Starts the calling HTTP worker's cache front (on its thread).
    pub fn start_cache_front(&self) -> Arc<ShardSet<CacheFront>> {
        let (cache, stats, entries) = (
            self.cache.clone(),
            self.cache_stats.clone(),
            self.front_entries,
        );
        self.cache_fronts.start_here(move |cx| {
            CacheFront::new(cache.clone(), stats.clone(), entries, cx.lifeline)
        })
    }

    pub async fn snapshot(&self) -> TelecomSnapshot {
        let kos_gateway = self.kos.ask_shard(0, kos_gateway::Snapshot).await.ok();
        let mvno_notifier = match self.notifier.ask_shard(0, notifier::Snapshot).await {
            Ok(Ok(s)) => Some(s),
            _ => None,
        };
        let history_writer = self.history.ask_shard(0, bill_history::Snapshot).await.ok();
        let reconciler = match self.reconciler.ask_shard(0, reconciler::Snapshot).await {
            Ok(Ok(s)) => Some(s),
            _ => None,
        };
        TelecomSnapshot {
            kos_gateway,
            mvno_notifier,
            cache: self.cache_stats.snapshot(),
            history_writer,
            reconciler,
        }
    }

    /// Writes what the history writer holds, and gives up the bill-result stream's lease
    /// so another instance delivers at once (shutdown).
    pub async fn flush(&self) {
        let _ = self.history.ask_shard(0, bill_history::Flush).await;
        let _ = self.notifier.ask_shard(0, notifier::Release).await;
    }
}
