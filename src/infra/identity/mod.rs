//! Identity's stores: accounts in PostgreSQL, the password-hashing pool.

pub mod password;
pub mod users;
