//! Two instances started with the same spool setting (as two `phonebill serve` from one
//! folder with the shipped `config.toml` would be), sharing PostgreSQL and Redis, through
//! Redis restart → PostgreSQL stopped under load → started, several times: every answered
//! inquiry's history reaches PostgreSQL within seconds of its return, and both writers
//! keep writing.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};
use crate::owned::{OwnedPostgres, OwnedRedis};

/// Request ids of the inquiries answered 200 (each must have its history row).
type Answered = Rc<RefCell<Vec<String>>>;

async fn login(app: &TestApp, user: &str) -> Option<String> {
    let res = app.post_login(user, PASSWORD).await;
    if res.status() != StatusCode::OK {
        return None;
    }
    let body: Value = res.json().await.ok()?;
    body["access_token"].as_str().map(str::to_string)
}

/// One web client asking for its bills until `stop`; logs in again after a 401.
async fn client(app: Rc<TestApp>, user: &'static str, stop: Rc<RefCell<bool>>, answered: Answered) {
    let months = phonebill::simulator::data::available_months();
    let mut token = login(&app, user).await;
    let mut n = 0;
    while !*stop.borrow() {
        n += 1;
        let Some(t) = token.clone() else {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            token = login(&app, user).await;
            continue;
        };
        let res = app
            .post_json(
                "/api/v1/bills/inquiry",
                &json!({ "inquiryMonth": months[n % 6] }),
                Some(&t),
            )
            .await;
        match res.status() {
            StatusCode::OK => {
                let body: Value = res.json().await.unwrap();
                let id = body["data"]["requestId"].as_str().unwrap().to_string();
                answered.borrow_mut().push(id);
            }
            StatusCode::UNAUTHORIZED => token = login(&app, user).await,
            other => assert_ne!(other, StatusCode::INTERNAL_SERVER_ERROR),
        }
        // The stream's pace (a steady stream, not a flood).
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn missing(pg_url: &str, ids: &[String]) -> Option<usize> {
    let mut conn = AsyncPgConnection::establish(pg_url).await.ok()?;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM bill_inquiry_history WHERE request_id = ANY($1)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(ids)
    .get_result(&mut conn)
    .await
    .ok()?;
    Some(ids.len() - found.n as usize)
}

/// Waits until every id is in PostgreSQL; how long it took, or what was still missing.
async fn all_stored(pg_url: &str, ids: &[String], within: Duration) -> Result<Duration, usize> {
    let started = Instant::now();
    let mut left = ids.len();
    while started.elapsed() < within {
        match missing(pg_url, ids).await {
            Some(0) => return Ok(started.elapsed()),
            Some(n) => left = n,
            None => {}
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    Err(left)
}

#[actix_web::test]
async fn two_instances_with_the_default_spool_survive_redis_and_postgresql_restarts_and_keep_writing(
) {
    let pg = OwnedPostgres::start().await;
    let mut redis = OwnedRedis::start().await;
    let (pg_url, redis_url) = (pg.url("phonebill"), redis.url());
    let one = Rc::new(
        spawn_app_with(|s| {
            s.database.url = secrecy::SecretString::from(pg_url.clone());
            s.redis.url = secrecy::SecretString::from(redis_url.clone());
            s.database.pool_max_size = 10;
            s.actors.history.write_connections = 4;
        })
        .await,
    );
    // The same settings, spool directory included.
    let two = Rc::new(one.spawn_peer().await);
    let spool = one.settings.actors.history.spool_dir.clone();
    assert_eq!(spool, two.settings.actors.history.spool_dir);
    // Each instance claimed a slot of its own in it.
    for slot in ["instance-0", "instance-1"] {
        assert!(spool.join(slot).is_dir(), "{slot} in {}", spool.display());
    }
    let rounds: u32 = std::env::var("PHONEBILL_SPOOL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for round in 1..=rounds {
        redis.stop().await;
        redis.resume().await;
        let stop = Rc::new(RefCell::new(false));
        let answered: Answered = Rc::default();
        // Eight clients on instance one, one on instance two.
        let users = [
            ("user01", &one),
            ("user02", &one),
            ("user03", &one),
            ("user04", &one),
            ("user05", &one),
            ("user01", &one),
            ("user02", &one),
            ("user03", &one),
            ("admin", &two),
        ];
        let clients: Vec<_> = users
            .into_iter()
            .map(|(u, app)| {
                actix_web::rt::spawn(client((*app).clone(), u, stop.clone(), answered.clone()))
            })
            .collect();
        // Load before, during and after the outage, each held a fixed time: the outage
        // must last under the stream (the spool is what it exercises).
        actix_web::rt::time::sleep(Duration::from_millis(800)).await;
        let before_outage = answered.borrow().len();
        pg.stop().await;
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        let during = answered.borrow().len() - before_outage;
        pg.resume().await;
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        *stop.borrow_mut() = true;
        for c in clients {
            c.await.unwrap();
        }
        let ids = answered.borrow().clone();
        assert!(
            during > 20,
            "round {round}: only {during} answered during the outage"
        );
        let took = all_stored(&pg_url, &ids, Duration::from_secs(10)).await;
        eprintln!(
            "round {round}: {} inquiries answered ({during} while PostgreSQL was down); history complete after {took:?}",
            ids.len()
        );
        assert!(
            took.is_ok(),
            "round {round}: {took:?} of {} history rows missing 10 s after PostgreSQL returned",
            ids.len()
        );
    }
    // Both writers still write.
    for (name, app) in [("one", &one), ("two", &two)] {
        // A pool's connections from before the restart fail once each (503), then go.
        let mut token = None;
        for _ in 0..50 {
            token = login(app, "user05").await;
            if token.is_some() {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let token = token.expect("logins work again within 5 s");
        let res = app
            .post_json("/api/v1/bills/inquiry", &json!({}), Some(&token))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        let id = body["data"]["requestId"].as_str().unwrap().to_string();
        let took = all_stored(&pg_url, &[id], Duration::from_secs(5)).await;
        assert!(took.is_ok(), "instance {name}'s writer stopped writing");
    }
}

async fn history_snapshot(
    app: &TestApp,
) -> phonebill::actors::telecom::bill_history::HistorySnapshot {
    app.actors
        .telecom
        .history
        .ask_shard(0, phonebill::actors::telecom::bill_history::Snapshot)
        .await
        .unwrap()
}

/// PostgreSQL accepts the writer's connections but never finishes its inserts (a lock that
/// is not granted): each round times out, its records go to the spool, the writer keeps
/// taking and spooling new ones, and once the lock is gone everything is written.
#[actix_web::test]
async fn a_write_postgresql_never_finishes_times_out_is_spooled_and_the_writer_goes_on() {
    use secrecy::ExposeSecret;
    let app = spawn_app_with(|s| {
        s.actors.history.write_timeout_ms = 1000;
        s.actors.history.replay_interval_ms = 300;
    })
    .await;
    let pg_url = app.settings.database.url.expose_secret().to_string();
    let token = login(&app, "user01").await.unwrap();
    let months = phonebill::simulator::data::available_months();
    let inquire = |n: usize| {
        let (app, token, month) = (&app, token.clone(), months[n % 6].clone());
        async move {
            let res = app
                .post_json(
                    "/api/v1/bills/inquiry",
                    &json!({ "inquiryMonth": month }),
                    Some(&token),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await.unwrap();
            body["data"]["requestId"].as_str().unwrap().to_string()
        }
    };
    // Inserts wait for this lock as long as the transaction holding it lives.
    let mut holder = AsyncPgConnection::establish(&pg_url).await.unwrap();
    diesel::sql_query("BEGIN")
        .execute(&mut holder)
        .await
        .unwrap();
    diesel::sql_query("LOCK TABLE bill_inquiry_history IN EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(inquire(n).await);
    }
    let stuck_since = Instant::now();
    let mut spooled = 0;
    while stuck_since.elapsed() < Duration::from_secs(5) {
        spooled = history_snapshot(&app).await.spooled;
        if spooled >= 10 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(spooled >= 10, "the stuck round was not spooled: {spooled}");
    // Still writing (to the spool, while PostgreSQL does not finish).
    for n in 10..15 {
        ids.push(inquire(n).await);
    }
    let mut s = history_snapshot(&app).await;
    while s.spooled < 15 && stuck_since.elapsed() < Duration::from_secs(10) {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        s = history_snapshot(&app).await;
    }
    assert!(s.spooled >= 15, "{s:?}");
    assert_eq!(s.buffered, 0, "{s:?}");
    eprintln!("lock held {:?}: {s:?}", stuck_since.elapsed());
    diesel::sql_query("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    let took = all_stored(&pg_url, &ids, Duration::from_secs(10)).await;
    assert!(
        took.is_ok(),
        "after the lock was released: {took:?} missing"
    );
}

/// An instance that died left records in its slot: a running one adopts and replays them.
#[actix_web::test]
async fn the_spool_of_an_instance_that_is_gone_is_replayed_by_one_that_runs() {
    use phonebill::infra::telecom::bill_history::{HistoryRecord, HistoryRow};
    use phonebill::infra::telecom::spool::Spool;
    use secrecy::ExposeSecret;
    let app = spawn_app_with(|s| s.actors.history.replay_interval_ms = 200).await;
    let root = app.settings.actors.history.spool_dir.clone();
    let month = phonebill::simulator::data::available_months()[0].clone();
    let ids: Vec<String> = (0..3)
        .map(|n| format!("orphan-{n}-{}", uuid::Uuid::new_v4().simple()))
        .collect();
    let records: Vec<HistoryRecord> = ids
        .iter()
        .map(|id| HistoryRecord {
            row: HistoryRow {
                request_id: id.clone(),
                user_id: "user01".into(),
                line_number: "01012345001".into(),
                inquiry_month: month.clone(),
                request_time: chrono::Utc::now(),
                process_time: chrono::Utc::now(),
                status: phonebill::domain::telecom::bill::InquiryStatus::Completed,
                result_code: "0000".into(),
                result_message: "정상".into(),
                kos_response_ms: None,
                cache_hit: true,
                result: None,
                snapshot: None,
            },
            notify: None,
        })
        .collect();
    // Slot 7's lock file exists but nobody holds it: its instance is gone.
    std::fs::write(root.join("instance-7.lock"), b"").unwrap();
    Spool::at(root.join("instance-7")).append(&records).unwrap();
    let pg_url = app.settings.database.url.expose_secret().to_string();
    let took = all_stored(&pg_url, &ids, Duration::from_secs(10)).await;
    assert!(
        took.is_ok(),
        "orphaned records not replayed: {took:?} missing"
    );
    assert!(crate::helpers::spool_files(&root.join("instance-7"), "history-").is_empty());
}
