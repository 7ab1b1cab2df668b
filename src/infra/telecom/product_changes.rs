//! Product change requests in PostgreSQL (`product_change_requests`). Their Idempotency-Keys
//! are kept by the shared mechanism, `infra::idempotency`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::outbox::{self, NewNotification};
use crate::domain::identity::{LineNumber, UserId};
use crate::domain::telecom::change::{
    ChangeFilter, ChangeOutcome, ChangeRecord, ChangeStatus, SettledChange, Verdict,
};
use crate::domain::telecom::product::ProductCode;
use crate::infra::idempotency;
use crate::infra::schema::product_change_requests as pc;
use crate::infra::StoreError;

/// `product_change_requests.status` (its `CHECK` constraint lists the same values).
fn status_sql(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Processing => "PROCESSING",
        ChangeStatus::Completed => "COMPLETED",
        ChangeStatus::Failed => "FAILED",
    }
}

fn status_from_sql(s: &str) -> Result<ChangeStatus, StoreError> {
    match s {
        "PROCESSING" => Ok(ChangeStatus::Processing),
        "COMPLETED" => Ok(ChangeStatus::Completed),
        "FAILED" => Ok(ChangeStatus::Failed),
        other => Err(StoreError::Corrupt(format!("change status {other:?}"))),
    }
}

/// A change about to be sent to KOS.
#[derive(Debug, Clone)]
pub struct NewChange<'a> {
    pub request_id: &'a str,
    pub user_id: &'a UserId,
    pub line: &'a LineNumber,
    pub current: &'a ProductCode,
    pub target: &'a ProductCode,
    /// When the reconciler may first look at it.
    pub next_check_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = pc)]
struct ChangeRow {
    request_id: String,
    user_id: String,
    line_number: String,
    current_product_code: String,
    target_product_code: String,
    status: String,
    result_code: Option<String>,
    result_message: Option<String>,
    response: Option<Value>,
    requested_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    check_attempts: i32,
}

impl TryFrom<ChangeRow> for ChangeRecord {
    type Error = StoreError;

