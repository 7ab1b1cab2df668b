//! Order actors: placing an order paid with points, and reading orders back (SPEC section 9,
//! seed 4-1 … 4-5, 6-1).
//!
//! State: none of their own beyond the injected faults; an order's truth is its
//! `store_orders` row. Placing one goes through the one idempotency mechanism (scope
//! `STORE_ORDER`, the key required), then the reserve transaction, then the confirm
//! statement (`infra::store::orders`). What the key holds decides a repeated request: the
//! first's answer (replayed), `Reserved` (the first is in flight or left pending: 409), or
//! nothing yet (in flight: 409, unless its holder is presumed dead after `CLAIM_LEASE`).
//! A failure after the reserve committed answers `Pending` once the reserve is known durable
//! (else `503`, and a retry with the same key finds out which it was): the recovery settles
//! it.
//! Sharded by user id. Senders: the orders handlers (`PlaceOrder`, `GetOrder`,
//! `ListOrders`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use chrono::{Duration, Utc};
use uuid::Uuid;

use super::StoreStats;
use crate::actors::shard::{Lifeline, Panic};
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::identity::UserId;
use crate::domain::store::order::{
    self, FaultStep, KeyedOrder, OrderOutcome, OrderRequest, OrderStatus, Receipt,
};
use crate::infra::db::DbPool;
use crate::infra::idempotency::{self, Claim, KeyRef, Scope};
use crate::infra::store::orders::{self, NewOrder, OrderRecord, Reserve};
use crate::infra::StoreError;

/// How long a reserved order key with nothing kept under it is respected before a retry may
/// take it over: its holder has not even committed its reserve (one transaction), so by
/// then it died. A reserve still running when taken over finds its key lost and rolls back.
const CLAIM_LEASE: Duration = Duration::seconds(10);

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("the same Idempotency-Key is in flight")]
    KeyInFlight,
    #[error("the Idempotency-Key was used with another request")]
    KeyMismatch,
    #[error("no such product")]
    UnknownProduct,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Faults to inject into the next orders of this instance (`POST /admin/faults/store`).
#[derive(Debug, Default)]
pub struct StoreFaults {
    after_reserve: AtomicU32,
    before_paid: AtomicU32,
}

impl StoreFaults {
    fn counter(&self, step: FaultStep) -> &AtomicU32 {
        match step {
            FaultStep::AfterReserve => &self.after_reserve,
            FaultStep::BeforePaid => &self.before_paid,
        }
    }

    /// The next `count` orders fail at `step` (replacing what was armed there).
    pub fn arm(&self, step: FaultStep, count: u32) {
        self.counter(step).store(count, Ordering::SeqCst);
    }

