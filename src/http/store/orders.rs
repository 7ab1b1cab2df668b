//! `/store/orders*`: orders paid with points, under a required Idempotency-Key (seed 4-1 …
//! 4-5, 6-1).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::shop::not_found as product_not_found;
use super::PageParams;
use crate::actors::store::order::{GetOrder, ListOrders, OrderError, PlaceOrder};
use crate::domain::paging::Pagination;
use crate::domain::store::order::{
    CouponId, OrderOutcome, OrderRequest, OrderStatus, PricedLine, Receipt, Refusal,
};
use crate::domain::store::shop::ProductId;
use crate::http::envelope::{ok, with_message, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::Auth;
use crate::http::params::{field, idempotency_key, mark_replayed};
use crate::http::AppState;
use crate::infra::store::orders::OrderRecord;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders", web::post().to(place_order))
        .route("/orders", web::get().to(list_orders))
        .route("/orders/{orderId}", web::get().to(get_order));
}

/// One line of `POST /store/orders`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct OrderLineBody {
    #[schema(example = 1)]
    product_id: i64,
    /// 1-100 (`[store] max_item_quantity`).
    #[schema(example = 1)]
    quantity: i64,
}

/// `POST /store/orders`' body (read field by field, so that each fault names its field).
#[derive(Deserialize, ToSchema)]
#[schema(as = OrderRequest)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct OrderBody {
    /// 1-20 distinct products (`[store] max_order_items`).
    items: Vec<OrderLineBody>,
    /// One of the caller's coupons (`GET /store/coupons`).
    coupon_id: Option<i64>,
}

/// A line of an order as shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OrderLineView {
    product_id: i64,
    name: String,
    unit_price: i64,
    quantity: i32,
    amount: i64,
}

fn lines(lines: &[PricedLine]) -> Vec<OrderLineView> {
    lines
        .iter()
        .map(|l| OrderLineView {
            product_id: l.product_id.get(),
            name: l.name.clone(),
            unit_price: l.unit_price.won(),
            quantity: l.quantity,
            amount: l.amount().map_or(0, |a| a.won()),
        })
        .collect()
}

/// A paid order's answer (`200`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PaidView {
    order_id: String,
    status: OrderStatus,
    items: Vec<OrderLineView>,
    total_amount: i64,
    discount_amount: i64,
    paid_amount: i64,
    balance_after: i64,
    coupon_id: Option<i64>,
    created_at: String,
    paid_at: String,
}

impl From<&Receipt> for PaidView {
    fn from(r: &Receipt) -> Self {
        Self {
            order_id: r.order_id.to_string(),
            status: OrderStatus::Paid,
            items: lines(&r.lines),
            total_amount: r.total.won(),
            discount_amount: r.discount.won(),
            paid_amount: r.paid.won(),
            balance_after: r.balance_after.won(),
            coupon_id: r.coupon.map(CouponId::get),
            created_at: r.created_at.to_rfc3339(),
            paid_at: r.paid_at.to_rfc3339(),
        }
    }
}

/// An order left pending (`202`): the recovery settles it; `GET /store/orders/{orderId}`
/// tells which way.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PendingView {
    order_id: String,
    status: OrderStatus,
}

/// An order as `GET /store/orders*` show it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OrderView {
    order_id: String,
    status: OrderStatus,
    /// Why it is FAILED (INSUFFICIENT_BALANCE, INSUFFICIENT_STOCK, INVALID_COUPON) or
    /// CANCELED (SYSTEM_FAILURE).
    reason: Option<String>,
    items: Vec<OrderLineView>,
    total_amount: i64,
    discount_amount: i64,
    paid_amount: i64,
    coupon_id: Option<i64>,
    created_at: String,
    paid_at: Option<String>,
    settled_at: Option<String>,
}

