//! Telecom: billing months, bills, rate plans (products) and the rules of a plan change.

pub mod bill;
pub mod billing_month;
pub mod change;
pub mod kos;
pub mod product;

pub use billing_month::BillingMonth;
