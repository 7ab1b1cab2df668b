//! MVNO notifications: at least once, through an MVNO outage and a phonebill restart.

use std::time::Duration;

use phonebill::actors::telecom::notifier::Enqueue;
use phonebill::infra::telecom::outbox::{Kind, NewNotification};
use phonebill::settings::Settings;
use serde_json::{json, Value};

use crate::helpers::{eventually, mvno_received, spawn_app_with, standalone_simulator, TestApp};

async fn received(app: &TestApp, sim: &str) -> Vec<Value> {
    mvno_received(&app.client, sim).await
}

/// How long a notifier test waits for what it expects (its old loop allowed 100 rounds of
/// 100 ms plus the check, which logs in: about this on a busy machine).
const WITHIN: Duration = Duration::from_secs(20);

/// An instance with quick notifier rounds and retries, talking to a simulator of the test's
/// own (so its MVNO receiver outlives the instance).
pub(crate) async fn notifier_app(sim: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let sim = sim.to_string();
    spawn_app_with(move |s| {
        s.kos.base_url = sim.clone();
        s.mvno.base_url = sim;
        s.mvno.poll_interval_ms = 100;
        s.mvno.retry_base_ms = 100;
        s.mvno.retry_max_ms = 300;
        s.mvno.timeout_ms = 500;
        tweak(s);
    })
    .await
}

#[actix_web::test]
async fn notifications_survive_an_mvno_outage_and_a_restart() {
    let sim = standalone_simulator();
    // A round cut short by the stop below keeps its rows leased this long.
    let a = notifier_app(&sim, |s| s.mvno.lease_s = 1).await;
    a.kos_fault(json!({ "mode": "down", "endpoint": "mvno" }))
        .await;
    let notes: Vec<NewNotification> = (0..3)
        .map(|i| {
            NewNotification::new(
                if i == 0 {
                    Kind::ProductChangeResult
                } else {
                    Kind::BillResult
                },
                format!("evt-{i}"),
                json!({ "n": i }),
            )
        })
        .collect();
    let stored = a
        .actors
        .telecom
        .notifier
        .ask_shard(0, Enqueue(notes.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, 3);
    // The same events again are not stored twice.
    assert_eq!(
        a.actors
            .telecom
            .notifier
            .ask_shard(0, Enqueue(notes))
            .await
            .unwrap()
            .unwrap(),
        0
    );

    eventually(
        WITHIN,
        "delivery attempts fail while the MVNO is down",
        || async {
            let view = a.admin_actors().await;
            view["mvnoNotifier"]["failedAttempts"].as_u64().unwrap_or(0) >= 3
        },
    )
    .await;
    assert!(received(&a, &sim).await.is_empty());
    let view = a.admin_actors().await;
    assert_eq!(view["mvnoNotifier"]["pending"], 3);

    a.stop().await;
    a.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    let b = a.spawn_peer().await;
    eventually(WITHIN, "all three delivered after the restart", || async {
        received(&b, &sim).await.len() >= 3
    })
    .await;
    let got = received(&b, &sim).await;
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r["payload"]["eventId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, ["evt-0", "evt-1", "evt-2"]);
    assert!(got.iter().any(|r| r["kind"] == "product-change-result"));
    eventually(WITHIN, "the outbox drains", || async {
        b.admin_actors().await["mvnoNotifier"]["pending"] == 0
    })
    .await;
}

/// `[mvno] per_post` above 1: several notifications of one kind go as one JSON array, each
/// received once, kinds never mixed in a POST, and a refused POST is retried as a whole.
#[actix_web::test]
async fn notifications_go_several_to_a_post_when_configured() {
    let sim = standalone_simulator();
    let a = notifier_app(&sim, |s| s.mvno.per_post = 4).await;
    a.kos_fault(json!({ "mode": "down", "endpoint": "mvno" }))
        .await;
    let notes: Vec<NewNotification> = (0..7)
        .map(|i| {
            let kind = if i < 2 {
                Kind::ProductChangeResult
            } else {
                Kind::BillResult
            };
            NewNotification::new(kind, format!("arr-{i}"), json!({ "n": i }))
        })
        .collect();
    a.actors
        .telecom
        .notifier
        .ask_shard(0, Enqueue(notes))
        .await
        .unwrap()
        .unwrap();
    // 2 change results in one POST, 5 bill results in two: 3 failed attempts a round.
    eventually(WITHIN, "a round of refused POSTs", || async {
        a.admin_actors().await["mvnoNotifier"]["failedAttempts"]
            .as_u64()
            .unwrap_or(0)
            >= 7
    })
    .await;
    a.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    eventually(WITHIN, "all seven delivered", || async {
        a.admin_actors().await["mvnoNotifier"]["pending"] == 0
    })
    .await;
    let got = received(&a, &sim).await;
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r["payload"]["eventId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["arr-0", "arr-1", "arr-2", "arr-3", "arr-4", "arr-5", "arr-6"]
    );
    for r in &got {
        let n = r["payload"]["result"]["n"].as_u64().unwrap();
        let expected = if n < 2 {
            "product-change-result"
        } else {
            "bill-result"
        };
        assert_eq!(r["kind"], expected, "{r}");
    }
}

#[derive(diesel::QueryableByName)]
struct VacuumCount {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many times PostgreSQL itself says the outbox was vacuumed (not autovacuumed).
async fn outbox_vacuums(app: &TestApp) -> i64 {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use secrecy::ExposeSecret;
    let mut conn = AsyncPgConnection::establish(app.settings.database.url.expose_secret())
        .await
        .unwrap();
    diesel::sql_query(
        "SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'mvno_outbox'",
    )
    .get_result::<VacuumCount>(&mut conn)
    .await
    .unwrap()
    .n
}

#[actix_web::test]
async fn the_notifier_vacuums_the_outbox_after_every_so_many_rows() {
    let sim = standalone_simulator();
    let a = notifier_app(&sim, |s| s.mvno.vacuum_every = 5).await;
    let before = outbox_vacuums(&a).await;
    let enqueue = |from: usize, to: usize| {
        let notes: Vec<NewNotification> = (from..to)
            .map(|i| NewNotification::new(Kind::BillResult, format!("vac-{i}"), json!({ "n": i })))
            .collect();
        a.actors.telecom.notifier.ask_shard(0, Enqueue(notes))
    };
    // Four rows delivered: below the threshold, no vacuum.
    assert_eq!(enqueue(0, 4).await.unwrap().unwrap(), 4);
    eventually(WITHIN, "four delivered", || async {
        a.admin_actors().await["mvnoNotifier"]["delivered"] == 4
    })
    .await;
    assert_eq!(a.admin_actors().await["mvnoNotifier"]["vacuums"], 0);
    // Two more: six rows touched since the start, one vacuum, which PostgreSQL records.
    assert_eq!(enqueue(4, 6).await.unwrap().unwrap(), 2);
    eventually(WITHIN, "the notifier vacuumed once", || async {
        a.admin_actors().await["mvnoNotifier"]["vacuums"] == 1
    })
    .await;
    eventually(WITHIN, "PostgreSQL counts the vacuum", || async {
        outbox_vacuums(&a).await > before
    })
    .await;
    let metrics = a.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("phonebill_mvno_outbox_vacuums_total 1"),
        "{metrics}"
    );
    assert_eq!(received(&a, &sim).await.len(), 6);
}
