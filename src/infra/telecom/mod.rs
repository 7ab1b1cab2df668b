//! Telecom's outside resources: the KOS-Order client, bill-inquiry history, product-change
//! records and the MVNO outbox in PostgreSQL, the history spool on disk, and the shared
//! cache tier in Redis.

pub mod bill_history;
pub mod bill_stream;
pub mod kos;
pub mod outbox;
pub mod product_changes;
pub mod shared_cache;
pub mod spool;
