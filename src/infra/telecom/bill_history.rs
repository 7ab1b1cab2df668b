//! Bill inquiry history in PostgreSQL (the spool that keeps it while PostgreSQL is away is
//! [`crate::infra::telecom::spool`]).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::outbox::{self, OutboxRow};
use crate::domain::identity::{LineNumber, UserId};
use crate::domain::telecom::bill::{BillSnapshot, InquiryFilter, InquiryStatus, PastInquiry};
use crate::domain::telecom::BillingMonth;
use crate::infra::db::Prepared;
use crate::infra::schema::{bill_inquiry_history as h, bill_snapshots as s};
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
    pub status: InquiryStatus,
    pub result_code: String,
    pub result_message: String,
    pub kos_response_ms: Option<i32>,
    pub cache_hit: bool,
    /// The answer given, in records of older versions' spools (the spool keeps it as
    /// JSON); stored only when there is no `snapshot` to rebuild it from.
    pub result: Option<Arc<RawValue>>,
    /// The bill the answer was given from (absent in records of older versions' spools).
    #[serde(default)]
    pub snapshot: Option<BillSnapshot>,
}

/// A record as the writer receives, spools and stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub row: HistoryRow,
    /// A notification kept in `mvno_outbox`: only in records spooled by versions before
    /// the history row was its own notification (`infra::telecom::bill_stream`).
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

/// Writes a batch: the bills it was answered with (each once), its history rows, and any
/// notification a record still carries (records spooled by a version before the history
/// was the outbox), in one transaction: a row and what it refers to are stored together or
/// not at all. A batch written twice (a replay after a lost commit answer) is harmless: its
/// first try fails on a `request_id` already there, and it is written again skipping what
/// is there. (The first try does not check: `ON CONFLICT` costs PostgreSQL a speculative
/// insertion per row, and a batch is nearly always new.)
pub async fn write_batch(
    conn: &mut AsyncPgConnection,
    batch: &[HistoryRecord],
) -> Result<usize, StoreError> {
    write_batch_after(conn, batch, &HashSet::new()).await
}

