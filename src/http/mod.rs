//! The web edge: routes, request/response types and the mapping to HTTP. Handlers validate
//! input into domain types, message actors and map the replies; they hold no state.

pub mod envelope;
pub mod error;
pub mod extract;
pub mod identity;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod store;
pub mod telecom;

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};
use actix_web::web;

use crate::actors::identity::session_front::SessionFront;
use crate::actors::shard::ShardSet;
use crate::actors::telecom::cache_front::CacheFront;
use crate::actors::Actors;
use crate::domain::identity::token::TokenKeys;
use crate::settings::CorsSettings;

/// Shared, read-only application state handed to every handler.
pub struct AppState {
    pub actors: Arc<Actors>,
    pub tokens: Arc<TokenKeys>,
    pub trust_forwarded_for: bool,
    pub fault_injection: bool,
    pub bench_endpoints: bool,
    /// `[auth] self_registration` and `allow_unknown_lines`.
    pub registration: RegistrationPolicy,
    /// `[store]`'s charge rules (the amount is checked at the edge, the limit in PostgreSQL).
    pub store_rules: crate::domain::store::points::ChargeRules,
    /// `[store] max_order_items` and `max_item_quantity`.
    pub order_limits: crate::domain::store::order::OrderLimits,
    /// `[store] popular_window_hours` (shown as `windowDays`).
    pub popular_window_hours: u32,
    /// Time zone of billing months and history dates.
    pub tz: chrono_tz::Tz,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// This HTTP worker's own fronts (`actors::front`): made by the server's factory, which runs
/// once on each worker's thread; a request's session check and cache lookups go through them.
pub struct WorkerFronts {
    pub sessions: Arc<ShardSet<SessionFront>>,
    pub cache: Arc<ShardSet<CacheFront>>,
}

impl WorkerFronts {
    /// Starts the calling worker's fronts.
    pub fn start_here(actors: &Actors) -> Self {
        Self {
            sessions: actors.identity.start_session_front(),
            cache: actors.telecom.start_cache_front(),
        }
    }
}

/// Who may register themselves, and which lines (SPEC section 3).
#[derive(Debug, Clone, Copy)]
pub struct RegistrationPolicy {
    pub self_registration: bool,
    pub allow_unknown_lines: bool,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(ops::routes)
        .configure(openapi::routes)
        .service(
            // A request is matched against the routes in this order, and a pattern with a
            // parameter costs a regex: the bill and product routes, most of the traffic, come
            // first (no two contexts' routes overlap, so the order changes nothing else).
            web::scope("/api/v1")
                .configure(telecom::routes)
                .configure(identity::routes)
                .configure(store::routes),
        );
}

pub fn cors(settings: &CorsSettings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            middleware::X_REQUEST_ID,
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(settings.max_age_s);
    for origin in &settings.allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
