//! Identity's stores: accounts in PostgreSQL, sessions in Redis, the password-hashing pool.

pub mod password;
pub mod sessions;
pub mod users;
