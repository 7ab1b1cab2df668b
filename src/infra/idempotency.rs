//! The one idempotency mechanism (table `idempotency_keys`): a key is reserved per user and
//! scope for a request with a body's fingerprint, then keeps the outcome that request was
//! given (a JSON document of the scope's own outcome type), for `keep` (24 h). Every
//! endpoint that takes an `Idempotency-Key` goes through here, from its use case below the
//! edge; what a reserved key whose holder never finished means is the scope's to decide
//! (`Claim::Held`, then `take_over`).

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::domain::idempotency::IdempotencyKey;
use crate::domain::identity::UserId;
use crate::infra::db::Prepared;
use crate::infra::schema::idempotency_keys as ik;
use crate::infra::StoreError;

/// Which endpoint a key belongs to (`idempotency_keys.scope`, held by a `CHECK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    ProductChange,
    PointsCharge,
    StoreOrder,
}

impl Scope {
    fn sql(self) -> &'static str {
        match self {
            Scope::ProductChange => "PRODUCT_CHANGE",
            Scope::PointsCharge => "POINTS_CHARGE",
            Scope::StoreOrder => "STORE_ORDER",
        }
    }
}

/// A key of a user in a scope.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    pub user: &'a UserId,
    pub scope: Scope,
    pub key: &'a IdempotencyKey,
}

/// What a key says about a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim<T> {
    /// First use: go ahead (the key is now reserved for this request).
    Fresh,
    /// Same key, same body, finished: give this outcome again.
    Replay(T),
    /// Same key, same body, reserved by request `holder`, which has stored no outcome.
    Held { holder: String },
    /// Same key, another body.
    Mismatch,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    fingerprint: String,
    #[diesel(sql_type = Text)]
    request_id: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
    answer: Option<Value>,
}

/// Reserves `k` for request `request_id` with `fingerprint`, or says why not.
/// On a shared connection, so that a caller may pipeline it with a read of its own.
pub async fn claim<T: DeserializeOwned>(
    conn: &AsyncPgConnection,
    k: KeyRef<'_>,
    fingerprint: &str,
    request_id: &str,
    keep: Duration,
) -> Result<Claim<T>, StoreError> {
    let mut conn = conn;
    // One statement, kept prepared: insert, or take over a key that has expired (an
    // expired key is as good as absent); a live key of anyone is left as it is.
    let inserted = Prepared(
        diesel::sql_query(
            "INSERT INTO idempotency_keys AS k \
                    (user_id, scope, idem_key, fingerprint, request_id, expires_at) \
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) \
             ON CONFLICT (user_id, scope, idem_key) DO UPDATE \
                SET fingerprint = EXCLUDED.fingerprint, request_id = EXCLUDED.request_id, \
                    answer = NULL, created_at = now(), expires_at = EXCLUDED.expires_at \
              WHERE k.expires_at <= now()",
        )
        .bind::<Text, _>(k.user.as_str())
        .bind::<Text, _>(k.scope.sql())
        .bind::<Text, _>(k.key.as_str())
        .bind::<Text, _>(fingerprint)
        .bind::<Text, _>(request_id)
        .bind::<Double, _>(keep.num_milliseconds() as f64 / 1000.0),
    )
    .execute(&mut conn)
    .await?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let found: Option<KeyRow> = Prepared(
        diesel::sql_query(
            "SELECT fingerprint, request_id, answer FROM idempotency_keys \
              WHERE user_id = $1 AND scope = $2 AND idem_key = $3",
        )
        .bind::<Text, _>(k.user.as_str())
        .bind::<Text, _>(k.scope.sql())
        .bind::<Text, _>(k.key.as_str()),
    )
    .get_result(&mut conn)
    .await
    .optional()?;
    // Released between our insert and this read: it is free again, for a retry.
    let Some(row) = found else {
        return Ok(Claim::Held {
            holder: String::new(),
        });
    };
    if row.fingerprint != fingerprint {
        return Ok(Claim::Mismatch);
    }
    match row.answer {
        Some(answer) => serde_json::from_value(answer)
            .map(Claim::Replay)
            .map_err(|e| StoreError::Corrupt(format!("idempotency answer: {e}"))),
        None => Ok(Claim::Held {
            holder: row.request_id,
        }),
    }
}

/// Gives a reserved key without an outcome to request `request_id`, if `holder` still holds
/// it and either `holder_done` (its scope knows it finished without an outcome to keep) or
/// its reservation is older than `lease` (the holder is presumed dead). One statement, on
/// the database's clock.
pub async fn take_over(
    conn: &mut AsyncPgConnection,
    k: KeyRef<'_>,
    holder: &str,
    request_id: &str,
    holder_done: bool,
    lease: Duration,
) -> Result<bool, StoreError> {
    let taken = diesel::sql_query(
        "UPDATE idempotency_keys SET request_id = $1, created_at = now() \
          WHERE user_id = $2 AND scope = $3 AND idem_key = $4 AND request_id = $5 \
            AND answer IS NULL \
            AND ($6 OR created_at < now() - make_interval(secs => $7))",
    )
    .bind::<diesel::sql_types::Text, _>(request_id)
    .bind::<diesel::sql_types::Text, _>(k.user.as_str())
    .bind::<diesel::sql_types::Text, _>(k.scope.sql())
    .bind::<diesel::sql_types::Text, _>(k.key.as_str())
    .bind::<diesel::sql_types::Text, _>(holder)
    .bind::<diesel::sql_types::Bool, _>(holder_done)
    .bind::<diesel::sql_types::Double, _>(lease.num_milliseconds() as f64 / 1000.0)
    .execute(conn)
    .await?;
    Ok(taken == 1)
}

/// Keeps `outcome` under the key request `request_id` holds (whichever key that is: a
/// request holds at most one), e.g. in the transaction that settles it. False if it holds
/// none (no key was sent, or another request took it over).
pub async fn keep_outcome<T: Serialize>(
    conn: &mut AsyncPgConnection,
    request_id: &str,
    outcome: &T,
) -> Result<bool, StoreError> {
    let answer = serde_json::to_value(outcome)
        .map_err(|e| StoreError::Corrupt(format!("idempotency answer: {e}")))?;
    let n = diesel::update(ik::table.filter(ik::request_id.eq(request_id)))
        .set(ik::answer.eq(Some(answer)))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Frees the key request `request_id` reserved, when it reached no outcome worth keeping
/// (so a retry may use it). Only its own reservation (another may have taken it over), and
/// only while it keeps no outcome: a failure reported after a commit that did happen (a
/// lost acknowledgement) must not free a key whose outcome was kept.
pub async fn release(
    conn: &mut AsyncPgConnection,
    k: KeyRef<'_>,
    request_id: &str,
) -> Result<(), StoreError> {
    diesel::delete(
        ik::table
            .filter(ik::user_id.eq(k.user.as_str()))
            .filter(ik::scope.eq(k.scope.sql()))
            .filter(ik::idem_key.eq(k.key.as_str()))
            .filter(ik::request_id.eq(request_id))
            .filter(ik::answer.is_null()),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes expired keys of every scope; returns how many.
pub async fn purge(conn: &mut AsyncPgConnection) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(ik::table.filter(ik::expires_at.le(Utc::now())))
            .execute(conn)
            .await?,
    )
}
