//! The reconciler: settles product changes whose KOS outcome is unknown (a time-out after
//! the request was sent, or a crash between KOS's answer and the record).
//!
//! State: its round bookkeeping only; the work list is the PROCESSING rows in PostgreSQL.
//! Each round leases due rows (`FOR UPDATE SKIP LOCKED`, so instances share the work without
//! double-processing), asks KOS for the line's current product and settles each record
//! `COMPLETED` (KOS has the target) or `FAILED` (it does not). While KOS is unavailable a
//! record is checked again with exponential backoff; nothing stays PROCESSING for ever.
//! It also deletes expired Idempotency-Keys. One per instance.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use serde::Serialize;

use super::cache::CacheActor;
use super::kos_gateway::{Budget, InquireCustomer, KosGateway};
use super::settlement::{self, Change};
use crate::actors::shard::{Lifeline, Panic, ShardSet};
use crate::domain::telecom::change::{ChangeRecord, ChangeStatus, Verdict};
use crate::domain::telecom::kos::Answer;
use crate::infra::db::DbPool;
use crate::infra::idempotency;
use crate::infra::telecom::product_changes as store;
use crate::infra::StoreError;
use crate::settings::ProductSettings;

#[derive(Message)]
#[rtype(result = "Result<ReconcilerSnapshot, StoreError>")]
pub struct Snapshot;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcilerSnapshot {
    /// Changes still PROCESSING (on every instance).
    pub unsettled: i64,
    /// Age of the oldest PROCESSING change, seconds.
    pub oldest_unsettled_s: f64,
    pub settled: u64,
    pub kos_unavailable_checks: u64,
}

impl ReconcilerSnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &crate::metrics::Metrics) {
        m.set_unsettled_changes(self.unsettled, self.oldest_unsettled_s as i64);
    }
}

pub struct Reconciler {
    db: DbPool,
    kos: Arc<ShardSet<KosGateway>>,
    cache: Arc<ShardSet<CacheActor>>,
    settings: ProductSettings,
    busy: bool,
    settled: u64,
    kos_unavailable_checks: u64,
    _lifeline: Lifeline,
}

impl Reconciler {
    pub fn new(
        db: DbPool,
        kos: Arc<ShardSet<KosGateway>>,
        cache: Arc<ShardSet<CacheActor>>,
        settings: ProductSettings,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            db,
            kos,
            cache,
            settings,
            busy: false,
            settled: 0,
            kos_unavailable_checks: 0,
            _lifeline: lifeline,
        }
    }

    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let (db, kos, cache, s) = (
            self.db.clone(),
            self.kos.clone(),
            self.cache.clone(),
            self.settings.clone(),
        );
        let work = async move { reconcile_round(&db, &kos, &cache, &s).await };
        ctx.spawn(work.into_actor(self).map(|outcome, act, _| {
            act.busy = false;
            match outcome {
                Ok((settled, unavailable)) => {
                    act.settled += settled;
                    act.kos_unavailable_checks += unavailable;
                }
                Err(e) => tracing::warn!(error = %e, "reconciler round failed; will retry"),
            }
        }));
    }
}

async fn reconcile_round(
    db: &DbPool,
    kos: &ShardSet<KosGateway>,
    cache: &ShardSet<CacheActor>,
    s: &ProductSettings,
) -> Result<(u64, u64), StoreError> {
    let due = {
        let mut conn = db.get().await.map_err(StoreError::from)?;
        store::lease_unsettled(
            &mut conn,
            i64::from(s.reconcile_batch),
            chrono::Duration::seconds(30),
        )
        .await?
    };
    let (mut settled, mut unavailable) = (0, 0);
    for row in due {
        match settle_from_kos(db, kos, cache, &row).await {
            Ok(true) => settled += 1,
            Ok(false) => {
                unavailable += 1;
                let backoff = s
                    .reconcile_max_backoff_ms
                    .min(1000u64.saturating_mul(1 << row.check_attempts.clamp(0, 16)));
                let mut conn = db.get().await.map_err(StoreError::from)?;
                store::check_later(
                    &mut conn,
                    &row.request_id,
                    Utc::now() + chrono::Duration::milliseconds(backoff as i64),
                )
                .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((settled, unavailable))
}

/// Asks KOS how the line stands and settles the record. `Ok(false)`: KOS could not say.
async fn settle_from_kos(
    db: &DbPool,
    kos: &ShardSet<KosGateway>,
    cache: &ShardSet<CacheActor>,
    row: &ChangeRecord,
) -> Result<bool, StoreError> {
    let answer = match kos
        .ask_shard(
            0,
            InquireCustomer {
                line: row.line.clone(),
                budget: Budget::Customers,
            },
        )
        .await
    {
        Ok(Ok(a)) => a,
        _ => return Ok(false),
    };
    let verdict = match answer {
        Answer::Ok(c) if c.current_product_code == row.target.as_str() => Verdict::completed(),
        Answer::Ok(_) => Verdict::failed("NOT_APPLIED", "KOS에 반영되지 않았습니다"),
        Answer::Refused { code, message } => Verdict::failed(code, message),
    };
    let change = Change {
        request_id: &row.request_id,
        line: &row.line,
        current: &row.current,
        target: &row.target,
    };
    let (_, done) = settlement::settle_answered(db, cache, &change, &verdict, None).await?;
    if done {
        let completed = verdict.status == ChangeStatus::Completed;
        tracing::info!(request_id = %row.request_id, completed, "product change reconciled");
    }
    Ok(true)
}

impl Actor for Reconciler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(
            Duration::from_millis(self.settings.reconcile_interval_ms),
            |act, ctx| act.round(ctx),
        );
        let db = self.db.clone();
        ctx.run_interval(Duration::from_secs(600), move |act, ctx| {
            let db = db.clone();
            ctx.spawn(
                async move {
                    if let Ok(mut conn) = db.get().await {
                        if let Ok(n) = idempotency::purge(&mut conn).await {
                            if n > 0 {
                                tracing::info!(deleted = n, "expired idempotency keys deleted");
                            }
                        }
                    }
                }
                .into_actor(act),
            );
        });
    }
}

impl Supervised for Reconciler {}

impl Handler<Snapshot> for Reconciler {
    type Result = ResponseActFuture<Self, Result<ReconcilerSnapshot, StoreError>>;

    fn handle(&mut self, _: Snapshot, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let query = async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            store::unsettled(&mut conn).await
        };
        Box::pin(query.into_actor(self).map(|r, act, _| {
            let (unsettled, oldest_unsettled_s) = r?;
            Ok(ReconcilerSnapshot {
                unsettled,
                oldest_unsettled_s,
                settled: act.settled,
                kos_unavailable_checks: act.kos_unavailable_checks,
            })
        }))
    }
}

impl Handler<Panic> for Reconciler {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: reconciler panics on request");
    }
}
