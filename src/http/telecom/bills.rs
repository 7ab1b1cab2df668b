//! `/api/v1/bills/*`: the bill menu, bill inquiry (UFR-BILL-010…040), a past result, and
//! the inquiry history. Permission `BILL_INQUIRY`; every line-scoped request passes the
//! ownership guard before any cache or KOS access.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::actors::shard::ActorError;
use crate::actors::telecom::cache::{CacheKey, Cached, Get, Lookup, Tier};
use crate::actors::telecom::history::{Find, Overloaded, Page, Record};
use crate::domain::identity::LineNumber;
use crate::domain::paging::Pagination;
use crate::domain::telecom::BillingMonth;
use crate::http::envelope::{ok, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::{Auth, BillInquiry};
use crate::http::params::{field, line_or_own, request_id, HistoryParams, HistoryWindow};
use crate::http::AppState;
use crate::infra::telecom::history::{
    HistoryFilter, HistoryRecord, HistoryRow, SpooledNotification,
};
use crate::infra::telecom::kos::KosBill;
use crate::infra::telecom::outbox::Kind;

use super::views::{BillHistory, BillHistoryItem, BillMenu, PastInquiry};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/bills")
            .route("/menu", web::get().to(menu))
            .route("/inquiry", web::post().to(inquire))
            .route("/inquiry/{requestId}", web::get().to(inquiry_result))
            .route("/history", web::get().to(history)),
    );
}

/// `GET /bills/menu`: the caller's line and the months they may choose.
#[utoipa::path(
    get,
    path = "/api/v1/bills/menu",
    tag = "bills",
    operation_id = "bills_menu",
    summary = "The caller's line and the selectable months",
    description = "Requires permission BILL_INQUIRY.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<BillMenu>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn menu(
    state: web::Data<AppState>,
    auth: Auth<BillInquiry>,
) -> Result<HttpResponse, ApiError> {
    let p = &auth.principal;
    let key = CacheKey::Customer(p.line_number.clone());
    // The menu stays usable while KOS is down: the account's own data stands in.
    let (customer_id, customer_name) = match state.actors.cache.ask(&key.name(), Get(key)).await {
        Ok(Ok(Lookup { value, .. })) => match &*value {
            Cached::Customer(c) => (c.customer_id.clone(), c.customer_name.clone()),
            _ => (
                p.customer_id.as_str().to_string(),
                p.user_name.as_str().to_string(),
            ),
        },
        _ => (
            p.customer_id.as_str().to_string(),
            p.user_name.as_str().to_string(),
        ),
    };
    let months: Vec<String> = BillingMonth::selectable(Utc::now(), state.tz)
        .iter()
        .map(|m| m.dashed())
        .collect();
    let current = months.first().cloned().unwrap_or_default();
    Ok(ok(BillMenu::new(
        customer_id,
        customer_name,
        &p.line_number,
        months,
        current,
    )))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BillInquiryRequest)]
#[serde(rename_all = "camelCase")]
struct InquiryRequest {
    /// Default: the caller's line.
    #[serde(default)]
    #[schema(pattern = "^010-?[0-9]{4}-?[0-9]{4}$", example = "010-1234-5001")]
    line_number: Option<String>,
    /// YYYYMM or YYYY-MM; default the current month.
    #[serde(default)]
    #[schema(example = "2026-11")]
    inquiry_month: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BillInfo<'a> {
    line_number: String,
    billing_month: &'a str,
    product_code: &'a str,
    product_name: &'a str,
    monthly_fee: i64,
    usage_fee: i64,
    discount_amount: i64,
    total_fee: i64,
    data_usage: &'a str,
    voice_usage: &'a str,
    sms_usage: &'a str,
    bill_status: &'a str,
    due_date: &'a str,
    discount_info: &'a [crate::infra::telecom::kos::KosDiscount],
    estimated_cancellation_fee: i64,
    device_installment: i64,
    payment_info: &'a crate::infra::telecom::kos::KosPaymentInfo,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct BillResult<'a> {
    request_id: &'a str,
    proc_status: &'static str,
    result_code: &'static str,
    result_message: &'static str,
    bill_info: BillInfo<'a>,
    customer_info: CustomerInfo<'a>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BillCustomerInfo)]
#[serde(rename_all = "camelCase")]
struct CustomerInfo<'a> {
    customer_name: &'a str,
    customer_id: &'a str,
    operator_code: &'a str,
    line_status: &'a str,
}

/// What the MVNO AP server is told of a bill inquiry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BillNotification<'a> {
    request_id: &'a str,
    line_number: &'a LineNumber,
    billing_month: String,
    total_fee: i64,
    customer_id: &'a str,
    processed_at: String,
}

