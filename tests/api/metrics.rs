//! `/metrics`: the Prometheus exposition operators scrape.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn metrics_expose_requests_actors_breakers_caches_and_queues() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let res = app
        .post_json(
            "/api/v1/bills/inquiry",
            &json!({ "lineNumber": "01012345001" }),
            Some(&t.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    for needle in [
        r#"phonebill_http_request_duration_seconds_count{method="POST",route="/api/v1/bills/inquiry",status="200"} 1"#,
        r#"phonebill_kos_call_duration_seconds_count{operation="bill-inquiry"} 1"#,
        r#"phonebill_actor_mailbox_capacity{kind="session",shard="0"} 1024"#,
        r#"phonebill_actor_messages_processed_total{kind="cache",shard="#,
        r#"phonebill_actor_restarts_total{kind="history",shard="0"} 0"#,
        r#"phonebill_kos_breaker_state{breaker="read"} 0"#,
        r#"phonebill_kos_calls_total{operation="bill-inquiry",outcome="answered"} 1"#,
        r#"phonebill_cache_lookups_total{tier="kos"} 1"#,
        r#"phonebill_history_records_total{fate="written"}"#,
        r#"phonebill_mvno_outbox{measure="pending"}"#,
        r#"phonebill_login_hashing{measure="capacity"}"#,
        r#"phonebill_product_changes_unsettled{measure="count"} 0"#,
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
    // No token, password or full line number in what is exposed.
    assert!(!text.contains("01012345001") && !text.contains("010-1234-5001"));
}

/// The Grafana dashboard in `docs/grafana/` and the metrics table in `docs/OPERATIONS.md`
/// name only metrics this service exposes.
#[actix_web::test]
async fn the_dashboard_and_the_operations_guide_name_only_exposed_metrics() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    app.post_json(
        "/api/v1/bills/inquiry",
        &json!({ "lineNumber": "01012345001" }),
        Some(&t.access),
    )
    .await;
    let exposed = app.get("/metrics", None).await.text().await.unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    for doc in [
        "docs/grafana/phonebill-dashboard.json",
        "docs/OPERATIONS.md",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
        let mut named = 0;
        for (start, _) in text.match_indices("phonebill_") {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            named += 1;
            assert!(
                exposed.contains(&format!("\n{base}")),
                "{doc} names {name}, which /metrics does not expose"
            );
        }
        assert!(named >= 15, "{doc} names only {named} metrics");
    }
}

/// Invented HTTP methods (no login needed) must not become label sets: each would be memory
/// kept for ever and text in every scrape.
#[actix_web::test]
async fn invented_methods_and_statuses_never_grow_the_metrics() {
    let app = spawn_app().await;
    let scrape = || async { app.get("/metrics", None).await.text().await.unwrap() };
    let _ = app.get("/health/live", None).await;
    let before = scrape().await.len();
    for n in 0..200 {
        let method = format!("X{n}{}", "Y".repeat(500));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let _ = app
            .client
            .request(m, app.url("/health/live"))
            .send()
            .await
            .unwrap();
    }
    let text = scrape().await;
    assert!(!text.contains("YYYY"), "an invented method became a label");
    assert!(
        text.contains(r#"method="other""#),
        "invented methods are counted as other"
    );
    assert!(
        text.len() < before + 4096,
        "/metrics grew from {before} to {} bytes",
        text.len()
    );
}
