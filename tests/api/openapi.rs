//! `/openapi.json` and `/docs`: every route documented, every documented operation real,
//! the docs page served without the internet.

use phonebill::http::openapi::OPERATIONS;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn openapi_describes_every_route() {
    let app = spawn_app_with(|s| s.admin.bench_endpoints = true).await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    for op in OPERATIONS {
        let described = &doc["paths"][op.path][op.method];
        assert!(
            described["responses"].is_object(),
            "{} {} not in the document",
            op.method,
            op.path
        );
        assert!(
            described["responses"]["400"].is_object() || described["responses"]["413"].is_object()
        );
        // The operation exists: without credentials it answers anything but "no such route".
        let path = op
            .path
            .replace("{userId}", "user01")
            .replace("{requestId}", "no-such-id");
        let req = match op.method {
            "get" => app.client.get(app.url(&path)),
            "post" => app
                .client
                .post(app.url(&path))
                .header("content-type", "application/json")
                .body("{}"),
            "put" => app
                .client
                .put(app.url(&path))
                .header("content-type", "application/json")
                .body("{}"),
            other => panic!("method {other}"),
        };
        let status = req.send().await.unwrap().status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{} {}: {status}",
            op.method,
            op.path
        );
        if let phonebill::http::openapi::Access::Bearer(_) = op.access {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {} without a token",
                op.method,
                op.path
            );
        }
    }
    // Error shapes are described.
    assert!(doc["components"]["schemas"]["Error"]["properties"]["traceId"].is_object());
    assert!(doc["components"]["schemas"]["Error"]["properties"]["fieldErrors"].is_object());
}

/// Every `.route(...)` in the web edge's source appears in the document.
#[test]
fn every_route_in_the_source_is_documented() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let file = path.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let scope = text
            .split("web::scope(\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
            .to_string();
        let api = if file == "ops" || file == "openapi" || file == "mod" {
            ""
        } else {
            "/api/v1"
        };
        for piece in text.split(".route(\"").skip(1) {
            let route = piece.split('"').next().unwrap();
            let method = piece
                .split("web::")
                .nth(1)
                .and_then(|m| m.split('(').next())
                .unwrap_or("");
            found.push((method.to_string(), format!("{api}{scope}{route}")));
        }
    }
    assert!(found.len() >= 25, "{found:?}");
    for (method, path) in found {
        if path.starts_with("/docs/") {
            continue; // the docs page's own script
        }
        assert!(
            OPERATIONS
                .iter()
                .any(|op| op.method == method && op.path == path),
            "{method} {path} is served but not documented in /openapi.json"
        );
    }
}

#[actix_web::test]
async fn the_docs_page_works_offline() {
    let app = spawn_app().await;
    let res = app.get("/docs", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("/openapi.json") && html.contains("/docs/redoc.standalone.js"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let js = app.get("/docs/redoc.standalone.js", None).await;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.bytes().await.unwrap().len() > 500_000);
}

#[actix_web::test]
async fn the_benchmark_baseline_is_off_unless_configured() {
    let app = spawn_app().await;
    let res = app.get("/bench/bare", None).await;
    crate::helpers::assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}
