//! Product change requests and idempotency keys in PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::outbox::{self, NewNotification};
use crate::infra::schema::{idempotency_keys as ik, product_change_requests as pc};
use crate::infra::StoreError;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = pc)]
pub struct NewChange {
    pub request_id: String,
    pub user_id: String,
    pub line_number: String,
    pub current_product_code: String,
    pub target_product_code: String,
    pub status: String,
    pub next_check_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = pc)]
pub struct ChangeRow {
    pub request_id: String,
    pub user_id: String,
    pub line_number: String,
    pub current_product_code: String,
    pub target_product_code: String,
    pub status: String,
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    pub response: Option<Value>,
    pub requested_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub check_attempts: i32,
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
pub async fn begin(conn: &mut AsyncPgConnection, row: &NewChange) -> Result<(), BeginError> {
    match diesel::insert_into(pc::table)
        .values(row)
        .execute(conn)
        .await
    {
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(BeginError::InFlight)
        }
        Err(e) => Err(BeginError::Store(e.into())),
    }
}

/// The final state of a change, with the notification owed to the MVNO AP server and the
/// answer to keep under the request's Idempotency-Key, if it has one.
pub struct Settlement<'a> {
    pub request_id: &'a str,
    pub status: &'a str,
    pub result_code: &'a str,
    pub result_message: &'a str,
    pub response: Option<Value>,
    pub notify: Option<NewNotification>,
    pub key_reply: Option<(u16, Value)>,
}

