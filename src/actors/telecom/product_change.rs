//! Product change actors (UFR-PROD-030/040): run a change from request to settled record.
//!
//! State: none of their own; a request's durable state is its row in
//! `product_change_requests` (written PROCESSING before KOS is called) and its
//! Idempotency-Key row. Sharded by line. The rule "one change in flight per line" is a
//! partial unique index in PostgreSQL, so it holds across instances.
//! Senders: the product handlers (`RequestChange`, `Precheck`, `FindChange`, `ChangeHistory`).
//! Replies are domain outcomes (`ChangeOutcome`); the edge maps them to HTTP.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{Duration, Utc};

use super::cache::{CacheActor, CacheKey, Cached, Get};
use super::kos_gateway::{Budget, ChangeProduct, InquireCustomer, KosError, KosGateway};
use super::settlement::{self, Change};
use crate::actors::shard::{ActorError, Lifeline, Panic, ShardSet};
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::identity::{LineNumber, UserId};
use crate::domain::telecom::change::{
    ChangeFilter, ChangeOutcome, ChangeRecord, ChangeStatus, Verdict,
};
use crate::domain::telecom::kos::{Answer, KosCustomer, KosProduct, KosProductList};
use crate::domain::telecom::product::{
    precheck, CatalogueEntry, LineState, ProductCode, Validation,
};
use crate::infra::db::DbPool;
use crate::infra::idempotency::{self, Claim, KeyRef, Scope};
use crate::infra::telecom::product_changes::{self as store, BeginError, NewChange};
use crate::infra::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("another change of this line is in flight")]
    LineBusy,
    #[error("the same Idempotency-Key is in flight")]
    KeyInFlight,
    #[error("the Idempotency-Key was used with another request")]
    KeyMismatch,
    #[error("line unknown to KOS")]
    LineNotFound,
    #[error(transparent)]
    Kos(#[from] KosError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// What the pre-check reads, from the cache (customer 4 h, catalogue 24 h).
pub struct PrecheckData {
    pub customer: KosCustomer,
    pub catalogue: KosProductList,
}

impl PrecheckData {
    pub fn validate(&self, current: &ProductCode, target: &ProductCode) -> Validation {
        let line = LineState {
            status: &self.customer.line_status,
            operator: &self.customer.operator_code,
            current_product: &self.customer.current_product_code,
        };
        let entries: Vec<CatalogueEntry<'_>> = self
            .catalogue
            .products
            .iter()
            .map(|p| CatalogueEntry {
                code: &p.product_code,
                operator: &p.operator_code,
                on_sale: p.is_available,
            })
            .collect();
        precheck(&line, &entries, current, target)
    }

    pub fn product(&self, code: &str) -> Option<&KosProduct> {
        self.catalogue
            .products
            .iter()
            .find(|p| p.product_code == code)
    }
}

/// Loads what the pre-check needs through the cache.
pub async fn precheck_data(
    cache: &ShardSet<CacheActor>,
    line: &LineNumber,
) -> Result<PrecheckData, ChangeError> {
    let gone = |e: crate::actors::shard::ActorError| {
        ChangeError::Kos(KosError::Unavailable(e.to_string()))
    };
    let key = CacheKey::Customer(line.clone());
    let customer = cache.ask(&key.name(), Get(key)).await.map_err(gone)??;
    let customer = match &*customer.value {
        Cached::Customer(c) => (**c).clone(),
        Cached::Refused { .. } => return Err(ChangeError::LineNotFound),
        other => {
            return Err(ChangeError::Internal(format!(
                "customer cache held {other:?}"
            )))
        }
    };
    let key = CacheKey::Products;
    let catalogue = cache.ask(&key.name(), Get(key)).await.map_err(gone)??;
    let catalogue = match &*catalogue.value {
        Cached::Products(p) => p.clone(),
        other => {
            return Err(ChangeError::Internal(format!(
                "catalogue cache held {other:?}"
            )))
        }
    };
    Ok(PrecheckData {
        customer,
        catalogue,
    })
}

/// Runs a change; its outcome, and whether it is an earlier request's, replayed.
#[derive(Message)]
#[rtype(result = "Result<(ChangeOutcome, Replayed), ChangeError>")]
pub struct RequestChange {
    pub user_id: UserId,
    pub line: LineNumber,
    pub current: ProductCode,
    pub target: ProductCode,
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Whether an outcome is an earlier request's, given again for the same Idempotency-Key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed(pub bool);

impl RequestChange {
    /// What makes two requests "the same body" for an Idempotency-Key.
    fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}",
            self.line.digits(),
            self.current.as_str(),
            self.target.as_str()
        )
    }
}

#[derive(Clone)]
pub struct ChangeDeps {
    pub db: DbPool,
    pub kos: Arc<ShardSet<KosGateway>>,
    pub cache: Arc<ShardSet<CacheActor>>,
    pub idempotency_ttl: Duration,
    /// When the reconciler may first look at a PROCESSING record: after the KOS call's own
    /// time-out, so it never races a call still in flight.
    pub first_check_after: Duration,
}

