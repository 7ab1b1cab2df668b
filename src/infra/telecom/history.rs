//! Bill inquiry history in PostgreSQL (the spool that keeps it while PostgreSQL is away is
//! [`crate::infra::telecom::spool`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::outbox::{self, OutboxRow};
use crate::infra::schema::bill_inquiry_history as h;
use crate::infra::StoreError;

/// One inquiry, and the MVNO notification that goes with it (written together).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRow {
    pub request_id: String,
    pub user_id: String,
    pub line_number: String,
    pub inquiry_month: String,
    pub request_time: DateTime<Utc>,
    pub process_time: DateTime<Utc>,
    pub status: String,
    pub result_code: String,
    pub result_message: String,
    pub kos_response_ms: Option<i32>,
    pub cache_hit: bool,
    /// The answer given, serialized once and shared (the spool keeps it as JSON).
    pub result: Option<Arc<RawValue>>,
}

/// A record as the writer receives, spools and stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub row: HistoryRow,
    #[serde(default)]
    pub notify: Option<SpooledNotification>,
}

/// A notification in a form the spool can keep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpooledNotification {
    pub kind: String,
    pub event_id: String,
    pub payload: Arc<RawValue>,
}

/// Writes a batch: history rows, then their notifications, in one transaction (a row and
/// its notification are stored together or not at all). Both inserts skip what is already
/// there, so a batch written twice (a replay after a partial failure) is harmless.
pub async fn write_batch(
    conn: &mut AsyncPgConnection,
    batch: &[HistoryRecord],
) -> Result<usize, StoreError> {
    conn.transaction::<usize, StoreError, _>(async move |conn| insert_batch(conn, batch).await)
        .await
}

/// The two inserts of a batch. Each is one statement whatever the batch size: the columns go
/// over as arrays that PostgreSQL unnests, 12 + 3 parameters instead of 15 per record
/// (measured by the `history_rate` bench).
async fn insert_batch(
    conn: &mut AsyncPgConnection,
    batch: &[HistoryRecord],
) -> Result<usize, StoreError> {
    use diesel::sql_types::{Array, Bool, Integer, Nullable, Text, Timestamptz};
    let rows = batch.iter().map(|r| &r.row);
    let col = |f: fn(&HistoryRow) -> &str| rows.clone().map(f).collect::<Vec<_>>();
    let written = diesel::sql_query(
        "INSERT INTO bill_inquiry_history (request_id, user_id, line_number, inquiry_month, \
                request_time, process_time, status, result_code, result_message, \
                kos_response_ms, cache_hit, result) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], \
                $10::int4[], $11::bool[], $12::text[]::jsonb[]) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind::<Array<Text>, _>(col(|r| &r.request_id))
    .bind::<Array<Text>, _>(col(|r| &r.user_id))
    .bind::<Array<Text>, _>(col(|r| &r.line_number))
    .bind::<Array<Text>, _>(col(|r| &r.inquiry_month))
    .bind::<Array<Timestamptz>, _>(rows.clone().map(|r| r.request_time).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(rows.clone().map(|r| r.process_time).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(col(|r| &r.status))
    .bind::<Array<Text>, _>(col(|r| &r.result_code))
    .bind::<Array<Text>, _>(col(|r| &r.result_message))
    .bind::<Array<Nullable<Integer>>, _>(
        rows.clone().map(|r| r.kos_response_ms).collect::<Vec<_>>(),
    )
    .bind::<Array<Bool>, _>(rows.clone().map(|r| r.cache_hit).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        rows.clone()
            .map(|r| r.result.as_deref().map(RawValue::get))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    let notes: Vec<OutboxRow<'_>> = batch
        .iter()
        .filter_map(|r| r.notify.as_ref())
        .map(|n| OutboxRow {
            kind: &n.kind,
            event_id: &n.event_id,
            payload: n.payload.get(),
        })
        .collect();
    outbox::insert(conn, &notes).await?;
    Ok(written)
}

/// Writes one record with its own statement (the baseline the batch is measured against).
pub async fn write_one(
    conn: &mut AsyncPgConnection,
    record: &HistoryRecord,
) -> Result<usize, StoreError> {
    write_batch(conn, std::slice::from_ref(record)).await
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = h)]
pub struct StoredInquiry {
    pub request_id: String,
    pub user_id: String,
    pub line_number: String,
    pub inquiry_month: String,
    pub request_time: DateTime<Utc>,
    pub process_time: DateTime<Utc>,
    pub status: String,
    pub result_code: String,
    pub result_message: String,
    pub result: Option<Value>,
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    request_id: &str,
) -> Result<Option<StoredInquiry>, StoreError> {
    Ok(h::table
        .filter(h::request_id.eq(request_id))
        .select(StoredInquiry::as_select())
        .first(conn)
        .await
        .optional()?)
}

#[derive(Debug, Clone)]
pub struct HistoryFilter {
    pub line_number: String,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// A page of a line's inquiries, newest first, and how many match in all.
pub async fn page(
    conn: &mut AsyncPgConnection,
    f: &HistoryFilter,
) -> Result<(Vec<StoredInquiry>, i64), StoreError> {
    let filtered = || {
        let mut q = h::table
            .filter(h::line_number.eq(f.line_number.clone()))
            .into_boxed();
        if let Some(from) = f.from {
            q = q.filter(h::request_time.ge(from));
        }
        if let Some(until) = f.until {
            q = q.filter(h::request_time.lt(until));
        }
        if let Some(status) = &f.status {
            q = q.filter(h::status.eq(status.clone()));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let items = filtered()
        .order((h::request_time.desc(), h::id.desc()))
        .offset(f.offset)
        .limit(f.limit)
        .select(StoredInquiry::as_select())
        .load(conn)
        .await?;
    Ok((items, total))
}
