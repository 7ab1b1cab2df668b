//! Settling a product change, the one flow both the change itself and the reconciler end
//! with: the record's final state, the MVNO notification and the outcome kept under the
//! request's Idempotency-Key in one transaction; then, when the change completed, the line's
//! cached customer dropped on every instance.

use chrono::Utc;
use serde::Serialize;

use super::cache::{self, CacheActor, CacheKey};
use crate::actors::shard::ShardSet;
use crate::domain::identity::LineNumber;
use crate::domain::telecom::change::{ChangeOutcome, ChangeStatus, SettledChange, Verdict};
use crate::domain::telecom::kos::KosProduct;
use crate::domain::telecom::product::ProductCode;
use crate::infra::db::DbPool;
use crate::infra::telecom::outbox::{Kind, NewNotification};
use crate::infra::telecom::product_changes::{self as store, Settlement};
use crate::infra::StoreError;

/// The change being settled.
pub struct Change<'a> {
    pub request_id: &'a str,
    pub line: &'a LineNumber,
    pub current: &'a ProductCode,
    pub target: &'a ProductCode,
}

/// What the MVNO AP server is told of a settled change.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeNotification<'a> {
    request_id: &'a str,
    line_number: &'a LineNumber,
    current_product_code: &'a str,
    target_product_code: &'a str,
    process_status: ChangeStatus,
    result_code: &'a str,
    processed_at: String,
}

fn notification(c: &Change<'_>, verdict: &Verdict) -> Result<NewNotification, StoreError> {
    let payload = serde_json::to_value(ChangeNotification {
        request_id: c.request_id,
        line_number: c.line,
        current_product_code: c.current.as_str(),
        target_product_code: c.target.as_str(),
        process_status: verdict.status,
        result_code: &verdict.code,
        processed_at: Utc::now().to_rfc3339(),
    })
    .map_err(|e| StoreError::Corrupt(format!("change notification: {e}")))?;
    Ok(NewNotification::new(
        Kind::ProductChangeResult,
        c.request_id,
        payload,
    ))
}

/// Settles `c` with `verdict`; KOS answered, so the answer is stored with the record and
/// under its key. The answer, and whether this call settled it (false: someone else had).
pub async fn settle_answered(
    db: &DbPool,
    cache: &ShardSet<CacheActor>,
    c: &Change<'_>,
    verdict: &Verdict,
    product: Option<&KosProduct>,
) -> Result<(SettledChange, bool), StoreError> {
    let answer = SettledChange::new(c.request_id, verdict, product);
    let outcome = ChangeOutcome::Settled(Box::new(answer.clone()));
    let settled = {
        let mut conn = db.get().await.map_err(StoreError::from)?;
        store::settle(
            &mut conn,
            Settlement {
                request_id: c.request_id,
                verdict,
                response: Some(&answer),
                notify: Some(notification(c, verdict)?),
                key_outcome: Some(&outcome),
            },
        )
        .await
    };
    // KOS has the new product whatever happened to the record: the cache must not keep
    // the old one.
    if verdict.status == ChangeStatus::Completed {
        cache::invalidate(cache, CacheKey::Customer(c.line.clone())).await;
    }
    Ok((answer, settled?))
}

/// Settles `c` as failed without an answer worth keeping (KOS was never reached): the
/// record and its notification; the key is left to its holder to release.
pub async fn settle_unanswered(
    db: &DbPool,
    c: &Change<'_>,
    verdict: &Verdict,
) -> Result<bool, StoreError> {
    let mut conn = db.get().await.map_err(StoreError::from)?;
    store::settle(
        &mut conn,
        Settlement {
            request_id: c.request_id,
            verdict,
            response: None,
            notify: Some(notification(c, verdict)?),
            key_outcome: None,
        },
    )
    .await
}
