//! `/api/v1/products/*`: product menu, customer and catalogue screens, the pre-check, the
//! change itself (with `Idempotency-Key`), a change's result and the change history
//! (UFR-PROD-010…040). Permission `PRODUCT_CHANGE`; ownership before any cache or KOS access.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::actors::telecom::cache::{CacheKey, Cached, Get};
use crate::actors::telecom::product_change::{
    ChangeError, ChangeHistory, FindChange, Precheck, Replayed, RequestChange,
};
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::identity::LineNumber;
use crate::domain::paging::Pagination;
use crate::domain::telecom::change::{
    ChangeFilter, ChangeOutcome, ChangeRecord, ChangeStatus, PRECHECK_FAILED,
};
use crate::domain::telecom::kos::{KosCustomer, KosProductList};
use crate::domain::telecom::product::ProductCode;
use crate::http::envelope::{failure_with_data, ok, with_status};
use crate::http::error::ApiError;
use crate::http::extract::{Auth, ProductChange};
use crate::http::params::{field, line_or_own, request_id, HistoryParams, HistoryWindow};
use crate::http::AppState;

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

async fn cached_customer(state: &AppState, line: &LineNumber) -> Result<KosCustomer, ApiError> {
    let key = CacheKey::Customer(line.clone());
    let found = state
        .actors
        .telecom
        .cache
        .ask(&key.name(), Get(key))
        .await??;
    match &*found.value {
        Cached::Customer(c) => Ok((**c).clone()),
        Cached::Refused { .. } => Err(ChangeError::LineNotFound.into()),
        other => Err(ApiError::Internal(format!("customer cache held {other:?}"))),
    }
}

async fn catalogue(state: &AppState) -> Result<KosProductList, ApiError> {
    let key = CacheKey::Products;
    let found = state
        .actors
        .telecom
        .cache
        .ask(&key.name(), Get(key))
        .await??;
    match &*found.value {
        Cached::Products(p) => Ok(p.clone()),
        other => Err(ApiError::Internal(format!(
            "catalogue cache held {other:?}"
        ))),
    }
}

/// The customer of `line` as KOS knows it (the gateway checked KOS answered about `line`).
fn customer_view(line: &LineNumber, c: &KosCustomer, products: &KosProductList) -> Value {
    let current = products
        .products
        .iter()
        .find(|p| p.product_code == c.current_product_code);
    json!({
        "customerId": c.customer_id,
        "lineNumber": line,
        "customerName": c.customer_name,
        "currentProduct": current,
        "lineStatus": c.line_status,
        "operatorCode": c.operator_code,
        "contractInfo": c.contract_info,
    })
}

/// `GET /products/menu`: the caller's line, customer and current product.
async fn menu(
    state: web::Data<AppState>,
    auth: Auth<ProductChange>,
) -> Result<HttpResponse, ApiError> {
    let line = auth.principal.line_number.clone();
    let c = cached_customer(&state, &line).await?;
    let products = catalogue(&state).await?;
    let view = customer_view(&line, &c, &products);
    Ok(ok(json!({
        "customerInfo": {
            "customerId": c.customer_id,
            "customerName": c.customer_name,
            "lineNumber": line,
            "lineStatus": c.line_status,
            "operatorCode": c.operator_code,
        },
        "currentProduct": view["currentProduct"],
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineQuery {
    line_number: Option<String>,
}

/// `GET /products/customer?lineNumber=`: customer, current product, status and contract.
async fn customer(
    state: web::Data<AppState>,
    auth: Auth<ProductChange>,
    query: web::Query<LineQuery>,
) -> Result<HttpResponse, ApiError> {
    let line = line_or_own(query.line_number.as_deref(), &auth.principal.line_number)?;
    auth.ensure_line(&line)?;
    let c = cached_customer(&state, &line).await?;
    let products = catalogue(&state).await?;
    Ok(ok(customer_view(&line, &c, &products)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AvailableQuery {
    current_product_code: Option<String>,
    operator_code: Option<String>,
}

/// `GET /products/available`: products on sale, of the operator (by default the caller's
/// own line's, so a customer is offered only plans they can take), other than the current.
async fn available(
    state: web::Data<AppState>,
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
            cached_customer(&state, &auth.principal.line_number)
                .await?
                .operator_code
        }
    };
    let products = catalogue(&state).await?;
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
    Ok(ok(json!({ "totalCount": list.len(), "products": list })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeBody {
    #[serde(default)]
    line_number: Option<String>,
    #[serde(default)]
    current_product_code: Option<String>,
    #[serde(default)]
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

fn idempotency_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| "")
        .and_then(IdempotencyKey::parse)
        .map_err(|_| {
            field(
                "Idempotency-Key",
                "1~255자의 출력 가능한 ASCII 문자여야 합니다",
            )
        })?;
    Ok(Some(key))
}

/// A change's outcome as HTTP: settled `200`, still processing `202`, pre-check failed
/// `409` (the validation as data). A replay is marked `Idempotent-Replayed: true`.
fn outcome_response(outcome: ChangeOutcome, replayed: Replayed) -> Result<HttpResponse, ApiError> {
    let mut response = match outcome {
        ChangeOutcome::Settled(answer) => with_status(StatusCode::OK, *answer),
        ChangeOutcome::Processing { request_id } => with_status(
            StatusCode::ACCEPTED,
            json!({ "requestId": request_id, "processStatus": ChangeStatus::Processing }),
        ),
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
    if replayed.0 {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// `POST /products/change`: re-checks, records PROCESSING, calls KOS, settles, answers.
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

fn change_view(r: &ChangeRecord) -> Value {
    let mut view = json!({
        "requestId": r.request_id,
        "lineNumber": r.line,
        "processStatus": r.status,
        "currentProductCode": r.current,
        "targetProductCode": r.target,
        "resultCode": r.result_code,
        "resultMessage": r.result_message,
        "requestedAt": r.requested_at.to_rfc3339(),
        "processedAt": r.processed_at.map(|t| t.to_rfc3339()),
    });
    if let Some(answer) = &r.response {
        view["changedProduct"] = json!(answer.changed_product);
    }
    view
}

/// `GET /products/change/{requestId}` (owner or ADMIN).
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
    Ok(ok(change_view(&row)))
}

/// `GET /products/history`: a line's change requests, newest first (size ≤ 100, start at
/// most two years back).
async fn history(
    state: web::Data<AppState>,
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
    let names = catalogue(&state).await.ok();
    let name_of = |code: &str| {
        names
            .as_ref()
            .and_then(|p| p.products.iter().find(|x| x.product_code == code))
            .map(|p| p.product_name.clone())
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "requestId": r.request_id,
                "lineNumber": r.line,
                "processStatus": r.status,
                "currentProductCode": r.current,
                "currentProductName": name_of(r.current.as_str()),
                "targetProductCode": r.target,
                "targetProductName": name_of(r.target.as_str()),
                "requestedAt": r.requested_at.to_rfc3339(),
                "processedAt": r.processed_at.map(|t| t.to_rfc3339()),
                "resultMessage": r.result_message,
            })
        })
        .collect();
    Ok(ok(
        json!({ "items": items, "pagination": Pagination::new(window.page, total.max(0) as u64) }),
    ))
}
