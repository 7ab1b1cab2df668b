//! Pure domain: value types parsed at the edge and the rules over them. No I/O, no async.
//!
//! One folder per bounded context: `identity` (accounts, lines, permissions, tokens) and
//! `telecom` (bills, products and their rules). At the root, what every context shares:
//! paging, and the resilience rules (circuit breaker, call budget) of outside systems.

pub mod breaker;
pub mod budget;
pub mod idempotency;
pub mod identity;
pub mod paging;
pub mod store;
pub mod telecom;

/// A fresh request id: a UUID laid out as version 7 (the milliseconds since 1970, then 74
/// bits from the thread's CSPRNG). Ids made later sort later, so the rows they key are
/// appended at the end of the `request_id` index instead of on a random page of it, and
/// making one costs no system call (`Uuid::new_v4` asks the kernel for every id).
pub fn request_id() -> uuid::Uuid {
    let millis = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let random: [u8; 10] = rand::random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// A request field that failed a rule of a parser over several fields (paging, date ranges),
/// and why. Parsers of one value return their reason as a `&'static str`; the edge names
/// the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_distinct_version_7_and_sort_by_time() {
        let a = super::request_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::request_id();
        assert_eq!(a.get_version(), Some(uuid::Version::SortRand));
        assert_ne!(a, b);
        assert!(a.to_string() < b.to_string(), "{a} then {b}");
    }
}
