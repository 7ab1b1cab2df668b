//! `/store/coupons*` and `/store/admin/coupons*`: first-come coupon claims, the caller's
//! coupons, and campaigns (seed 3-1, 3-2).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::actors::store::coupon::{
    CampaignCounts, CampaignReport, Claim, ClaimOutcome, CouponError, CreateCampaign, HeldCoupon,
    MyCoupons,
};
use crate::domain::store::coupon::{
    Campaign, CouponCode, CouponStatus, Discount, DiscountType, Ineligible,
};
use crate::domain::store::points::Points;
use crate::http::envelope::{now_iso, request_id, with_status, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::{Admin, Auth};
use crate::http::params::field;
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/coupons", web::post().to(claim))
        .route("/coupons", web::get().to(mine))
        .route("/admin/coupons", web::post().to(create))
        .route("/admin/coupons/{couponCode}", web::get().to(report));
}

const ISSUED: &str = "쿠폰이 발급되었습니다.";
const SOLD_OUT: &str = "Sold out: COUPON_SOLD_OUT (쿠폰 수량이 모두 소진되었습니다.)";
const NOT_ELIGIBLE: &str =
    "Outside the issue window or not the campaign's operator: COUPON_NOT_ELIGIBLE";
const UNKNOWN_CODE: &str = "Unknown or malformed code: COUPON_NOT_FOUND";

fn refused(status: StatusCode, code: &'static str, message: &'static str) -> ApiError {
    ApiError::Refused {
        status,
        code,
        message,
        details: Value::Null,
    }
}

fn not_found() -> ApiError {
    refused(
        StatusCode::NOT_FOUND,
        "COUPON_NOT_FOUND",
        "쿠폰을 찾을 수 없습니다.",
    )
}

impl From<CouponError> for ApiError {
    fn from(e: CouponError) -> Self {
        match e {
            CouponError::CodeTaken => ApiError::Conflict {
                code: "COUPON_CODE_TAKEN",
                message: "이미 사용 중인 쿠폰 코드입니다.".into(),
            },
            CouponError::Kos(k) => k.into(),
            CouponError::Actor(a) => a.into(),
            CouponError::Store(s) => s.into(),
        }
    }
}

/// A discount as clients see it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DiscountView {
    /// `AMOUNT` (won) or `RATE` (percent).
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "RATE")]
    kind: DiscountType,
    /// Won for `AMOUNT`, percent for `RATE`.
    value: i64,
    /// `RATE` only: the most it takes off, in won.
    max_discount: Option<i64>,
}

impl From<Discount> for DiscountView {
    fn from(d: Discount) -> Self {
        Self {
            kind: d.kind(),
            value: d.value(),
            max_discount: d.max_discount().map(Points::won),
        }
    }
}

/// A coupon as its holder sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CouponView {
    coupon_id: i64,
    coupon_code: String,
    name: String,
    discount: DiscountView,
    min_order_amount: i64,
    expires_at: String,
    /// `AVAILABLE`, `RESERVED` (held by an order being paid), `USED` or `EXPIRED`.
    #[schema(value_type = String, example = "AVAILABLE")]
    status: CouponStatus,
}

