//! The stores and other outside resources: PostgreSQL, Redis, the password-hashing pool.
//! Used by actors (and the command line); never by HTTP handlers.

pub mod db;
pub mod idempotency;
pub mod identity;
pub mod rate_limit;
pub mod redis;
pub mod schema;
pub mod store;
pub mod telecom;

use std::time::Duration;

/// What went wrong talking to a store. `Unavailable` means "try again later" (503).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    DbUnavailable(String),
    #[error("database error: {0}")]
    Db(diesel::result::Error),
    #[error("redis unavailable: {0}")]
    RedisUnavailable(String),
    /// A stored value this version cannot read (a row outside its column's rules).
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            // diesel-async reports a lost connection, or any failure that is not an answer
            // of PostgreSQL (no SQLSTATE), as one of these two.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::DbUnavailable(info.message().to_string()),
            // A transaction PostgreSQL chose to abort for another's sake: nothing was done,
            // the client may try again (503 with Retry-After, never a 500).
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                StoreError::DbUnavailable(info.message().to_string())
            }
            Error::DatabaseError(_, info) if info.message().starts_with("deadlock detected") => {
                StoreError::DbUnavailable(info.message().to_string())
            }
            other => StoreError::Db(other),
        }
    }
}

impl From<bb8::RunError<diesel_async::pooled_connection::PoolError>> for StoreError {
    fn from(e: bb8::RunError<diesel_async::pooled_connection::PoolError>) -> Self {
        StoreError::DbUnavailable(e.to_string())
    }
}

impl From<bb8::RunError<::redis::RedisError>> for StoreError {
    fn from(e: bb8::RunError<::redis::RedisError>) -> Self {
        StoreError::RedisUnavailable(e.to_string())
    }
}

impl From<::redis::RedisError> for StoreError {
    fn from(e: ::redis::RedisError) -> Self {
        StoreError::RedisUnavailable(e.to_string())
    }
}

/// The stores one arbiter's actors use. Each arbiter gets its own pools so that every
/// connection is driven by the event loop that uses it.
#[derive(Clone)]
pub struct Stores {
    pub db: db::DbPool,
    pub redis: redis::RedisStore,
}

pub(crate) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
