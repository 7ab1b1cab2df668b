//! The edge's error type: every failure a handler or extractor can produce, each with a
//! stable `error.code`, an HTTP status and a human message. Internal details are logged with
//! the request id and never sent; anything unexpected is a generic 500.
//!
//! Which error type where: domain parsers return a `&'static str` reason; actors return their own
//! enums (`AccountError`, `SessionError`, `ActorError`); handlers return `ApiError`, built
//! from those by the `From` impls below.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::envelope::{now_iso, request_id, ErrorBody, ErrorEnvelope};
use crate::actors::identity::account::AccountError;
use crate::actors::identity::session::SessionError;
use crate::actors::shard::ActorError;
use crate::actors::telecom::kos_gateway::KosError;
use crate::actors::StoreError;
use crate::domain::identity::Duplicate;

pub const MSG_INVALID_INPUT: &str = "입력값을 확인해주세요";
pub const MSG_FORBIDDEN: &str = "서비스 이용 권한이 없습니다";
pub const MSG_UNAVAILABLE: &str = "시스템 일시 장애, 잠시 후 재시도";

/// What each failure status means, as `/openapi.json` describes it.
pub mod described {
    pub const BAD_REQUEST: &str =
        "Bad input (malformed JSON, wrong types, invalid fields: see fieldErrors)";
    pub const UNAUTHORIZED: &str = "No, invalid, expired or revoked token";
    pub const FORBIDDEN: &str =
        "Missing permission (서비스 이용 권한이 없습니다) or another user's line";
    pub const NOT_FOUND: &str = "Not found";
    pub const CONFLICT: &str =
        "Conflict (duplicate, pre-check failed, change in flight, idempotency key in flight)";
    pub const PAYLOAD_TOO_LARGE: &str = "Body too large";
    pub const UNPROCESSABLE: &str =
        "Unprocessable (Idempotency-Key reused with another body, line not in use)";
    pub const LOCKED: &str = "Account locked after 5 failed logins";
    pub const RATE_LIMITED: &str = "Rate limited (Retry-After)";
    pub const UNAVAILABLE: &str = "KOS or a store unavailable, or back-pressure (Retry-After)";
    pub const ACCEPTED: &str =
        "Accepted: KOS's outcome is unknown; the change is settled in the background";
    pub const SUCCESS: &str = "Success";
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A business rule's refusal with its own status, code, message and details (the
    /// store's: `INVALID_CHARGE_AMOUNT` with its reason, `COUPON_SOLD_OUT`, ...).
    #[error("refused: {code}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: &'static str,
        details: Value,
    },
    #[error("invalid input")]
    Validation(BTreeMap<String, String>),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `[server] body_timeout_ms`: `408`, connection closed.
    #[error("request body timed out")]
    BodyTimeout,
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden,
    /// Refused for a reason other than a missing permission (its own code and message).
    #[error("forbidden: {code}")]
    ForbiddenCode { code: &'static str, message: String },
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("not found: {code}")]
    NotFoundCode { code: &'static str, message: String },
    #[error("unprocessable: {code}")]
    Unprocessable { code: &'static str, message: String },
    #[error("conflict: {code}")]
    Conflict { code: &'static str, message: String },
    #[error("account locked")]
    /// `minutes`: how long a lockout lasts (`[auth] lockout_minutes`), for the message.
    Locked { until: DateTime<Utc>, minutes: i64 },
    #[error("rate limited")]
    RateLimited { retry_after_s: u64 },
    #[error("unavailable: {reason}")]
    Unavailable { reason: String, retry_after_s: u64 },
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut m = BTreeMap::new();
        m.insert(field.to_string(), message.into());
        ApiError::Validation(m)
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Refused { code, .. } => code,
            ApiError::Validation(_) => "INVALID_INPUT",
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ApiError::BodyTimeout => "REQUEST_TIMEOUT",
            ApiError::Unauthorized(_) => "UNAUTHORIZED",
            ApiError::InvalidCredentials => "INVALID_CREDENTIALS",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::NotFoundCode { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::ForbiddenCode { code, .. } => code,
            ApiError::Conflict { code, .. } => code,
            ApiError::Locked { .. } => "ACCOUNT_LOCKED",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    fn human(&self) -> String {
        match self {
            ApiError::Refused { message, .. } => (*message).to_string(),
            ApiError::Validation(_) | ApiError::BadRequest(_) => MSG_INVALID_INPUT.into(),
            ApiError::PayloadTooLarge => "요청 본문이 너무 큽니다".into(),
            ApiError::BodyTimeout => "요청 본문이 제시간에 도착하지 않았습니다".into(),
            ApiError::Unauthorized(_) => "인증이 필요합니다".into(),
            ApiError::InvalidCredentials => "아이디 또는 비밀번호가 올바르지 않습니다".into(),
            ApiError::Forbidden => MSG_FORBIDDEN.into(),
            ApiError::NotFound(what) => format!("{what}을(를) 찾을 수 없습니다"),
            ApiError::Conflict { message, .. }
            | ApiError::NotFoundCode { message, .. }
            | ApiError::ForbiddenCode { message, .. }
            | ApiError::Unprocessable { message, .. } => message.clone(),
            ApiError::Locked { minutes, .. } => {
                format!(
                    "로그인 실패가 반복되어 계정이 잠겼습니다. {minutes}분 후 다시 시도해주세요"
                )
            }
            ApiError::RateLimited { .. } => {
                "요청이 너무 많습니다. 잠시 후 다시 시도해주세요".into()
            }
            ApiError::Unavailable { .. } => MSG_UNAVAILABLE.into(),
            ApiError::Internal(_) => "처리 중 오류가 발생했습니다".into(),
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::Refused { details, .. } => details.clone(),
            ApiError::Validation(fields) => json!(fields),
            ApiError::Locked { until, .. } => json!({ "lockedUntil": until.to_rfc3339() }),
            ApiError::RateLimited { retry_after_s }
            | ApiError::Unavailable { retry_after_s, .. } => {
                json!({ "retryAfterSeconds": retry_after_s })
            }
            _ => Value::Null,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_s }
            | ApiError::Unavailable { retry_after_s, .. } => Some((*retry_after_s).max(1)),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Refused { status, .. } => *status,
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::ForbiddenCode { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NotFoundCode { .. } => StatusCode::NOT_FOUND,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Locked { .. } => StatusCode::LOCKED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(detail) => {
                tracing::error!(request_id = %request_id(), error = %detail, "internal error")
            }
            // Debug: under overload every shed request would log (the access line has 503).
            ApiError::Unavailable { reason, .. } => {
                tracing::debug!(request_id = %request_id(), reason = %reason, "answered 503")
            }
            // Internal reasons (parser messages, "session ended") stay in the log; the
            // client gets the stable code.
            ApiError::BadRequest(reason) => {
                tracing::debug!(request_id = %request_id(), reason = %reason, "answered 400")
            }
            ApiError::Unauthorized(reason) => {
                tracing::debug!(request_id = %request_id(), reason = %reason, "answered 401")
            }
            _ => {}
        }
        let code = self.code();
        let message = self.human();
        let field_errors = match self {
            ApiError::Validation(fields) => Some(fields.clone()),
            _ => None,
        };
        let mut builder = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::BodyTimeout) {
            // What is left of that body is not worth waiting for.
            builder.force_close();
        }
        if let Some(secs) = self.retry_after() {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        builder.json(ErrorEnvelope {
            success: false,
            result_code: code.into(),
            result_message: message.clone(),
            message: message.clone(),
            data: None,
            error: ErrorBody {
                code: code.into(),
                message,
                details: self.details(),
            },
            timestamp: now_iso(),
            trace_id: request_id(),
            field_errors,
        })
    }
}

impl From<ActorError> for ApiError {
    fn from(e: ActorError) -> Self {
        let retry_after_s = match &e {
            ActorError::Full { retry_after_s, .. }
            | ActorError::Gone { retry_after_s, .. }
            | ActorError::Timeout { retry_after_s, .. } => *retry_after_s,
        };
        ApiError::Unavailable {
            reason: e.to_string(),
            retry_after_s,
        }
    }
}

impl From<KosError> for ApiError {
    fn from(e: KosError) -> Self {
        ApiError::Unavailable {
            retry_after_s: e.retry_after_s(),
            reason: e.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Db(inner) => ApiError::Internal(inner.to_string()),
            StoreError::Corrupt(what) => ApiError::Internal(what),
            unavailable => ApiError::Unavailable {
                reason: unavailable.to_string(),
                retry_after_s: 2,
            },
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::RateLimited { retry_after_s } => ApiError::RateLimited { retry_after_s },
            AccountError::InvalidCredentials => ApiError::InvalidCredentials,
            AccountError::Locked { until, minutes } => ApiError::Locked { until, minutes },
            AccountError::Duplicate(Duplicate::UserId) => ApiError::Conflict {
                code: "DUPLICATE_USER",
                message: "이미 사용 중인 아이디입니다".into(),
            },
            AccountError::Duplicate(Duplicate::LineNumber) => ApiError::Conflict {
                code: "DUPLICATE_LINE",
                message: "이미 가입된 회선입니다".into(),
            },
            AccountError::Busy => ApiError::Unavailable {
                reason: "password hashing saturated".into(),
                retry_after_s: 1,
            },
            AccountError::Store(s) => s.into(),
            AccountError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Ended => ApiError::Unauthorized("session ended"),
            SessionError::Reused => ApiError::Unauthorized("refresh token reused"),
            SessionError::Store(s) => s.into(),
            SessionError::Signing => ApiError::Internal("token signing failed".into()),
        }
    }
}

/// Maps actix-web's JSON extractor failures: too large → 413, anything else → 400.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::Overflow { .. } | J::OverflowKnownLength { .. } => ApiError::PayloadTooLarge.into(),
        J::ContentType => {
            ApiError::BadRequest("Content-Type must be application/json".into()).into()
        }
        J::Deserialize(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")).into(),
        J::Payload(actix_web::error::PayloadError::Io(e))
            if e.kind() == std::io::ErrorKind::TimedOut =>
        {
            ApiError::BodyTimeout.into()
        }
        other => ApiError::BadRequest(format!("unreadable body: {other}")).into(),
    }
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query string: {err}")).into()
}

pub fn path_error(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid path: {err}")).into()
}

/// Unknown routes get an enveloped 404.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("요청한 경로"))
}