impl From<OrderRecord> for OrderView {
    fn from(o: OrderRecord) -> Self {
        Self {
            order_id: o.order_id.to_string(),
            status: o.status,
            reason: o.reason,
            items: lines(&o.lines),
            total_amount: o.total.won(),
            discount_amount: o.discount.won(),
            paid_amount: o.paid.won(),
            coupon_id: o.coupon.map(CouponId::get),
            created_at: o.created_at.to_rfc3339(),
            paid_at: o.paid_at.map(|t| t.to_rfc3339()),
            settled_at: o.settled_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct OrderPage {
    items: Vec<OrderView>,
    pagination: Pagination,
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::KeyInFlight => ApiError::Conflict {
                code: "DUPLICATE_REQUEST",
                message: "이미 처리 중입니다.".into(),
            },
            OrderError::KeyMismatch => ApiError::Unprocessable {
                code: "IDEMPOTENCY_KEY_REUSED",
                message: "Idempotency-Key가 다른 요청에 이미 사용되었습니다".into(),
            },
            OrderError::UnknownProduct => product_not_found(),
            OrderError::Store(s) => s.into(),
        }
    }
}

fn refused(order_id: Uuid, r: &Refusal) -> ApiError {
    let order_id = order_id.to_string();
    let (status, message, details) = match r {
        Refusal::InsufficientBalance { required, balance } => (
            StatusCode::PAYMENT_REQUIRED,
            "잔액이 부족합니다.",
            json!({ "required": required.won(), "balance": balance.won(), "orderId": order_id }),
        ),
        Refusal::InsufficientStock { items } => (
            StatusCode::CONFLICT,
            "일부 상품의 재고가 부족합니다.",
            json!({ "items": items, "orderId": order_id }),
        ),
        Refusal::InvalidCoupon { reason } => (
            StatusCode::BAD_REQUEST,
            "쿠폰이 유효하지 않습니다.",
            json!({ "reason": reason, "orderId": order_id }),
        ),
    };
    ApiError::Refused {
        status,
        code: r.code(),
        message,
        details,
    }
}

/// An order's outcome as HTTP; the same for the first answer and a replay.
fn answer(outcome: &OrderOutcome) -> HttpResponse {
    match outcome {
        OrderOutcome::Paid(receipt) => with_message(
            StatusCode::OK,
            "0000",
            "결제가 완료되었습니다.",
            PaidView::from(receipt),
        ),
        OrderOutcome::Refused { order_id, refusal } => refused(*order_id, refusal).error_response(),
        OrderOutcome::Pending { order_id } => with_message(
            StatusCode::ACCEPTED,
            "ORDER_PENDING",
            "결제 처리 중 오류 발생, 자동 복구 예정",
            PendingView {
                order_id: order_id.to_string(),
                status: OrderStatus::Pending,
            },
        ),
    }
}

/// Reads the body field by field: `400` naming the field, `None` product ids (not a
/// positive integer) for the `404` of an unknown product.
fn parse_body(body: &Value, state: &AppState) -> Result<Result<OrderRequest, usize>, ApiError> {
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| field("items", "items는 상품 목록이어야 합니다"))?;
    let mut pairs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let product = match item.get("productId") {
            Some(Value::Number(n)) => n.as_i64().and_then(|n| ProductId::parse(&n.to_string())),
            _ => {
                return Err(field(
                    &format!("items[{i}].productId"),
                    "productId는 정수여야 합니다",
                ))
            }
        };
        let quantity = item
            .get("quantity")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                field(
                    &format!("items[{i}].quantity"),
                    "quantity는 정수여야 합니다",
                )
            })?;
        pairs.push((product, quantity));
    }
    let coupon = match body.get("couponId") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .and_then(CouponId::new)
                .ok_or_else(|| field("couponId", "couponId는 양의 정수여야 합니다"))?,
        ),
    };
    OrderRequest::parse(&pairs, coupon, state.order_limits).map_err(|m| field(&m.field, m.message))
}

