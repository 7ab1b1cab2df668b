//! Product change end to end: screens, pre-check, the change, idempotency, one change per
//! line, unknown outcomes and reconciliation, outages.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, current_product, eventually, mvno_received, spawn_app, spawn_app_with,
    standalone_simulator, TestApp,
};
use crate::owned::OwnedPostgres;

fn change_body(line: &str, current: &str, target: &str) -> Value {
    json!({ "lineNumber": line, "currentProductCode": current, "targetProductCode": target })
}

async fn change(app: &TestApp, token: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/products/change"))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

/// Within this the first of two changes under one key reaches the (slowed) KOS.
const IN_FLIGHT: Duration = Duration::from_secs(10);

async fn change_calls(app: &TestApp) -> u64 {
    app.kos_stats().await["product-change"].as_u64().unwrap()
}

#[actix_web::test]
async fn the_product_screens_show_customer_current_product_and_catalogue() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let menu: Value = app
        .get("/api/v1/products/menu", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(menu["data"]["customerInfo"]["lineNumber"], "010-1234-5001");
    assert_eq!(
        menu["data"]["currentProduct"]["productCode"],
        "5G-STANDARD-001"
    );
    assert_eq!(menu["data"]["currentProduct"]["monthlyFee"], 69000);

    let c: Value = app
        .get(
            "/api/v1/products/customer?lineNumber=010-1234-5001",
            Some(&t.access),
        )
        .await
        .json()
        .await
        .unwrap();
    let d = &c["data"];
    assert_eq!(d["customerName"], "김민준");
    assert_eq!(d["lineStatus"], "ACTIVE");
    assert!(d["contractInfo"]["earlyTerminationFee"].is_i64());
    for f in [
        "productCode",
        "productName",
        "monthlyFee",
        "dataAllowance",
        "voiceAllowance",
        "smsAllowance",
        "isAvailable",
        "operatorCode",
        "description",
    ] {
        assert!(!d["currentProduct"][f].is_null(), "{f}");
    }

    let a: Value = app
        .get(
            "/api/v1/products/available?currentProductCode=5G-STANDARD-001&operatorCode=KT",
            Some(&t.access),
        )
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = a["data"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["productCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["5G-PREMIUM-001", "LTE-PREMIUM-001", "LTE-BASIC-001"]
    );
    assert_eq!(a["data"]["totalCount"], 3);

    let other = app
        .get(
            "/api/v1/products/customer?lineNumber=01012345002",
            Some(&t.access),
        )
        .await;
    assert_error(other, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let user02 = app.login("user02").await;
    let res = app.get("/api/v1/products/menu", Some(&user02.access)).await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(body["message"], "서비스 이용 권한이 없습니다");
}

fn failed_checks(validation: &Value) -> Vec<String> {
    validation["validationDetails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "FAIL")
        .map(|c| c["checkType"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn every_pre_check_failure_is_reported_and_blocks_the_change() {
    let app = spawn_app().await;
    let cases = [
        (
            "user01",
            change_body("01012345001", "5G-STANDARD-001", "3G-OLD-001"),
            "PRODUCT_AVAILABLE",
        ),
        (
            "user04",
            change_body("01012345004", "LGU-5G-001", "5G-PREMIUM-001"),
            "OPERATOR_MATCH",
        ),
        (
            "user03",
            change_body("01012345003", "LTE-PREMIUM-001", "LTE-BASIC-001"),
            "LINE_STATUS",
        ),
        (
            "user01",
            change_body("01012345001", "5G-STANDARD-001", "5G-STANDARD-001"),
            "TARGET_DIFFERS",
        ),
        (
            "user01",
            change_body("01012345001", "LTE-BASIC-001", "5G-PREMIUM-001"),
            "CURRENT_PRODUCT",
        ),
    ];
    for (user, body, check) in cases {
        let t = app.login(user).await;
        let res = app
            .post_json("/api/v1/products/change/validation", &body, Some(&t.access))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["data"]["validationResult"], "FAILURE", "{check}");
        assert_eq!(failed_checks(&v["data"]), [check], "{check}");
        assert!(v["data"]["failureReason"].is_string());
        assert_eq!(v["data"]["validationDetails"].as_array().unwrap().len(), 5);

        let res = change(&app, &t.access, &body, None).await;
        let err = assert_error(res, StatusCode::CONFLICT, "VALIDATION_FAILED").await;
        assert_eq!(err["data"]["validationResult"], "FAILURE");
    }
    assert_eq!(change_calls(&app).await, 0, "no change reached KOS");
    let t = app.login("user01").await;
    let ok: Value = app
        .post_json(
            "/api/v1/products/change/validation",
            &change_body("010-1234-5001", "5G-STANDARD-001", "LTE-BASIC-001"),
            Some(&t.access),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["data"]["validationResult"], "SUCCESS");
}

#[actix_web::test]
async fn a_change_completes_and_a_second_instance_sees_the_new_product() {
    let sim = standalone_simulator();
    let shared = |s: &mut phonebill::settings::Settings| {
        s.kos.base_url = sim.clone();
        s.mvno.base_url = sim.clone();
        s.mvno.poll_interval_ms = 100;
    };
    let a = spawn_app_with(shared).await;
    let b = a.spawn_peer().await;
    let t = a.login("user01").await;
    assert_eq!(
        current_product(&b, &t.access).await,
        "5G-STANDARD-001",
        "B caches the customer"
    );

    let res = change(
        &a,
        &t.access,
        &change_body("010-1234-5001", "5G-STANDARD-001", "LTE-BASIC-001"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let d = &body["data"];
    assert_eq!(d["processStatus"], "COMPLETED");
    assert_eq!(d["resultCode"], "0000");
    assert_eq!(d["changedProduct"]["productCode"], "LTE-BASIC-001");
    assert!(d["processedAt"].is_string());
    let id = d["requestId"].as_str().unwrap().to_string();

    let mut seen = String::new();
    for _ in 0..40 {
        seen = current_product(&b, &t.access).await;
        if seen == "LTE-BASIC-001" {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen, "LTE-BASIC-001", "the invalidation reached instance B");

    let r: Value = b
        .get(&format!("/api/v1/products/change/{id}"), Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"]["processStatus"], "COMPLETED");
    let h: Value = a
        .get("/api/v1/products/history", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["data"]["pagination"]["totalItems"], 1);
    let item = &h["data"]["items"][0];
    assert_eq!(
        (
            item["currentProductName"].as_str(),
            item["targetProductName"].as_str()
        ),
        (Some("5G 스탠다드"), Some("LTE 베이직"))
    );
    let other = a.login("user02").await;
    let res = a
        .get(
            &format!("/api/v1/products/change/{id}"),
            Some(&other.access),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // The MVNO AP server hears about it.
    for _ in 0..100 {
        let got = mvno_received(&a.client, &sim).await;
        if got
            .iter()
            .any(|i| i["payload"]["eventId"] == id.as_str() && i["kind"] == "product-change-result")
        {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("MVNO never received the change result");
}

#[actix_web::test]
async fn idempotency_keys_replay_refuse_in_flight_and_reject_another_body() {
    let app = spawn_app().await;
    let t = app.login("user05").await;
    let body = change_body("01012345005", "5G-PREMIUM-001", "LTE-PREMIUM-001");
    let first: Value = change(&app, &t.access, &body, Some("key-1"))
        .await
        .json()
        .await
        .unwrap();
    let again = change(&app, &t.access, &body, Some("key-1")).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        again["data"]["requestId"], first["data"]["requestId"],
        "the stored answer is replayed"
    );
    assert_eq!(change_calls(&app).await, 1, "no second KOS call");

    let other = change_body("01012345005", "LTE-PREMIUM-001", "LTE-BASIC-001");
    let res = change(&app, &t.access, &other, Some("key-1")).await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;

    app.kos_fault(json!({ "mode": "normal", "latencyMs": 700, "endpoint": "product-change" }))
        .await;
    let calls = change_calls(&app).await;
    let (slow, second) = tokio::join!(change(&app, &t.access, &other, Some("key-2")), async {
        // Sent while the first is at KOS (so past taking the key), 700 ms from its answer.
        eventually(IN_FLIGHT, "the first change at KOS", || async {
            change_calls(&app).await > calls
        })
        .await;
        change(&app, &t.access, &other, Some("key-2")).await
    });
    assert_eq!(slow.status(), StatusCode::OK);
    assert_error(second, StatusCode::CONFLICT, "IDEMPOTENCY_IN_FLIGHT").await;
}

#[actix_web::test]
async fn idempotency_keys_hold_across_two_instances() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let t = a.login("user05").await;
    let body = change_body("01012345005", "5G-PREMIUM-001", "LTE-PREMIUM-001");
    let first = change(&a, &t.access, &body, Some("shared-key")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    // The same key and body on the other instance: the stored answer, no second KOS call.
    let again = change(&b, &t.access, &body, Some("shared-key")).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"]["requestId"], first["data"]["requestId"]);
    assert_eq!(change_calls(&a).await + change_calls(&b).await, 1);
    // Another body under that key on the other instance: 422.
    let other = change_body("01012345005", "LTE-PREMIUM-001", "LTE-BASIC-001");
    let res = change(&b, &t.access, &other, Some("shared-key")).await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    // In flight on one instance: 409 on the other.
    a.kos_fault(json!({ "mode": "normal", "latencyMs": 700, "endpoint": "product-change" }))
        .await;
    let calls = change_calls(&a).await;
    let (slow, second) = tokio::join!(change(&a, &t.access, &other, Some("key-2")), async {
        // Sent while the first is at KOS (so past taking the key), 700 ms from its answer.
        eventually(IN_FLIGHT, "the first change at KOS", || async {
            change_calls(&a).await > calls
        })
        .await;
        change(&b, &t.access, &other, Some("key-2")).await
    });
    assert_eq!(slow.status(), StatusCode::OK);
    assert_error(second, StatusCode::CONFLICT, "IDEMPOTENCY_IN_FLIGHT").await;
}

#[actix_web::test]
async fn ten_concurrent_changes_of_one_line_make_one_kos_call() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let body = change_body("01012345001", "5G-STANDARD-001", "5G-PREMIUM-001");
    // Warm the pre-check's cache so all ten race for the record, then slow KOS down.
    app.post_json("/api/v1/products/change/validation", &body, Some(&t.access))
        .await;
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 300, "endpoint": "product-change" }))
        .await;
    let results =
        futures_util::future::join_all((0..10).map(|_| change(&app, &t.access, &body, None))).await;
    let statuses: Vec<StatusCode> = results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        9,
        "{statuses:?}"
    );
    assert_eq!(change_calls(&app).await, 1);
}

#[actix_web::test]
async fn a_kos_time_out_answers_202_and_the_reconciler_settles_it() {
    let app = spawn_app_with(|s| {
        s.kos.change_timeout_ms = 500;
        // Due 1.5 s after it was recorded: the same-key retry right after the 202 below
        // finds it still PROCESSING.
        s.products.first_check_delay_ms = 1000;
        s.products.reconcile_interval_ms = 200;
    })
    .await;
    let t = app.login("user01").await;
    app.kos_fault(json!({ "mode": "hang", "endpoint": "product-change" }))
        .await;
    let body = change_body("01012345001", "5G-STANDARD-001", "LTE-PREMIUM-001");
    let res = change(&app, &t.access, &body, Some("slow-key")).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(v["data"]["processStatus"], "PROCESSING");
    let id = v["data"]["requestId"].as_str().unwrap().to_string();
    // While unsettled, the same key is in flight and the line is busy.
    assert_error(
        change(&app, &t.access, &body, Some("slow-key")).await,
        StatusCode::CONFLICT,
        "IDEMPOTENCY_IN_FLIGHT",
    )
    .await;
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;

    let mut status = String::new();
    for _ in 0..100 {
        let r: Value = app
            .get(&format!("/api/v1/products/change/{id}"), Some(&t.access))
            .await
            .json()
            .await
            .unwrap();
        status = r["data"]["processStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status != "PROCESSING" {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, "COMPLETED",
        "KOS had applied it before the time-out"
    );
    assert_eq!(current_product(&app, &t.access).await, "LTE-PREMIUM-001");
    // The key now replays the settled answer.
    let replay: Value = change(&app, &t.access, &body, Some("slow-key"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replay["data"]["processStatus"], "COMPLETED");
    assert_eq!(replay["data"]["requestId"], id.as_str());
    let view = app.admin_actors().await;
    assert_eq!(view["reconciler"]["unsettled"], 0);
}

#[actix_web::test]
async fn kos_down_is_503_and_nothing_is_completed() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    app.kos_fault(json!({ "mode": "down", "endpoint": "product-change" }))
        .await;
    let res = change(
        &app,
        &t.access,
        &change_body("01012345001", "5G-STANDARD-001", "LTE-BASIC-001"),
        None,
    )
    .await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;
    let h: Value = app
        .get("/api/v1/products/history", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    let items = h["data"]["items"].as_array().unwrap();
    assert!(
        items.iter().all(|i| i["processStatus"] != "COMPLETED"),
        "{items:?}"
    );
    assert_eq!(current_product(&app, &t.access).await, "5G-STANDARD-001");
}

#[actix_web::test]
async fn postgresql_down_is_503_and_kos_is_never_called() {
    let pg = OwnedPostgres::start().await;
    let url = pg.url("phonebill");
    let app = spawn_app_with(|s| {
        s.database.url = secrecy::SecretString::from(url.clone());
        s.database.acquire_timeout_ms = 300;
        s.database.connect_timeout_ms = 300;
    })
    .await;
    let t = app.login("user01").await;
    let body = change_body("01012345001", "5G-STANDARD-001", "LTE-BASIC-001");
    app.post_json("/api/v1/products/change/validation", &body, Some(&t.access))
        .await;
    pg.stop().await;
    let res = change(&app, &t.access, &body, None).await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;
    assert_eq!(change_calls(&app).await, 0);
    pg.resume().await;
}

#[actix_web::test]
async fn change_history_pages_with_date_rules() {
    let app = spawn_app().await;
    let t = app.login("user05").await;
    for bad in [
        "?size=101",
        "?page=0",
        "?startDate=2020-01-01",
        "?startDate=2026-13-40",
    ] {
        let res = app
            .get(&format!("/api/v1/products/history{bad}"), Some(&t.access))
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    }
    let mut current = "5G-PREMIUM-001";
    for target in ["LTE-BASIC-001", "5G-STANDARD-001", "LTE-PREMIUM-001"] {
        let res = change(
            &app,
            &t.access,
            &change_body("01012345005", current, target),
            None,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        current = target;
    }
    let h: Value = app
        .get("/api/v1/products/history?page=1&size=2", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    let p = &h["data"]["pagination"];
    assert_eq!(
        (
            p["totalItems"].as_u64(),
            p["totalPages"].as_u64(),
            p["hasNext"].as_bool()
        ),
        (Some(3), Some(2), Some(true))
    );
    assert_eq!(
        h["data"]["items"][0]["targetProductCode"],
        "LTE-PREMIUM-001"
    );
    let user02 = app.login("user02").await;
    let res = app
        .get(
            "/api/v1/products/history?lineNumber=01012345005",
            Some(&user02.access),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
}

#[actix_web::test]
async fn a_key_left_reserved_by_a_dead_instance_is_taken_over_after_its_lease() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use secrecy::ExposeSecret;
    let app = spawn_app().await;
    let t = app.login("user01").await;
    // What an instance that died between reserving the key and recording its change leaves.
    let mut conn = AsyncPgConnection::establish(app.settings.database.url.expose_secret())
        .await
        .unwrap();
    diesel::sql_query(
        "INSERT INTO idempotency_keys (user_id, scope, idem_key, fingerprint, request_id, created_at, expires_at) \
         VALUES ('user01', 'PRODUCT_CHANGE', 'orphan', '01012345001|5G-STANDARD-001|LTE-BASIC-001', 'dead-request', \
                 now() - interval '5 minutes', now() + interval '1 day')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let body = change_body("01012345001", "5G-STANDARD-001", "LTE-BASIC-001");
    let res = change(&app, &t.access, &body, Some("orphan")).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the orphaned key is taken over"
    );
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["data"]["processStatus"], "COMPLETED");
    let again: Value = change(&app, &t.access, &body, Some("orphan"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["data"]["requestId"], first["data"]["requestId"]);
}
