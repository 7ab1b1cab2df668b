//! Identity's actors: sessions (token pairs in Redis, revocation on every instance) and
//! accounts (login, lockout, registration, management).

pub mod account;
pub mod session;
