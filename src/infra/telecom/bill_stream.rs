//! The bill-result stream: every answered inquiry's history row is its own MVNO
//! notification, so an inquiry costs one row written, and the notifier follows the rows with
//! one cursor (`mvno_cursors`), moved once per delivered batch.
//!
//! The cursor's order is (writing transaction, id). Rows do not become visible in id order:
//! a transaction that took its ids first may commit last. So a batch only ever holds rows
//! written by transactions older than the oldest transaction still running
//! (`pg_snapshot_xmin` of the statement's own snapshot): every such transaction has ended,
//! its rows are all visible or never will be, and any row written later has a newer
//! transaction id, so it lands ahead of the cursor, never behind it. The price: while a
//! transaction that writes anywhere in the cluster stays open, rows written after it wait.
//!
//! One instance delivers the stream at a time: it holds the cursor's lease (`holder`,
//! `leased_until`), renewed by each move. Every move is fenced on the position it started
//! from and on the holder, so an instance that lost its lease (stalled past `lease_s`) cannot
//! move the cursor back or past rows it did not deliver: at worst a batch is delivered twice
//! (at least once, as the MVNO contract says).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Bpchar, Double, Nullable, Text, Timestamptz, Varchar};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

use super::outbox::{self, Failed};
use crate::infra::db::Prepared;
use crate::infra::StoreError;

/// The stream of bill results (its row in `mvno_cursors`).
pub const STREAM: &str = "bill-result";

/// Where the cursor stands: after this transaction's row `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The transaction id (`xid8`) as text.
    pub txid: String,
    pub id: i64,
}

/// A history row owed its notification, with what the notification says.
#[derive(Debug, Clone, QueryableByName)]
pub struct Due {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub txid: String,
    #[diesel(sql_type = Varchar)]
    pub request_id: String,
    #[diesel(sql_type = Bpchar)]
    pub line_number: String,
    #[diesel(sql_type = Bpchar)]
    pub inquiry_month: String,
    #[diesel(sql_type = Timestamptz)]
    pub process_time: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub total_fee: i64,
    #[diesel(sql_type = Text)]
    pub customer_id: String,
    /// The cursor the batch was read after, and its lease.
    #[diesel(sql_type = Text)]
    pub from_txid: String,
    #[diesel(sql_type = BigInt)]
    pub from_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub holder: Option<String>,
    /// Milliseconds left of the lease (negative: run out; absent: never leased).
    #[diesel(sql_type = Nullable<Double>)]
    pub lease_left_ms: Option<f64>,
}

impl Due {
    pub fn position(&self) -> Position {
        Position {
            txid: self.txid.clone(),
            id: self.id,
        }
    }

    pub fn from(&self) -> Position {
        Position {
            txid: self.from_txid.clone(),
            id: self.from_id,
        }
    }
}

