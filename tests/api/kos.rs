//! The KOS gateway against the real simulator over HTTP, driven through its fault API:
//! breaker, time-outs, unknown outcomes, budget, bulkhead, answer validation.

use std::time::{Duration, Instant};

use phonebill::actors::telecom::kos_gateway::{
    ChangeProduct, InquireBill, InquireCustomer, KosError, KosResult, Snapshot,
};
use phonebill::domain::breaker::BreakerState;
use phonebill::domain::identity::LineNumber;
use phonebill::domain::telecom::kos::{Answer, KosBill};
use phonebill::settings::Settings;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

pub const WAIT_OPEN_MS: u64 = 800;
pub const INQUIRY_TIMEOUT_MS: u64 = 400;

/// Short time-outs and a small, quick breaker, so KOS faults play out within a test.
pub fn kos_settings(s: &mut Settings) {
    s.kos.inquiry_timeout_ms = INQUIRY_TIMEOUT_MS;
    s.kos.change_timeout_ms = 600;
    let b = &mut s.kos.breaker;
    b.sliding_window_size = 10;
    b.minimum_calls = 4;
    b.failure_rate_threshold = 50;
    b.slow_call_duration_ms = 200;
    b.slow_call_rate_threshold = 60;
    b.wait_open_ms = WAIT_OPEN_MS;
    b.half_open_calls = 2;
}

async fn kos_app() -> TestApp {
    spawn_app_with(kos_settings).await
}

fn month() -> String {
    phonebill::simulator::data::available_months()[0].clone()
}

async fn bill(app: &TestApp, line: &str) -> KosResult<KosBill> {
    app.actors
        .telecom
        .kos
        .ask_shard(
            0,
            InquireBill {
                line: LineNumber::parse(line).unwrap(),
                month: month(),
                request_id: uuid::Uuid::new_v4().to_string(),
            },
        )
        .await
        .unwrap()
}

async fn read_state(app: &TestApp) -> BreakerState {
    app.actors
        .telecom
        .kos
        .ask_shard(0, Snapshot)
        .await
        .unwrap()
        .read_breaker
        .state
}

async fn calls(app: &TestApp, endpoint: &str) -> u64 {
    app.kos_stats().await[endpoint].as_u64().unwrap()
}

#[actix_web::test]
async fn the_breaker_opens_on_failures_and_then_fails_fast_without_calling_kos() {
    let app = kos_app().await;
    assert!(matches!(bill(&app, "01012345001").await, Ok(Answer::Ok(_))));
    app.kos_fault(json!({ "mode": "error", "endpoint": "bill-inquiry" }))
        .await;
    for _ in 0..3 {
        assert!(matches!(
            bill(&app, "01012345001").await,
            Err(KosError::Unavailable(_))
        ));
    }
    assert_eq!(read_state(&app).await, BreakerState::Open);
    let reached = calls(&app, "bill-inquiry").await;
    for _ in 0..10 {
        match bill(&app, "01012345001").await {
            Err(KosError::Rejected { retry_after, .. }) => {
                assert!(retry_after <= Duration::from_millis(WAIT_OPEN_MS))
            }
            other => panic!("expected a fail-fast refusal, got {other:?}"),
        }
    }
    assert_eq!(
        calls(&app, "bill-inquiry").await,
        reached,
        "nothing reached KOS while open"
    );
    // Product changes have their own breaker, still closed.
    let changed = app
        .actors
        .telecom
        .kos
        .ask_shard(
            0,
            change("01012345005", "5G-PREMIUM-001", "5G-STANDARD-001"),
        )
        .await
        .unwrap();
    assert!(matches!(changed, Ok(Answer::Ok(_))), "{changed:?}");
    let snap = app.actors.telecom.kos.ask_shard(0, Snapshot).await.unwrap();
    assert_eq!(snap.change_breaker.state, BreakerState::Closed);
    assert!(snap.read_breaker.not_permitted >= 10);
}

#[actix_web::test]
async fn slow_calls_open_the_breaker() {
    let app = kos_app().await;
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 250, "endpoint": "bill-inquiry" }))
        .await;
    for _ in 0..4 {
        assert!(matches!(bill(&app, "01012345002").await, Ok(Answer::Ok(_))));
    }
    assert_eq!(read_state(&app).await, BreakerState::Open);
}

