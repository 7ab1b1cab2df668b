//! Actors: where state and I/O meet. One folder per bounded context (`identity`, `telecom`,
//! `store`),
//! each with one file per actor kind (its messages, state and handlers), its use cases, and
//! one `start` that registers its kinds. At the root, what they all run on: `shard` (the
//! sharded, supervised, bounded sets), `group` (registration), `front` (one actor of a kind
//! on each HTTP worker's thread, answering from the shards' copies), `bus` (Redis pub/sub
//! relayed to every instance's actors).

pub mod bus;
pub mod front;
pub mod group;
pub mod identity;
pub mod shard;
pub mod store;
pub mod telecom;

/// What an actor reports when a store failed (unavailable: try later; or an error).
pub use crate::infra::StoreError;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use crate::domain::identity::token::TokenKeys;
use crate::metrics::Metrics;
use crate::settings::Settings;
use bus::SessionBus;
use group::{Enrolled, Launcher};
use identity::{Identity, IdentitySnapshot};
use shard::KindSnapshot;
use store::{Store, StoreSnapshot};
use telecom::{Endpoints, Telecom, TelecomSnapshot};

/// Every actor set of one instance, by context; what HTTP handlers talk to.
pub struct Actors {
    pub identity: Identity,
    pub telecom: Telecom,
    pub store: Store,
    /// Every kind started, in start order.
    enrolled: Vec<Arc<dyn Enrolled>>,
}

/// Everything `/admin/actors` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorsSnapshot {
    pub actors: Vec<KindSnapshot>,
    #[serde(flatten)]
    pub identity: IdentitySnapshot,
    #[serde(flatten)]
    pub telecom: TelecomSnapshot,
    pub store: StoreSnapshot,
}

impl ActorsSnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &Metrics) {
        for kind in &self.actors {
            kind.export(m);
        }
        self.identity.export(m);
        self.telecom.export(m);
        self.store.export(m);
    }
}

impl Actors {
    /// Starts every context's actors and the session bus.
    pub fn start(
        mut launcher: Launcher,
        settings: &Settings,
        tokens: Arc<TokenKeys>,
        endpoints: &Endpoints,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let bus_live = Arc::new(AtomicBool::new(false));
        let identity = Identity::start(&mut launcher, settings, tokens, bus_live.clone())?;
        let telecom = Telecom::start(&mut launcher, settings, endpoints, metrics.clone())?;
        let store = Store::start(
            &mut launcher,
            settings,
            telecom.cache.clone(),
            metrics.clone(),
        )?;
        let bus = SessionBus {
            url: settings.redis.url.clone(),
            redis: launcher.first_stores().redis,
            sessions: identity.sessions.clone(),
            cache: telecom.cache.clone(),
            live: bus_live,
            turns: identity.bus_turns.clone(),
            session_fronts: identity.session_fronts.clone(),
            cache_fronts: telecom.cache_fronts.clone(),
        };
        launcher.spawn(bus.run());
        Ok(Self {
            identity,
            telecom,
            store,
            enrolled: launcher.finish(),
        })
    }

    /// Actor kinds that `/admin/faults/panic?actor=KIND` accepts.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.enrolled.iter().map(|k| k.kind()).collect()
    }

    pub async fn snapshot(&self) -> ActorsSnapshot {
        ActorsSnapshot {
            actors: self.enrolled.iter().map(|k| k.snapshot()).collect(),
            identity: self.identity.snapshot(),
            telecom: self.telecom.snapshot().await,
            store: self.store.stats.snapshot(),
        }
    }

    /// Makes shard 0 of `kind` panic. `None` for an unknown kind; otherwise whether the
    /// actor died before answering.
    pub async fn panic(&self, kind: &str) -> Option<bool> {
        let enrolled = self.enrolled.iter().find(|k| k.kind() == kind)?;
        Some(enrolled.panic().await.is_err())
    }

    /// Writes what the writers hold (shutdown).
    pub async fn flush(&self) {
        self.telecom.flush().await;
    }

    pub fn begin_shutdown(&self) {
        for kind in &self.enrolled {
            kind.begin_shutdown();
        }
    }
}
