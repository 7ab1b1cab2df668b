//! Bill inquiry end to end: menu, inquiry, cache tiers and coalescing, outages, ownership,
//! history and its writer, MVNO notification.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, mvno_received, spawn_app, spawn_app_with, TestApp};
use crate::owned::{OwnedPostgres, OwnedRedis};

fn months() -> Vec<String> {
    phonebill::simulator::data::available_months()
}

fn dashed(m: &str) -> String {
    format!("{}-{}", &m[..4], &m[4..])
}

async fn inquire(app: &TestApp, token: &str, line: &str, month: Option<&str>) -> reqwest::Response {
    let mut body = json!({ "lineNumber": line });
    if let Some(m) = month {
        body["inquiryMonth"] = json!(m);
    }
    app.post_json("/api/v1/bills/inquiry", &body, Some(token))
        .await
}

async fn bill_calls(app: &TestApp) -> u64 {
    app.kos_stats().await["bill-inquiry"].as_u64().unwrap()
}

#[actix_web::test]
async fn the_menu_shows_the_customer_and_twelve_months() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let res = app.get("/api/v1/bills/menu", Some(&t.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let d = &body["data"];
    assert_eq!(d["customerInfo"]["customerName"], "김민준");
    assert_eq!(d["customerInfo"]["customerId"], "CUST001");
    assert_eq!(d["customerInfo"]["lineNumber"], "010-1234-5001");
    let available: Vec<String> = d["availableMonths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = months().iter().map(|m| dashed(m)).collect();
    assert_eq!(available, expected);
    assert_eq!(d["currentMonth"], expected[0]);
}

#[actix_web::test]
async fn an_inquiry_answers_the_web_clients_shape_for_any_of_the_twelve_months() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let res = inquire(&app, &t.access, "01012345001", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let d = &body["data"];
    assert_eq!(d["procStatus"], "COMPLETED");
    assert_eq!(d["resultCode"], "0000");
    assert!(d["requestId"].is_string());
    let b = &d["billInfo"];
    assert_eq!(b["lineNumber"], "010-1234-5001");
    assert_eq!(b["billingMonth"], months()[0], "current month by default");
    for fee in [
        "monthlyFee",
        "usageFee",
        "discountAmount",
        "totalFee",
        "estimatedCancellationFee",
        "deviceInstallment",
    ] {
        assert!(b[fee].is_i64(), "{fee} is a JSON number: {b}");
    }
    assert_eq!(b["productCode"], "5G-STANDARD-001");
    assert!(b["dueDate"].as_str().unwrap().len() == 8);
    assert!(b["discountInfo"][0]["amount"].is_i64());
    assert!(b["paymentInfo"]["paymentStatus"].is_string());
    assert_eq!(d["customerInfo"]["customerName"], "김민준");
    assert_eq!(d["customerInfo"]["operatorCode"], "KT");
    assert_eq!(d["customerInfo"]["lineStatus"], "ACTIVE");

    for m in months() {
        for (line, month) in [("010-1234-5001", dashed(&m)), ("01012345001", m.clone())] {
            let res = inquire(&app, &t.access, line, Some(&month)).await;
            assert_eq!(res.status(), StatusCode::OK, "{line} {month}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["data"]["billInfo"]["billingMonth"], m);
        }
    }
}

#[actix_web::test]
async fn repeat_inquiries_come_from_cache_on_this_and_other_instances() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let t = a.login("user02").await;
    assert_eq!(
        inquire(&a, &t.access, "01012345002", None).await.status(),
        StatusCode::OK
    );
    let after_first = bill_calls(&a).await;
    assert_eq!(after_first, 1);
    for _ in 0..5 {
        assert_eq!(
            inquire(&a, &t.access, "01012345002", None).await.status(),
            StatusCode::OK
        );
    }
    // Another instance (its own memory tier and its own simulator) finds it in Redis.
    let first = inquire(&b, &t.access, "01012345002", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(bill_calls(&a).await, 1, "no further KOS call on A");
    assert_eq!(bill_calls(&b).await, 0, "B answered from Redis without KOS");
    let view = a.admin_actors().await;
    assert!(
        view["cache"]["memoryHits"].as_u64().unwrap() >= 5,
        "{}",
        view["cache"]
    );
    let view = b.admin_actors().await;
    assert!(
        view["cache"]["redisHits"].as_u64().unwrap() >= 1,
        "{}",
        view["cache"]
    );
}

#[actix_web::test]
async fn concurrent_misses_for_one_bill_make_one_kos_call() {
    let app = spawn_app().await;
    let t = app.login("user05").await;
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 300, "endpoint": "bill-inquiry" }))
        .await;
    let month = months()[2].clone();
    let all = futures_util::future::join_all(
        (0..20).map(|_| inquire(&app, &t.access, "01012345005", Some(&month))),
    )
    .await;
    for res in all {
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(bill_calls(&app).await, 1);
    let view = app.admin_actors().await;
    assert!(
        view["cache"]["coalesced"].as_u64().unwrap() >= 1,
        "{}",
        view["cache"]
    );
}

#[actix_web::test]
async fn kos_down_is_503_with_retry_after_but_cached_bills_are_still_served() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    assert_eq!(
        inquire(&app, &t.access, "01012345001", None).await.status(),
        StatusCode::OK
    );
    app.kos_fault(json!({ "mode": "down" })).await;
    assert_eq!(
        inquire(&app, &t.access, "01012345001", None).await.status(),
        StatusCode::OK,
        "cached"
    );
    let res = inquire(&app, &t.access, "01012345001", Some(&months()[1])).await;
    assert!(res.headers().get("retry-after").is_some());
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;
    assert_eq!(body["message"], "시스템 일시 장애, 잠시 후 재시도");
    // Errors are not cached: once KOS is back the same month works.
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    assert_eq!(
        inquire(&app, &t.access, "01012345001", Some(&months()[1]))
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn ownership_permission_and_validation_are_checked_before_any_kos_access() {
    let app = spawn_app().await;
    app.kos_customer("CUST901", "01099990101").await;
    let reg = json!({
        "userId": "nobills", "customerId": "CUST901", "lineNumber": "01099990101",
        "userName": "상품만", "password": "N3w-passw0rd", "permissions": ["PRODUCT_CHANGE"],
    });
    assert_eq!(
        app.post_json("/api/v1/auth/register", &reg, None)
            .await
            .status(),
        StatusCode::CREATED
    );
    let user02 = app.login("user02").await;
    let before = bill_calls(&app).await;

    for other in ["010-1234-5001", "01012345001"] {
        let res = inquire(&app, &user02.access, other, None).await;
        assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        let res = app
            .get(
                &format!("/api/v1/bills/history?lineNumber={other}"),
                Some(&user02.access),
            )
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    let no_perm = app
        .post_login("nobills", "N3w-passw0rd")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let token = no_perm["access_token"].as_str().unwrap();
    for res in [
        app.get("/api/v1/bills/menu", Some(token)).await,
        inquire(&app, token, "01099990101", None).await,
        app.get("/api/v1/bills/history", Some(token)).await,
    ] {
        let body = assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        assert_eq!(body["message"], "서비스 이용 권한이 없습니다");
    }
    let cases = [
        (json!({ "lineNumber": "011-1234-5002" }), "lineNumber"),
        (json!({ "lineNumber": "0101234500" }), "lineNumber"),
        (
            json!({ "lineNumber": "01012345002", "inquiryMonth": "2026/01" }),
            "inquiryMonth",
        ),
        (
            json!({ "lineNumber": "01012345002", "inquiryMonth": "209912" }),
            "inquiryMonth",
        ),
        (
            json!({ "lineNumber": "01012345002", "inquiryMonth": "200001" }),
            "inquiryMonth",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .post_json("/api/v1/bills/inquiry", &body, Some(&user02.access))
            .await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
        assert_eq!(err["message"], "입력값을 확인해주세요");
        assert!(err["error"]["details"][field].is_string(), "{field}: {err}");
    }
    let res = app
        .post_json(
            "/api/v1/bills/inquiry",
            &json!({ "lineNumber": 1012345002 }),
            Some(&user02.access),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert_eq!(bill_calls(&app).await, before, "nothing reached KOS");

    // ADMIN may look at any line.
    let admin = app.login("admin").await;
    assert_eq!(
        inquire(&app, &admin.access, "010-1234-5002", None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn kos_refusals_become_clear_answers_and_failed_history() {
    let app = spawn_app().await;
    let user03 = app.login("user03").await;
    let res = inquire(&app, &user03.access, "01012345003", None).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "LINE_NOT_ACTIVE").await;
    let admin = app.login("admin").await;
    let res = inquire(&app, &admin.access, "010-9999-8888", None).await;
    assert_error(res, StatusCode::NOT_FOUND, "LINE_NOT_FOUND").await;
    let res = app
        .get("/api/v1/bills/history?status=FAILED", Some(&user03.access))
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["pagination"]["totalItems"], 1);
    assert_eq!(body["data"]["items"][0]["status"], "FAILED");
}

#[actix_web::test]
async fn history_pages_and_filters_and_past_results_are_shown_to_their_owner() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let mut ids = Vec::new();
    for m in &months()[..5] {
        let body: Value = inquire(&app, &t.access, "01012345001", Some(m))
            .await
            .json()
            .await
            .unwrap();
        ids.push(body["data"]["requestId"].as_str().unwrap().to_string());
    }
    let page = |q: &'static str| {
        let (app, token) = (&app, t.access.clone());
        async move {
            app.get(&format!("/api/v1/bills/history{q}"), Some(&token))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let first = page("?page=1&size=2").await;
    let p = &first["data"]["pagination"];
    assert_eq!(
        (
            p["totalItems"].as_u64(),
            p["totalPages"].as_u64(),
            p["hasNext"].as_bool(),
            p["hasPrevious"].as_bool()
        ),
        (Some(5), Some(3), Some(true), Some(false))
    );
    let items = first["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["requestId"], ids[4].as_str(), "newest first");
    assert_eq!(items[0]["lineNumber"], "010-1234-5001");
    assert_eq!(items[0]["status"], "COMPLETED");
    assert!(items[0]["resultSummary"].as_str().unwrap().contains('원'));
    let last = page("?page=3&size=2").await;
    assert_eq!(last["data"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(last["data"]["pagination"]["hasNext"], false);
    assert_eq!(
        page("?status=FAILED").await["data"]["pagination"]["totalItems"],
        0
    );
    assert_eq!(
        page("?startDate=2000-01-01&endDate=2000-12-31").await["data"]["pagination"]["totalItems"],
        0
    );
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Seoul)
        .format("%Y-%m-%d")
        .to_string();
    let res = app
        .get(
            &format!("/api/v1/bills/history?startDate={today}&endDate={today}"),
            Some(&t.access),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["pagination"]["totalItems"], 5);
    for bad in [
        "?page=0",
        "?size=101",
        "?size=x",
        "?status=DONE",
        "?startDate=2026-13-01",
        "?startDate=2026-11-02&endDate=2026-11-01",
    ] {
        let res = app
            .get(&format!("/api/v1/bills/history{bad}"), Some(&t.access))
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    }

    // A past result, to its owner only.
    let res = app
        .get(
            &format!("/api/v1/bills/inquiry/{}", ids[0]),
            Some(&t.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["requestId"], ids[0].as_str());
    assert_eq!(body["data"]["billInfo"]["billingMonth"], months()[0]);
    let other = app.login("user02").await;
    let res = app
        .get(
            &format!("/api/v1/bills/inquiry/{}", ids[0]),
            Some(&other.access),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let res = app
        .get("/api/v1/bills/inquiry/no-such-request", Some(&t.access))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[actix_web::test]
async fn successful_inquiries_reach_the_mvno_ap_server() {
    let app = spawn_app_with(|s| s.mvno.poll_interval_ms = 100).await;
    let t = app.login("user01").await;
    let body: Value = inquire(&app, &t.access, "01012345001", None)
        .await
        .json()
        .await
        .unwrap();
    let id = body["data"]["requestId"].as_str().unwrap().to_string();
    for _ in 0..100 {
        let got = mvno_received(&app.client, &app.kos_url).await;
        if let Some(item) = got.iter().find(|i| i["payload"]["eventId"] == id.as_str()) {
            assert_eq!(item["kind"], "bill-result");
            assert_eq!(item["payload"]["result"]["lineNumber"], "010-1234-5001");
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the MVNO AP server never received {id}");
}

#[actix_web::test]
async fn inquiries_keep_working_while_redis_is_stopped_and_redis_is_used_again_after() {
    let mut redis = OwnedRedis::start().await;
    let url = redis.url();
    let app = spawn_app_with(|s| s.redis.url = secrecy::SecretString::from(url.clone())).await;
    let t = app.login("user01").await;
    let m = months();
    assert_eq!(
        inquire(&app, &t.access, "01012345001", Some(&m[0]))
            .await
            .status(),
        StatusCode::OK
    );

    redis.stop().await;
    // Cached in memory, and a miss that goes to KOS: both answer.
    for month in [&m[0], &m[1], &m[2]] {
        let res = inquire(&app, &t.access, "01012345001", Some(month)).await;
        assert_eq!(res.status(), StatusCode::OK, "during the outage, {month}");
    }
    assert!(app.actors.telecom.cache_stats.snapshot().redis_errors >= 1);
    // Logging in needs Redis (sessions live there): refused cleanly, not hung.
    let res = app.post_login("user02", "Passw0rd!").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    redis.resume().await;
    // Redis is skipped for `unavailable_pause_ms` after it was last found unreachable: a
    // pause that must pass (like a breaker's open interval) before the 401 below.
    actix_web::rt::time::sleep(Duration::from_millis(
        app.settings.redis.unavailable_pause_ms + 100,
    ))
    .await;
    // This Redis keeps nothing on disk: its sessions are gone, so everyone logs in again.
    let res = inquire(&app, &t.access, "01012345001", Some(&m[0])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let t = app.login("user01").await;
    // The empty Redis fills again by itself once the retry pause is over (a pause that must
    // pass; that the cache tier skips Redis is not observable from outside).
    actix_web::rt::time::sleep(Duration::from_millis(
        app.settings.cache.redis_retry_ms + 200,
    ))
    .await;
    let res = inquire(&app, &t.access, "01012345001", Some(&m[3])).await;
    assert_eq!(res.status(), StatusCode::OK);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let cached: Vec<String> = redis::cmd("KEYS")
        .arg("*cache:bill:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!cached.is_empty(), "bills are written to Redis again");
}

#[actix_web::test]
async fn no_history_row_is_lost_while_postgresql_is_stopped() {
    let pg = OwnedPostgres::start().await;
    let url = pg.url("phonebill");
    let app = spawn_app_with(|s| {
        s.database.url = secrecy::SecretString::from(url.clone());
        s.database.acquire_timeout_ms = 300;
        s.database.connect_timeout_ms = 300;
        s.actors.history.replay_interval_ms = 300;
    })
    .await;
    let t = app.login("user01").await;
    let m = months();
    let mut answered = 0;
    for month in &m[..3] {
        assert_eq!(
            inquire(&app, &t.access, "01012345001", Some(month))
                .await
                .status(),
            StatusCode::OK
        );
        answered += 1;
    }
    pg.stop().await;
    for month in m[..6].iter().cycle().take(12) {
        assert_eq!(
            inquire(&app, &t.access, "01012345001", Some(month))
                .await
                .status(),
            StatusCode::OK,
            "PostgreSQL down"
        );
        answered += 1;
    }
    // Wait until the writer has put them in the spool, then bring PostgreSQL back.
    for _ in 0..100 {
        let s = app
            .actors
            .telecom
            .history
            .ask_shard(0, phonebill::actors::telecom::bill_history::Snapshot)
            .await
            .unwrap();
        if s.spooled >= 12 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let during = app
        .actors
        .telecom
        .history
        .ask_shard(0, phonebill::actors::telecom::bill_history::Snapshot)
        .await
        .unwrap();
    assert!(during.spooled >= 12, "{during:?}");
    pg.resume().await;
    let mut total = 0;
    for _ in 0..100 {
        let res = app
            .get("/api/v1/bills/history?size=100", Some(&t.access))
            .await;
        if res.status() == StatusCode::OK {
            let body: Value = res.json().await.unwrap();
            total = body["data"]["pagination"]["totalItems"].as_u64().unwrap();
            if total == answered {
                break;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, answered, "every answered inquiry is in the history");
    let after = app
        .actors
        .telecom
        .history
        .ask_shard(0, phonebill::actors::telecom::bill_history::Snapshot)
        .await
        .unwrap();
    assert!(after.replayed >= 12, "{after:?}");
    // And the MVNO AP is told of each: the replayed rows are the stream's too.
    let mut told = 0;
    for _ in 0..100 {
        told = mvno_received(&app.client, &app.kos_url)
            .await
            .iter()
            .filter(|i| i["kind"] == "bill-result")
            .filter_map(|i| i["payload"]["eventId"].as_str().map(str::to_string))
            .collect::<std::collections::HashSet<_>>()
            .len();
        if told as u64 == answered {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        told as u64, answered,
        "every answered inquiry reaches the MVNO AP"
    );
}

#[actix_web::test]
async fn dates_beyond_any_calendar_are_400_not_a_crash() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    for q in [
        "endDate=%2B262142-12-31",
        "startDate=-262000-01-01",
        "endDate=9999-12-31",
    ] {
        let res = app
            .get(&format!("/api/v1/bills/history?{q}"), Some(&t.access))
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    }
}

#[actix_web::test]
async fn no_history_is_lost_when_the_history_writer_panics() {
    let app = spawn_app_with(|s| s.actors.history.flush_interval_ms = 2000).await;
    let t = app.login("user01").await;
    let admin = app.login("admin").await;
    let m = months();
    for month in &m[..4] {
        assert_eq!(
            inquire(&app, &t.access, "01012345001", Some(month))
                .await
                .status(),
            StatusCode::OK
        );
    }
    // The four records are still buffered (flush every 2 s) when the writer dies.
    let res = app
        .post_json(
            "/admin/faults/panic?actor=history",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mut total = 0;
    for _ in 0..100 {
        let body: Value = app
            .get("/api/v1/bills/history", Some(&t.access))
            .await
            .json()
            .await
            .unwrap();
        total = body["data"]["pagination"]["totalItems"]
            .as_u64()
            .unwrap_or(0);
        if total == 4 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        total, 4,
        "the spooled records were replayed by the new writer"
    );
}

#[actix_web::test]
async fn a_full_history_writer_sheds_inquiries_as_503_and_loses_none_it_answered() {
    let app = spawn_app_with(|s| {
        s.actors.history.mailbox = 3;
        s.actors.history.max_buffered = 2;
        s.actors.history.batch_size = 1000;
        s.actors.history.flush_interval_ms = 600_000;
    })
    .await;
    let t = app.login("user01").await;
    assert_eq!(
        inquire(&app, &t.access, "01012345001", None).await.status(),
        StatusCode::OK
    );
    // Nothing is written (no size or time trigger) until the writer is told to flush below.
    let responses = futures_util::future::join_all(
        (0..8).map(|_| inquire(&app, &t.access, "01012345001", None)),
    )
    .await;
    // Every answer of the burst is in (the writer takes or refuses a record before its
    // inquiry is answered, never waiting for a write): now it may write what it took.
    app.actors
        .telecom
        .history
        .deliver(&0, phonebill::actors::telecom::bill_history::Flush)
        .await
        .unwrap();
    let mut answered = 1;
    let mut shed = 0;
    for res in responses {
        match res.status() {
            StatusCode::OK => answered += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(res.headers().get("retry-after").is_some());
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(shed >= 1, "the overload was shed");
    let body: Value = app
        .get("/api/v1/bills/history?size=100", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"]["pagination"]["totalItems"], answered,
        "every answered inquiry is recorded"
    );
}
