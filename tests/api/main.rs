//! Integration tests: one binary, the real application against real PostgreSQL and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors;
mod auth;
mod bills;
mod edge;
mod helpers;
mod kos;
mod metrics;
mod notifier;
mod openapi;
mod owned;
mod products;
mod sessions;
mod simulator;
mod startup;
