//! Pure domain: value types parsed at the edge and the rules over them. No I/O, no async.

pub mod billing_month;
pub mod breaker;
pub mod budget;
pub mod line_number;
pub mod lockout;
pub mod paging;
pub mod permission;
pub mod principal;
pub mod product;
pub mod registration;
pub mod token;
pub mod user;

pub use billing_month::BillingMonth;
pub use line_number::LineNumber;
pub use permission::{Permission, Permissions};
pub use principal::Principal;
pub use user::{CustomerId, NewPassword, UserId, UserName};

/// A value that failed to parse; `field` is the request field, `message` says why.
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