#[actix_web::test]
async fn half_open_lets_only_the_configured_probes_through_and_closes_on_success() {
    let app = kos_app().await;
    app.kos_fault(json!({ "mode": "error", "endpoint": "bill-inquiry" }))
        .await;
    for _ in 0..4 {
        let _ = bill(&app, "01012345001").await;
    }
    assert_eq!(read_state(&app).await, BreakerState::Open);

    app.kos_fault(json!({ "mode": "hang", "endpoint": "bill-inquiry" }))
        .await;
    // The open interval must pass: only then does the breaker let probes through.
    actix_web::rt::time::sleep(Duration::from_millis(WAIT_OPEN_MS + 100)).await;
    let before = calls(&app, "bill-inquiry").await;
    let probes = futures_util::future::join_all((0..6).map(|_| bill(&app, "01012345001"))).await;
    let rejected = probes
        .iter()
        .filter(|r| matches!(r, Err(KosError::Rejected { .. })))
        .count();
    assert_eq!(rejected, 4, "{probes:?}");
    assert_eq!(
        calls(&app, "bill-inquiry").await - before,
        2,
        "only two probes reached KOS"
    );
    // The probes hung until their time-out, so the breaker opened again.
    assert_eq!(read_state(&app).await, BreakerState::Open);

    app.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    // The open interval again, before the probes that close it.
    actix_web::rt::time::sleep(Duration::from_millis(WAIT_OPEN_MS + 100)).await;
    for _ in 0..2 {
        assert!(matches!(bill(&app, "01012345001").await, Ok(Answer::Ok(_))));
    }
    assert_eq!(read_state(&app).await, BreakerState::Closed);
    assert!(matches!(bill(&app, "01012345001").await, Ok(Answer::Ok(_))));
}

#[actix_web::test]
async fn hang_never_holds_a_call_longer_than_its_time_out() {
    let app = kos_app().await;
    app.kos_fault(json!({ "mode": "hang" })).await;
    let started = Instant::now();
    let outcome = bill(&app, "01012345001").await;
    let waited = started.elapsed();
    assert!(
        matches!(outcome, Err(KosError::Unavailable(_))),
        "{outcome:?}"
    );
    // A loose bound: the point is that the call ends at its time-out, not that it is fast.
    assert!(
        waited < Duration::from_millis(INQUIRY_TIMEOUT_MS * 3),
        "{waited:?}"
    );
}

async fn current_product(app: &TestApp, line: &str) -> String {
    let answer = app
        .actors
        .telecom
        .kos
        .ask_shard(
            0,
            InquireCustomer {
                line: LineNumber::parse(line).unwrap(),
                budget: phonebill::actors::telecom::kos_gateway::Budget::Customers,
            },
        )
        .await
        .unwrap();
    match answer {
        Ok(Answer::Ok(c)) => c.current_product_code,
        other => panic!("customer inquiry failed: {other:?}"),
    }
}

fn change(line: &str, from: &str, to: &str) -> ChangeProduct {
    ChangeProduct {
        line: LineNumber::parse(line).unwrap(),
        current_product_code: from.into(),
        target_product_code: to.into(),
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

#[actix_web::test]
async fn a_change_that_times_out_after_sending_is_an_unknown_outcome_not_a_failure() {
    let app = kos_app().await;
    app.kos_fault(json!({ "mode": "hang", "endpoint": "product-change" }))
        .await;
    let outcome = app
        .actors
        .telecom
        .kos
        .ask_shard(0, change("01012345001", "5G-STANDARD-001", "LTE-BASIC-001"))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Err(KosError::UnknownOutcome(_))),
        "{outcome:?}"
    );
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    assert_eq!(
        current_product(&app, "01012345001").await,
        "LTE-BASIC-001",
        "it did happen"
    );

    // Refused by KOS (down): never sent, and nothing changed.
    app.kos_fault(json!({ "mode": "down", "endpoint": "product-change" }))
        .await;
    let outcome = app
        .actors
        .telecom
        .kos
        .ask_shard(0, change("01012345001", "LTE-BASIC-001", "5G-PREMIUM-001"))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Err(KosError::Unavailable(_))),
        "{outcome:?}"
    );
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    assert_eq!(current_product(&app, "01012345001").await, "LTE-BASIC-001");
}