/// The answer to an inquiry, serialized once: the response, the history row and a later
/// `GET /bills/inquiry/{requestId}` all carry these same bytes.
fn bill_result(
    request_id: &str,
    line: &LineNumber,
    b: &KosBill,
) -> Result<Arc<RawValue>, ApiError> {
    let info = BillInfo {
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
    };
    raw(&BillResult {
        request_id,
        proc_status: "COMPLETED",
        result_code: "0000",
        result_message: BILL_OK,
        bill_info: info,
        customer_info: CustomerInfo {
            customer_name: &b.customer_name,
            customer_id: &b.customer_id,
            operator_code: &b.operator_code,
            line_status: &b.line_status,
        },
    })
}

fn raw<T: Serialize>(value: &T) -> Result<Arc<RawValue>, ApiError> {
    serde_json::value::to_raw_value(value)
        .map(Arc::from)
        .map_err(|e| ApiError::Internal(format!("serializing an answer: {e}")))
}

const BILL_OK: &str = "요금 조회가 완료되었습니다";

/// A KOS refusal as the client sees it.
fn refusal(code: &str) -> ApiError {
    let (status_code, message) = match code {
        "1001" => ("LINE_NOT_FOUND", "존재하지 않는 회선입니다"),
        "1002" => ("LINE_NOT_ACTIVE", "사용 중이 아닌 회선입니다"),
        "1003" => ("BILL_NOT_FOUND", "해당 월의 청구 내역이 없습니다"),
        _ => ("KOS_REFUSED", "요금 조회를 처리할 수 없습니다"),
    };
    match code {
        "1001" | "1003" => ApiError::NotFoundCode {
            code: status_code,
            message: message.into(),
        },
        _ => ApiError::Unprocessable {
            code: status_code,
            message: message.into(),
        },
    }
}

/// Hands a record to the history writer before the client is answered. When the writer
/// cannot take it (full under overload, mailbox full, or being replaced) the client gets
/// 503: an answer is only given for an inquiry whose history is safe.
async fn record(state: &AppState, rec: HistoryRecord) -> Result<(), ApiError> {
    let overloaded = || ApiError::Unavailable {
        reason: "history writer full".into(),
        retry_after_s: 1,
    };
    match state.actors.history.ask(&0, Record(rec.clone())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Overloaded)) => Err(overloaded()),
        // The writer died before taking it: its successor takes one more try.
        Err(ActorError::Gone { .. }) => match state.actors.history.ask(&0, Record(rec)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Overloaded)) => Err(overloaded()),
            Err(e) => Err(e.into()),
        },
        // Full or Timeout: not resent (a timed-out record may still be taken).
        Err(e) => Err(e.into()),
    }
}

