//! Integration tests: one binary, the real application against real PostgreSQL and Redis.

mod actors;
mod auth;
mod edge;
mod helpers;
mod sessions;
mod startup;