/// [`write_batch`], but the bills of the snapshots in `stored` are not sent: the caller saw
/// them committed (by an earlier batch). Sending a bill again costs PostgreSQL parsing it
/// into jsonb only to find its id taken: with many lines and months, most of a batch.
pub async fn write_batch_after(
    conn: &mut AsyncPgConnection,
    batch: &[HistoryRecord],
    stored: &HashSet<uuid::Uuid>,
) -> Result<usize, StoreError> {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    let first = conn
        .transaction::<usize, StoreError, _>(async move |conn| {
            insert_batch(conn, batch, stored, Existing::Fail).await
        })
        .await;
    match first {
        Err(StoreError::Db(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
            conn.transaction::<usize, StoreError, _>(async move |conn| {
                insert_batch(conn, batch, stored, Existing::Skip).await
            })
            .await
        }
        other => other,
    }
}

/// What an insert does with a row whose `request_id` is already stored.
#[derive(Clone, Copy)]
enum Existing {
    Fail,
    Skip,
}

/// The inserts of a batch, pipelined (sent together, run by PostgreSQL in this order). Each
/// is one prepared statement whatever the batch size: the columns go over as arrays that
/// PostgreSQL unnests (13 parameters instead of 13 per record: the `history_rate` bench).
async fn insert_batch(
    conn: &mut AsyncPgConnection,
    batch: &[HistoryRecord],
    stored: &HashSet<uuid::Uuid>,
    existing: Existing,
) -> Result<usize, StoreError> {
    use diesel::sql_types::{Array, Bool, Integer, Nullable, Text, Timestamptz, Uuid};
    let mut snapshots: Vec<&BillSnapshot> = Vec::new();
    for s in batch.iter().filter_map(|r| r.row.snapshot.as_ref()) {
        if !stored.contains(&s.id) && !snapshots.iter().any(|known| known.id == s.id) {
            snapshots.push(s);
        }
    }
    let rows = batch.iter().map(|r| &r.row);
    let col = |f: fn(&HistoryRow) -> &str| rows.clone().map(f).collect::<Vec<_>>();
    let bills = Prepared(
        diesel::sql_query(
            "INSERT INTO bill_snapshots (id, bill) \
             SELECT * FROM unnest($1::uuid[], $2::text[]::jsonb[]) ON CONFLICT (id) DO NOTHING",
        )
        .bind::<Array<Uuid>, _>(snapshots.iter().map(|s| s.id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(snapshots.iter().map(|s| s.bill.get()).collect::<Vec<_>>()),
    );
    const INSERT_HISTORY: &str = "INSERT INTO bill_inquiry_history (request_id, user_id, \
            line_number, inquiry_month, request_time, process_time, status, result_code, \
            result_message, kos_response_ms, cache_hit, result, snapshot_id) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
                $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], \
                $10::int4[], $11::bool[], $12::text[]::jsonb[], $13::uuid[])";
    let history = Prepared(
        diesel::sql_query(match existing {
            Existing::Fail => INSERT_HISTORY.to_string(),
            Existing::Skip => format!("{INSERT_HISTORY} ON CONFLICT (request_id) DO NOTHING"),
        })
        .bind::<Array<Text>, _>(col(|r| &r.request_id))
        .bind::<Array<Text>, _>(col(|r| &r.user_id))
        .bind::<Array<Text>, _>(col(|r| &r.line_number))
        .bind::<Array<Text>, _>(col(|r| &r.inquiry_month))
        .bind::<Array<Timestamptz>, _>(rows.clone().map(|r| r.request_time).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.clone().map(|r| r.process_time).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(col(|r| status_sql(r.status)))
        .bind::<Array<Text>, _>(col(|r| &r.result_code))
        .bind::<Array<Text>, _>(col(|r| &r.result_message))
        .bind::<Array<Nullable<Integer>>, _>(
            rows.clone().map(|r| r.kos_response_ms).collect::<Vec<_>>(),
        )
        .bind::<Array<Bool>, _>(rows.clone().map(|r| r.cache_hit).collect::<Vec<_>>())
        // The answer itself only for a record without its bill (spooled by an older
        // version): the others' answers are rebuilt from the bill when read.
        .bind::<Array<Nullable<Text>>, _>(
            rows.clone()
                .map(|r| match r.snapshot {
                    Some(_) => None,
                    None => r.result.as_deref().map(RawValue::get),
                })
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Uuid>>, _>(
            rows.clone()
                .map(|r| r.snapshot.as_ref().map(|s| s.id))
                .collect::<Vec<_>>(),
        ),
    );
    let notes: Vec<OutboxRow<'_>> = batch
        .iter()
        .filter_map(|r| r.notify.as_ref())
        .map(|n| OutboxRow {
            kind: &n.kind,
            event_id: &n.event_id,
            payload: n.payload.get(),
        })
        .collect();
    let shared: &AsyncPgConnection = conn;
    let (mut c0, mut c1) = (shared, shared);
    let (stored, written) = if snapshots.is_empty() {
        (Ok(0), history.execute(&mut c1).await)
    } else {
        futures_util::future::join(bills.execute(&mut c0), history.execute(&mut c1)).await
    };
    stored?;
    let written = written?;
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

/// `bill_inquiry_history.status` (its `CHECK` constraint lists the same values).
pub fn status_sql(s: InquiryStatus) -> &'static str {
    match s {
        InquiryStatus::Completed => "COMPLETED",
        InquiryStatus::Failed => "FAILED",
    }
}

fn status_from_sql(s: &str) -> Result<InquiryStatus, StoreError> {
    match s {
        "COMPLETED" => Ok(InquiryStatus::Completed),
        "FAILED" => Ok(InquiryStatus::Failed),
        other => Err(StoreError::Corrupt(format!("inquiry status {other:?}"))),
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = h)]
struct StoredInquiry {
    request_id: String,
    user_id: String,
    line_number: String,
    inquiry_month: String,
    request_time: DateTime<Utc>,
    process_time: DateTime<Utc>,
    status: String,
    result_code: String,
    result_message: String,
    result: Option<Value>,
}

/// A stored inquiry and the bill it was answered with, when it refers to one.
type StoredWithBill = (StoredInquiry, Option<Value>);

impl TryFrom<StoredWithBill> for PastInquiry {
    type Error = StoreError;

    fn try_from((s, bill): StoredWithBill) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of {}", s.request_id));
        let line = LineNumber::parse(&s.line_number).map_err(|_| corrupt("line"))?;
        let result = match (s.result, bill) {
            (Some(answer), _) => Some(answer),
            (None, Some(bill)) => Some(
                BillSnapshot::answer(&s.request_id, &line, bill)
                    .map_err(|_| corrupt("bill snapshot"))?,
            ),
            (None, None) => None,
        };
        Ok(PastInquiry {
            user_id: UserId::parse(&s.user_id).map_err(|_| corrupt("user id"))?,
            line,
            month: BillingMonth::parse(&s.inquiry_month).map_err(|_| corrupt("month"))?,
            request_time: s.request_time,
            process_time: s.process_time,
            status: status_from_sql(&s.status)?,
            result_code: s.result_code,
            result_message: s.result_message,
            result,
            request_id: s.request_id,
        })
    }
}

impl HistoryRow {
    /// The record as the history shows it (one not written yet is found too).
    pub fn to_past(&self) -> Result<PastInquiry, StoreError> {
        let stored = StoredInquiry {
            request_id: self.request_id.clone(),
            user_id: self.user_id.clone(),
            line_number: self.line_number.clone(),
            inquiry_month: self.inquiry_month.clone(),
            request_time: self.request_time,
            process_time: self.process_time,
            status: status_sql(self.status).to_string(),
            result_code: self.result_code.clone(),
            result_message: self.result_message.clone(),
            result: self
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r.get()).ok()),
        };
        // An answer is rebuilt from its bill, as when it is read from PostgreSQL.
        let bill = match (&self.result, &self.snapshot) {
            (None, Some(s)) => serde_json::from_str(s.bill.get()).ok(),
            _ => None,
        };
        PastInquiry::try_from((stored, bill))
    }
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    request_id: &str,
) -> Result<Option<PastInquiry>, StoreError> {
    h::table
        .left_join(s::table)
        .filter(h::request_id.eq(request_id))
        .select((StoredInquiry::as_select(), s::bill.nullable()))
        .first::<StoredWithBill>(conn)
        .await
        .optional()?
        .map(PastInquiry::try_from)
        .transpose()
}