#[actix_web::test]
async fn business_refusals_are_answers_not_failures() {
    let app = kos_app().await;
    for _ in 0..6 {
        match bill(&app, "01099998888").await {
            Ok(Answer::Refused { code, .. }) => assert_eq!(code, "1001"),
            other => panic!("{other:?}"),
        }
    }
    match bill(&app, "01012345003").await {
        Ok(Answer::Refused { code, .. }) => assert_eq!(code, "1002"),
        other => panic!("{other:?}"),
    }
    let refused = app
        .actors
        .telecom
        .kos
        .ask_shard(0, change("01012345004", "LGU-5G-001", "5G-PREMIUM-001"))
        .await
        .unwrap();
    assert!(
        matches!(refused, Ok(Answer::Refused { ref code, .. }) if code == "2005"),
        "{refused:?}"
    );
    assert_eq!(read_state(&app).await, BreakerState::Closed);
}

#[actix_web::test]
async fn a_malformed_answer_counts_as_a_failure() {
    let app = kos_app().await;
    app.kos_fault(json!({ "mode": "malformed", "endpoint": "bill-inquiry" }))
        .await;
    for _ in 0..4 {
        assert!(matches!(
            bill(&app, "01012345001").await,
            Err(KosError::Unavailable(_))
        ));
    }
    assert_eq!(read_state(&app).await, BreakerState::Open);
}

#[actix_web::test]
async fn the_call_budget_refuses_cleanly_without_reaching_kos() {
    let app = spawn_app_with(|s| {
        kos_settings(s);
        s.kos.max_calls_per_minute = 3;
    })
    .await;
    for _ in 0..3 {
        assert!(matches!(bill(&app, "01012345001").await, Ok(Answer::Ok(_))));
    }
    match bill(&app, "01012345001").await {
        Err(KosError::Rejected { retry_after, .. }) => {
            assert!(retry_after <= Duration::from_secs(60))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls(&app, "bill-inquiry").await, 3);
    // Refusals by the budget say nothing about KOS's health.
    assert_eq!(read_state(&app).await, BreakerState::Closed);
}

#[actix_web::test]
async fn the_bulkhead_refuses_calls_beyond_its_width() {
    let app = spawn_app_with(|s| {
        kos_settings(s);
        s.kos.max_concurrent_calls = 2;
        s.kos.breaker.slow_call_duration_ms = 5000;
    })
    .await;
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 200, "endpoint": "bill-inquiry" }))
        .await;
    let results = futures_util::future::join_all((0..5).map(|_| bill(&app, "01012345001"))).await;
    let answered = results
        .iter()
        .filter(|r| matches!(r, Ok(Answer::Ok(_))))
        .count();
    let rejected = results
        .iter()
        .filter(|r| matches!(r, Err(KosError::Rejected { .. })))
        .count();
    assert_eq!((answered, rejected), (2, 3), "{results:?}");
    assert_eq!(calls(&app, "bill-inquiry").await, 2);
}

#[actix_web::test]
async fn readiness_and_the_admin_view_show_the_breakers() {
    let app = kos_app().await;
    let ready: Value = app.get("/health/ready", None).await.json().await.unwrap();
    assert_eq!(ready["kos"]["readBreaker"], "CLOSED");
    app.kos_fault(json!({ "mode": "down", "endpoint": "bill-inquiry" }))
        .await;
    for _ in 0..4 {
        let _ = bill(&app, "01012345001").await;
    }
    let res = app.get("/health/ready", None).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "KOS down does not make the instance unready"
    );
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["kos"]["readBreaker"], "OPEN");
    assert_eq!(ready["kos"]["changeBreaker"], "CLOSED");
    let view = app.admin_actors().await;
    assert_eq!(view["kosGateway"]["readBreaker"]["state"], "OPEN");
    assert!(view["mvnoNotifier"]["pending"].is_number(), "{view}");
}

#[actix_web::test]
async fn kos_unavailable_reaches_the_client_as_503_with_retry_after() {
    let app = kos_app().await;
    app.kos_fault(json!({ "mode": "down", "endpoint": "product-inquiry" }))
        .await;
    let body = json!({
        "userId": "newbie", "customerId": "CUST900", "lineNumber": "01099990001",
        "userName": "신규", "password": "N3w-passw0rd", "permissions": ["BILL_INQUIRY"],
    });
    let res = app.post_json("/api/v1/auth/register", &body, None).await;
    assert!(res.headers().get("retry-after").is_some());
    let err =
        crate::helpers::assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
            .await;
    assert_eq!(err["message"], "시스템 일시 장애, 잠시 후 재시도");
    // Once the breaker is open the answer says when the next probe goes.
    for _ in 0..4 {
        let _ = app.post_json("/api/v1/auth/register", &body, None).await;
    }
    let res = app.post_json("/api/v1/auth/register", &body, None).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=1).contains(&retry),
        "wait_open is {WAIT_OPEN_MS} ms: {retry}"
    );
}
