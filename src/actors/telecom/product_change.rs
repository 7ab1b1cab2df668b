//! Product change actors (UFR-PROD-030/040): run a change from request to settled record.
//!
//! State: none of their own; a request's durable state is its row in
//! `product_change_requests` (written PROCESSING before KOS is called) and its
//! Idempotency-Key row. Sharded by line. The rule "one change in flight per line" is a
//! partial unique index in PostgreSQL, so it holds across instances.
//! Senders: the product handlers (`RequestChange`, `Validate`).

use std::sync::Arc;

use actix::prelude::*;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cache::{CacheActor, CacheKey, Cached, Get, Invalidate};
use super::kos_gateway::{Budget, ChangeProduct, InquireCustomer, KosError, KosGateway};
use crate::actors::shard::{ActorError, Lifeline, Panic, ShardSet};
use crate::domain::identity::LineNumber;
use crate::domain::telecom::kos::{Answer, KosCustomer, KosProduct, KosProductList};
use crate::domain::telecom::product::{
    precheck, CatalogueEntry, LineState, ProductCode, Validation,
};
use crate::infra::db::DbPool;
use crate::infra::telecom::outbox::{Kind, NewNotification};
use crate::infra::telecom::product_changes::{
    self as store, BeginError, KeyState, NewChange, Settlement,
};
use crate::infra::StoreError;

/// An answer of the change endpoint, as stored under an Idempotency-Key and replayed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeReply {
    pub status: u16,
    /// `None` for a success envelope; the error code otherwise.
    pub code: Option<String>,
    pub message: String,
    pub data: Value,
}

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

#[derive(Message)]
#[rtype(result = "Result<ChangeReply, ChangeError>")]
pub struct RequestChange {
    pub user_id: String,
    pub line: LineNumber,
    pub current: ProductCode,
    pub target: ProductCode,
    pub idempotency_key: Option<String>,
}

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

/// The notification owed to the MVNO AP server for a settled change.
pub fn change_notification(
    request_id: &str,
    line: &str,
    current: &str,
    target: &str,
    status: &str,
    code: &str,
) -> NewNotification {
    NewNotification::new(
        Kind::ProductChangeResult,
        request_id,
        json!({
            "requestId": request_id,
            "lineNumber": LineNumber::parse(line).map(|l| l.to_string()).unwrap_or_default(),
            "currentProductCode": current,
            "targetProductCode": target,
            "processStatus": status,
            "resultCode": code,
            "processedAt": Utc::now().to_rfc3339(),
        }),
    )
}

/// The answer of a settled change.
pub fn settled_reply(
    request_id: &str,
    status: &str,
    code: &str,
    message: &str,
    product: Option<&KosProduct>,
) -> ChangeReply {
    ChangeReply {
        status: 200,
        code: None,
        message: message.to_string(),
        data: json!({
            "requestId": request_id,
            "processStatus": status,
            "resultCode": code,
            "resultMessage": message,
            "changedProduct": product,
            "processedAt": Utc::now().to_rfc3339(),
        }),
    }
}

fn processing_reply(request_id: &str) -> ChangeReply {
    ChangeReply {
        status: 202,
        code: None,
        message: "상품 변경을 처리 중입니다".into(),
        data: json!({ "requestId": request_id, "processStatus": "PROCESSING" }),
    }
}

