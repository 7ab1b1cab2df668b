//! Wallet actors: points charges, balances and the ledger (SPEC section 9, seed 1-1/1-2).
//!
//! State: none of their own; a balance's truth is its `store_wallets` row, changed only by
//! a relative, limit-conditional update in the same transaction as its ledger entry, so one
//! user's charges are ordered by PostgreSQL's row lock whichever instance runs them.
//! Sharded by user id. A charge may carry an Idempotency-Key (scope `POINTS_CHARGE`): the
//! outcome is kept under it and answered again to a retry.
//! Senders: the points handlers (`Charge`, `GetBalance`, `LedgerPage`).

use std::sync::Arc;

use actix::prelude::*;
use chrono::Duration;

use super::StoreStats;
use crate::actors::shard::{Lifeline, Panic};
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::identity::UserId;
use crate::domain::store::points::{ChargeOutcome, ChargeRefusal, ChargeRules, LedgerKind, Points};
use crate::infra::db::DbPool;
use crate::infra::idempotency::{self, Claim, KeyRef, Scope};
use crate::infra::store::wallets::{self, Balance, Entry};
use crate::infra::StoreError;

/// How long a reserved charge key with no outcome is respected before a retry may take it
/// over (a charge is one transaction: far longer than one can take).
const CLAIM_LEASE: Duration = Duration::seconds(60);

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("charge refused: {0:?}")]
    Refused(ChargeRefusal),
    #[error("the same Idempotency-Key is in flight")]
    KeyInFlight,
    #[error("the Idempotency-Key was used with another request")]
    KeyMismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Charges `amount` (already past the amount rules) to `user`; the outcome and whether it
/// is an earlier request's, replayed.
#[derive(Message)]
#[rtype(result = "Result<(ChargeOutcome, bool), WalletError>")]
pub struct Charge {
    pub user: UserId,
    pub amount: Points,
    pub idempotency_key: Option<IdempotencyKey>,
}

#[derive(Message)]
#[rtype(result = "Result<Balance, StoreError>")]
pub struct GetBalance(pub UserId);

/// A page of a user's ledger, newest first.
#[derive(Message)]
#[rtype(result = "Result<(Vec<Entry>, i64), StoreError>")]
pub struct LedgerPage {
    pub user: UserId,
    pub kind: Option<LedgerKind>,
    pub offset: i64,
    pub limit: i64,
}

pub struct WalletActor {
    db: DbPool,
    rules: ChargeRules,
    idempotency_ttl: Duration,
    stats: Arc<StoreStats>,
    _lifeline: Lifeline,
}

impl WalletActor {
    pub fn new(
        db: DbPool,
        rules: ChargeRules,
        idempotency_ttl: Duration,
        stats: Arc<StoreStats>,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            db,
            rules,
            idempotency_ttl,
            stats,
            _lifeline: lifeline,
        }
    }
}

impl Actor for WalletActor {
    type Context = Context<Self>;
}

impl Supervised for WalletActor {}

async fn run_charge(
    db: DbPool,
    rules: ChargeRules,
    ttl: Duration,
    msg: Charge,
) -> Result<(ChargeOutcome, bool), WalletError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut conn = db.get().await.map_err(StoreError::from)?;
    let key = msg.idempotency_key.as_ref().map(|key| KeyRef {
        user: &msg.user,
        scope: Scope::PointsCharge,
        key,
    });
    if let Some(k) = key {
        let fingerprint = msg.amount.to_string();
        match idempotency::claim::<ChargeOutcome>(&conn, k, &fingerprint, &request_id, ttl).await? {
            Claim::Fresh => {}
            Claim::Replay(outcome) => return Ok((outcome, true)),
            // A charge keeps its outcome in the same breath as it is made, so a holder with
            // none either is running or died before committing: after the lease, retry.
            Claim::Held { holder } => {
                let taken =
                    idempotency::take_over(&mut conn, k, &holder, &request_id, false, CLAIM_LEASE)
                        .await?;
                if !taken {
                    return Err(WalletError::KeyInFlight);
                }
            }
            Claim::Mismatch => return Err(WalletError::KeyMismatch),
        }
    }
    let balance_max = Points::new(rules.balance_max);
    // The outcome is kept under the key in the charge's own transaction: a charge that
    // committed always has its answer kept, so a retry can never charge twice.
    let keep_under = key.map(|_| request_id.as_str());
    match wallets::charge(&mut conn, &msg.user, msg.amount, balance_max, keep_under).await {
        Ok(outcome) => Ok((outcome, false)),
        Err(e) => {
            if let Some(k) = key {
                let _ = idempotency::release(&mut conn, k, &request_id).await;
            }
            Err(e.into())
        }
    }
}

impl Handler<Charge> for WalletActor {
    type Result = ResponseFuture<Result<(ChargeOutcome, bool), WalletError>>;

    fn handle(&mut self, msg: Charge, _: &mut Context<Self>) -> Self::Result {
        let stats = self.stats.clone();
        let charge = run_charge(self.db.clone(), self.rules, self.idempotency_ttl, msg);
        Box::pin(async move {
            let result = charge.await;
            match &result {
                Ok((_, true)) => StoreStats::count(&stats.charges_replayed),
                Ok((ChargeOutcome::Charged { .. }, false)) => StoreStats::count(&stats.charges),
                Ok((ChargeOutcome::OverLimit, false)) => {
                    StoreStats::count(&stats.charges_over_limit)
                }
                Err(_) => {}
            }
            result
        })
    }
}

impl Handler<GetBalance> for WalletActor {
    type Result = ResponseFuture<Result<Balance, StoreError>>;

    fn handle(&mut self, msg: GetBalance, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            wallets::balance(&mut conn, &msg.0).await
        })
    }
}

impl Handler<LedgerPage> for WalletActor {
    type Result = ResponseFuture<Result<(Vec<Entry>, i64), StoreError>>;

    fn handle(&mut self, msg: LedgerPage, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            wallets::history(&mut conn, &msg.user, msg.kind, msg.offset, msg.limit).await
        })
    }
}

impl Handler<Panic> for WalletActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: wallet actor panics on request");
    }
}
