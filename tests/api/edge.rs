//! The HTTP edge: envelope, request ids, client-input errors, CORS, health.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn health_live_and_ready_report_both_stores() {
    let app = spawn_app().await;
    let live = app.get("/health/live", None).await;
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"]["status"], "UP");
    assert_eq!(body["checks"]["redis"]["status"], "UP");
}

#[actix_web::test]
async fn ready_is_503_when_redis_is_unreachable() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.redis.url = secrecy::SecretString::from("redis://127.0.0.1:1".to_string());
    })
    .await;
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"]["status"], "UP");
    assert_eq!(body["checks"]["redis"]["status"], "DOWN");
}

#[actix_web::test]
async fn unknown_route_is_an_enveloped_404_with_trace_id() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/nope", None).await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[actix_web::test]
async fn a_callers_request_id_is_kept() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/verify"))
        .header("X-Request-Id", "trace-abc_123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc_123");
    let body = assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(body["traceId"], "trace-abc_123");
}

#[actix_web::test]
async fn malformed_json_and_wrong_types_are_400_not_500() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"userId\": \"user01\", ")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "userId": 12, "password": ["x"] }),
            None,
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("userId=user01")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    let res = app.post_json("/api/v1/auth/login", &json!({}), None).await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    assert_eq!(body["message"], "입력값을 확인해주세요");
    assert!(body["error"]["details"]["userId"].is_string(), "{body}");
}

#[actix_web::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let huge = "x".repeat(app.settings.server.max_body_bytes + 10);
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "userId": "user01", "password": huge }),
            None,
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
}

#[actix_web::test]
async fn cors_preflight_allows_the_configured_origin_only() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let ok = preflight("http://localhost:3000").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for h in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let evil = preflight("http://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}
