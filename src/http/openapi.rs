//! `GET /openapi.json` (the OpenAPI 3.1 description of every endpoint) and `GET /docs`
//! (Redoc, served from the binary: nothing is fetched from the internet).
//!
//! The description is derived by utoipa from the handlers' `#[utoipa::path]` attributes and
//! the request and response types they use. The integration tests call every documented
//! operation to prove it exists, and find every `.route(...)` of the source in the
//! document, so the two cannot drift apart silently.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::envelope::ErrorEnvelope;
use super::error::described;

const REDOC_JS: &[u8] = include_bytes!("assets/redoc.standalone.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi))
        .route("/docs", web::get().to(docs))
        .route("/docs/redoc.standalone.js", web::get().to(redoc));
}

/// The whole document: every operation of the service.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "phonebill",
        description = "MVNO customer self-service backend: login, bill inquiry, rate-plan change. Every response carries X-Request-Id, equal to the envelope's traceId.",
    ),
    paths(
        super::identity::auth::login,
        super::identity::auth::refresh,
        super::identity::auth::logout,
        super::identity::auth::register,
        super::identity::auth::verify,
        super::identity::auth::permissions,
        super::identity::auth::check_permission,
        super::identity::auth::unlock,
        super::identity::users::get_user,
        super::identity::users::create_user,
        super::identity::users::suspend,
        super::identity::users::resume,
        super::identity::users::set_permissions,
        super::telecom::bills::menu,
        super::telecom::bills::inquire,
        super::telecom::bills::inquiry_result,
        super::telecom::bills::history,
        super::telecom::products::menu,
        super::telecom::products::customer,
        super::telecom::products::available,
        super::telecom::kos_mock::mock_datas,
        super::telecom::products::validation,
        super::telecom::products::change,
        super::telecom::products::change_result,
        super::telecom::products::history,
        super::store::points::charge,
        super::store::points::balance,
        super::store::points::history,
        super::store::shop::list,
        super::store::shop::one,
        super::store::shop::popular,
        super::store::orders::place_order,
        super::store::orders::list_orders,
        super::store::orders::get_order,
        super::store::admin::create,
        super::store::admin::update,
        super::store::coupons::claim,
        super::store::coupons::mine,
        super::store::coupons::create,
        super::store::coupons::report,
        super::ops::live,
        super::ops::ready,
        super::ops::metrics,
        openapi,
        docs,
        super::ops::actors,
        super::ops::bare,
        super::ops::panic_actor,
        super::ops::store_fault,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "auth"),
        (name = "bills"),
        (name = "products"),
        (name = "kos", description = "The built-in KOS simulator, on phonebill's port"),
        (name = "store", description = "The membership store: points, shop, coupons, orders (SPEC section 9)"),
        (name = "service"),
        (name = "admin"),
    )
)]
pub struct ApiDoc;

/// The `bearer` scheme the authenticated operations name: an access token from login.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    summary = "This document",
    responses(
        (status = 200, description = described::SUCCESS, body = Object),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// `/docs` loads only its own script and document and may not be framed (clickjacking).
/// Redoc needs inline styles, `eval` (its schema validator compiles) and blob workers.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

#[utoipa::path(
    get,
    path = "/docs",
    tag = "service",
    summary = "Interactive documentation (offline)",
    responses(
        (status = 200, description = described::SUCCESS, body = String, content_type = "text/html"),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", DOCS_CSP))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(
            r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>phonebill API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{margin:0;padding:0}</style></head>
<body><redoc spec-url="/openapi.json" hide-download-button></redoc>
<script src="/docs/redoc.standalone.js"></script></body></html>"#,
        )
}

async fn redoc() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(REDOC_JS)
}
