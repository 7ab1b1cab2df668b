//! `/api/v1/bills/*`: the bill menu, bill inquiry (UFR-BILL-010…040), a past result, and
//! the inquiry history. Permission `BILL_INQUIRY`; every line-scoped request passes the
//! ownership guard before any cache or KOS access.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::actors::telecom::bill_history::{Find, Page};
use crate::actors::telecom::bill_inquiry::{self, Inquiry, InquiryError};
use crate::actors::telecom::cache::{CacheKey, Cached, Lookup};
use crate::actors::telecom::cache_front;
use crate::domain::identity::LineNumber;
use crate::domain::paging::Pagination;
use crate::domain::telecom::bill::{BillResult, InquiryFilter, InquiryStatus};
use crate::domain::telecom::BillingMonth;
use crate::http::envelope::{ok, ok_json, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::{Auth, BillInquiry};
use crate::http::params::{field, line_or_own, request_id, HistoryParams, HistoryWindow};
use crate::http::{AppState, WorkerFronts};

use super::views::{BillHistory, BillHistoryItem, BillMenu, InquiryAnswer};

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
    fronts: web::Data<WorkerFronts>,
    auth: Auth<BillInquiry>,
) -> Result<HttpResponse, ApiError> {
    let p = &auth.principal;
    let key = CacheKey::Customer(p.line_number.clone());
    // The menu stays usable while KOS is down: the account's own data stands in.
    let (customer_id, customer_name) = match cache_front::fetch(&fronts.cache, key).await {
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
    fronts: web::Data<WorkerFronts>,
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
    let inquiry = Inquiry {
        user: auth.principal.user_id.clone(),
        line,
        month,
        requested_at,
    };
    let inlet = &state.actors.telecom.inlet;
    let answer = bill_inquiry::inquire(&fronts.cache, inlet, inquiry).await?;
    Ok(ok_json(&answer))
}

impl From<InquiryError> for ApiError {
    fn from(e: InquiryError) -> Self {
        match e {
            InquiryError::Kos(e) => e.into(),
            InquiryError::Actor(e) => e.into(),
            InquiryError::Refused { code } => refusal(&code),
            InquiryError::HistoryFull => ApiError::Unavailable {
                reason: "history writer full".into(),
                retry_after_s: 1,
            },
            InquiryError::Internal(m) => ApiError::Internal(m),
        }
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
        (status = 200, description = described::SUCCESS, body = Envelope<InquiryAnswer>),
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
    let found = state
        .actors
        .telecom
        .history
        .ask_shard(0, Find(id))
        .await??;
    let stored = found.ok_or(ApiError::NotFound("조회 요청"))?;
    auth.ensure_line(&stored.line)?;
    Ok(ok(InquiryAnswer::from(&stored)))
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
        Some(s) => Some(
            serde_json::from_value::<InquiryStatus>(Value::from(s))
                .map_err(|_| field("status", "status는 COMPLETED 또는 FAILED 여야 합니다"))?,
        ),
    };
    auth.ensure_line(&line)?;
    let filter = InquiryFilter {
        line,
        from: window.from,
        until: window.until,
        status,
        offset: window.page.offset(),
        limit: i64::from(window.page.size),
    };
    let (items, total) = state
        .actors
        .telecom
        .history
        .ask_shard(0, Page(filter))
        .await??;
    Ok(ok(BillHistory {
        items: items.iter().map(BillHistoryItem::from).collect(),
        pagination: Pagination::new(window.page, total.max(0) as u64),
    }))
}
