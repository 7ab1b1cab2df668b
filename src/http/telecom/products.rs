//! `/api/v1/products/*`: product menu, customer and catalogue screens, the pre-check, the
//! change itself (with `Idempotency-Key`), a change's result and the change history
//! (UFR-PROD-010…040). Permission `PRODUCT_CHANGE`; ownership before any cache or KOS access.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::actors::telecom::cache::{CacheKey, Cached};
use crate::actors::telecom::cache_front;
use crate::actors::telecom::product_change::{
    ChangeError, ChangeHistory, FindChange, Precheck, Replayed, RequestChange,
};
use crate::domain::identity::LineNumber;
use crate::domain::paging::Pagination;
use crate::domain::telecom::change::{ChangeFilter, ChangeOutcome, SettledChange, PRECHECK_FAILED};
use crate::domain::telecom::kos::{KosCustomer, KosProductList};
use crate::domain::telecom::product::{ProductCode, Validation};
use crate::http::envelope::{failure_with_data, ok, with_status, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::{Auth, ProductChange};
use crate::http::params::{
    field, idempotency_key, line_or_own, mark_replayed, request_id, HistoryParams, HistoryWindow,
};
use crate::http::{AppState, WorkerFronts};

use super::views::{
    ChangeHistoryItem, ChangeHistoryPage, ChangeProcessing, ChangeRecordView, CustomerView,
    ProductList, ProductMenu,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/products")
            .route("/menu", web::get().to(menu))
            .route("/customer", web::get().to(customer))
            .route("/available", web::get().to(available))
            .route("/change/validation", web::post().to(validation))
            .route("/change", web::post().to(change))
            .route("/change/{requestId}", web::get().to(change_result))
            .route("/history", web::get().to(history)),
    );
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::LineBusy => ApiError::Conflict {
                code: "CHANGE_IN_PROGRESS",
                message: "이 회선의 상품 변경이 이미 처리 중입니다".into(),
            },
            ChangeError::KeyInFlight => ApiError::Conflict {
                code: "IDEMPOTENCY_IN_FLIGHT",
                message: "같은 Idempotency-Key의 요청이 처리 중입니다".into(),
            },
            ChangeError::KeyMismatch => ApiError::Unprocessable {
                code: "IDEMPOTENCY_KEY_REUSED",
                message: "Idempotency-Key가 다른 요청에 이미 사용되었습니다".into(),
            },
            ChangeError::LineNotFound => ApiError::NotFoundCode {
                code: "LINE_NOT_FOUND",
                message: "존재하지 않는 회선입니다".into(),
            },
            ChangeError::Kos(k) => k.into(),
            ChangeError::Store(s) => s.into(),
            ChangeError::Internal(m) => ApiError::Internal(m),
        }
    }
}

async fn cached_customer(
    fronts: &WorkerFronts,
    line: &LineNumber,
) -> Result<KosCustomer, ApiError> {
    let key = CacheKey::Customer(line.clone());
    let found = cache_front::fetch(&fronts.cache, key).await??;
    match &*found.value {
        Cached::Customer(c) => Ok((**c).clone()),
        Cached::Refused { .. } => Err(ChangeError::LineNotFound.into()),
        other => Err(ApiError::Internal(format!("customer cache held {other:?}"))),
    }
}

async fn catalogue(fronts: &WorkerFronts) -> Result<KosProductList, ApiError> {
    let found = cache_front::fetch(&fronts.cache, CacheKey::Products).await??;
    match &*found.value {
        Cached::Products(p) => Ok(p.clone()),
        other => Err(ApiError::Internal(format!(
            "catalogue cache held {other:?}"
        ))),
    }
}