impl CouponView {
    fn new(id: i64, c: &Campaign, expires_at: DateTime<Utc>, status: CouponStatus) -> Self {
        Self {
            coupon_id: id,
            coupon_code: c.code.as_str().to_string(),
            name: c.name.clone(),
            discount: c.discount.into(),
            min_order_amount: c.min_order_amount.won(),
            expires_at: expires_at.to_rfc3339(),
            status,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = CouponClaimRequest)]
#[serde(rename_all = "camelCase")]
struct ClaimBody {
    #[schema(value_type = Option<String>, example = "EVENT2025")]
    coupon_code: Option<Value>,
}

/// `POST /store/coupons`: first come, first served, one per user per campaign.
#[utoipa::path(
    post,
    path = "/api/v1/store/coupons",
    operation_id = "coupons_claim",
    tag = "store",
    summary = "Claim a first-come coupon of a campaign (200 쿠폰이 발급되었습니다.; 409 COUPON_ALREADY_ISSUED; 410 COUPON_SOLD_OUT; 403 COUPON_NOT_ELIGIBLE; 404 COUPON_NOT_FOUND)",
    request_body = ClaimBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<CouponView>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = NOT_ELIGIBLE, body = ErrorEnvelope),
        (status = 404, description = UNKNOWN_CODE, body = ErrorEnvelope),
        (status = 409, description = "Already issued to the caller: COUPON_ALREADY_ISSUED", body = ErrorEnvelope),
        (status = 410, description = SOLD_OUT, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn claim(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<ClaimBody>,
) -> Result<HttpResponse, ApiError> {
    let raw = match &body.coupon_code {
        Some(Value::String(s)) => s,
        Some(_) => return Err(field("couponCode", "couponCode는 문자열이어야 합니다")),
        None => return Err(field("couponCode", "couponCode가 필요합니다")),
    };
    let code = CouponCode::parse(raw).map_err(|_| not_found())?;
    let p = &auth.principal;
    let msg = Claim {
        code: code.clone(),
        user: p.user_id.clone(),
        line: p.line_number.clone(),
    };
    match state.actors.store.coupons.ask(code.as_str(), msg).await?? {
        ClaimOutcome::Issued(c) => {
            let view = CouponView::new(
                c.coupon_id,
                &c.campaign,
                c.expires_at,
                CouponStatus::Available,
            );
            Ok(HttpResponse::Ok().json(Envelope {
                success: true,
                result_code: "0000".into(),
                result_message: ISSUED.into(),
                message: ISSUED.into(),
                data: Some(view),
                error: None,
                timestamp: now_iso(),
                trace_id: request_id(),
            }))
        }
        ClaimOutcome::AlreadyIssued => Err(refused(
            StatusCode::CONFLICT,
            "COUPON_ALREADY_ISSUED",
            "이미 발급받은 쿠폰입니다.",
        )),
        ClaimOutcome::SoldOut => Err(refused(
            StatusCode::GONE,
            "COUPON_SOLD_OUT",
            "쿠폰 수량이 모두 소진되었습니다.",
        )),
        ClaimOutcome::NotEligible(why) => Err(ApiError::Refused {
            status: StatusCode::FORBIDDEN,
            code: "COUPON_NOT_ELIGIBLE",
            message: "발급 대상이 아닙니다.",
            details: json!({ "reason": match why {
                Ineligible::OutsideWindow => "OUTSIDE_WINDOW",
                Ineligible::Operator => "OPERATOR",
            } }),
        }),
        ClaimOutcome::NotFound => Err(not_found()),
    }
}

#[derive(Serialize, ToSchema)]
struct CouponList {
    items: Vec<CouponView>,
}

/// `GET /store/coupons`.
#[utoipa::path(
    get,
    path = "/api/v1/store/coupons",
    operation_id = "coupons_mine",
    tag = "store",
    summary = "The caller's coupons, newest first (status AVAILABLE, RESERVED, USED or EXPIRED)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<CouponList>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn mine(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let user = auth.principal.user_id.clone();
    let held: Vec<HeldCoupon> = state
        .actors
        .store
        .coupons
        .ask(user.as_str(), MyCoupons(user.clone()))
        .await??;
    let items = held
        .iter()
        .map(|h| CouponView::new(h.coupon_id, &h.campaign, h.expires_at, h.status))
        .collect();
    Ok(with_status(StatusCode::OK, CouponList { items }))
}

/// A campaign as admin sees it, with what it has given out.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CampaignView {
    code: String,
    name: String,
    #[schema(value_type = String, example = "RATE")]
    discount_type: DiscountType,
    discount_value: i64,
    max_discount: Option<i64>,
    min_order_amount: i64,
    total_quantity: i32,
    issue_starts_at: String,
    issue_ends_at: String,
    valid_days: i32,
    eligible_operator: Option<String>,
    issued: i32,
    remaining: i32,
    /// Coupons spent by paid orders.
    used: i64,
}

