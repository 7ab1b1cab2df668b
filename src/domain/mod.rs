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