/// `GET /products/menu`: the caller's line, customer and current product.
#[utoipa::path(
    get,
    path = "/api/v1/products/menu",
    tag = "products",
    operation_id = "products_menu",
    summary = "The caller's customer info and current product",
    description = "Requires permission PRODUCT_CHANGE.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<ProductMenu>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn menu(
    fronts: web::Data<WorkerFronts>,
    auth: Auth<ProductChange>,
) -> Result<HttpResponse, ApiError> {
    let line = auth.principal.line_number.clone();
    let c = cached_customer(&fronts, &line).await?;
    let products = catalogue(&fronts).await?;
    Ok(ok(ProductMenu::new(&c, &products, &line)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct LineQuery {
    /// Line (default: the caller's)
    line_number: Option<String>,
}

/// `GET /products/customer?lineNumber=`: customer, current product, status and contract.
#[utoipa::path(
    get,
    path = "/api/v1/products/customer",
    tag = "products",
    summary = "Customer, current product, line status and contract",
    description = "Requires permission PRODUCT_CHANGE.",
    params(LineQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<CustomerView>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn customer(
    fronts: web::Data<WorkerFronts>,
    auth: Auth<ProductChange>,
    query: web::Query<LineQuery>,
) -> Result<HttpResponse, ApiError> {
    let line = line_or_own(query.line_number.as_deref(), &auth.principal.line_number)?;
    auth.ensure_line(&line)?;
    let c = cached_customer(&fronts, &line).await?;
    let products = catalogue(&fronts).await?;
    Ok(ok(CustomerView::new(&line, &c, &products)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct AvailableQuery {
    /// Excluded from the list
    current_product_code: Option<String>,
    /// Only this operator's (default: the caller's line's operator)
    operator_code: Option<String>,
}

/// `GET /products/available`: products on sale, of the operator (by default the caller's
/// own line's, so a customer is offered only plans they can take), other than the current.
#[utoipa::path(
    get,
    path = "/api/v1/products/available",
    tag = "products",
    summary = "Products on sale (of an operator, other than the current)",
    description = "Requires permission PRODUCT_CHANGE.",
    params(AvailableQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<ProductList>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn available(
    fronts: web::Data<WorkerFronts>,
    auth: Auth<ProductChange>,
    query: web::Query<AvailableQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let current = q
        .current_product_code
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| ProductCode::parse(s).map_err(|e| field("currentProductCode", e)))
        .transpose()?;
    let operator = q.operator_code.filter(|s| !s.is_empty());
    if let Some(op) = &operator {
        if !(2..=10).contains(&op.len()) || !op.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(field(
                "operatorCode",
                "사업자 코드 형식이 올바르지 않습니다",
            ));
        }
    }
    let operator = match operator {
        Some(op) => op,
        None => {
            cached_customer(&fronts, &auth.principal.line_number)
                .await?
                .operator_code
        }
    };
    let products = catalogue(&fronts).await?;
    let list: Vec<_> = products
        .products
        .iter()
        .filter(|p| p.is_available)
        .filter(|p| p.operator_code == operator)
        .filter(|p| {
            current
                .as_ref()
                .is_none_or(|c| p.product_code != c.as_str())
        })
        .collect();
    Ok(ok(ProductList::new(list)))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = ChangeRequest)]
#[serde(rename_all = "camelCase")]
struct ChangeBody {
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        pattern = "^010-?[0-9]{4}-?[0-9]{4}$",
        example = "010-1234-5001"
    )]
    line_number: Option<String>,
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        pattern = "^[A-Z0-9-]{1,32}$",
        example = "5G-STANDARD-001"
    )]
    current_product_code: Option<String>,
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        pattern = "^[A-Z0-9-]{1,32}$",
        example = "5G-PREMIUM-001"
    )]
    target_product_code: Option<String>,
}

struct ParsedChange {
    line: LineNumber,
    current: ProductCode,
    target: ProductCode,
}

