//! `/store/points/*`: charge points, the balance, the ledger (seed 1-1, 1-2).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::PageParams;
use crate::actors::store::wallet::{Charge, GetBalance, LedgerPage, WalletError};
use crate::domain::paging::Pagination;
use crate::domain::store::points::{ChargeOutcome, ChargeRefusal, LedgerKind};
use crate::http::envelope::{ok, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::Auth;
use crate::http::params::{field, idempotency_key, mark_replayed};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/points/charge", web::post().to(charge))
        .route("/points", web::get().to(balance))
        .route("/points/history", web::get().to(history));
}

#[derive(Deserialize, ToSchema)]
#[schema(as = ChargeRequest)]
#[serde(rename_all = "camelCase")]
struct ChargeBody {
    /// Whole won: a multiple of `[store] charge_unit`, `charge_min` … `charge_max`.
    #[schema(value_type = Option<i64>, example = 10000)]
    amount: Option<serde_json::Value>,
}

/// `POST /store/points/charge`'s answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Charged {
    balance: i64,
    charged: i64,
    transaction_id: String,
}

/// `GET /store/points`'s answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BalanceView {
    balance: i64,
    /// `null` for a user who never charged.
    updated_at: Option<String>,
}

const INVALID_CHARGE: &str = "유효하지 않은 충전 금액입니다.";

fn refused(reason: ChargeRefusal) -> ApiError {
    ApiError::Refused {
        status: StatusCode::BAD_REQUEST,
        code: "INVALID_CHARGE_AMOUNT",
        message: INVALID_CHARGE,
        details: json!({ "reason": reason }),
    }
}

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> Self {
        match e {
            WalletError::Refused(reason) => refused(reason),
            WalletError::KeyInFlight => ApiError::Conflict {
                code: "DUPLICATE_REQUEST",
                message: "이미 처리 중입니다.".into(),
            },
            WalletError::KeyMismatch => ApiError::Unprocessable {
                code: "IDEMPOTENCY_KEY_REUSED",
                message: "Idempotency-Key가 다른 요청에 이미 사용되었습니다".into(),
            },
            WalletError::Store(s) => s.into(),
        }
    }
}

/// `POST /store/points/charge`: the amount rules (in order: unit, minimum, maximum per
/// charge), then the balance limit, in PostgreSQL with the charge itself.
#[utoipa::path(
    post,
    path = "/api/v1/store/points/charge",
    tag = "store",
    summary = "Charge points (optional Idempotency-Key: a retry with the same key and amount is answered again, charging nothing). 400 INVALID_CHARGE_AMOUNT with details.reason UNIT, MINIMUM, MAXIMUM_PER_CHARGE or BALANCE_LIMIT, the first that fails",
    request_body = ChargeBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1-255 printable ASCII characters; kept 24 h")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<Charged>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 409, description = described::CONFLICT, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 422, description = described::UNPROCESSABLE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn charge(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    body: web::Json<ChargeBody>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let amount = match &body.amount {
        Some(v) => v
            .as_i64()
            .ok_or_else(|| field("amount", "amount는 정수여야 합니다"))?,
        None => return Err(field("amount", "amount가 필요합니다")),
    };
    let amount = state.store_rules.check_amount(amount).map_err(refused)?;
    let user = auth.principal.user_id.clone();
    let msg = Charge {
        user: user.clone(),
        amount,
        idempotency_key: key,
    };
    let (outcome, replayed) = state.actors.store.wallets.ask(user.as_str(), msg).await??;
    let mut response = match outcome {
        ChargeOutcome::Charged {
            transaction_id,
            balance,
            charged,
        } => ok(Charged {
            balance: balance.won(),
            charged: charged.won(),
            transaction_id: transaction_id.to_string(),
        }),
        ChargeOutcome::OverLimit => refused(ChargeRefusal::BalanceLimit).error_response(),
    };
    mark_replayed(&mut response, replayed);
    Ok(response)
}

/// `GET /store/points`.
#[utoipa::path(
    get,
    path = "/api/v1/store/points",
    tag = "store",
    summary = "The caller's points balance (0 for a user who never charged)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<BalanceView>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn balance(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    let user = auth.principal.user_id.clone();
    let b = state
        .actors
        .store
        .wallets
        .ask(user.as_str(), GetBalance(user.clone()))
        .await??;
    Ok(ok(BalanceView {
        balance: b.balance.won(),
        updated_at: b.updated_at.map(|t| t.to_rfc3339()),
    }))
}

#[derive(Deserialize)]
struct HistoryQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// One ledger entry.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LedgerItem {
    transaction_id: String,
    #[serde(rename = "type")]
    kind: LedgerKind,
    /// Positive; `type` says which way it went.
    amount: i64,
    balance_after: i64,
    order_id: Option<String>,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
struct LedgerView {
    items: Vec<LedgerItem>,
    pagination: Pagination,
}

/// `GET /store/points/history?type&page&size`.
#[utoipa::path(
    get,
    path = "/api/v1/store/points/history",
    tag = "store",
    summary = "The caller's points ledger, newest first (type CHARGE, USE or RESTORE)",
    params(
        ("type" = Option<String>, Query, description = "CHARGE, USE or RESTORE (default: all)"),
        ("page" = Option<String>, Query, description = "From 1 (default 1)"),
        ("size" = Option<String>, Query, description = "1-100 (default 20)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<LedgerView>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn history(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let kind = match q.kind.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<LedgerKind>(serde_json::Value::from(s))
                .map_err(|_| field("type", "type은 CHARGE, USE 또는 RESTORE 여야 합니다"))?,
        ),
    };
    let page = q.page.parse()?;
    let user = auth.principal.user_id.clone();
    let msg = LedgerPage {
        user: user.clone(),
        kind,
        offset: page.offset(),
        limit: i64::from(page.size),
    };
    let (entries, total) = state.actors.store.wallets.ask(user.as_str(), msg).await??;
    Ok(ok(LedgerView {
        items: entries
            .into_iter()
            .map(|e| LedgerItem {
                transaction_id: e.transaction_id.to_string(),
                kind: e.kind,
                amount: e.amount.won(),
                balance_after: e.balance_after.won(),
                order_id: e.order_id.map(|o| o.to_string()),
                created_at: e.created_at.to_rfc3339(),
            })
            .collect(),
        pagination: Pagination::new(page, total.max(0) as u64),
    }))
}
