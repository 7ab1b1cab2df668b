//! Telecom's outside resources: the KOS-Order client, bill-inquiry history, product-change
//! records and the MVNO outbox in PostgreSQL.

pub mod history;
pub mod kos;
pub mod outbox;
pub mod product_changes;
pub mod spool;