/// `POST /store/orders`.
#[utoipa::path(
    post,
    path = "/api/v1/store/orders",
    tag = "store",
    summary = "Order with points: the coupon's discount first, the balance for the rest. Required Idempotency-Key: a retry with the same key and body is answered again (Idempotent-Replayed: true), 409 DUPLICATE_REQUEST while the first is in flight, 422 with another body",
    description = "Checked in this order, the first refusal wins: items (400 naming the field, 404 PRODUCT_NOT_FOUND), coupon (400 INVALID_COUPON, details.reason NOT_FOUND, NOT_OWNED, USED, RESERVED, EXPIRED or MIN_ORDER_AMOUNT), stock (409 INSUFFICIENT_STOCK, details.items), balance (402 INSUFFICIENT_BALANCE, details.required and balance). A refused order is recorded FAILED and holds nothing. A failure after the reserve answers 202 ORDER_PENDING; the order is settled within [store] pending_recovery_s (CANCELED, everything given back, unless it was paid).",
    request_body = OrderBody,
    params(("Idempotency-Key" = String, Header, description = "Required: 1-255 printable ASCII characters; kept 24 h")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<PaidView>),
        (status = 202, description = described::ACCEPTED, body = Envelope<PendingView>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 402, description = "INSUFFICIENT_BALANCE", body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 409, description = described::CONFLICT, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 422, description = described::UNPROCESSABLE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn place_order(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?
        .ok_or_else(|| field("Idempotency-Key", "Idempotency-Key 헤더가 필요합니다"))?;
    let request = parse_body(&body, &state)?.map_err(|_| product_not_found())?;
    let user = auth.principal.user_id.clone();
    let msg = PlaceOrder {
        user: user.clone(),
        request,
        idempotency_key: key,
    };
    let (outcome, replayed) = state.actors.store.orders.ask(user.as_str(), msg).await??;
    let mut response = answer(&outcome);
    mark_replayed(&mut response, replayed);
    Ok(response)
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// `GET /store/orders?status&page&size`.
#[utoipa::path(
    get,
    path = "/api/v1/store/orders",
    tag = "store",
    summary = "The caller's orders, newest first",
    params(
        ("status" = Option<String>, Query, description = "PENDING, PAID, FAILED or CANCELED (default: all)"),
        ("page" = Option<String>, Query, description = "From 1 (default 1)"),
        ("size" = Option<String>, Query, description = "1-100 (default 20)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<OrderPage>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn list_orders(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<OrderStatus>(Value::from(s)).map_err(|_| {
                field(
                    "status",
                    "status는 PENDING, PAID, FAILED 또는 CANCELED 여야 합니다",
                )
            })?,
        ),
    };
    let page = q.page.parse()?;
    let user = auth.principal.user_id.clone();
    let msg = ListOrders {
        user: user.clone(),
        status,
        offset: page.offset(),
        limit: i64::from(page.size),
    };
    let (orders, total) = state.actors.store.orders.ask(user.as_str(), msg).await??;
    Ok(ok(OrderPage {
        items: orders.into_iter().map(OrderView::from).collect(),
        pagination: Pagination::new(page, total.max(0) as u64),
    }))
}

fn order_not_found() -> ApiError {
    ApiError::Refused {
        status: StatusCode::NOT_FOUND,
        code: "ORDER_NOT_FOUND",
        message: "주문을 찾을 수 없습니다.",
        details: Value::Null,
    }
}

/// `GET /store/orders/{orderId}`.
#[utoipa::path(
    get,
    path = "/api/v1/store/orders/{orderId}",
    tag = "store",
    summary = "One order, its owner's or (ADMIN) anyone's; 404 ORDER_NOT_FOUND otherwise",
    params(("orderId" = String, Path, description = "The order's id (a UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<OrderView>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn get_order(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order_id = Uuid::parse_str(path.trim()).map_err(|_| order_not_found())?;
    let user = auth.principal.user_id.clone();
    let msg = GetOrder {
        user: user.clone(),
        admin: auth.principal.is_admin(),
        order_id,
    };
    let found = state.actors.store.orders.ask(user.as_str(), msg).await??;
    let order = found.ok_or_else(order_not_found)?;
    Ok(ok(OrderView::from(order)))
}