    fn try_from(r: ChangeRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of {}", r.request_id));
        Ok(ChangeRecord {
            user_id: UserId::parse(&r.user_id).map_err(|_| corrupt("user id"))?,
            line: LineNumber::parse(&r.line_number).map_err(|_| corrupt("line"))?,
            current: ProductCode::parse(&r.current_product_code)
                .map_err(|_| corrupt("current product"))?,
            target: ProductCode::parse(&r.target_product_code)
                .map_err(|_| corrupt("target product"))?,
            status: status_from_sql(&r.status)?,
            response: r
                .response
                .map(serde_json::from_value)
                .transpose()
                .map_err(|_| corrupt("answer"))?,
            result_code: r.result_code,
            result_message: r.result_message,
            requested_at: r.requested_at,
            processed_at: r.processed_at,
            check_attempts: r.check_attempts,
            request_id: r.request_id,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    #[error("a change is already in flight for this line")]
    InFlight,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records a change as PROCESSING. Fails with `InFlight` if the line has one already
/// (a partial unique index: this holds across instances).
pub async fn begin(conn: &mut AsyncPgConnection, c: &NewChange<'_>) -> Result<(), BeginError> {
    let inserted = diesel::insert_into(pc::table)
        .values((
            pc::request_id.eq(c.request_id),
            pc::user_id.eq(c.user_id.as_str()),
            pc::line_number.eq(c.line.digits()),
            pc::current_product_code.eq(c.current.as_str()),
            pc::target_product_code.eq(c.target.as_str()),
            pc::status.eq(status_sql(ChangeStatus::Processing)),
            pc::next_check_at.eq(c.next_check_at),
        ))
        .execute(conn)
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(BeginError::InFlight)
        }
        Err(e) => Err(BeginError::Store(e.into())),
    }
}

/// The final state of a change, with the notification owed to the MVNO AP server and the
/// outcome to keep under the request's Idempotency-Key, if it holds one.
pub struct Settlement<'a> {
    pub request_id: &'a str,
    pub verdict: &'a Verdict,
    pub response: Option<&'a SettledChange>,
    pub notify: Option<NewNotification>,
    pub key_outcome: Option<&'a ChangeOutcome>,
}

/// Settles a PROCESSING change, its notification and its key's outcome in one transaction;
/// false if it was settled already (by another party).
pub async fn settle(conn: &mut AsyncPgConnection, s: Settlement<'_>) -> Result<bool, StoreError> {
    let response = s
        .response
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("change answer: {e}")))?;
    conn.transaction::<bool, StoreError, _>(async move |conn| {
        let n = diesel::update(
            pc::table
                .filter(pc::request_id.eq(s.request_id))
                .filter(pc::status.eq(status_sql(ChangeStatus::Processing))),
        )
        .set((
            pc::status.eq(status_sql(s.verdict.status)),
            pc::result_code.eq(Some(&s.verdict.code)),
            pc::result_message.eq(Some(&s.verdict.message)),
            pc::response.eq(response),
            pc::processed_at.eq(Some(Utc::now())),
        ))
        .execute(conn)
        .await?;
        if n == 1 {
            if let Some(note) = s.notify {
                outbox::enqueue(conn, &[note]).await?;
            }
            if let Some(outcome) = s.key_outcome {
                idempotency::keep_outcome(conn, s.request_id, outcome).await?;
            }
        }
        Ok(n == 1)
    })
    .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    request_id: &str,
) -> Result<Option<ChangeRecord>, StoreError> {
    pc::table
        .filter(pc::request_id.eq(request_id))
        .select(ChangeRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(ChangeRecord::try_from)
        .transpose()
}

/// Leases up to `limit` PROCESSING changes due for a check, pushing their next check to
/// `lease` from now (so other instances skip them meanwhile).
pub async fn lease_unsettled(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ChangeRecord>, StoreError> {
    // One statement, so the row locks of SKIP LOCKED hold until the lease is written.
    let rows: Vec<ChangeRow> = diesel::sql_query(
        "UPDATE product_change_requests \
            SET next_check_at = now() + make_interval(secs => $1), check_attempts = check_attempts + 1 \
          WHERE id IN (SELECT id FROM product_change_requests \
                        WHERE status = 'PROCESSING' AND next_check_at <= now() \
                        ORDER BY next_check_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
          RETURNING request_id, user_id, line_number, current_product_code, target_product_code, \
                    status, result_code, result_message, response, requested_at, processed_at, check_attempts",
    )
    .bind::<diesel::sql_types::Double, _>(lease.num_milliseconds() as f64 / 1000.0)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await?;
    rows.into_iter().map(ChangeRecord::try_from).collect()
}

/// Schedules the next check of an unsettled change.
pub async fn check_later(
    conn: &mut AsyncPgConnection,
    request_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(pc::table.filter(pc::request_id.eq(request_id)))
        .set(pc::next_check_at.eq(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// How many changes are PROCESSING and the age of the oldest, seconds.
pub async fn unsettled(conn: &mut AsyncPgConnection) -> Result<(i64, f64), StoreError> {
    let rows: Vec<DateTime<Utc>> = pc::table
        .filter(pc::status.eq(status_sql(ChangeStatus::Processing)))
        .select(pc::requested_at)
        .load(conn)
        .await?;
    let oldest = rows.iter().min().map_or(0.0, |t| {
        (Utc::now() - *t).num_milliseconds() as f64 / 1000.0
    });
    Ok((rows.len() as i64, oldest))
}

/// A page of a line's change requests, newest first, and how many match in all.
pub async fn page(
    conn: &mut AsyncPgConnection,
    f: &ChangeFilter,
) -> Result<(Vec<ChangeRecord>, i64), StoreError> {
    let filtered = || {
        let mut q = pc::table
            .filter(pc::line_number.eq(f.line.digits().to_string()))
            .into_boxed();
        if let Some(from) = f.from {
            q = q.filter(pc::requested_at.ge(from));
        }
        if let Some(until) = f.until {
            q = q.filter(pc::requested_at.lt(until));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let items = filtered()
        .order((pc::requested_at.desc(), pc::id.desc()))
        .offset(f.offset)
        .limit(f.limit)
        .select(ChangeRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(ChangeRecord::try_from)
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}