fn parse_change(body: ChangeBody) -> Result<ParsedChange, ApiError> {
    let mut errors = BTreeMap::new();
    let line = LineNumber::parse(body.line_number.as_deref().unwrap_or_default())
        .map_err(|e| errors.insert("lineNumber".to_string(), e.to_string()))
        .ok();
    let current = ProductCode::parse(body.current_product_code.as_deref().unwrap_or_default())
        .map_err(|e| errors.insert("currentProductCode".to_string(), e.to_string()))
        .ok();
    let target = ProductCode::parse(body.target_product_code.as_deref().unwrap_or_default())
        .map_err(|e| errors.insert("targetProductCode".to_string(), e.to_string()))
        .ok();
    match (line, current, target) {
        (Some(line), Some(current), Some(target)) => Ok(ParsedChange {
            line,
            current,
            target,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// `POST /products/change/validation`: the pre-check alone; every check with PASS/FAIL.
#[utoipa::path(
    post,
    path = "/api/v1/products/change/validation",
    tag = "products",
    summary = "The pre-check alone, every check with PASS/FAIL",
    description = "Requires permission PRODUCT_CHANGE.",
    request_body = ChangeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<Validation>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn validation(
    state: web::Data<AppState>,
    auth: Auth<ProductChange>,
    body: web::Json<ChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let c = parse_change(body.into_inner())?;
    auth.ensure_line(&c.line)?;
    let result = state
        .actors
        .telecom
        .products
        .ask(
            c.line.digits(),
            Precheck {
                line: c.line.clone(),
                current: c.current,
                target: c.target,
            },
        )
        .await??;
    Ok(ok(result))
}

/// A change's outcome as HTTP: settled `200`, still processing `202`, pre-check failed
/// `409` (the validation as data). A replay is marked `Idempotent-Replayed: true`.
fn outcome_response(outcome: ChangeOutcome, replayed: Replayed) -> Result<HttpResponse, ApiError> {
    let mut response = match outcome {
        ChangeOutcome::Settled(answer) => with_status(StatusCode::OK, *answer),
        ChangeOutcome::Processing { request_id } => {
            with_status(StatusCode::ACCEPTED, ChangeProcessing::new(request_id))
        }
        ChangeOutcome::Refused(validation) => {
            let message = validation
                .failure_reason
                .clone()
                .unwrap_or_else(|| PRECHECK_FAILED.into());
            let data =
                serde_json::to_value(&validation).map_err(|e| ApiError::Internal(e.to_string()))?;
            failure_with_data(StatusCode::CONFLICT, "VALIDATION_FAILED", &message, data)
        }
    };
    mark_replayed(&mut response, replayed.0);
    Ok(response)
}

/// `POST /products/change`: re-checks, records PROCESSING, calls KOS, settles, answers.
#[utoipa::path(
    post,
    path = "/api/v1/products/change",
    tag = "products",
    summary = "Change the product (optional Idempotency-Key header); 202 when KOS's outcome is unknown",
    description = "Requires permission PRODUCT_CHANGE.",
    params((
        "Idempotency-Key" = Option<String>,
        Header,
        nullable = false,
        pattern = "^[!-~]{1,255}$",
        description = "1-255 printable ASCII characters; kept 24 h"
    )),
    request_body = ChangeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<SettledChange>),
        (status = 202, description = described::ACCEPTED, body = Envelope<ChangeProcessing>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 409, description = "Conflict: pre-check failed (VALIDATION_FAILED, data: the validation), change or idempotency key in flight", body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 422, description = described::UNPROCESSABLE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn change(
    state: web::Data<AppState>,
    auth: Auth<ProductChange>,
    req: HttpRequest,
    body: web::Json<ChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let c = parse_change(body.into_inner())?;
    auth.ensure_line(&c.line)?;
    let msg = RequestChange {
        user_id: auth.principal.user_id.clone(),
        line: c.line.clone(),
        current: c.current,
        target: c.target,
        idempotency_key: key,
    };
    let (outcome, replayed) = state
        .actors
        .telecom
        .products
        .ask(c.line.digits(), msg)
        .await??;
    outcome_response(outcome, replayed)
}

/// `GET /products/change/{requestId}` (owner or ADMIN).
#[utoipa::path(
    get,
    path = "/api/v1/products/change/{requestId}",
    tag = "products",
    summary = "A change's record (owner or ADMIN)",
    description = "Requires permission PRODUCT_CHANGE.",
    params(("requestId" = String, Path, description = "Request id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<ChangeRecordView>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn change_result(
    state: web::Data<AppState>,
    auth: Auth<ProductChange>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = request_id(path.into_inner())?;
    let row = state
        .actors
        .telecom
        .products
        .ask(&id, FindChange(id.clone()))
        .await??
        .ok_or(ApiError::NotFound("상품 변경 요청"))?;
    auth.ensure_line(&row.line)?;
    Ok(ok(ChangeRecordView::from(&row)))
}

/// `GET /products/history`: a line's change requests, newest first (size ≤ 100, start at
/// most two years back).
#[utoipa::path(
    get,
    path = "/api/v1/products/history",
    tag = "products",
    operation_id = "products_history",
    summary = "A line's change requests, newest first",
    description = "Requires permission PRODUCT_CHANGE.",
    params(HistoryParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<ChangeHistoryPage>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn history(
    state: web::Data<AppState>,
    fronts: web::Data<WorkerFronts>,
    auth: Auth<ProductChange>,
    query: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let line = line_or_own(q.line_number.as_deref(), &auth.principal.line_number)?;
    let window = HistoryWindow::parse(&state, &q, 10, Some(Duration::days(731)))?;
    auth.ensure_line(&line)?;
    let filter = ChangeFilter {
        line: line.clone(),
        from: window.from,
        until: window.until,
        offset: window.page.offset(),
        limit: i64::from(window.page.size),
    };
    let (rows, total) = state
        .actors
        .telecom
        .products
        .ask(line.digits(), ChangeHistory(filter))
        .await??;
    // Product names from the catalogue when it can be had; codes are always there.
    let names = catalogue(&fronts).await.ok();
    let items = rows
        .iter()
        .map(|r| ChangeHistoryItem::new(r, names.as_ref()))
        .collect();
    Ok(ok(ChangeHistoryPage {
        items,
        pagination: Pagination::new(window.page, total.max(0) as u64),
    }))
}
