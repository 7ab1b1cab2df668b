//! Service endpoints outside `/api/v1`: health probes and the ADMIN actor view and faults.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{Admin, Auth};
use super::AppState;
use crate::actors::identity::account::CheckStores;
use crate::actors::telecom::kos_gateway;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/admin/actors", web::get().to(actors))
        .route("/admin/faults/panic", web::post().to(panic_actor))
        .route("/bench/bare", web::get().to(bare));
}

/// The benchmark's baseline: the same server, middleware and JSON encoding, nothing else.
async fn bare(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.bench_endpoints {
        return Err(ApiError::NotFound("요청한 경로"));
    }
    Ok(HttpResponse::Ok()
        .json(json!({ "success": true, "resultCode": "0000", "data": { "ok": true } })))
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "UP" }))
}

/// Ready when PostgreSQL and Redis answer. 503 otherwise, naming which is down.
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let health = state
        .actors
        .identity
        .accounts
        .ask_shard(0, CheckStores)
        .await?;
    // Details of a failure go to the log, not to this unauthenticated endpoint.
    let check = |name: &str, r: &Result<(), String>| match r {
        Ok(()) => json!({ "status": "UP" }),
        Err(e) => {
            tracing::warn!(store = name, error = %e, "readiness check failed");
            json!({ "status": "DOWN" })
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
        Ok(g) => {
            json!({ "readBreaker": g.read_breaker.state, "changeBreaker": g.change_breaker.state })
        }
        Err(_) => json!({ "status": "UNKNOWN" }),
    };
    let body = json!({
        "status": if up { "UP" } else { "DOWN" },
        "checks": {
            "postgres": check("postgres", &health.postgres),
            "redis": check("redis", &health.redis),
        },
        "kos": kos,
    });
    Ok(if up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    })
}

/// Prometheus text exposition.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.actors.snapshot().await.export(&state.metrics);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

async fn actors(state: web::Data<AppState>, _admin: Auth<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(state.actors.snapshot().await)
}

#[derive(Deserialize)]
struct PanicQuery {
    actor: Option<String>,
}

/// Makes shard 0 of actor kind `actor` panic (only with `[admin] fault_injection = true`).
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
    Ok(HttpResponse::Accepted().json(json!({ "actor": kind, "shard": 0, "panicked": panicked })))
}
