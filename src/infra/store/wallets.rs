//! Wallets and the append-only points ledger (`store_wallets`, `store_ledger`). A balance
//! only ever moves by a relative update in the same transaction as its ledger entry.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::identity::UserId;
use crate::domain::store::points::{ChargeOutcome, LedgerKind, Points};
use crate::infra::idempotency;
use crate::infra::schema::{store_ledger as l, store_wallets as w};
use crate::infra::StoreError;

/// `store_ledger.kind` (its `CHECK` lists the same values).
pub fn kind_sql(k: LedgerKind) -> &'static str {
    match k {
        LedgerKind::Charge => "CHARGE",
        LedgerKind::Use => "USE",
        LedgerKind::Restore => "RESTORE",
    }
}

fn kind_from_sql(s: &str) -> Result<LedgerKind, StoreError> {
    match s {
        "CHARGE" => Ok(LedgerKind::Charge),
        "USE" => Ok(LedgerKind::Use),
        "RESTORE" => Ok(LedgerKind::Restore),
        other => Err(StoreError::Corrupt(format!("ledger kind {other:?}"))),
    }
}

/// A balance and when it last moved (`None`: the user never charged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub balance: Points,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn balance(conn: &mut AsyncPgConnection, user: &UserId) -> Result<Balance, StoreError> {
    let found: Option<(i64, DateTime<Utc>)> = w::table
        .find(user.as_str())
        .select((w::balance, w::updated_at))
        .first(conn)
        .await
        .optional()?;
    Ok(match found {
        Some((b, at)) => Balance {
            balance: Points::new(b),
            updated_at: Some(at),
        },
        None => Balance {
            balance: Points::ZERO,
            updated_at: None,
        },
    })
}

/// Adds `amount` to `user`'s balance if it stays at most `balance_max`, with its ledger
/// entry, in one transaction; and, when `keep_under` names the request holding an
/// Idempotency-Key, the outcome kept under that key in the same transaction.
pub async fn charge(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    amount: Points,
    balance_max: Points,
    keep_under: Option<&str>,
) -> Result<ChargeOutcome, StoreError> {
    let user = user.as_str().to_string();
    conn.transaction::<ChargeOutcome, StoreError, _>(async move |conn| {
        // Insert-or-add, conditional on the limit: one statement, the row lock orders the
        // charges of one user whichever instance runs them.
        let after: Option<i64> = diesel::sql_query(
            "INSERT INTO store_wallets AS w (user_id, balance, updated_at) \
                  SELECT $1, $2, now() WHERE $2 <= $3 \
             ON CONFLICT (user_id) DO UPDATE \
                SET balance = w.balance + EXCLUDED.balance, updated_at = now() \
              WHERE w.balance + EXCLUDED.balance <= $3 \
             RETURNING balance",
        )
        .bind::<diesel::sql_types::Text, _>(&user)
        .bind::<diesel::sql_types::BigInt, _>(amount.won())
        .bind::<diesel::sql_types::BigInt, _>(balance_max.won())
        .get_result::<BalanceRow>(conn)
        .await
        .optional()?
        .map(|r| r.balance);
        let outcome = match after {
            None => ChargeOutcome::OverLimit,
            Some(after) => {
                let transaction_id = Uuid::new_v4();
                diesel::insert_into(l::table)
                    .values((
                        l::transaction_id.eq(transaction_id),
                        l::user_id.eq(&user),
                        l::kind.eq(kind_sql(LedgerKind::Charge)),
                        l::amount.eq(amount.won()),
                        l::balance_after.eq(after),
                    ))
                    .execute(conn)
                    .await?;
                ChargeOutcome::Charged {
                    transaction_id,
                    balance: Points::new(after),
                    charged: amount,
                }
            }
        };
        if let Some(request_id) = keep_under {
            idempotency::keep_outcome(conn, request_id, &outcome).await?;
        }
        Ok(outcome)
    })
    .await
}

#[derive(QueryableByName)]
struct BalanceRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    balance: i64,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub transaction_id: Uuid,
    pub kind: LedgerKind,
    pub amount: Points,
    pub balance_after: Points,
    pub order_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A ledger row as selected: id, kind, amount, balance after, order, time.
type EntryRow = (Uuid, String, i64, i64, Option<Uuid>, DateTime<Utc>);

/// A page of `user`'s entries (of `kind` if given), newest first, and how many in all.
pub async fn history(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    kind: Option<LedgerKind>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Entry>, i64), StoreError> {
    let filtered = || {
        let mut q = l::table.filter(l::user_id.eq(user.as_str())).into_boxed();
        if let Some(k) = kind {
            q = q.filter(l::kind.eq(kind_sql(k)));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let rows: Vec<EntryRow> = filtered()
        .order(l::id.desc())
        .offset(offset)
        .limit(limit)
        .select((
            l::transaction_id,
            l::kind,
            l::amount,
            l::balance_after,
            l::order_id,
            l::created_at,
        ))
        .load(conn)
        .await?;
    let entries = rows
        .into_iter()
        .map(
            |(transaction_id, kind, amount, after, order_id, created_at)| {
                Ok(Entry {
                    transaction_id,
                    kind: kind_from_sql(&kind)?,
                    amount: Points::new(amount),
                    balance_after: Points::new(after),
                    order_id,
                    created_at,
                })
            },
        )
        .collect::<Result<_, StoreError>>()?;
    Ok((entries, total))
}
