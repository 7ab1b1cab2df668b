//! A product change (UFR-PROD-040) from request to settled record: its states, the answer
//! the change endpoint gives in each, and its record as the history shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::kos::KosProduct;
use super::product::{ProductCode, Validation};
use crate::domain::identity::{LineNumber, UserId};

/// Where a change stands (`product_change_requests.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeStatus {
    /// Recorded before KOS is called; the outcome is not known yet.
    Processing,
    Completed,
    Failed,
}

/// The message of a completed change.
pub const CHANGE_OK: &str = "상품 변경이 완료되었습니다";
/// The message of a refused pre-check without a reason of its own.
pub const PRECHECK_FAILED: &str = "상품 사전 체크에 실패하였습니다";

/// How a change ended: completed, or failed with KOS's (or our) reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: ChangeStatus,
    pub code: String,
    pub message: String,
}

impl Verdict {
    pub fn completed() -> Self {
        Self {
            status: ChangeStatus::Completed,
            code: "0000".into(),
            message: CHANGE_OK.into(),
        }
    }

    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: ChangeStatus::Failed,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The answer of a settled change (stored with its record and under its key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ChangeResult)]
#[serde(rename_all = "camelCase")]
pub struct SettledChange {
    pub request_id: String,
    pub process_status: ChangeStatus,
    pub result_code: String,
    pub result_message: String,
    pub changed_product: Option<KosProduct>,
    pub processed_at: String,
}

impl SettledChange {
    pub fn new(request_id: &str, verdict: &Verdict, product: Option<&KosProduct>) -> Self {
        Self {
            request_id: request_id.to_string(),
            process_status: verdict.status,
            result_code: verdict.code.clone(),
            result_message: verdict.message.clone(),
            changed_product: product.cloned(),
            processed_at: Utc::now().to_rfc3339(),
        }
    }
}

/// What a change request came to, as kept under its Idempotency-Key and replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "data", rename_all = "camelCase")]
pub enum ChangeOutcome {
    /// KOS answered and the record is settled.
    Settled(Box<SettledChange>),
    /// KOS's outcome is unknown; the reconciler settles it.
    Processing { request_id: String },
    /// The pre-check failed; nothing reached KOS.
    Refused(Validation),
}

/// A change request as its record keeps it.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub request_id: String,
    pub user_id: UserId,
    pub line: LineNumber,
    pub current: ProductCode,
    pub target: ProductCode,
    pub status: ChangeStatus,
    pub result_code: Option<String>,
    pub result_message: Option<String>,
    /// The settled answer, when KOS answered.
    pub response: Option<SettledChange>,
    pub requested_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub check_attempts: i32,
}

/// Which of a line's change requests to list.
#[derive(Debug, Clone)]
pub struct ChangeFilter {
    pub line: LineNumber,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub offset: i64,
    pub limit: i64,
}