async fn run_change(deps: ChangeDeps, msg: RequestChange) -> Result<ChangeReply, ChangeError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let key = msg.idempotency_key.clone();
    let user = msg.user_id.clone();
    if let Some(k) = &key {
        let mut conn = deps.db.get().await.map_err(StoreError::from)?;
        match store::claim_key(
            &mut conn,
            &user,
            k,
            &msg.fingerprint(),
            &request_id,
            deps.idempotency_ttl,
        )
        .await?
        {
            KeyState::Fresh => {}
            KeyState::Replay { body, .. } => {
                return serde_json::from_value(body)
                    .map_err(|e| ChangeError::Internal(e.to_string()));
            }
            KeyState::Settled { response, message } => {
                return Ok(ChangeReply {
                    status: 200,
                    code: None,
                    message,
                    data: response,
                });
            }
            KeyState::InFlight => return Err(ChangeError::KeyInFlight),
            KeyState::Mismatch => return Err(ChangeError::KeyMismatch),
        }
    }
    let outcome = change_once(&deps, &msg, &request_id).await;
    // Store a final answer under the key; free the key otherwise so a retry may use it.
    // A 202 stays reserved: the reconciler stores the final answer when it settles.
    if let Some(k) = &key {
        if let Ok(mut conn) = deps.db.get().await {
            let kept = match &outcome {
                Ok(reply) if reply.status == 202 => Ok(()),
                Ok(reply) => match serde_json::to_value(reply) {
                    Ok(body) => {
                        store::complete_key(&mut conn, &user, k, &request_id, reply.status, &body)
                            .await
                    }
                    Err(_) => store::release_key(&mut conn, &user, k, &request_id).await,
                },
                Err(_) => store::release_key(&mut conn, &user, k, &request_id).await,
            };
            if let Err(e) = kept {
                tracing::warn!(error = %e, "idempotency key could not be updated");
            }
        }
    }
    outcome
}

/// The answer to a change whose pre-check failed (`409`, the validation as data).
fn refused(validation: Validation) -> Result<ChangeReply, ChangeError> {
    Ok(ChangeReply {
        status: 409,
        code: Some("VALIDATION_FAILED".into()),
        message: validation
            .failure_reason
            .clone()
            .unwrap_or_else(|| "상품 사전 체크에 실패하였습니다".into()),
        data: serde_json::to_value(&validation)
            .map_err(|e| ChangeError::Internal(e.to_string()))?,
    })
}

