//! `/openapi.json` and `/docs`: every route documented, every documented operation real,
//! the docs page served without the internet.

use std::collections::BTreeSet;
use std::path::Path;

use phonebill::http::openapi::ApiDoc;
use reqwest::StatusCode;
use serde_json::Value;
use utoipa::OpenApi as _;

use crate::helpers::{spawn_app, spawn_app_with};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `(method, path, operation)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

#[actix_web::test]
async fn openapi_describes_every_route() {
    let app = spawn_app_with(|s| s.admin.bench_endpoints = true).await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    // Every route of the source but the docs page's script (the test below checks which).
    assert!(
        ops.len() >= 33,
        "{:?}",
        ops.iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect::<Vec<_>>()
    );
    let mut ids = BTreeSet::new();
    let mut secured = 0;
    for (method, path, described) in &ops {
        assert!(
            described["responses"].is_object(),
            "{method} {path} has no responses"
        );
        assert!(
            described["responses"]["400"].is_object() || described["responses"]["413"].is_object()
        );
        assert!(
            described["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path} has no summary"
        );
        let id = described["operationId"].as_str().unwrap_or_default();
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        let security = described.get("security").is_some();
        if security {
            secured += 1;
            assert!(
                described["responses"]["401"].is_object(),
                "{method} {path} requires a token but documents no 401"
            );
        }
        // The operation exists: without credentials it answers anything but "no such route".
        let url = app.url(
            &path
                .replace("{userId}", "user01")
                .replace("{requestId}", "no-such-id"),
        );
        let req = match method.as_str() {
            "get" => app.client.get(url),
            "post" => app
                .client
                .post(url)
                .header("content-type", "application/json")
                .body("{}"),
            "put" => app
                .client
                .put(url)
                .header("content-type", "application/json")
                .body("{}"),
            "patch" => app
                .client
                .patch(url)
                .header("content-type", "application/json")
                .body("{}"),
            other => panic!("method {other}"),
        };
        let status = req.send().await.unwrap().status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status}"
        );
        if security {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
        } else {
            assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} wants a token but documents no security"
            );
        }
        // Every status it answered is one it documents.
        assert!(
            described["responses"][status.as_str()].is_object(),
            "{method} {path} answered {status}, not documented"
        );
    }
    assert!(
        secured >= 20,
        "{secured} operations with a security requirement"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Error shapes are described.
    let error = &doc["components"]["schemas"]["Error"]["properties"];
    assert!(error["traceId"].is_object());
    assert!(error["fieldErrors"].is_object());
    assert!(error["error"].is_object());
}

/// Files of the web edge's source, in every folder below `src/http`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
            out.push(path);
        }
    }
}

/// Every `.route(...)` in the web edge's source appears in the document.
#[test]
fn every_route_in_the_source_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut found = Vec::new();
    let mut files_with_routes = BTreeSet::new();
    for path in files {
        let file = path.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let scope_of = |text: &str| {
            text.split("web::scope(\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_string)
        };
        // A file's own scope, else the one its folder's `mod.rs` mounts it under (the
        // store's files are all under `/store`, declared once in `http/store/mod.rs`).
        let scope = scope_of(&text)
            .or_else(|| {
                let module = path.parent()?.join("mod.rs");
                (module != path && path.parent() != Some(root.as_path()))
                    .then(|| std::fs::read_to_string(module).ok())
                    .flatten()
                    .and_then(|t| scope_of(&t))
            })
            .unwrap_or_default();
        // Files of a bounded context's folder are mounted under `/api/v1` (`http::routes`);
        // those directly in `src/http` at the root.
        let api = if path.parent() == Some(root.as_path()) {
            ""
        } else {
            "/api/v1"
        };
        // `.route(` then the path literal, on the same line or the next (rustfmt wraps).
        for piece in text.split(".route(").skip(1) {
            let Some(rest) = piece.trim_start().strip_prefix('"') else {
                continue;
            };
            let route = rest.split('"').next().unwrap();
            let method = rest
                .split("web::")
                .nth(1)
                .and_then(|m| m.split('(').next())
                .unwrap_or("");
            found.push((method.to_string(), format!("{api}{scope}{route}")));
            files_with_routes.insert(file.clone());
        }
    }
    // The bounded contexts' handlers are found too, in their folders.
    for file in [
        "ops", "openapi", "auth", "users", "bills", "products", "kos_mock",
    ] {
        assert!(
            files_with_routes.contains(file),
            "no routes found in {file}.rs: {files_with_routes:?}"
        );
    }
    assert!(found.len() >= 34, "{found:?}");
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    for (method, path) in &found {
        if path.starts_with("/docs/") {
            continue; // the docs page's own script
        }
        assert!(
            documented.contains(&(method.clone(), path.clone())),
            "{method} {path} is served but not documented in /openapi.json"
        );
    }
    // And nothing is documented that is not served.
    for (method, path) in &documented {
        assert!(
            found.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} is documented but no route serves it"
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
