//! Worker fronts (`actors::front`): every HTTP worker answers session checks and cache
//! lookups from copies of its own. A logout or a product change answered to the client must
//! already have reached every worker's copy.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{other_product, spawn_app_with, TestApp};

const WORKERS: usize = 4;
/// Requests on new connections that reach every worker several times (the server hands new
/// connections to its workers in turn).
const SPREAD: usize = 3 * WORKERS;

/// One request on a connection of its own.
async fn fresh_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

/// Messages each worker's front of `kind` has taken so far.
async fn processed_per_worker(app: &TestApp, admin: &str, kind: &str) -> Vec<u64> {
    let view: Value = fresh_get(app, "/admin/actors", admin)
        .await
        .json()
        .await
        .unwrap();
    let fronts = view["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == kind)
        .unwrap_or_else(|| panic!("kind {kind} missing: {view}"));
    assert_eq!(fronts["shards"], WORKERS, "{fronts}");
    fronts["perShard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["processed"].as_u64().unwrap())
        .collect()
}

/// Asserts that every worker's front took at least two messages between the two counts.
fn every_worker_asked(before: &[u64], after: &[u64]) {
    assert_eq!(before.len(), after.len());
    for (worker, (b, a)) in before.iter().zip(after).enumerate() {
        assert!(a - b >= 2, "worker {worker}: {b} then {a}");
    }
}

/// The product a line has now, as `SPREAD` requests on new connections see it (all alike).
async fn product_on_every_worker(app: &TestApp, token: &str) -> String {
    let mut seen = Vec::new();
    for _ in 0..SPREAD {
        let res = fresh_get(app, "/api/v1/products/customer", token).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        seen.push(
            body["data"]["currentProduct"]["productCode"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "workers disagree: {seen:?}");
    seen.remove(0)
}

#[actix_web::test]
async fn a_logout_has_reached_every_worker_when_it_is_answered() {
    let app = spawn_app_with(|s| s.server.workers = WORKERS).await;
    let admin = app.login("admin").await.access;
    let t = app.login("user01").await;
    let before = processed_per_worker(&app, &admin, "session_front").await;
    for _ in 0..SPREAD {
        let res = fresh_get(&app, "/api/v1/auth/verify", &t.access).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Every worker's front has the session now (trusted for [cache] session_ttl_s).
    every_worker_asked(
        &before,
        &processed_per_worker(&app, &admin, "session_front").await,
    );
    assert_eq!(app.logout(&t.access).await.status(), StatusCode::OK);
    for n in 0..SPREAD {
        let res = fresh_get(&app, "/api/v1/auth/verify", &t.access).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "request {n}");
    }
}

#[actix_web::test]
async fn a_product_change_has_reached_every_worker_when_it_is_answered() {
    let app = spawn_app_with(|s| s.server.workers = WORKERS).await;
    let admin = app.login("admin").await.access;
    let t = app.login("user05").await;
    let before = processed_per_worker(&app, &admin, "cache_front").await;
    let current = product_on_every_worker(&app, &t.access).await;
    every_worker_asked(
        &before,
        &processed_per_worker(&app, &admin, "cache_front").await,
    );
    let target = other_product(&current);
    let res = app
        .post_json(
            "/api/v1/products/change",
            &json!({ "lineNumber": "01012345005", "currentProductCode": current,
                     "targetProductCode": target }),
            Some(&t.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(product_on_every_worker(&app, &t.access).await, target);
}