async fn change_once(
    deps: &ChangeDeps,
    msg: &RequestChange,
    request_id: &str,
) -> Result<ChangeReply, ChangeError> {
    // 1. The pre-check again: nothing reaches KOS unless it passes.
    // The line is read from KOS itself, not the cache: a stale cached product must not let
    // the same change through twice ("current matches KOS").
    let mut data = precheck_data(&deps.cache, &msg.line).await?;
    let cached = data.validate(&msg.current, &msg.target);
    if cached.fails_whatever_the_line_is(&msg.current, &msg.target) {
        // Refused from what is known already: a must-fail request costs KOS nothing.
        return refused(cached);
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
        return refused(validation);
    }
    // 2. Durably PROCESSING before KOS is called; if that cannot be written, KOS is not called.
    let line = msg.line.digits().to_string();
    let (current, target) = (
        msg.current.as_str().to_string(),
        msg.target.as_str().to_string(),
    );
    {
        let mut conn = deps.db.get().await.map_err(StoreError::from)?;
        let row = NewChange {
            request_id: request_id.to_string(),
            user_id: msg.user_id.clone(),
            line_number: line.clone(),
            current_product_code: current.clone(),
            target_product_code: target.clone(),
            status: "PROCESSING".into(),
            next_check_at: Utc::now() + deps.first_check_after,
        };
        match store::begin(&mut conn, &row).await {
            Ok(()) => {}
            Err(BeginError::InFlight) => return Err(ChangeError::LineBusy),
            Err(BeginError::Store(e)) => return Err(e.into()),
        }
    }
    // 3. KOS.
    let call = ChangeProduct {
        line: msg.line.clone(),
        current_product_code: current.clone(),
        target_product_code: target.clone(),
        request_id: request_id.to_string(),
    };
    let answer = match deps.kos.ask_shard(0, call).await {
        Ok(answer) => answer,
        // Refused at the gateway's door: the call was never made.
        Err(e @ ActorError::Full { .. }) => Err(KosError::Unavailable(e.to_string())),
        // The gateway died or did not answer in time with the call possibly sent.
        Err(e) => Err(KosError::UnknownOutcome(e.to_string())),
    };
    let (status, code, message, product) = match answer {
        Ok(Answer::Ok(_)) => (
            "COMPLETED",
            "0000".to_string(),
            "상품 변경이 완료되었습니다".to_string(),
            data.product(&target),
        ),
        Ok(Answer::Refused { code, message }) => ("FAILED", code, message, None),
        Err(KosError::UnknownOutcome(reason)) => {
            tracing::warn!(request_id, reason = %reason, "product change outcome unknown; the reconciler will settle it");
            return Ok(processing_reply(request_id));
        }
        Err(e) => {
            // Nothing happened at KOS: the record is settled FAILED, the caller gets 503.
            if let Ok(mut conn) = deps.db.get().await {
                let failed = Settlement {
                    request_id,
                    status: "FAILED",
                    result_code: "KOS_UNAVAILABLE",
                    result_message: "KOS unavailable; not applied",
                    response: None,
                    notify: Some(change_notification(
                        request_id,
                        &line,
                        &current,
                        &target,
                        "FAILED",
                        "KOS_UNAVAILABLE",
                    )),
                    key_reply: None,
                };
                let _ = store::settle(&mut conn, failed).await;
            }
            return Err(e.into());
        }
    };
    // 4. Settle, with the MVNO notification in the same breath; then invalidate the cache.
    let reply = settled_reply(request_id, status, &code, &message, product);
    let settled = async {
        let mut conn = deps.db.get().await.map_err(StoreError::from)?;
        store::settle(
            &mut conn,
            Settlement {
                request_id,
                status,
                result_code: &code,
                result_message: &message,
                response: Some(reply.data.clone()),
                notify: Some(change_notification(
                    request_id, &line, &current, &target, status, &code,
                )),
                key_reply: serde_json::to_value(&reply).ok().map(|v| (reply.status, v)),
            },
        )
        .await
    }
    .await;
    if status == "COMPLETED" {
        let key = CacheKey::Customer(msg.line.clone());
        let _ = deps.cache.ask(&key.name(), Invalidate(key)).await;
    }
    match settled {
        Ok(_) => Ok(reply),
        // KOS answered but the record could not be settled: it stays PROCESSING and the
        // reconciler settles it from KOS; the caller hears "processing".
        Err(e) => {
            tracing::warn!(request_id, error = %e, "product change answered by KOS but not settled; reconciler will");
            Ok(processing_reply(request_id))
        }
    }
}

impl Handler<RequestChange> for ProductChanger {
    type Result = ResponseFuture<Result<ChangeReply, ChangeError>>;

    fn handle(&mut self, msg: RequestChange, _: &mut Context<Self>) -> Self::Result {
        Box::pin(run_change(self.deps.clone(), msg))
    }
}

/// Runs the pre-check only (`POST /products/change/validation`).
#[derive(Message)]
#[rtype(result = "Result<Validation, ChangeError>")]
pub struct Validate {
    pub line: LineNumber,
    pub current: ProductCode,
    pub target: ProductCode,
}

impl Handler<Validate> for ProductChanger {
    type Result = ResponseFuture<Result<Validation, ChangeError>>;

    fn handle(&mut self, msg: Validate, _: &mut Context<Self>) -> Self::Result {
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
#[rtype(result = "Result<Option<store::ChangeRow>, StoreError>")]
pub struct FindChange(pub String);

impl Handler<FindChange> for ProductChanger {
    type Result = ResponseFuture<Result<Option<store::ChangeRow>, StoreError>>;

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
#[rtype(result = "Result<(Vec<store::ChangeRow>, i64), StoreError>")]
pub struct ChangeHistory(pub store::HistoryFilter);

impl Handler<ChangeHistory> for ProductChanger {
    type Result = ResponseFuture<Result<(Vec<store::ChangeRow>, i64), StoreError>>;

    fn handle(&mut self, msg: ChangeHistory, _: &mut Context<Self>) -> Self::Result {
        let db = self.deps.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            store::page(&mut conn, &msg.0).await
        })
    }
}