pub struct ProductChanger {
    deps: ChangeDeps,
    _lifeline: Lifeline,
}

impl ProductChanger {
    pub fn new(deps: ChangeDeps, lifeline: Lifeline) -> Self {
        Self {
            deps,
            _lifeline: lifeline,
        }
    }
}

impl Actor for ProductChanger {
    type Context = Context<Self>;
}

impl Supervised for ProductChanger {}

/// How long a reserved key whose holder wrote no change record is respected before another
/// request with the same body may take it over (far longer than a request takes to write
/// its record).
const CLAIM_LEASE: Duration = Duration::seconds(120);

/// What a key reserved by another request means for a change: in flight, settled (its
/// record's answer), or free to take over.
async fn held_key(
    deps: &ChangeDeps,
    k: KeyRef<'_>,
    holder: &str,
    request_id: &str,
) -> Result<Option<ChangeOutcome>, ChangeError> {
    let mut conn = deps.db.get().await.map_err(StoreError::from)?;
    let record = store::find(&mut conn, holder).await?;
    match record {
        Some(c) if c.status == ChangeStatus::Processing => Err(ChangeError::KeyInFlight),
        // Settled with an answer the holder did not get to keep under the key.
        Some(ChangeRecord {
            response: Some(answer),
            ..
        }) => Ok(Some(ChangeOutcome::Settled(Box::new(answer)))),
        // Settled without an answer (not applied), or no record at all (the holder never
        // got as far as KOS and, after the lease, is presumed dead): take the key over.
        other => {
            let done = other.is_some();
            if idempotency::take_over(&mut conn, k, holder, request_id, done, CLAIM_LEASE).await? {
                Ok(None)
            } else {
                Err(ChangeError::KeyInFlight)
            }
        }
    }
}

async fn run_change(
    deps: ChangeDeps,
    msg: RequestChange,
) -> Result<(ChangeOutcome, Replayed), ChangeError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let key = msg.idempotency_key.as_ref().map(|key| KeyRef {
        user: &msg.user_id,
        scope: Scope::ProductChange,
        key,
    });
    if let Some(k) = key {
        let claim = {
            let conn = deps.db.get().await.map_err(StoreError::from)?;
            idempotency::claim::<ChangeOutcome>(
                &conn,
                k,
                &msg.fingerprint(),
                &request_id,
                deps.idempotency_ttl,
            )
            .await?
        };
        match claim {
            Claim::Fresh => {}
            Claim::Replay(outcome) => return Ok((outcome, Replayed(true))),
            Claim::Held { holder } => {
                if let Some(outcome) = held_key(&deps, k, &holder, &request_id).await? {
                    return Ok((outcome, Replayed(true)));
                }
            }
            Claim::Mismatch => return Err(ChangeError::KeyMismatch),
        }
    }
    let outcome = change_once(&deps, &msg, &request_id).await;
    // Keep a final outcome under the key; free the key otherwise so a retry may use it.
    // A settled answer is kept by the settling transaction itself; a change still
    // processing keeps its key reserved until the reconciler settles it.
    if let Some(k) = key {
        if let Ok(mut conn) = deps.db.get().await {
            let kept = match &outcome {
                Ok(ChangeOutcome::Processing { .. }) | Ok(ChangeOutcome::Settled(_)) => Ok(()),
                Ok(refused @ ChangeOutcome::Refused(_)) => {
                    idempotency::keep_outcome(&mut conn, &request_id, refused)
                        .await
                        .map(|_| ())
                }
                Err(_) => idempotency::release(&mut conn, k, &request_id).await,
            };
            if let Err(e) = kept {
                tracing::warn!(error = %e, "idempotency key could not be updated");
            }
        }
    }
    outcome.map(|o| (o, Replayed(false)))
}

