//! Store outages under a steady stream of requests: a Redis and a PostgreSQL the test owns
//! are stopped and restarted while clients keep asking for their bills.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    current_product, eventually, other_product, spawn_app_with, spool_files, TestApp, PASSWORD,
};
use crate::owned::{OwnedPostgres, OwnedRedis};

#[derive(Debug, Clone)]
struct Answer {
    user: &'static str,
    /// Asked with a token from a login again (after a 401), not the first one.
    fresh: bool,
    phase: &'static str,
    status: StatusCode,
    took: Duration,
}

fn slowest(log: &[Answer], phase: &str) -> Duration {
    log.iter()
        .filter(|a| a.phase == phase)
        .map(|a| a.took)
        .max()
        .unwrap_or_default()
}

/// One client: its own line, month after month, until told to stop. After a 401 (a Redis
/// without persistence forgot every session) it logs in again, as the web client does.
async fn client(
    app: Rc<TestApp>,
    user: &'static str,
    mut token: String,
    phase: Rc<RefCell<&'static str>>,
    log: Rc<RefCell<Vec<Answer>>>,
) {
    let months = phonebill::simulator::data::available_months();
    let mut n = 0;
    let mut fresh = false;
    while *phase.borrow() != "stop" {
        n += 1;
        let sent_in = *phase.borrow();
        let started = std::time::Instant::now();
        let res = app
            .post_json(
                "/api/v1/bills/inquiry",
                &json!({ "inquiryMonth": months[n % 6] }),
                Some(&token),
            )
            .await;
        let status = res.status();
        log.borrow_mut().push(Answer {
            user,
            fresh,
            phase: sent_in,
            status,
            took: started.elapsed(),
        });
        if status == StatusCode::UNAUTHORIZED {
            let res = app.post_login(user, PASSWORD).await;
            if res.status() == StatusCode::OK {
                let body: Value = res.json().await.unwrap();
                token = body["access_token"].as_str().unwrap().to_string();
                fresh = true;
            }
        }
        // The stream's pace (a steady stream, not a flood).
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Answered: the bill, or KOS's answer that there is none for that month (422). Both come
/// from the cache or KOS and both leave a history row.
fn answered(a: &Answer) -> bool {
    a.status == StatusCode::OK || a.status == StatusCode::UNPROCESSABLE_ENTITY
}

fn share(log: &[Answer], phase: &str) -> (usize, usize) {
    let all = log.iter().filter(|a| a.phase == phase).count();
    let ok = log
        .iter()
        .filter(|a| a.phase == phase && answered(a))
        .count();
    (ok, all)
}

async fn run(
    app: &Rc<TestApp>,
    phase: &Rc<RefCell<&'static str>>,
    log: &Rc<RefCell<Vec<Answer>>>,
) -> Vec<actix_web::rt::task::JoinHandle<()>> {
    // Logged in before any outage starts (a login slowed by a busy machine must not meet
    // the outage half-way: that is the test's timing, not the service's behaviour).
    let mut clients = Vec::new();
    for u in ["user01", "user02", "user03", "user04"] {
        let token = app.login(u).await.access;
        clients.push(actix_web::rt::spawn(client(
            app.clone(),
            u,
            token,
            phase.clone(),
            log.clone(),
        )));
    }
    clients
}

#[actix_web::test]
async fn inquiries_keep_succeeding_while_redis_is_stopped_and_restarted() {
    let mut redis = OwnedRedis::start().await;
    let url = redis.url();
    let app =
        Rc::new(spawn_app_with(|s| s.redis.url = secrecy::SecretString::from(url.clone())).await);
    let phase = Rc::new(RefCell::new("before"));
    let log = Rc::new(RefCell::new(Vec::new()));
    let clients = run(&app, &phase, &log).await;
    // The phases "before", "outage" and "after" are each held a fixed time under the
    // stream: their answers are what the test measures.
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    *phase.borrow_mut() = "outage";
    redis.stop().await;
    actix_web::rt::time::sleep(Duration::from_millis(2000)).await;
    // Sessions are gone with that Redis (it keeps nothing on disk): clients log in again.
    *phase.borrow_mut() = "relogin";
    redis.resume().await;
    eventually(
        Duration::from_secs(20),
        "every client logged in again and was answered with its new token",
        || async {
            let log = log.borrow();
            ["user01", "user02", "user03", "user04"]
                .iter()
                .all(|u| log.iter().any(|a| a.user == *u && a.fresh && answered(a)))
        },
    )
    .await;
    *phase.borrow_mut() = "after";
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    *phase.borrow_mut() = "stop";
    for c in clients {
        c.await.unwrap();
    }
    let log = log.borrow().clone();
    let (before, outage, after) = (
        share(&log, "before"),
        share(&log, "outage"),
        share(&log, "after"),
    );
    let mut statuses: Vec<(&str, u16)> = log.iter().map(|a| (a.phase, a.status.as_u16())).collect();
    statuses.sort_unstable();
    statuses.dedup();
    eprintln!("Redis outage under a steady stream: before {before:?}, outage {outage:?}, after {after:?} (ok, all); slowest during the outage {:?}; {statuses:?}", slowest(&log, "outage"));
    assert!(log
        .iter()
        .all(|a| a.status != StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(before.0, before.1);
    assert!(outage.1 > 20, "too few requests during the outage");
    assert!(
        outage.0 * 100 >= outage.1 * 95,
        "during the outage {outage:?}"
    );
    // Only the first requests wait for Redis's time-outs; the rest fall back at once.
    let mut during: Vec<Duration> = log
        .iter()
        .filter(|a| a.phase == "outage")
        .map(|a| a.took)
        .collect();
    during.sort_unstable();
    let p90 = during[during.len() * 9 / 10];
    assert!(
        p90 < Duration::from_millis(100),
        "p90 during the outage {p90:?}"
    );
    assert!(after.1 > 20);
    assert_eq!(
        after.0, after.1,
        "after the restart, every request succeeds"
    );
}

#[actix_web::test]
async fn postgresql_stopped_and_restarted_under_load_loses_no_history_and_calls_no_kos_change() {
    let pg = OwnedPostgres::start().await;
    let url = pg.url("phonebill");
    let app = Rc::new(
        spawn_app_with(|s| {
            s.database.url = secrecy::SecretString::from(url.clone());
            s.database.acquire_timeout_ms = 300;
            s.database.connect_timeout_ms = 300;
            s.actors.history.replay_interval_ms = 300;
        })
        .await,
    );
    let phase = Rc::new(RefCell::new("before"));
    let log = Rc::new(RefCell::new(Vec::new()));
    let clients = run(&app, &phase, &log).await;
    let changer = app.login("user05").await;
    let current = current_product(&app, &changer.access).await;
    let target = other_product(&current);
    // The stream runs a while before the outage, which lasts as long as the five refused
    // changes 300 ms apart below; the "after" phase is held a fixed time too.
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    *phase.borrow_mut() = "outage";
    pg.stop().await;
    let changes_before = app.kos_stats().await["product-change"].as_u64().unwrap();
    let mut refused = 0;
    for _ in 0..5 {
        let res = app
            .post_json(
                "/api/v1/products/change",
                &json!({ "lineNumber": "01012345005", "currentProductCode": current,
                         "targetProductCode": target }),
                Some(&changer.access),
            )
            .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
        refused += 1;
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        app.kos_stats().await["product-change"].as_u64().unwrap(),
        changes_before,
        "a change reached KOS while PostgreSQL was down"
    );
    pg.resume().await;
    *phase.borrow_mut() = "after";
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    *phase.borrow_mut() = "stop";
    for c in clients {
        c.await.unwrap();
    }
    let log = log.borrow().clone();
    let answered = log.iter().filter(|a| answered(a)).count() as u64;
    let mut statuses: Vec<(&str, u16)> = log.iter().map(|a| (a.phase, a.status.as_u16())).collect();
    statuses.sort_unstable();
    statuses.dedup();
    eprintln!("statuses {statuses:?}");
    let (outage, after) = (share(&log, "outage"), share(&log, "after"));
    assert!(log
        .iter()
        .all(|a| a.status != StatusCode::INTERNAL_SERVER_ERROR));
    assert!(outage.1 > 20, "too few requests during the outage");
    assert_eq!(
        outage.0, outage.1,
        "inquiries fail while PostgreSQL is down"
    );
    assert_eq!(after.0, after.1);
    // Every answered inquiry is in the history once the spool has replayed.
    let back = std::time::Instant::now();
    let mut admin = None;
    while admin.is_none() && back.elapsed() < Duration::from_secs(10) {
        let res = app.post_login("admin", PASSWORD).await;
        if res.status() == StatusCode::OK {
            let body: Value = res.json().await.unwrap();
            admin = body["access_token"].as_str().map(str::to_string);
        } else {
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let admin = admin.expect("logins work again within 10 s");
    eprintln!(
        "PostgreSQL back: logins work again {:?} after the stream stopped",
        back.elapsed()
    );
    let mut stored = 0;
    for _ in 0..100 {
        stored = 0;
        for line in ["01012345001", "01012345002", "01012345003", "01012345004"] {
            let res = app
                .get(
                    &format!("/api/v1/bills/history?lineNumber={line}&size=1"),
                    Some(&admin),
                )
                .await;
            let body: Value = res.json().await.unwrap();
            stored += body["data"]["pagination"]["totalItems"]
                .as_u64()
                .unwrap_or(0);
        }
        if stored == answered {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("PostgreSQL outage under a steady stream: {answered} inquiries answered (outage {outage:?}, slowest {:?}), {stored} history rows, {refused} changes refused 503 without KOS", slowest(&log, "outage"));
    assert_eq!(stored, answered, "history rows lost");
}

/// A spooled record PostgreSQL refuses (here: a month too long for its column) is kept
/// aside in a `rejected-*.jsonl` file; it does not block the records spooled after it.
#[actix_web::test]
async fn a_spooled_record_postgresql_refuses_is_quarantined_and_the_rest_replayed() {
    use phonebill::infra::telecom::bill_history::{HistoryRecord, HistoryRow};
    use phonebill::infra::telecom::spool::Spool;
    let app = spawn_app_with(|s| s.actors.history.replay_interval_ms = 200).await;
    let record = |n: u32, month: &str| HistoryRecord {
        row: HistoryRow {
            request_id: format!("spooled-{n}"),
            user_id: "user01".into(),
            line_number: "01012345001".into(),
            inquiry_month: month.into(),
            request_time: chrono::Utc::now(),
            process_time: chrono::Utc::now(),
            status: phonebill::domain::telecom::bill::InquiryStatus::Failed,
            result_code: "9999".into(),
            result_message: "KOS unavailable".into(),
            kos_response_ms: None,
            cache_hit: false,
            result: None,
            snapshot: None,
        },
        notify: None,
    };
    let month = phonebill::simulator::data::available_months()[0].clone();
    let dir = app.settings.actors.history.spool_dir.clone();
    // Written where the layout before spool slots kept its files: adopted and replayed.
    Spool::at(&dir)
        .append(&[record(1, &month), record(2, "2026110"), record(3, &month)])
        .unwrap();
    let t = app.login("user01").await;
    let mut total = 0;
    for _ in 0..100 {
        let res = app
            .get("/api/v1/bills/history?size=100", Some(&t.access))
            .await;
        let body: Value = res.json().await.unwrap();
        total = body["data"]["pagination"]["totalItems"]
            .as_u64()
            .unwrap_or(0);
        if total == 2 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, 2, "the two good records are replayed");
    let rejected = spool_files(&dir, "rejected-");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let kept = Spool::read(&rejected[0]).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].row.request_id, "spooled-2");
    assert!(
        spool_files(&dir, "history-").is_empty(),
        "nothing left to replay"
    );
}
