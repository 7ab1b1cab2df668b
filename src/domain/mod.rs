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
pub mod telecom;