impl CampaignView {
    fn new(c: Campaign, counts: CampaignCounts) -> Self {
        Self {
            code: c.code.as_str().to_string(),
            name: c.name,
            discount_type: c.discount.kind(),
            discount_value: c.discount.value(),
            max_discount: c.discount.max_discount().map(Points::won),
            min_order_amount: c.min_order_amount.won(),
            total_quantity: c.total_quantity,
            issue_starts_at: c.issue_starts_at.to_rfc3339(),
            issue_ends_at: c.issue_ends_at.to_rfc3339(),
            valid_days: c.valid_days,
            eligible_operator: c.eligible_operator,
            issued: counts.issued,
            remaining: counts.remaining,
            used: counts.used,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewCouponCampaignRequest)]
#[serde(rename_all = "camelCase")]
struct NewCampaignBody {
    /// 1-32 of A-Z 0-9 _ - (upper-cased).
    #[schema(value_type = Option<String>, example = "EVENT2026")]
    code: Option<Value>,
    /// 1-100 characters.
    #[schema(value_type = Option<String>, example = "선착순 이벤트 쿠폰")]
    name: Option<Value>,
    /// `AMOUNT` or `RATE`.
    #[schema(value_type = Option<String>, example = "RATE")]
    discount_type: Option<Value>,
    /// Won (1-10,000,000) for `AMOUNT`, percent (1-100) for `RATE`.
    #[schema(value_type = Option<i64>, example = 10)]
    discount_value: Option<Value>,
    /// Required for `RATE` (1-10,000,000 won), not allowed for `AMOUNT`.
    #[schema(value_type = Option<i64>, example = 5000)]
    max_discount: Option<Value>,
    /// 0-10,000,000 won.
    #[schema(value_type = Option<i64>, example = 10000)]
    min_order_amount: Option<Value>,
    /// 1-10,000,000.
    #[schema(value_type = Option<i32>, example = 100)]
    total_quantity: Option<Value>,
    /// RFC 3339.
    #[schema(value_type = Option<String>, example = "2026-01-01T00:00:00+09:00")]
    issue_starts_at: Option<Value>,
    /// RFC 3339, after issueStartsAt (the window is [issueStartsAt, issueEndsAt)).
    #[schema(value_type = Option<String>, example = "2026-02-01T00:00:00+09:00")]
    issue_ends_at: Option<Value>,
    /// Days an issued coupon stays valid, 1-3650.
    #[schema(value_type = Option<i32>, example = 30)]
    valid_days: Option<Value>,
    /// Only lines of this operator may claim (1-10 of A-Z 0-9, e.g. KT).
    #[schema(value_type = Option<String>, example = "KT")]
    eligible_operator: Option<Value>,
}

/// Collects every field's problem of an admin body.
#[derive(Default)]
struct Problems(BTreeMap<String, String>);

impl Problems {
    fn add(&mut self, name: &str, problem: impl Into<String>) {
        self.0.entry(name.into()).or_insert_with(|| problem.into());
    }

    fn present<'v>(&mut self, name: &str, v: &'v Option<Value>) -> Option<&'v Value> {
        match v {
            None | Some(Value::Null) => {
                self.add(name, format!("{name}가 필요합니다"));
                None
            }
            Some(v) => Some(v),
        }
    }

    fn text<'v>(&mut self, name: &str, v: &'v Option<Value>) -> Option<&'v str> {
        match self.present(name, v)? {
            Value::String(s) => Some(s),
            _ => {
                self.add(name, format!("{name}는 문자열이어야 합니다"));
                None
            }
        }
    }

    fn integer(&mut self, name: &str, v: &Option<Value>, range: (i64, i64)) -> Option<i64> {
        let n = self.present(name, v)?.as_i64();
        match n {
            Some(n) if (range.0..=range.1).contains(&n) => Some(n),
            _ => {
                self.add(
                    name,
                    format!("{name}는 {}~{} 사이의 정수여야 합니다", range.0, range.1),
                );
                None
            }
        }
    }

    fn time(&mut self, name: &str, v: &Option<Value>) -> Option<DateTime<Utc>> {
        let s = self.text(name, v)?;
        match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.add(name, format!("{name}는 RFC 3339 시각이어야 합니다"));
                None
            }
        }
    }
}

