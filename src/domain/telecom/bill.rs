//! A bill inquiry: the answer a customer is given (stored verbatim with the inquiry's
//! history record and served again by request id), the notification the MVNO AP server is
//! owed, and the inquiry's record as the history shows it.

use std::sync::Arc;

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest as _};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::kos::{KosBill, KosDiscount, KosPaymentInfo};
use super::BillingMonth;
use crate::domain::identity::{LineNumber, UserId};

/// How an inquiry ended (`bill_inquiry_history.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InquiryStatus {
    Completed,
    Failed,
}

/// The message of an answered inquiry.
pub const BILL_OK: &str = "요금 조회가 완료되었습니다";
/// The result code of an answered inquiry.
pub const RESULT_OK: &str = "0000";

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillInfo<'a> {
    pub line_number: String,
    pub billing_month: &'a str,
    pub product_code: &'a str,
    pub product_name: &'a str,
    pub monthly_fee: i64,
    pub usage_fee: i64,
    pub discount_amount: i64,
    pub total_fee: i64,
    pub data_usage: &'a str,
    pub voice_usage: &'a str,
    pub sms_usage: &'a str,
    pub bill_status: &'a str,
    pub due_date: &'a str,
    pub discount_info: &'a [KosDiscount],
    pub estimated_cancellation_fee: i64,
    pub device_installment: i64,
    pub payment_info: &'a KosPaymentInfo,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = BillCustomerInfo)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInfo<'a> {
    pub customer_name: &'a str,
    pub customer_id: &'a str,
    pub operator_code: &'a str,
    pub line_status: &'a str,
}

/// The answer to an inquiry.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillResult<'a> {
    pub request_id: &'a str,
    pub proc_status: InquiryStatus,
    pub result_code: &'static str,
    pub result_message: &'static str,
    pub bill_info: BillInfo<'a>,
    pub customer_info: CustomerInfo<'a>,
}

impl<'a> BillResult<'a> {
    /// The answer of inquiry `request_id` of `line`, which KOS answered with `b`.
    pub fn answered(request_id: &'a str, line: &LineNumber, b: &'a KosBill) -> Self {
        BillResult {
            request_id,
            proc_status: InquiryStatus::Completed,
            result_code: RESULT_OK,
            result_message: BILL_OK,
            bill_info: BillInfo {
                line_number: line.to_string(),
                billing_month: &b.billing_month,
                product_code: &b.product_code,
                product_name: &b.product_name,
                monthly_fee: b.monthly_fee,
                usage_fee: b.usage_fee,
                discount_amount: b.discount_amount,
                total_fee: b.total_fee,
                data_usage: &b.data_usage,
                voice_usage: &b.voice_usage,
                sms_usage: &b.sms_usage,
                bill_status: &b.bill_status,
                due_date: &b.due_date,
                discount_info: &b.discount_info,
                estimated_cancellation_fee: b.estimated_cancellation_fee,
                device_installment: b.device_installment,
                payment_info: &b.payment_info,
            },
            customer_info: CustomerInfo {
                customer_name: &b.customer_name,
                customer_id: &b.customer_id,
                operator_code: &b.operator_code,
                line_status: &b.line_status,
            },
        }
    }
}

/// The bill an inquiry was answered with, as it is stored once for every inquiry answered
/// with it: KOS's bill in JSON, named by a 128-bit hash of that JSON (so every instance
/// gives the same bill the same id, and a bill fetched again unchanged is not stored again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BillSnapshot {
    pub id: uuid::Uuid,
    pub bill: Arc<RawValue>,
    /// The answer every inquiry of `line` answered with this bill is given, made once with
    /// the snapshot (when the bill is cached) instead of serialized per inquiry. Not kept
    /// in the spool: only the inquiry path uses it.
    #[serde(skip)]
    answer: Option<Arc<AnswerTemplate>>,
}

impl BillSnapshot {
    /// The bill's stored form, and the answer template of inquiries of `line` (the line
    /// the bill was asked for).
    pub fn of(bill: &KosBill, line: &LineNumber) -> serde_json::Result<Self> {
        let json = serde_json::to_string(bill)?;
        let hash: [u8; 16] = Blake2b::<U16>::digest(json.as_bytes()).into();
        Ok(Self {
            id: uuid::Uuid::from_bytes(hash),
            bill: Arc::from(RawValue::from_string(json)?),
            answer: Some(Arc::new(AnswerTemplate::of(line, bill)?)),
        })
    }

    /// The answer (JSON) of inquiry `request_id` of `line`, answered with `bill` (the bill
    /// this snapshot is of): from the template when it was made for `line`.
    pub fn answer_json(
        &self,
        request_id: uuid::Uuid,
        line: &LineNumber,
        bill: &KosBill,
    ) -> serde_json::Result<String> {
        match &self.answer {
            Some(t) if t.line == *line => Ok(t.fill(request_id)),
            _ => serde_json::to_string(&BillResult::answered(&request_id.to_string(), line, bill)),
        }
    }

    /// The answer inquiry `request_id` of `line` was given, from the bill stored as `bill`.
    pub fn answer(request_id: &str, line: &LineNumber, bill: Value) -> serde_json::Result<Value> {
        let bill: KosBill = serde_json::from_value(bill)?;
        serde_json::to_value(BillResult::answered(request_id, line, &bill))
    }
}

/// An answer to an inquiry of one line from one bill, serialized once, but for the request
/// id: `BillResult` begins with it, so an answer is the fixed head, the id and the tail.
#[derive(Debug)]
struct AnswerTemplate {
    line: LineNumber,
    /// Everything after the request id's closing quote.
    tail: String,
}

/// How every answer begins (`BillResult`'s first field).
const ANSWER_HEAD: &str = r#"{"requestId":""#;