/// Settles a PROCESSING change, its notification and its key's answer in one transaction;
/// false if it was settled already (by another party).
pub async fn settle(conn: &mut AsyncPgConnection, s: Settlement<'_>) -> Result<bool, StoreError> {
    use diesel_async::AsyncConnection as _;
    conn.transaction::<bool, StoreError, _>(async move |conn| {
        let n = diesel::update(
            pc::table
                .filter(pc::request_id.eq(s.request_id))
                .filter(pc::status.eq("PROCESSING")),
        )
        .set((
            pc::status.eq(s.status),
            pc::result_code.eq(Some(s.result_code)),
            pc::result_message.eq(Some(s.result_message)),
            pc::response.eq(s.response),
            pc::processed_at.eq(Some(Utc::now())),
        ))
        .execute(conn)
        .await?;
        if n == 1 {
            if let Some(note) = s.notify {
                outbox::enqueue(conn, &[note]).await?;
            }
            if let Some((status, body)) = s.key_reply {
                diesel::update(ik::table.filter(ik::request_id.eq(s.request_id)))
                    .set((
                        ik::response_status.eq(Some(i32::from(status))),
                        ik::response_body.eq(Some(body)),
                    ))
                    .execute(conn)
                    .await?;
            }
        }
        Ok(n == 1)
    })
    .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    request_id: &str,
) -> Result<Option<ChangeRow>, StoreError> {
    Ok(pc::table
        .filter(pc::request_id.eq(request_id))
        .select(ChangeRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Leases up to `limit` PROCESSING changes due for a check, pushing their next check to
/// `lease` from now (so other instances skip them meanwhile).
pub async fn lease_unsettled(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ChangeRow>, StoreError> {
    // One statement, so the row locks of SKIP LOCKED hold until the lease is written.
    Ok(diesel::sql_query(
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
    .await?)
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
        .filter(pc::status.eq("PROCESSING"))
        .select(pc::requested_at)
        .load(conn)
        .await?;
    let oldest = rows.iter().min().map_or(0.0, |t| {
        (Utc::now() - *t).num_milliseconds() as f64 / 1000.0
    });
    Ok((rows.len() as i64, oldest))
}

pub struct HistoryFilter {
    pub line_number: String,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn page(
    conn: &mut AsyncPgConnection,
    f: &HistoryFilter,
) -> Result<(Vec<ChangeRow>, i64), StoreError> {
    let filtered = || {
        let mut q = pc::table
            .filter(pc::line_number.eq(f.line_number.clone()))
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
        .await?;
    Ok((items, total))
}

/// What an Idempotency-Key says about a request.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyState {
    /// First use: go ahead (the key is now reserved for this request).
    Fresh,
    /// Same key, same body, finished: answer this again.
    Replay { status: u16, body: Value },
    /// Same key, same body, its change settled but the answer was never stored under the
    /// key (the instance died first): the settled record's answer.
    Settled { response: Value, message: String },
    /// Same key, same body, still running.
    InFlight,
    /// Same key, another body.
    Mismatch,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ik)]
struct KeyRow {
    fingerprint: String,
    request_id: String,
    response_status: Option<i32>,
    response_body: Option<Value>,
}

/// How long a reserved key with no change record is respected before another request with
/// the same body may take it over (far longer than a request can take to write its record).
const CLAIM_LEASE: Duration = Duration::seconds(120);

/// Reserves `key` for a request with `fingerprint`, or says why not.
pub async fn claim_key(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    request_id: &str,
    keep: Duration,
) -> Result<KeyState, StoreError> {
    let now = Utc::now();
    // An expired key is as good as absent.
    diesel::delete(
        ik::table
            .filter(ik::user_id.eq(user_id))
            .filter(ik::idem_key.eq(key))
            .filter(ik::expires_at.le(now)),
    )
    .execute(conn)
    .await?;
    let inserted = diesel::insert_into(ik::table)
        .values((
            ik::user_id.eq(user_id),
            ik::idem_key.eq(key),
            ik::fingerprint.eq(fingerprint),
            ik::request_id.eq(request_id),
            ik::expires_at.eq(now + keep),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        return Ok(KeyState::Fresh);
    }
    let found: Option<KeyRow> = ik::table
        .filter(ik::user_id.eq(user_id))
        .filter(ik::idem_key.eq(key))
        .select(KeyRow::as_select())
        .first(conn)
        .await
        .optional()?;
    // Released between our insert and this read: it is free again, for a retry.
    let Some(KeyRow {
        fingerprint: stored_fp,
        request_id: holder,
        response_status: status,
        response_body: body,
    }) = found
    else {
        return Ok(KeyState::InFlight);
    };
    if stored_fp != fingerprint {
        return Ok(KeyState::Mismatch);
    }
    if let (Some(status), Some(body)) = (status, body) {
        return Ok(KeyState::Replay {
            status: u16::try_from(status).unwrap_or(200),
            body,
        });
    }
    // Reserved without an answer: ask the change record of the request holding it.
    let change = find(conn, &holder).await?;
    Ok(match change {
        Some(c) if c.status == "PROCESSING" => KeyState::InFlight,
        // Settled with an answer the holder did not get to store under the key.
        Some(c) if c.response.is_some() => KeyState::Settled {
            response: c.response.unwrap_or(Value::Null),
            message: c.result_message.unwrap_or_default(),
        },
        // Settled without an answer (not applied), or no record at all (the holder never
        // got as far as KOS and, after the lease, is presumed dead): take the key over. One
        // statement, on the database's clock, that re-checks all of it.
        _ => {
            let taken = diesel::sql_query(
                "UPDATE idempotency_keys SET request_id = $1, created_at = now() \
                  WHERE user_id = $2 AND idem_key = $3 AND request_id = $4 AND response_status IS NULL \
                    AND NOT EXISTS (SELECT 1 FROM product_change_requests p \
                                     WHERE p.request_id = $4 AND p.status = 'PROCESSING') \
                    AND (EXISTS (SELECT 1 FROM product_change_requests p WHERE p.request_id = $4) \
                         OR created_at < now() - make_interval(secs => $5))",
            )
            .bind::<diesel::sql_types::Text, _>(request_id)
            .bind::<diesel::sql_types::Text, _>(user_id)
            .bind::<diesel::sql_types::Text, _>(key)
            .bind::<diesel::sql_types::Text, _>(&holder)
            .bind::<diesel::sql_types::Double, _>(CLAIM_LEASE.num_seconds() as f64)
            .execute(conn)
            .await?;
            if taken == 1 {
                KeyState::Fresh
            } else {
                KeyState::InFlight
            }
        }
    })
}

/// Stores the final answer under the key.
pub async fn complete_key(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    key: &str,
    request_id: &str,
    status: u16,
    body: &Value,
) -> Result<(), StoreError> {
    diesel::update(
        ik::table
            .filter(ik::user_id.eq(user_id))
            .filter(ik::idem_key.eq(key))
            .filter(ik::request_id.eq(request_id)),
    )
    .set((
        ik::response_status.eq(Some(i32::from(status))),
        ik::response_body.eq(Some(body)),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Frees a key whose request did not reach a final answer (so a retry may use it).
pub async fn release_key(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    key: &str,
    request_id: &str,
) -> Result<(), StoreError> {
    // Only our own reservation: another request may have taken the key over.
    diesel::delete(
        ik::table
            .filter(ik::user_id.eq(user_id))
            .filter(ik::idem_key.eq(key))
            .filter(ik::request_id.eq(request_id)),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes expired keys; returns how many.
pub async fn purge_keys(conn: &mut AsyncPgConnection) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(ik::table.filter(ik::expires_at.le(Utc::now())))
            .execute(conn)
            .await?,
    )
}
