//! Service endpoints outside `/api/v1`: health probes and the ADMIN actor view and faults.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::envelope::ErrorEnvelope;
use super::error::{described, ApiError};
use super::extract::{Admin, Auth};
use super::AppState;
use crate::actors::identity::account::CheckStores;
use crate::actors::telecom::kos_gateway;
use crate::domain::breaker::BreakerState;
use crate::domain::store::order::FaultStep;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/admin/actors", web::get().to(actors))
        .route("/admin/faults/panic", web::post().to(panic_actor))
        .route("/admin/faults/store", web::post().to(store_fault))
        .route("/bench/bare", web::get().to(bare));
}

/// `/bench/bare`'s answer: a minimal envelope.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bare {
    data: BareData,
    #[schema(example = "0000")]
    result_code: &'static str,
    success: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BareData {
    ok: bool,
}

/// The benchmark's baseline: the same server, middleware and JSON encoding, nothing else.
#[utoipa::path(
    get,
    path = "/bench/bare",
    tag = "admin",
    summary = "Bare JSON handler, the throughput benchmark's baseline (only with [admin] bench_endpoints)",
    responses(
        (status = 200, description = described::SUCCESS, body = Bare),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn bare(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.bench_endpoints {
        return Err(ApiError::NotFound("요청한 경로"));
    }
    Ok(HttpResponse::Ok().json(Bare {
        data: BareData { ok: true },
        result_code: "0000",
        success: true,
    }))
}

/// `UP` or `DOWN` (KOS's `UNKNOWN` when its gateway did not answer).
#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "UP")]
    status: &'static str,
}

const UP: Status = Status { status: "UP" };
const DOWN: Status = Status { status: "DOWN" };

/// `/health/ready`'s answer: the stores' checks and KOS's breakers.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    checks: StoreChecks,
    kos: KosHealth,
    /// `UP` when PostgreSQL and Redis answer.
    #[schema(example = "UP")]
    status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct StoreChecks {
    postgres: Status,
    redis: Status,
}

/// KOS's breakers, or `{status: UNKNOWN}` when the gateway did not answer.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum KosHealth {
    Breakers(Breakers),
    Unknown(Status),
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Breakers {
    change_breaker: BreakerState,
    read_breaker: BreakerState,
}

#[utoipa::path(
    get,
    path = "/health/live",
    tag = "service",
    summary = "The process runs",
    responses(
        (status = 200, description = described::SUCCESS, body = Status),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(UP)
}

/// Ready when PostgreSQL and Redis answer. 503 otherwise, naming which is down.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "service",
    summary = "PostgreSQL and Redis answer (breaker states shown)",
    responses(
        (status = 200, description = described::SUCCESS, body = Readiness),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = "PostgreSQL or Redis down (this answer, status DOWN), or back-pressure (the error envelope)", body = Readiness),
    )
)]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let health = state
        .actors
        .identity
        .accounts
        .ask_shard(0, CheckStores)
        .await?;
    // Details of a failure go to the log, not to this unauthenticated endpoint.
    let check = |name: &str, r: &Result<(), String>| match r {
        Ok(()) => UP,
        Err(e) => {
            tracing::warn!(store = name, error = %e, "readiness check failed");
            DOWN
        }
    };
    let up = health.postgres.is_ok() && health.redis.is_ok();
    // KOS being down does not make the instance unready (cached answers are still served),
    // but the breakers are shown.
    let kos = match state
        .actors
        .telecom
        .kos
        .ask_shard(0, kos_gateway::Snapshot)
        .await
    {
        Ok(g) => KosHealth::Breakers(Breakers {
            change_breaker: g.change_breaker.state,
            read_breaker: g.read_breaker.state,
        }),
        Err(_) => KosHealth::Unknown(Status { status: "UNKNOWN" }),
    };
    let body = Readiness {
        checks: StoreChecks {
            postgres: check("postgres", &health.postgres),
            redis: check("redis", &health.redis),
        },
        kos,
        status: if up { "UP" } else { "DOWN" },
    };
    Ok(if up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    })
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    summary = "Prometheus text exposition",
    responses(
        (status = 200, description = described::SUCCESS, body = String, content_type = "text/plain"),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.actors.snapshot().await.export(&state.metrics);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// The actor system's snapshot (its shape follows the actors; not part of the contract).
#[utoipa::path(
    get,
    path = "/admin/actors",
    tag = "admin",
    summary = "Actor kinds, shards, mailboxes, breakers, caches, queues",
    description = "Requires permission ADMIN.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Object),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn actors(state: web::Data<AppState>, _admin: Auth<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(state.actors.snapshot().await)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PanicQuery {
    /// An actor kind, as `/admin/actors` lists them (`actors[].kind`: e.g. session, kos).
    actor: Option<String>,
}