/// Every field of a new campaign, or each one's problem.
fn parse_campaign(b: &NewCampaignBody) -> Result<CreateCampaign, ApiError> {
    let mut p = Problems::default();
    let code = p
        .text("code", &b.code)
        .and_then(|s| CouponCode::parse(s).map_err(|e| p.add("code", e)).ok());
    let name = p.text("name", &b.name).and_then(|s| {
        let s = s.trim();
        if (1..=100).contains(&s.chars().count()) {
            Some(s.to_string())
        } else {
            p.add("name", "name은 1~100자여야 합니다");
            None
        }
    });
    let kind =
        p.text("discountType", &b.discount_type).and_then(|s| {
            match serde_json::from_value::<DiscountType>(Value::from(s.trim())) {
                Ok(k) => Some(k),
                Err(_) => {
                    p.add(
                        "discountType",
                        "discountType은 AMOUNT 또는 RATE 여야 합니다",
                    );
                    None
                }
            }
        });
    let value = p.integer("discountValue", &b.discount_value, (1, 10_000_000));
    let max = match &b.max_discount {
        None | Some(Value::Null) => None,
        some => p.integer("maxDiscount", some, (1, 10_000_000)),
    };
    if kind == Some(DiscountType::Amount) && max.is_some() {
        p.add(
            "maxDiscount",
            "maxDiscount는 정률(RATE) 할인에만 지정할 수 있습니다",
        );
    }
    let discount = match (kind, value) {
        (Some(k), Some(v)) => Discount::parse(k, v, max)
            .map_err(|(name, problem)| p.add(name, problem))
            .ok(),
        _ => None,
    };
    let min_order = p.integer("minOrderAmount", &b.min_order_amount, (0, 10_000_000));
    let quantity = p.integer("totalQuantity", &b.total_quantity, (1, 10_000_000));
    let starts = p.time("issueStartsAt", &b.issue_starts_at);
    let ends = p.time("issueEndsAt", &b.issue_ends_at);
    if let (Some(s), Some(e)) = (starts, ends) {
        if e <= s {
            p.add("issueEndsAt", "issueEndsAt은 issueStartsAt 이후여야 합니다");
        }
    }
    let valid_days = p.integer("validDays", &b.valid_days, (1, 3650));
    let operator = match &b.eligible_operator {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            let op = s.trim().to_ascii_uppercase();
            if op.len() <= 10 && op.bytes().all(|c| c.is_ascii_alphanumeric()) {
                Some(op)
            } else {
                p.add(
                    "eligibleOperator",
                    "eligibleOperator는 1~10자의 영문 대문자 또는 숫자여야 합니다",
                );
                None
            }
        }
        Some(_) => {
            p.add("eligibleOperator", "eligibleOperator는 문자열이어야 합니다");
            None
        }
    };
    if !p.0.is_empty() {
        return Err(ApiError::Validation(p.0));
    }
    match (
        code, name, discount, min_order, quantity, starts, ends, valid_days,
    ) {
        (
            Some(code),
            Some(name),
            Some(discount),
            Some(min_order),
            Some(quantity),
            Some(starts),
            Some(ends),
            Some(valid_days),
        ) => Ok(CreateCampaign {
            code,
            name,
            discount,
            min_order_amount: Points::new(min_order),
            total_quantity: quantity as i32,
            issue_starts_at: starts,
            issue_ends_at: ends,
            valid_days: valid_days as i32,
            eligible_operator: operator,
        }),
        _ => Err(ApiError::Internal(
            "campaign fields parsed without a problem are missing".into(),
        )),
    }
}

/// `POST /store/admin/coupons` → `201` the campaign.
#[utoipa::path(
    post,
    path = "/api/v1/store/admin/coupons",
    operation_id = "coupon_campaigns_create",
    tag = "store",
    summary = "Create a coupon campaign (ADMIN); 409 COUPON_CODE_TAKEN for a code in use",
    description = "Requires permission ADMIN.",
    request_body = NewCampaignBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = described::SUCCESS, body = Envelope<CampaignView>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 409, description = "The code is taken: COUPON_CODE_TAKEN", body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn create(
    state: web::Data<AppState>,
    _auth: Auth<Admin>,
    body: web::Json<NewCampaignBody>,
) -> Result<HttpResponse, ApiError> {
    let msg = parse_campaign(&body)?;
    let key = msg.code.as_str().to_string();
    let campaign = state.actors.store.coupons.ask(&key, msg).await??;
    let counts = CampaignCounts {
        issued: 0,
        remaining: campaign.total_quantity,
        used: 0,
    };
    Ok(with_status(
        StatusCode::CREATED,
        CampaignView::new(campaign, counts),
    ))
}

/// `GET /store/admin/coupons/{couponCode}`.
#[utoipa::path(
    get,
    path = "/api/v1/store/admin/coupons/{couponCode}",
    operation_id = "coupon_campaigns_report",
    tag = "store",
    summary = "A coupon campaign with how many were issued, remain and were used (ADMIN)",
    description = "Requires permission ADMIN.",
    params(("couponCode" = String, Path, description = "The campaign's code")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<CampaignView>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = UNKNOWN_CODE, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn report(
    state: web::Data<AppState>,
    _auth: Auth<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = CouponCode::parse(&path).map_err(|_| not_found())?;
    let found = state
        .actors
        .store
        .coupons
        .ask(code.as_str(), CampaignReport(code.clone()))
        .await??;
    let (campaign, counts) = found.ok_or_else(not_found)?;
    Ok(with_status(
        StatusCode::OK,
        CampaignView::new(campaign, counts),
    ))
}
