//! The bill-inquiry use case (UFR-BILL-030/040): the bill through the cache (KOS behind
//! it), its history record and the MVNO notification handed to the history writer before
//! the caller is answered. The edge calls `inquire` after parsing and the ownership check;
//! the answer comes from the template made with the cached bill's snapshot.

use chrono::{DateTime, SubsecRound as _, Utc};

use super::bill_history::{HistoryInlet, Refused};
use super::cache::{CacheKey, Cached, Tier};
use super::cache_front::{self, CacheFront};
use super::kos_gateway::KosError;
use crate::actors::shard::{ActorError, ShardSet};
use crate::domain::identity::{LineNumber, UserId};
use crate::domain::telecom::bill::{BillSnapshot, InquiryStatus, BILL_OK, RESULT_OK};
use crate::domain::telecom::BillingMonth;
use crate::infra::telecom::bill_history::{HistoryRecord, HistoryRow};

/// One inquiry, parsed and authorized.
pub struct Inquiry {
    pub user: UserId,
    pub line: LineNumber,
    pub month: BillingMonth,
    pub requested_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum InquiryError {
    /// The cache (or KOS behind it) could not answer; the inquiry is recorded `FAILED`.
    #[error(transparent)]
    Kos(#[from] KosError),
    /// An actor on the way was full, gone or late.
    #[error(transparent)]
    Actor(#[from] ActorError),
    /// KOS refused the inquiry with this result code (recorded `FAILED`).
    #[error("KOS refused the inquiry: {code}")]
    Refused { code: String },
    /// The history writer cannot take the record: no answer without a safe history.
    #[error("history writer full")]
    HistoryFull,
    #[error("{0}")]
    Internal(String),
}

/// Runs one inquiry; its answer, as JSON (the bytes the client is sent; the history keeps
/// the bill it was made from and rebuilds the same answer when asked).
pub async fn inquire(
    cache: &ShardSet<CacheFront>,
    history: &HistoryInlet,
    q: Inquiry,
) -> Result<String, InquiryError> {
    let request_uuid = crate::domain::request_id();
    let request_id = request_uuid.to_string();
    let key = CacheKey::Bill {
        line: q.line.clone(),
        month: q.month,
    };
    let looked_up = cache_front::fetch(cache, key).await?;
    let mut row = HistoryRow {
        request_id,
        user_id: q.user.to_string(),
        line_number: q.line.digits().to_string(),
        inquiry_month: q.month.compact(),
        request_time: q.requested_at,
        // To the microsecond, as PostgreSQL keeps it (the MVNO is told the stored time).
        process_time: Utc::now().trunc_subsecs(6),
        status: InquiryStatus::Failed,
        result_code: "9999".into(),
        result_message: String::new(),
        kos_response_ms: None,
        cache_hit: false,
        result: None,
        snapshot: None,
    };
    let lookup = match looked_up {
        Ok(l) => l,
        Err(e) => {
            row.result_message = "KOS unavailable".into();
            record(history, HistoryRecord { row, notify: None })?;
            return Err(e.into());
        }
    };
    row.kos_response_ms = lookup.kos_ms.map(|ms| ms.min(i32::MAX as u64) as i32);
    row.cache_hit = lookup.tier != Tier::Kos;
    match &*lookup.value {
        Cached::Bill(bill) => {
            // Made once when the bill was cached, with the answer's template.
            let snapshot = match &lookup.snapshot {
                Some(s) => s.clone(),
                None => BillSnapshot::of(bill, &q.line)
                    .map_err(|e| InquiryError::Internal(format!("serializing a bill: {e}")))?,
            };
            let answer = snapshot
                .answer_json(request_uuid, &q.line, bill)
                .map_err(|e| InquiryError::Internal(format!("serializing an answer: {e}")))?;
            row.status = InquiryStatus::Completed;
            row.result_code = RESULT_OK.into();
            row.result_message = BILL_OK.into();
            // The history row is the MVNO notification too: the notifier builds it from the
            // row and its bill (`infra::telecom::bill_stream`); the answer is rebuilt from
            // the bill when asked for again.
            row.snapshot = Some(snapshot);
            record(history, HistoryRecord { row, notify: None })?;
            Ok(answer)
        }
        Cached::Refused { code, message } => {
            row.result_code = code.clone();
            row.result_message = message.clone();
            record(history, HistoryRecord { row, notify: None })?;
            Err(InquiryError::Refused { code: code.clone() })
        }
        other => Err(InquiryError::Internal(format!("bill cache held {other:?}"))),
    }
}

/// Hands a record to the history writer before the client is answered. When the writer
/// cannot take it (full under overload, or gone) the inquiry fails: an answer is only given
/// for an inquiry whose history is safe.
fn record(history: &HistoryInlet, rec: HistoryRecord) -> Result<(), InquiryError> {
    history.hand(rec).map_err(|e| match e {
        Refused::Overloaded => InquiryError::HistoryFull,
        Refused::Gone => InquiryError::Actor(ActorError::Gone {
            kind: "history",
            retry_after_s: 1,
        }),
    })
}