/// `/admin/faults/panic`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Panicked {
    actor: String,
    /// Whether the actor was found panicking (and restarted).
    panicked: bool,
    shard: u32,
}

/// Makes shard 0 of actor kind `actor` panic (only with `[admin] fault_injection = true`).
#[utoipa::path(
    post,
    path = "/admin/faults/panic",
    tag = "admin",
    summary = "Make an actor panic (only with [admin] fault_injection)",
    description = "Requires permission ADMIN.",
    params(PanicQuery),
    security(("bearer" = [])),
    responses(
        (status = 202, description = described::SUCCESS, body = Panicked),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn panic_actor(
    state: web::Data<AppState>,
    _admin: Auth<Admin>,
    query: web::Query<PanicQuery>,
) -> Result<HttpResponse, ApiError> {
    if !state.fault_injection {
        return Err(ApiError::NotFound("요청한 경로"));
    }
    let kind = query.into_inner().actor.unwrap_or_default();
    tracing::warn!(actor = %kind, "fault injection: actor panic requested");
    let Some(panicked) = state.actors.panic(&kind).await else {
        return Err(ApiError::field(
            "actor",
            format!("one of {}", state.actors.kinds().join(", ")),
        ));
    };
    Ok(HttpResponse::Accepted().json(Panicked {
        actor: kind,
        panicked,
        shard: 0,
    }))
}

/// `POST /admin/faults/store`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct StoreFaultBody {
    /// `after_reserve`: the order is left pending right after its reserve committed;
    /// `before_paid`: its confirm transaction is rolled back instead of committed.
    step: FaultStep,
    /// How many of the next orders of this instance fail so (0 disarms).
    #[schema(example = 1)]
    count: u32,
}

/// `/admin/faults/store`'s answer: what is armed now.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct StoreFaultsArmed {
    after_reserve: u32,
    before_paid: u32,
}

/// Makes the next `count` orders of this instance fail at `step` as a database failure would
/// (only with `[admin] fault_injection = true`): they are answered `202 ORDER_PENDING` and
/// settled by the recovery.
#[utoipa::path(
    post,
    path = "/admin/faults/store",
    tag = "admin",
    summary = "Make the next orders fail at a step (only with [admin] fault_injection)",
    description = "Requires permission ADMIN.",
    request_body = StoreFaultBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = StoreFaultsArmed),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn store_fault(
    state: web::Data<AppState>,
    _admin: Auth<Admin>,
    body: web::Json<StoreFaultBody>,
) -> Result<HttpResponse, ApiError> {
    if !state.fault_injection {
        return Err(ApiError::NotFound("요청한 경로"));
    }
    let faults = &state.actors.store.faults;
    faults.arm(body.step, body.count);
    tracing::warn!(step = ?body.step, count = body.count, "fault injection: store orders armed to fail");
    Ok(HttpResponse::Ok().json(StoreFaultsArmed {
        after_reserve: faults.armed(FaultStep::AfterReserve),
        before_paid: faults.armed(FaultStep::BeforePaid),
    }))
}