/// `POST /bills/inquiry`: a month's bill of a line (the caller's own, or any for ADMIN).
#[utoipa::path(
    post,
    path = "/api/v1/bills/inquiry",
    tag = "bills",
    summary = "A month's bill (cache-aside in front of KOS)",
    description = "Requires permission BILL_INQUIRY.",
    request_body = InquiryRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<BillResult>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 422, description = described::UNPROCESSABLE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn inquire(
    state: web::Data<AppState>,
    auth: Auth<BillInquiry>,
    body: web::Json<InquiryRequest>,
) -> Result<HttpResponse, ApiError> {
    let requested_at = Utc::now();
    let body = body.into_inner();
    let mut errors = BTreeMap::new();
    let line = match body.line_number.as_deref().filter(|s| !s.trim().is_empty()) {
        None => Some(auth.principal.line_number.clone()),
        Some(s) => LineNumber::parse(s)
            .map_err(|e| errors.insert("lineNumber".to_string(), e.to_string()))
            .ok(),
    };
    let month = match body
        .inquiry_month
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        None => Some(BillingMonth::current(requested_at, state.tz)),
        Some(s) => BillingMonth::parse(s)
            .and_then(|m| m.ensure_selectable(requested_at, state.tz))
            .map_err(|e| errors.insert("inquiryMonth".to_string(), e.to_string()))
            .ok(),
    };
    let (Some(line), Some(month)) = (line, month) else {
        return Err(ApiError::Validation(errors));
    };
    auth.ensure_line(&line)?;

    let request_id = uuid::Uuid::new_v4().to_string();
    let key = CacheKey::Bill {
        line: line.clone(),
        month,
    };
    let looked_up = state.actors.cache.ask(&key.name(), Get(key)).await?;
    let mut row = HistoryRow {
        request_id: request_id.clone(),
        user_id: auth.principal.user_id.to_string(),
        line_number: line.digits().to_string(),
        inquiry_month: month.compact(),
        request_time: requested_at,
        process_time: Utc::now(),
        status: "FAILED".into(),
        result_code: "9999".into(),
        result_message: String::new(),
        kos_response_ms: None,
        cache_hit: false,
        result: None,
    };
    let lookup = match looked_up {
        Ok(l) => l,
        Err(e) => {
            row.result_message = "KOS unavailable".into();
            record(&state, HistoryRecord { row, notify: None }).await?;
            return Err(e.into());
        }
    };
    row.kos_response_ms = lookup.kos_ms.map(|ms| ms.min(i32::MAX as u64) as i32);
    row.cache_hit = lookup.tier != Tier::Kos;
    match &*lookup.value {
        Cached::Bill(bill) => {
            let data = bill_result(&request_id, &line, bill)?;
            row.status = "COMPLETED".into();
            row.result_code = "0000".into();
            row.result_message = BILL_OK.into();
            row.result = Some(data.clone());
            let notify = SpooledNotification {
                kind: Kind::BillResult.as_str().into(),
                event_id: request_id.clone(),
                payload: raw(&BillNotification {
                    request_id: &request_id,
                    line_number: &line,
                    billing_month: month.compact(),
                    total_fee: bill.total_fee,
                    customer_id: &bill.customer_id,
                    processed_at: row.process_time.to_rfc3339(),
                })?,
            };
            record(
                &state,
                HistoryRecord {
                    row,
                    notify: Some(notify),
                },
            )
            .await?;
            Ok(ok(&*data))
        }
        Cached::Refused { code, message } => {
            row.result_code = code.clone();
            row.result_message = message.clone();
            record(&state, HistoryRecord { row, notify: None }).await?;
            Err(refusal(code))
        }
        other => Err(ApiError::Internal(format!("bill cache held {other:?}"))),
    }
}

/// `GET /bills/inquiry/{requestId}`: a past inquiry's answer, to its owner (or ADMIN).
#[utoipa::path(
    get,
    path = "/api/v1/bills/inquiry/{requestId}",
    tag = "bills",
    summary = "A past inquiry's answer (owner or ADMIN)",
    description = "Requires permission BILL_INQUIRY.",
    params(("requestId" = String, Path, description = "Request id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<PastInquiry>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn inquiry_result(
    state: web::Data<AppState>,
    auth: Auth<BillInquiry>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = request_id(path.into_inner())?;
    let found = state.actors.history.ask_shard(0, Find(id)).await??;
    let stored = found.ok_or(ApiError::NotFound("조회 요청"))?;
    let line = LineNumber::parse(&stored.line_number).map_err(|e| ApiError::Internal(e.into()))?;
    auth.ensure_line(&line)?;
    Ok(ok(PastInquiry::from(&stored)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryQuery {
    #[serde(flatten)]
    window: HistoryParams,
    status: Option<String>,
}

/// `GET /bills/history`: a line's past inquiries, newest first, filtered and paged.
#[utoipa::path(
    get,
    path = "/api/v1/bills/history",
    tag = "bills",
    operation_id = "bills_history",
    summary = "Past inquiries of a line, newest first",
    description = "Requires permission BILL_INQUIRY.",
    params(
        HistoryParams,
        ("status" = Option<String>, Query, description = "COMPLETED or FAILED"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<BillHistory>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn history(
    state: web::Data<AppState>,
    auth: Auth<BillInquiry>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let line = line_or_own(q.window.line_number.as_deref(), &auth.principal.line_number)?;
    let window = HistoryWindow::parse(&state, &q.window, 20, None)?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s @ ("COMPLETED" | "FAILED")) => Some(s.to_string()),
        Some(_) => {
            return Err(field(
                "status",
                "status는 COMPLETED 또는 FAILED 여야 합니다",
            ))
        }
    };
    auth.ensure_line(&line)?;
    let filter = HistoryFilter {
        line_number: line.digits().to_string(),
        from: window.from,
        until: window.until,
        status,
        offset: window.page.offset(),
        limit: i64::from(window.page.size),
    };
    let (items, total) = state.actors.history.ask_shard(0, Page(filter)).await??;
    Ok(ok(BillHistory {
        items: items.iter().map(BillHistoryItem::from).collect(),
        pagination: Pagination::new(window.page, total.max(0) as u64),
    }))
}