async fn change_once(
    deps: &ChangeDeps,
    msg: &RequestChange,
    request_id: &str,
) -> Result<ChangeOutcome, ChangeError> {
    // 1. The pre-check again: nothing reaches KOS unless it passes.
    // The line is read from KOS itself, not the cache: a stale cached product must not let
    // the same change through twice ("current matches KOS").
    let mut data = precheck_data(&deps.cache, &msg.line).await?;
    let cached = data.validate(&msg.current, &msg.target);
    if cached.fails_whatever_the_line_is(&msg.current, &msg.target) {
        // Refused from what is known already: a must-fail request costs KOS nothing.
        return Ok(ChangeOutcome::Refused(cached));
    }
    match deps
        .kos
        .ask_shard(
            0,
            InquireCustomer {
                line: msg.line.clone(),
                budget: Budget::Customers,
            },
        )
        .await
    {
        Ok(Ok(Answer::Ok(fresh))) => data.customer = fresh,
        Ok(Ok(Answer::Refused { .. })) => return Err(ChangeError::LineNotFound),
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => return Err(ChangeError::Kos(KosError::Unavailable(e.to_string()))),
    }
    let validation = data.validate(&msg.current, &msg.target);
    if !validation.passed() {
        return Ok(ChangeOutcome::Refused(validation));
    }
    // 2. Durably PROCESSING before KOS is called; if that cannot be written, KOS is not called.
    {
        let mut conn = deps.db.get().await.map_err(StoreError::from)?;
        let row = NewChange {
            request_id,
            user_id: &msg.user_id,
            line: &msg.line,
            current: &msg.current,
            target: &msg.target,
            next_check_at: Utc::now() + deps.first_check_after,
        };
        match store::begin(&mut conn, &row).await {
            Ok(()) => {}
            Err(BeginError::InFlight) => return Err(ChangeError::LineBusy),
            Err(BeginError::Store(e)) => return Err(e.into()),
        }
    }
    let change = Change {
        request_id,
        line: &msg.line,
        current: &msg.current,
        target: &msg.target,
    };
    let processing = || ChangeOutcome::Processing {
        request_id: request_id.to_string(),
    };
    // 3. KOS.
    let call = ChangeProduct {
        line: msg.line.clone(),
        current_product_code: msg.current.as_str().to_string(),
        target_product_code: msg.target.as_str().to_string(),
        request_id: request_id.to_string(),
    };
    let answer = match deps.kos.ask_shard(0, call).await {
        Ok(answer) => answer,
        // Refused at the gateway's door: the call was never made.
        Err(e @ ActorError::Full { .. }) => Err(KosError::Unavailable(e.to_string())),
        // The gateway died or did not answer in time with the call possibly sent.
        Err(e) => Err(KosError::UnknownOutcome(e.to_string())),
    };
    let (verdict, product) = match answer {
        Ok(Answer::Ok(_)) => (Verdict::completed(), data.product(msg.target.as_str())),
        Ok(Answer::Refused { code, message }) => (Verdict::failed(code, message), None),
        Err(KosError::UnknownOutcome(reason)) => {
            tracing::warn!(request_id, reason = %reason, "product change outcome unknown; the reconciler will settle it");
            return Ok(processing());
        }
        Err(e) => {
            // Nothing happened at KOS: the record is settled FAILED, the caller hears KOS is unavailable.
            let failed = Verdict::failed("KOS_UNAVAILABLE", "KOS unavailable; not applied");
            let _ = settlement::settle_unanswered(&deps.db, &change, &failed).await;
            return Err(e.into());
        }
    };
    // 4. Settle, with the MVNO notification in the same breath; then invalidate the cache.
    match settlement::settle_answered(&deps.db, &deps.cache, &change, &verdict, product).await {
        Ok((answer, _)) => Ok(ChangeOutcome::Settled(Box::new(answer))),
        // KOS answered but the record could not be settled: it stays PROCESSING and the
        // reconciler settles it from KOS; the caller hears "processing".
        Err(e) => {
            tracing::warn!(request_id, error = %e, "product change answered by KOS but not settled; reconciler will");
            Ok(processing())
        }
    }
}

impl Handler<RequestChange> for ProductChanger {
    type Result = ResponseFuture<Result<(ChangeOutcome, Replayed), ChangeError>>;

    fn handle(&mut self, msg: RequestChange, _: &mut Context<Self>) -> Self::Result {
        Box::pin(run_change(self.deps.clone(), msg))
    }
}

/// Runs the pre-check only (`POST /products/change/validation`).
#[derive(Message)]
#[rtype(result = "Result<Validation, ChangeError>")]
pub struct Precheck {
    pub line: LineNumber,
    pub current: ProductCode,
    pub target: ProductCode,
}

impl Handler<Precheck> for ProductChanger {
    type Result = ResponseFuture<Result<Validation, ChangeError>>;

    fn handle(&mut self, msg: Precheck, _: &mut Context<Self>) -> Self::Result {
        let cache = self.deps.cache.clone();
        Box::pin(async move {
            let data = precheck_data(&cache, &msg.line).await?;
            Ok(data.validate(&msg.current, &msg.target))
        })
    }
}

impl Handler<Panic> for ProductChanger {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: product change actor panics on request");
    }
}

/// A change record by request id.
#[derive(Message)]
#[rtype(result = "Result<Option<ChangeRecord>, StoreError>")]
pub struct FindChange(pub String);

impl Handler<FindChange> for ProductChanger {
    type Result = ResponseFuture<Result<Option<ChangeRecord>, StoreError>>;

    fn handle(&mut self, msg: FindChange, _: &mut Context<Self>) -> Self::Result {
        let db = self.deps.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            store::find(&mut conn, &msg.0).await
        })
    }
}

/// A page of a line's change requests, newest first.
#[derive(Message)]
#[rtype(result = "Result<(Vec<ChangeRecord>, i64), StoreError>")]
pub struct ChangeHistory(pub ChangeFilter);

impl Handler<ChangeHistory> for ProductChanger {
    type Result = ResponseFuture<Result<(Vec<ChangeRecord>, i64), StoreError>>;

    fn handle(&mut self, msg: ChangeHistory, _: &mut Context<Self>) -> Self::Result {
        let db = self.deps.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            store::page(&mut conn, &msg.0).await
        })
    }
}
