//! The order-recovery actor, one per instance (SPEC section 9, seed 5-1).
//!
//! State: whether a round is running, what it settled. Every `[store] recovery_interval_ms`
//! it settles the `PENDING` orders whose deadline (`[store] pending_recovery_s` after their
//! creation) has passed, one transaction each (`orders::settle_one_overdue`): each is
//! leased with `FOR UPDATE SKIP LOCKED`, so the instances share the work and none settles an
//! order another holds, and settled by a conditional state change in the same transaction
//! as its restores, so exactly once. A round settles at most `[store] recovery_batch`; after
//! a full one the next starts at once. It also counts what is pending, for `/metrics`.
//! Senders: none (its own timer); `/admin/actors` reads `StoreStats`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::StoreStats;
use crate::actors::shard::{Lifeline, Panic};
use crate::infra::db::DbPool;
use crate::infra::store::orders;
use crate::metrics::Metrics;

pub struct RecoveryActor {
    db: DbPool,
    interval: Duration,
    batch: u32,
    stats: Arc<StoreStats>,
    metrics: Arc<Metrics>,
    running: bool,
    _lifeline: Lifeline,
}

impl RecoveryActor {
    pub fn new(
        db: DbPool,
        interval: Duration,
        batch: u32,
        stats: Arc<StoreStats>,
        metrics: Arc<Metrics>,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            db,
            interval,
            batch,
            stats,
            metrics,
            running: false,
            _lifeline: lifeline,
        }
    }

    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let (db, batch, stats, metrics) = (
            self.db.clone(),
            self.batch,
            self.stats.clone(),
            self.metrics.clone(),
        );
        // Whether the round settled a full batch: then the next starts at once, not at the
        // next tick, so a burst of overdue orders is not settled at batch / interval.
        let work = async move {
            let mut conn = match db.get().await {
                Ok(c) => c,
                Err(_) => return false,
            };
            let mut settled_here = 0;
            for _ in 0..batch {
                match orders::settle_one_overdue(&mut conn).await {
                    Ok(Some(settled)) => {
                        settled_here += 1;
                        StoreStats::count(&stats.orders_recovered);
                        metrics.store_recovery_seconds.observe(settled.age_s);
                        tracing::info!(order_id = %settled.order_id, age_s = settled.age_s,
                            "pending order canceled and restored by the recovery");
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "order recovery round failed; next round retries");
                        break;
                    }
                }
            }
            if let Ok((count, oldest)) = orders::pending(&mut conn).await {
                stats.pending.store(count.max(0) as u64, Ordering::Relaxed);
                let oldest_ms = oldest.map_or(0, |s| (s * 1000.0).max(0.0) as u64);
                stats.oldest_pending_ms.store(oldest_ms, Ordering::Relaxed);
            }
            settled_here == batch
        };
        ctx.spawn(work.into_actor(self).map(|full, act, ctx| {
            act.running = false;
            if full {
                act.round(ctx);
            }
        }));
    }
}

impl Actor for RecoveryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |act, ctx| act.round(ctx));
    }
}

impl Supervised for RecoveryActor {}

impl Handler<Panic> for RecoveryActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: order recovery panics on request");
    }
}
