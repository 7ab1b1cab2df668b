//! The membership store's actors: wallets (points charges, balances, the ledger), the shop
//! (products; the hot stock of part 2) and coupon
//! campaigns (first-come claims, batched). `Store::start` is the one place its actor kinds
//! are registered. It uses identity (who the user is) and reads a line's operator through
//! telecom's customer cache, nothing else of the other contexts.

pub mod coupon;
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
use shop::ShopActor;
use wallet::WalletActor;

/// The store's actor sets of one instance.
pub struct Store {
    pub wallets: Arc<ShardSet<WalletActor>>,
    pub shop: Arc<ShardSet<ShopActor>>,
    pub coupons: Arc<ShardSet<CouponActor>>,
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
    }
}

impl Store {
    /// `customers`: telecom's cache, through which a coupon claim reads the line's operator.
    pub fn start(
        l: &mut Launcher,
        settings: &Settings,
        customers: Arc<ShardSet<crate::actors::telecom::cache::CacheActor>>,
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
        Ok(Self {
            wallets,
            shop,
            coupons,
            stats,
        })
    }
}