    /// Whether this order fails at `step` (using up one armed fault).
    fn strike(&self, step: FaultStep) -> bool {
        self.counter(step)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub fn armed(&self, step: FaultStep) -> u32 {
        self.counter(step).load(Ordering::SeqCst)
    }
}

/// Places an order for `user`; the outcome and whether it is an earlier request's, replayed.
#[derive(Message)]
#[rtype(result = "Result<(OrderOutcome, bool), OrderError>")]
pub struct PlaceOrder {
    pub user: UserId,
    pub request: OrderRequest,
    pub idempotency_key: IdempotencyKey,
}

/// One order, if `user` may see it (its owner, or anyone when `admin`).
#[derive(Message)]
#[rtype(result = "Result<Option<OrderRecord>, StoreError>")]
pub struct GetOrder {
    pub user: UserId,
    pub admin: bool,
    pub order_id: Uuid,
}

/// A page of a user's orders, newest first, and how many in all.
#[derive(Message)]
#[rtype(result = "Result<(Vec<OrderRecord>, i64), StoreError>")]
pub struct ListOrders {
    pub user: UserId,
    pub status: Option<OrderStatus>,
    pub offset: i64,
    pub limit: i64,
}

/// What an order actor is started with.
#[derive(Clone)]
pub struct OrderDeps {
    pub db: DbPool,
    pub idempotency_ttl: Duration,
    pub recovery_after_s: u64,
    pub faults: Arc<StoreFaults>,
    pub stats: Arc<StoreStats>,
}

pub struct OrderActor {
    deps: OrderDeps,
    _lifeline: Lifeline,
}

impl OrderActor {
    pub fn new(deps: OrderDeps, lifeline: Lifeline) -> Self {
        Self {
            deps,
            _lifeline: lifeline,
        }
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;
}

impl Supervised for OrderActor {}

async fn place(deps: OrderDeps, msg: PlaceOrder) -> Result<(OrderOutcome, bool), OrderError> {
    let request_id = Uuid::new_v4().to_string();
    let mut conn = deps.db.get().await.map_err(StoreError::from)?;
    let k = KeyRef {
        user: &msg.user,
        scope: Scope::StoreOrder,
        key: &msg.idempotency_key,
    };
    let fingerprint = msg.request.fingerprint();
    let ttl = deps.idempotency_ttl;
    // The claim and the prices pipelined: one round trip (the prices are thrown away if
    // the key says not to go on).
    let (claimed, priced) = futures_util::future::join(
        idempotency::claim::<KeyedOrder>(&conn, k, &fingerprint, &request_id, ttl),
        orders::price(&conn, msg.request.lines()),
    )
    .await;
    match claimed? {
        Claim::Fresh => {}
        Claim::Replay(KeyedOrder::Answered(outcome)) => return Ok((outcome, true)),
        // The first is between its reserve and its confirm, or was left pending: the
        // recovery keeps its answer when it settles it.
        Claim::Replay(KeyedOrder::Reserved { .. }) => return Err(OrderError::KeyInFlight),
        Claim::Held { holder } => {
            let taken =
                idempotency::take_over(&mut conn, k, &holder, &request_id, false, CLAIM_LEASE)
                    .await?;
            if !taken {
                return Err(OrderError::KeyInFlight);
            }
        }
        Claim::Mismatch => return Err(OrderError::KeyMismatch),
    }
    let priced = match priced {
        Ok(Some(p)) => p,
        Ok(None) => {
            let _ = idempotency::release(&mut conn, k, &request_id).await;
            return Err(OrderError::UnknownProduct);
        }
        Err(e) => {
            let _ = idempotency::release(&mut conn, k, &request_id).await;
            return Err(e.into());
        }
    };
    // At most 20 lines of 100 units at 10,000,000 won: far inside an i64.
    let total =
        order::total(&priced).ok_or_else(|| StoreError::Corrupt("order total overflows".into()))?;
    let new = NewOrder {
        order_id: Uuid::new_v4(),
        user: &msg.user,
        request_id: &request_id,
        lines: &priced,
        total,
        coupon: msg.request.coupon,
        recovery_after_s: deps.recovery_after_s as f64,
    };
    let reserved = match orders::reserve(&mut conn, &new).await {
        Ok(Reserve::Reserved(r)) => r,
        Ok(Reserve::KeyLost) => return Err(OrderError::KeyInFlight),
        Ok(Reserve::Refused(refusal)) => {
            // Nothing is held: record it FAILED with the answer kept under the key.
            if let Err(e) = orders::record_refused(&mut conn, &new, &refusal).await {
                let _ = idempotency::release(&mut conn, k, &request_id).await;
                return Err(e.into());
            }
            let outcome = OrderOutcome::Refused {
                order_id: new.order_id,
                refusal,
            };
            return Ok((outcome, false));
        }
        Err(e) => {
            // Frees the key only if the reserve did not commit (nothing kept under it).
            let _ = idempotency::release(&mut conn, k, &request_id).await;
            return Err(e.into());
        }
    };
    let pending = OrderOutcome::Pending {
        order_id: new.order_id,
    };
    if deps.faults.strike(FaultStep::AfterReserve) {
        tracing::warn!(order_id = %new.order_id, "fault injection: order left pending after its reserve");
        durable(&deps.db, &request_id).await?;
        return Ok((pending, false));
    }
    let paid_at = Utc::now();
    let outcome = OrderOutcome::Paid(Receipt {
        order_id: new.order_id,
        lines: priced.clone(),
        total,
        discount: reserved.discount,
        paid: reserved.paid,
        balance_after: reserved.balance_after,
        coupon: msg.request.coupon,
        created_at: reserved.created_at,
        paid_at,
    });
    let roll_back = deps.faults.strike(FaultStep::BeforePaid);
    match orders::confirm(&mut conn, new.order_id, paid_at, &outcome, roll_back).await {
        Ok(true) => Ok((outcome, false)),
        // Settled by the recovery first (the confirm came after the deadline): its commit
        // was flushed.
        Ok(false) => Ok((pending, false)),
        Err(e) => {
            tracing::warn!(order_id = %new.order_id, error = %e, "order left pending: its confirm failed");
            // A 202 promises the recovery will settle the order: only for a durable reserve.
            durable(&deps.db, &request_id).await?;
            Ok((pending, false))
        }
    }
}

/// The reserve of `request_id` made durable before a `202` is given (on a connection of its
/// own: the confirm's may be the one that broke), else `503`.
async fn durable(db: &DbPool, request_id: &str) -> Result<(), StoreError> {
    let mut conn = db.get().await.map_err(StoreError::from)?;
    orders::make_durable(&mut conn, request_id).await
}

impl Handler<PlaceOrder> for OrderActor {
    type Result = ResponseFuture<Result<(OrderOutcome, bool), OrderError>>;

    fn handle(&mut self, msg: PlaceOrder, _: &mut Context<Self>) -> Self::Result {
        let deps = self.deps.clone();
        Box::pin(async move {
            let stats = deps.stats.clone();
            let result = place(deps, msg).await;
            let counter = match &result {
                Ok((_, true)) => &stats.orders_replayed,
                Ok((OrderOutcome::Paid(_), false)) => &stats.orders_paid,
                Ok((OrderOutcome::Refused { .. }, false)) => &stats.orders_refused,
                Ok((OrderOutcome::Pending { .. }, false)) => &stats.orders_pending,
                Err(OrderError::KeyInFlight) => &stats.orders_in_flight,
                Err(_) => &stats.orders_errors,
            };
            StoreStats::count(counter);
            result
        })
    }
}

impl Handler<GetOrder> for OrderActor {
    type Result = ResponseFuture<Result<Option<OrderRecord>, StoreError>>;

    fn handle(&mut self, msg: GetOrder, _: &mut Context<Self>) -> Self::Result {
        let db = self.deps.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            let found = orders::find(&mut conn, msg.order_id).await?;
            Ok(found.filter(|o| msg.admin || o.user_id == msg.user.as_str()))
        })
    }
}

impl Handler<ListOrders> for OrderActor {
    type Result = ResponseFuture<Result<(Vec<OrderRecord>, i64), StoreError>>;

    fn handle(&mut self, msg: ListOrders, _: &mut Context<Self>) -> Self::Result {
        let db = self.deps.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            orders::page(&mut conn, &msg.user, msg.status, msg.offset, msg.limit).await
        })
    }
}

impl Handler<Panic> for OrderActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: order actor panics on request");
    }
}
