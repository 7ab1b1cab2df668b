//! Small parsers of request parameters shared by the resource handlers.

use chrono::{DateTime, NaiveTime, TimeZone as _, Utc};

use super::error::ApiError;
use super::AppState;

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

/// Request ids are UUIDs; anything else short and plain is allowed, nothing else.
pub fn valid_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Start of `date` in the service's time zone, in UTC.
pub fn local_midnight(state: &AppState, date: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    state
        .tz
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}