impl AnswerTemplate {
    fn of(line: &LineNumber, bill: &KosBill) -> serde_json::Result<Self> {
        let whole = serde_json::to_string(&BillResult::answered("", line, bill))?;
        let tail = whole
            .strip_prefix(ANSWER_HEAD)
            .and_then(|rest| rest.strip_prefix('"'))
            .ok_or_else(|| {
                <serde_json::Error as serde::ser::Error>::custom("an answer must begin with its id")
            })?;
        Ok(Self {
            line: line.clone(),
            tail: tail.to_string(),
        })
    }

    /// The answer of inquiry `request_id`: a UUID's text never needs escaping.
    fn fill(&self, request_id: uuid::Uuid) -> String {
        let mut id = uuid::Uuid::encode_buffer();
        let id = request_id.hyphenated().encode_lower(&mut id);
        let mut answer = String::with_capacity(ANSWER_HEAD.len() + id.len() + self.tail.len() + 1);
        answer.push_str(ANSWER_HEAD);
        answer.push_str(id);
        answer.push('"');
        answer.push_str(&self.tail);
        answer
    }
}

/// What the MVNO AP server is told of an answered inquiry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BillNotification<'a> {
    pub request_id: &'a str,
    pub line_number: &'a LineNumber,
    pub billing_month: String,
    pub total_fee: i64,
    pub customer_id: &'a str,
    pub processed_at: String,
}

/// Which of a line's past inquiries to list.
#[derive(Debug, Clone)]
pub struct InquiryFilter {
    pub line: LineNumber,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub status: Option<InquiryStatus>,
    pub offset: i64,
    pub limit: i64,
}

/// A past inquiry as the history keeps it.
#[derive(Debug, Clone)]
pub struct PastInquiry {
    pub request_id: String,
    pub user_id: UserId,
    pub line: LineNumber,
    pub month: BillingMonth,
    pub request_time: DateTime<Utc>,
    pub process_time: DateTime<Utc>,
    pub status: InquiryStatus,
    pub result_code: String,
    pub result_message: String,
    /// The answer given, when it was answered.
    pub result: Option<Value>,
}

impl PastInquiry {
    /// The history list's one-line summary: the month's total when answered, else why not.
    pub fn summary(&self) -> String {
        let total = self
            .result
            .as_ref()
            .and_then(|r| r["billInfo"]["totalFee"].as_i64());
        match total {
            Some(total) if self.status == InquiryStatus::Completed => {
                format!("{} 청구요금 {total}원", self.month.dashed())
            }
            _ => self.result_message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bill(total: i64) -> KosBill {
        serde_json::from_value(serde_json::json!({
            "lineNumber": "01012345001", "billingMonth": "202611", "customerId": "CUST001",
            "customerName": "김민준", "operatorCode": "KT", "lineStatus": "ACTIVE",
            "productCode": "5G-STANDARD-001", "productName": "5G 스탠다드", "monthlyFee": 69000,
            "usageFee": 3500, "discountAmount": 10000, "totalFee": total, "dataUsage": "12GB",
            "voiceUsage": "120분", "smsUsage": "15건", "billStatus": "CONFIRMED",
            "dueDate": "2026-12-25", "discountInfo": [], "estimatedCancellationFee": 0,
            "deviceInstallment": 0,
            "paymentInfo": { "billingDate": "2026-12-25", "paymentStatus": "PAID", "paymentMethod": "자동이체" }
        }))
        .unwrap()
    }

    fn line() -> LineNumber {
        LineNumber::parse("01012345001").unwrap()
    }

    #[test]
    fn a_bill_is_named_by_its_content() {
        let (a, b) = (
            BillSnapshot::of(&bill(1), &line()).unwrap(),
            BillSnapshot::of(&bill(1), &line()).unwrap(),
        );
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, BillSnapshot::of(&bill(2), &line()).unwrap().id);
    }

    #[test]
    fn the_answer_rebuilt_from_a_stored_bill_is_the_answer_given() {
        let b = bill(62500);
        let id = uuid::Uuid::new_v4();
        let snapshot = BillSnapshot::of(&b, &line()).unwrap();
        let given: Value =
            serde_json::from_str(&snapshot.answer_json(id, &line(), &b).unwrap()).unwrap();
        let stored: Value = serde_json::from_str(snapshot.bill.get()).unwrap();
        let rebuilt = BillSnapshot::answer(&id.to_string(), &line(), stored).unwrap();
        assert_eq!(rebuilt, given);
        assert_eq!(given["requestId"], id.to_string());
    }

    #[test]
    fn the_template_gives_byte_for_byte_the_serialized_answer() {
        let b = bill(62500);
        let snapshot = BillSnapshot::of(&b, &line()).unwrap();
        for _ in 0..3 {
            let id = uuid::Uuid::new_v4();
            let whole =
                serde_json::to_string(&BillResult::answered(&id.to_string(), &line(), &b)).unwrap();
            assert_eq!(snapshot.answer_json(id, &line(), &b).unwrap(), whole);
        }
        // A snapshot read back from the spool has no template: the answer is serialized.
        let spooled: BillSnapshot =
            serde_json::from_str(&serde_json::to_string(&snapshot).unwrap()).unwrap();
        let id = uuid::Uuid::new_v4();
        assert_eq!(
            spooled.answer_json(id, &line(), &b).unwrap(),
            snapshot.answer_json(id, &line(), &b).unwrap()
        );
        // Another line's inquiry never gets this line's template.
        let other = LineNumber::parse("01012345002").unwrap();
        let theirs: Value =
            serde_json::from_str(&snapshot.answer_json(id, &other, &b).unwrap()).unwrap();
        assert_eq!(theirs["billInfo"]["lineNumber"], "010-1234-5002");
    }
}
