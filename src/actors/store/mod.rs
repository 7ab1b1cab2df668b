//! The membership store's actors: wallets (points charges, balances, the ledger), the shop
//! (products), coupon campaigns (first-come claims, batched), orders (reserve and confirm,
//! under a required Idempotency-Key), the order recovery and the popular products (one of
//! each per instance). `Store::start` is the one place its actor kinds
//! are registered. It uses identity (who the user is) and reads a line's operator through
//! telecom's customer cache, nothing else of the other contexts.

pub mod coupon;
pub mod order;
pub mod popular;
pub mod recovery;
pub mod shop;
pub mod wallet;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use super::group::{Launcher, Placement};
use super::shard::ShardSet;

use crate::metrics::Metrics;
use crate::settings::Settings;
use coupon::CouponActor;
use order::{OrderActor, OrderDeps, StoreFaults};
use popular::PopularActor;
use recovery::RecoveryActor;
use shop::ShopActor;
use wallet::WalletActor;

/// The store's actor sets of one instance.
pub struct Store {
    pub wallets: Arc<ShardSet<WalletActor>>,
    pub shop: Arc<ShardSet<ShopActor>>,
    pub coupons: Arc<ShardSet<CouponActor>>,
    pub orders: Arc<ShardSet<OrderActor>>,
    pub recovery: Arc<ShardSet<RecoveryActor>>,
    pub popular: Arc<ShardSet<PopularActor>>,
    /// Faults armed for the next orders of this instance (`POST /admin/faults/store`).
    pub faults: Arc<StoreFaults>,
    pub stats: Arc<StoreStats>,
}

/// What the store's actors count (atomics, shared with `/admin/actors` and `/metrics`).
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Charges made.
    pub charges: AtomicU64,
    /// Charges refused by the balance limit.
    pub charges_over_limit: AtomicU64,
    /// Charges answered again under their Idempotency-Key.
    pub charges_replayed: AtomicU64,
    /// Coupon claims by outcome.
    pub coupons_issued: AtomicU64,
    /// Sold out, answered from memory without asking PostgreSQL.
    pub coupons_sold_out_memory: AtomicU64,
    /// Sold out, as PostgreSQL said.
    pub coupons_sold_out: AtomicU64,
    pub coupons_duplicate: AtomicU64,
    pub coupons_not_eligible: AtomicU64,
    /// Transactions that issued coupons (claims per batch = issued / batches).
    pub coupon_batches: AtomicU64,
    /// Orders placed by outcome: paid, refused (recorded FAILED), left pending (answered
    /// 202), answered again under their key, refused 409 as in flight, failed (503 and the
    /// like, nothing held).
    pub orders_paid: AtomicU64,
    pub orders_refused: AtomicU64,
    pub orders_pending: AtomicU64,
    pub orders_replayed: AtomicU64,
    pub orders_in_flight: AtomicU64,
    pub orders_errors: AtomicU64,
    /// Pending orders this instance's recovery canceled and restored.
    pub orders_recovered: AtomicU64,
    /// Orders PENDING in the database, and the oldest one's age, as of the last recovery
    /// round.
    pub pending: AtomicU64,
    pub oldest_pending_ms: AtomicU64,
}

impl StoreStats {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StoreSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreSnapshot {
            charges: get(&self.charges),
            charges_over_limit: get(&self.charges_over_limit),
            charges_replayed: get(&self.charges_replayed),
            coupons_issued: get(&self.coupons_issued),
            coupons_sold_out_memory: get(&self.coupons_sold_out_memory),
            coupons_sold_out: get(&self.coupons_sold_out),
            coupons_duplicate: get(&self.coupons_duplicate),
            coupons_not_eligible: get(&self.coupons_not_eligible),
            coupon_batches: get(&self.coupon_batches),
            orders_paid: get(&self.orders_paid),
            orders_refused: get(&self.orders_refused),
            orders_pending: get(&self.orders_pending),
            orders_replayed: get(&self.orders_replayed),
            orders_in_flight: get(&self.orders_in_flight),
            orders_errors: get(&self.orders_errors),
            orders_recovered: get(&self.orders_recovered),
            pending: get(&self.pending),
            oldest_pending_ms: get(&self.oldest_pending_ms),
        }
    }
}

/// The store's counters as `/admin/actors` shows them (`store`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreSnapshot {
    pub charges: u64,
    pub charges_over_limit: u64,
    pub charges_replayed: u64,
    pub coupons_issued: u64,
    pub coupons_sold_out_memory: u64,
    pub coupons_sold_out: u64,
    pub coupons_duplicate: u64,
    pub coupons_not_eligible: u64,
    pub coupon_batches: u64,
    pub orders_paid: u64,
    pub orders_refused: u64,
    pub orders_pending: u64,
    pub orders_replayed: u64,
    pub orders_in_flight: u64,
    pub orders_errors: u64,
    pub orders_recovered: u64,
    pub pending: u64,
    pub oldest_pending_ms: u64,
}

