//! Integration tests: one binary, the real application against real PostgreSQL and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors;
mod auth;
mod bills;
mod edge;
mod faults;
mod hardening;
mod helpers;
mod kos;
mod metrics;
mod notifier;
mod openapi;
mod outages;
mod owned;
mod process;
mod products;
mod security;
mod sessions;
mod simulator;
mod spool;
mod startup;
mod store;
mod store_coupons;
mod store_orders;
mod store_outages;
mod web_client;