/// A page of a line's inquiries, newest first, and how many match in all.
pub async fn page(
    conn: &mut AsyncPgConnection,
    f: &InquiryFilter,
) -> Result<(Vec<PastInquiry>, i64), StoreError> {
    let line = f.line.digits().to_string();
    let status = f.status.map(status_sql);
    let (from, until) = (f.from, f.until);
    // The same filter on the history alone (for the count) and joined with its bills.
    macro_rules! filtered {
        ($source:expr) => {{
            let mut q = $source.filter(h::line_number.eq(&line)).into_boxed();
            if let Some(from) = from {
                q = q.filter(h::request_time.ge(from));
            }
            if let Some(until) = until {
                q = q.filter(h::request_time.lt(until));
            }
            if let Some(status) = status {
                q = q.filter(h::status.eq(status));
            }
            q
        }};
    }
    let total: i64 = filtered!(h::table).count().get_result(conn).await?;
    let items = filtered!(h::table.left_join(s::table))
        .order((h::request_time.desc(), h::id.desc()))
        .offset(f.offset)
        .limit(f.limit)
        .select((StoredInquiry::as_select(), s::bill.nullable()))
        .load::<StoredWithBill>(conn)
        .await?
        .into_iter()
        .map(PastInquiry::try_from)
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}