impl StoreSnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &Metrics) {
        m.set_store_charges("charged", self.charges);
        m.set_store_charges("over_limit", self.charges_over_limit);
        m.set_store_charges("replayed", self.charges_replayed);
        for (outcome, v) in [
            ("issued", self.coupons_issued),
            ("sold_out_from_memory", self.coupons_sold_out_memory),
            ("sold_out", self.coupons_sold_out),
            ("duplicate", self.coupons_duplicate),
            ("not_eligible", self.coupons_not_eligible),
        ] {
            m.set_store_coupon_claims(outcome, v);
        }
        m.set_store_coupon_batches(self.coupon_batches);
        for (outcome, v) in [
            ("paid", self.orders_paid),
            ("refused", self.orders_refused),
            ("pending", self.orders_pending),
            ("replayed", self.orders_replayed),
            ("in_flight", self.orders_in_flight),
            ("error", self.orders_errors),
            ("recovered", self.orders_recovered),
        ] {
            m.set_store_orders(outcome, v);
        }
        m.set_store_pending(self.pending, self.oldest_pending_ms);
    }
}

impl Store {
    /// `customers`: telecom's cache, through which a coupon claim reads the line's operator.
    pub fn start(
        l: &mut Launcher,
        settings: &Settings,
        customers: Arc<ShardSet<crate::actors::telecom::cache::CacheActor>>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let stats = Arc::new(StoreStats::default());
        let (stores, rules) = (l.stores(), settings.store.charge_rules());
        let wallet_stats = stats.clone();
        let ttl = chrono::Duration::seconds(settings.products.idempotency_ttl_s as i64);
        let wallets = l.start(
            "wallet",
            settings.actors.wallet,
            Placement::Spread,
            move |cx| {
                let db = stores[cx.arbiter % stores.len()].db.clone();
                WalletActor::new(db, rules, ttl, wallet_stats.clone(), cx.lifeline)
            },
        );
        let stores = l.stores();
        let shop = l.start("shop", settings.actors.shop, Placement::Spread, move |cx| {
            ShopActor::new(stores[cx.arbiter % stores.len()].db.clone(), cx.lifeline)
        });
        let (stores, coupon_stats) = (l.stores(), stats.clone());
        let batch_max = settings.store.coupon_batch_max;
        let coupons = l.start(
            "coupon",
            settings.actors.coupon,
            Placement::Spread,
            move |cx| {
                CouponActor::new(
                    stores[cx.arbiter % stores.len()].db.clone(),
                    customers.clone(),
                    coupon_stats.clone(),
                    batch_max,
                    cx.lifeline,
                )
            },
        );
        let st = &settings.store;
        let faults = Arc::new(StoreFaults::default());
        let deps = OrderDeps {
            db: l.first_stores().db,
            idempotency_ttl: ttl,
            recovery_after_s: st.pending_recovery_s,
            faults: faults.clone(),
            stats: stats.clone(),
        };
        let stores = l.stores();
        let orders = l.start(
            "order",
            settings.actors.order,
            Placement::Spread,
            move |cx| {
                let mut deps = deps.clone();
                deps.db = stores[cx.arbiter % stores.len()].db.clone();
                OrderActor::new(deps, cx.lifeline)
            },
        );
        let (db, recovery_stats) = (l.background_stores().db, stats.clone());
        let (interval, batch) = (
            std::time::Duration::from_millis(st.recovery_interval_ms),
            st.recovery_batch,
        );
        let recovery = l.start(
            "recovery",
            settings.actors.recovery.as_kind(),
            Placement::Background,
            move |cx| {
                RecoveryActor::new(
                    db.clone(),
                    interval,
                    batch,
                    recovery_stats.clone(),
                    metrics.clone(),
                    cx.lifeline,
                )
            },
        );
        let db = l.background_stores().db;
        let refresh = std::time::Duration::from_millis(st.popular_refresh_ms);
        let (window, size) = (
            i64::from(st.popular_window_hours),
            i64::from(st.popular_size),
        );
        let popular = l.start(
            "popular",
            settings.actors.popular.as_kind(),
            Placement::Background,
            move |cx| PopularActor::new(db.clone(), refresh, window, size, cx.lifeline),
        );
        Ok(Self {
            wallets,
            shop,
            coupons,
            orders,
            recovery,
            popular,
            faults,
            stats,
        })
    }
}