/// Up to `limit` rows after the cursor, oldest first, that no running transaction can still
/// precede; empty when there are none (nothing is written to find that out).
pub async fn due(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<Due>, StoreError> {
    Ok(Prepared(
        diesel::sql_query(
            "SELECT d.*, c.position_txid::text AS from_txid, c.position_id AS from_id, c.holder, \
                    (EXTRACT(EPOCH FROM c.leased_until - now()) * 1000)::double precision \
                        AS lease_left_ms \
               FROM mvno_cursors c \
               CROSS JOIN LATERAL ( \
                    SELECT h.id, h.txid::text AS txid, h.request_id, h.line_number, \
                           h.inquiry_month, h.process_time, \
                           (s.bill->>'totalFee')::bigint AS total_fee, \
                           s.bill->>'customerId' AS customer_id \
                      FROM bill_inquiry_history h JOIN bill_snapshots s ON s.id = h.snapshot_id \
                     WHERE h.snapshot_id IS NOT NULL \
                       AND (h.txid, h.id) > (c.position_txid, c.position_id) \
                       AND h.txid < pg_snapshot_xmin(pg_current_snapshot()) \
                     ORDER BY h.txid, h.id LIMIT $2) d \
              WHERE c.stream = $1",
        )
        .bind::<Text, _>(STREAM)
        .bind::<BigInt, _>(limit),
    )
    .load(conn)
    .await?)
}

/// Takes (or renews) the cursor's lease for `holder`, if it is still at `at` and no other
/// instance holds it; whether it did.
pub async fn lease(
    conn: &mut AsyncPgConnection,
    holder: &str,
    at: &Position,
    lease_s: f64,
) -> Result<bool, StoreError> {
    let n = Prepared(
        diesel::sql_query(
            "UPDATE mvno_cursors SET holder = $2, \
                    leased_until = now() + make_interval(secs => $5) \
              WHERE stream = $1 AND position_txid = $3::xid8 AND position_id = $4 \
                AND (holder IS NULL OR holder = $2 OR leased_until < now())",
        )
        .bind::<Text, _>(STREAM)
        .bind::<Text, _>(holder)
        .bind::<Text, _>(&at.txid)
        .bind::<BigInt, _>(at.id)
        .bind::<Double, _>(lease_s),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Moves the cursor from `from` to `to` (renewing `holder`'s lease) and keeps the batch's
/// failed notifications in the outbox (retried from there, or set aside), in one
/// transaction; whether the cursor was still `holder`'s at `from` (if not, nothing is kept:
/// whoever holds it now delivers those rows again).
pub async fn advance(
    conn: &mut AsyncPgConnection,
    holder: &str,
    from: &Position,
    to: &Position,
    lease_s: f64,
    failed: &[Failed<'_>],
) -> Result<bool, StoreError> {
    let moved = Prepared(
        diesel::sql_query(
            "UPDATE mvno_cursors SET position_txid = $5::xid8, position_id = $6, \
                    leased_until = now() + make_interval(secs => $7), moved_at = now() \
              WHERE stream = $1 AND holder = $2 AND position_txid = $3::xid8 \
                AND position_id = $4",
        )
        .bind::<Text, _>(STREAM)
        .bind::<Text, _>(holder)
        .bind::<Text, _>(&from.txid)
        .bind::<BigInt, _>(from.id)
        .bind::<Text, _>(&to.txid)
        .bind::<BigInt, _>(to.id)
        .bind::<Double, _>(lease_s),
    );
    if failed.is_empty() {
        return Ok(moved.execute(conn).await? == 1);
    }
    let result = conn
        .transaction::<(), Fenced, _>(async |conn| {
            if moved.execute(conn).await? != 1 {
                return Err(Fenced::Lost);
            }
            outbox::insert_failed(conn, failed).await?;
            Ok(())
        })
        .await;
    match result {
        Ok(()) => Ok(true),
        Err(Fenced::Lost) => Ok(false),
        Err(Fenced::Store(e)) => Err(e),
    }
}

/// Gives the lease up (at shutdown), so another instance need not wait for it to run out.
pub async fn release(conn: &mut AsyncPgConnection, holder: &str) -> Result<(), StoreError> {
    diesel::sql_query(
        "UPDATE mvno_cursors SET holder = NULL, leased_until = NULL \
          WHERE stream = $1 AND holder = $2",
    )
    .bind::<Text, _>(STREAM)
    .bind::<Text, _>(holder)
    .execute(conn)
    .await?;
    Ok(())
}

enum Fenced {
    Lost,
    Store(StoreError),
}

impl From<StoreError> for Fenced {
    fn from(e: StoreError) -> Self {
        Fenced::Store(e)
    }
}

impl From<diesel::result::Error> for Fenced {
    fn from(e: diesel::result::Error) -> Self {
        Fenced::Store(e.into())
    }
}

/// How far delivery is behind.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamLag {
    /// Rows after the cursor (counted up to 100,000).
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    /// Age of the oldest of them, seconds.
    #[diesel(sql_type = Double)]
    pub oldest_pending_s: f64,
    /// Seconds since the cursor last moved.
    #[diesel(sql_type = Double)]
    pub moved_s_ago: f64,
    /// Whether an instance holds the lease now.
    #[diesel(sql_type = Bool)]
    pub leased: bool,
    /// The instance that holds the lease, or held it last (until it gave it up).
    #[diesel(sql_type = Nullable<Text>)]
    #[serde(skip)]
    pub holder: Option<String>,
}

pub async fn lag(conn: &mut AsyncPgConnection) -> Result<StreamLag, StoreError> {
    Ok(diesel::sql_query(
        "SELECT count(p.process_time) AS pending, \
                COALESCE(EXTRACT(EPOCH FROM now() - min(p.process_time))::double precision, 0) \
                    AS oldest_pending_s, \
                max(EXTRACT(EPOCH FROM now() - c.moved_at))::double precision AS moved_s_ago, \
                COALESCE(bool_or(c.leased_until > now()), false) AS leased, \
                max(c.holder) AS holder \
           FROM mvno_cursors c \
           LEFT JOIN LATERAL ( \
                SELECT h.process_time FROM bill_inquiry_history h \
                 WHERE h.snapshot_id IS NOT NULL \
                   AND (h.txid, h.id) > (c.position_txid, c.position_id) \
                 ORDER BY h.txid, h.id LIMIT 100000) p ON true \
          WHERE c.stream = $1",
    )
    .bind::<Text, _>(STREAM)
    .get_result(conn)
    .await?)
}
