//! Small parsers of request parameters shared by the resource handlers.

use chrono::{DateTime, Duration, NaiveTime, TimeZone as _, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::AppState;
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::identity::LineNumber;
use crate::domain::paging::{date_range, PageRequest};

/// A `400` naming one field.
pub fn field(name: &str, problem: impl Into<String>) -> ApiError {
    ApiError::field(name, problem)
}

/// An optional non-negative number from the query string.
pub fn number(name: &'static str, v: Option<&str>) -> Result<Option<u32>, ApiError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| field(name, format!("{name}는 숫자여야 합니다")))
        })
        .transpose()
}

/// The optional `Idempotency-Key` header of every endpoint that takes one, or `400`.
pub fn idempotency_key(req: &actix_web::HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .map_err(|_| "")
        .and_then(IdempotencyKey::parse)
        .map(Some)
        .map_err(|_| {
            field(
                "Idempotency-Key",
                "1~255자의 출력 가능한 ASCII 문자여야 합니다",
            )
        })
}

/// Marks an answer given again under its Idempotency-Key (`Idempotent-Replayed: true`).
pub fn mark_replayed(response: &mut actix_web::HttpResponse, replayed: bool) {
    if replayed {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
}

/// A request id from the path: short and plain (ids are UUIDs), or `400`.
pub fn request_id(id: String) -> Result<String, ApiError> {
    let plain = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        Ok(id)
    } else {
        Err(field("requestId", "요청 ID 형식이 올바르지 않습니다"))
    }
}

/// The line a query names, or the caller's own when it names none.
pub fn line_or_own(raw: Option<&str>, own: &LineNumber) -> Result<LineNumber, ApiError> {
    match raw.filter(|s| !s.trim().is_empty()) {
        None => Ok(own.clone()),
        Some(s) => LineNumber::parse(s).map_err(|e| field("lineNumber", e)),
    }
}

/// Start of `date` in the service's time zone, in UTC.
fn local_midnight(state: &AppState, date: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    state
        .tz
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The query every history endpoint takes: the line (the caller's own when absent), the
/// local date range and the page.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct HistoryParams {
    /// Line (default: the caller's)
    pub line_number: Option<String>,
    /// YYYY-MM-DD (product history: at most 2 years back)
    pub start_date: Option<String>,
    /// YYYY-MM-DD
    pub end_date: Option<String>,
    /// From 1 (default 1)
    pub page: Option<String>,
    /// 1-100 (default 20 for bills, 10 for products)
    pub size: Option<String>,
}

/// The paging and date range of a history query, the dates as UTC instants.
pub struct HistoryWindow {
    pub page: PageRequest,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl HistoryWindow {
    /// `page`/`size` (size default `default_size`, at most 100) and `startDate`/`endDate`
    /// (local dates, `endDate` inclusive; `startDate` at most `max_back` ago when given).
    pub fn parse(
        state: &AppState,
        q: &HistoryParams,
        default_size: u32,
        max_back: Option<Duration>,
    ) -> Result<Self, ApiError> {
        let page = PageRequest::parse(
            number("page", q.page.as_deref())?,
            number("size", q.size.as_deref())?,
            default_size,
            100,
        )
        .map_err(|e| field(e.field, e.message))?;
        let today = Utc::now().with_timezone(&state.tz).date_naive();
        let (start, end) = date_range(
            q.start_date.as_deref(),
            q.end_date.as_deref(),
            today,
            max_back,
        )
        .map_err(|e| field(e.field, e.message))?;
        Ok(Self {
            page,
            from: start.and_then(|d| local_midnight(state, d)),
            until: end.and_then(|d| local_midnight(state, d + Duration::days(1))),
        })
    }
}
