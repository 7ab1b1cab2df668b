//! The bill-result stream: each answered inquiry's history row is its MVNO notification,
//! followed by a cursor. Delivered at least once with one row written per inquiry; a row
//! committed late is not skipped; an MVNO outage holds the cursor and writes nothing; a
//! notification refused for good is set aside without holding the others; two instances
//! share the stream and one takes over when the other goes; a bill is stored once and later
//! batches refer to it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{eventually, mvno_received, standalone_simulator, TestApp};
use crate::notifier::notifier_app;

const WITHIN: Duration = Duration::from_secs(20);

/// An instance of quick notifier rounds and retries (the notifier tests' own), with a short
/// lease, on a simulator of the test's own.
async fn stream_app(sim: &str) -> TestApp {
    notifier_app(sim, |s| s.mvno.lease_s = 1).await
}

fn months() -> Vec<String> {
    phonebill::simulator::data::available_months()
}

/// Inquires `month` of `line`; the answer's `data` (asserted 200).
async fn inquire(app: &TestApp, token: &str, line: &str, month: &str) -> Value {
    let res = app
        .post_json(
            "/api/v1/bills/inquiry",
            &json!({ "lineNumber": line, "inquiryMonth": month }),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["data"].clone()
}

/// How many times the MVNO receiver at `sim` got each bill-result event.
async fn bill_results(app: &TestApp, sim: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for item in mvno_received(&app.client, sim).await {
        if item["kind"] == "bill-result" {
            let id = item["payload"]["eventId"].as_str().unwrap().to_string();
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

async fn all_received(app: &TestApp, sim: &str, ids: &[String]) -> bool {
    let seen = bill_results(app, sim).await;
    ids.iter().all(|id| seen.contains_key(id))
}

/// The request ids of inquiry answers.
fn request_ids(answers: &[Value]) -> Vec<String> {
    answers
        .iter()
        .map(|a| a["requestId"].as_str().unwrap().to_string())
        .collect()
}

/// Each past result (`GET /bills/inquiry/{id}`) is the answer given, exactly.
async fn assert_past_results(app: &TestApp, token: &str, ids: &[String], answers: &[Value]) {
    for (id, answer) in ids.iter().zip(answers) {
        let res = app
            .get(&format!("/api/v1/bills/inquiry/{id}"), Some(token))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(&body["data"], answer, "past result of {id}");
    }
}

#[actix_web::test]
async fn each_inquiry_is_delivered_once_from_its_history_row_and_its_answer_is_kept_exactly() {
    let sim = standalone_simulator();
    let app = stream_app(&sim).await;
    let t = app.login("user01").await;
    let m = months();
    let mut answers = Vec::new();
    // Three months, each asked twice: three bills stored, six history rows.
    for month in m[..3].iter().chain(&m[..3]) {
        answers.push(inquire(&app, &t.access, "01012345001", month).await);
    }
    let ids = request_ids(&answers);
    eventually(WITHIN, "all six delivered", || {
        all_received(&app, &sim, &ids)
    })
    .await;
    // Without faults each is delivered exactly once, with what the MVNO AP is owed.
    let seen = bill_results(&app, &sim).await;
    assert!(ids.iter().all(|id| seen[id] == 1), "{seen:?}");
    let got = mvno_received(&app.client, &sim).await;
    let first = got
        .iter()
        .find(|i| i["payload"]["eventId"] == ids[0].as_str())
        .unwrap();
    let result = &first["payload"]["result"];
    assert_eq!(result["requestId"], ids[0].as_str());
    assert_eq!(result["lineNumber"], "010-1234-5001");
    assert_eq!(result["billingMonth"], m[0].as_str());
    assert_eq!(result["totalFee"], answers[0]["billInfo"]["totalFee"]);
    assert_eq!(
        result["customerId"],
        answers[0]["customerInfo"]["customerId"]
    );
    assert!(result["processedAt"].as_str().unwrap().contains('T'));
    assert_eq!(first["payload"]["attempt"], 1);
    // Nothing went through the outbox; each bill is stored once.
    assert_eq!(app.number("SELECT count(*) AS n FROM mvno_outbox").await, 0);
    assert_eq!(
        app.number("SELECT count(*) AS n FROM bill_snapshots").await,
        3
    );
    assert_eq!(
        app.number("SELECT count(*) AS n FROM bill_inquiry_history WHERE result IS NULL AND snapshot_id IS NOT NULL").await,
        6
    );
    // A past result is the answer given, exactly.
    assert_past_results(&app, &t.access, &ids, &answers).await;
    eventually(WITHIN, "nothing pending", || async {
        app.admin_actors().await["mvnoNotifier"]["stream"]["pending"] == 0
    })
    .await;
}

/// The history writer sends a bill only until it has seen it committed: a later batch's row
/// refers to the bill an earlier batch stored, reads back as answered and is delivered.
#[actix_web::test]
async fn a_later_batch_refers_to_the_bill_an_earlier_one_stored() {
    let sim = standalone_simulator();
    let app = stream_app(&sim).await;
    let t = app.login("user02").await;
    let month = &months()[0];
    let first = inquire(&app, &t.access, "01012345002", month).await;
    eventually(WITHIN, "the first inquiry's row stored", || async {
        app.number("SELECT count(*) AS n FROM bill_inquiry_history")
            .await
            == 1
    })
    .await;
    let second = inquire(&app, &t.access, "01012345002", month).await;
    let answers = [first, second];
    let ids = request_ids(&answers);
    eventually(WITHIN, "both delivered", || all_received(&app, &sim, &ids)).await;
    assert_eq!(
        app.number("SELECT count(*) AS n FROM bill_snapshots").await,
        1
    );
    assert_eq!(
        app.number(
            "SELECT count(*) AS n FROM bill_inquiry_history h \
               JOIN bill_snapshots s ON s.id = h.snapshot_id"
        )
        .await,
        2
    );
    assert_past_results(&app, &t.access, &ids, &answers).await;
}

/// Rows written before this version (their answer in `result`, their notification in the
/// outbox) read as before, and their notifications are delivered.
#[actix_web::test]
async fn rows_written_before_the_stream_read_as_before_and_their_outbox_is_delivered() {
    let sim = standalone_simulator();
    let app = stream_app(&sim).await;
    let t = app.login("user01").await;
    let month = &months()[0];
    let answer = json!({
        "requestId": "legacy-1", "procStatus": "COMPLETED", "resultCode": "0000",
        "resultMessage": "요금 조회가 완료되었습니다",
        "billInfo": { "lineNumber": "010-1234-5001", "totalFee": 1234 },
        "customerInfo": { "customerId": "CUST001" }
    });
    diesel::sql_query(
        "INSERT INTO bill_inquiry_history (request_id, user_id, line_number, inquiry_month, \
                request_time, process_time, status, result_code, result_message, cache_hit, \
                result, txid) \
         VALUES ('legacy-1', 'user01', '01012345001', $1, now(), now(), 'COMPLETED', '0000', \
                 '요금 조회가 완료되었습니다', false, $2::jsonb, NULL)",
    )
    .bind::<diesel::sql_types::Text, _>(month)
    .bind::<diesel::sql_types::Text, _>(answer.to_string())
    .execute(&mut app.db().await)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO mvno_outbox (kind, event_id, payload) \
         VALUES ('bill-result', 'legacy-1', '{\"requestId\":\"legacy-1\"}')",
    )
    .execute(&mut app.db().await)
    .await
    .unwrap();
    let res = app
        .get("/api/v1/bills/inquiry/legacy-1", Some(&t.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"], answer);
    let res = app
        .get("/api/v1/bills/history?size=10", Some(&t.access))
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["pagination"]["totalItems"], 1);
    eventually(WITHIN, "the old outbox row is delivered", || async {
        bill_results(&app, &sim).await.contains_key("legacy-1")
    })
    .await;
}

/// A row whose transaction took its id first but commits last is delivered: rows written
/// after it wait until it commits, then all go.
#[actix_web::test]
async fn a_row_committed_late_is_not_skipped() {
    let sim = standalone_simulator();
    let app = stream_app(&sim).await;
    let t = app.login("user01").await;
    let m = months();
    let first = inquire(&app, &t.access, "01012345001", &m[0]).await;
    let first_id = first["requestId"].as_str().unwrap().to_string();
    eventually(WITHIN, "the first delivered", || {
        all_received(&app, &sim, std::slice::from_ref(&first_id))
    })
    .await;
    // A transaction takes the next id and stays open.
    let mut held = app.db().await;
    diesel::sql_query("BEGIN").execute(&mut held).await.unwrap();
    diesel::sql_query(
        "INSERT INTO bill_inquiry_history (request_id, user_id, line_number, inquiry_month, \
                request_time, process_time, status, result_code, result_message, cache_hit, \
                snapshot_id) \
         SELECT 'late-1', user_id, line_number, inquiry_month, now(), now(), status, \
                result_code, result_message, true, snapshot_id \
           FROM bill_inquiry_history WHERE request_id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&first_id)
    .execute(&mut held)
    .await
    .unwrap();
    let mut later = Vec::new();
    for month in &m[1..4] {
        let a = inquire(&app, &t.access, "01012345001", month).await;
        later.push(a["requestId"].as_str().unwrap().to_string());
    }
    // The later rows are in PostgreSQL, with higher ids, but wait behind the open one.
    eventually(WITHIN, "the later rows are written", || async {
        app.number(
            "SELECT count(*) AS n FROM bill_inquiry_history \
             WHERE request_id NOT IN ('late-1') AND snapshot_id IS NOT NULL",
        )
        .await
            == 4
    })
    .await;
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let seen = bill_results(&app, &sim).await;
    assert!(
        later.iter().all(|id| !seen.contains_key(id)),
        "a row written after an open transaction was delivered before it: {seen:?}"
    );
    diesel::sql_query("COMMIT")
        .execute(&mut held)
        .await
        .unwrap();
    let mut all = later.clone();
    all.push("late-1".into());
    eventually(WITHIN, "the late row and the later ones delivered", || {
        all_received(&app, &sim, &all)
    })
    .await;
    let late_id = app
        .number("SELECT id AS n FROM bill_inquiry_history WHERE request_id = 'late-1'")
        .await;
    let lowest_later = app
        .number(&format!(
            "SELECT min(id) AS n FROM bill_inquiry_history WHERE request_id IN ('{}')",
            later.join("','")
        ))
        .await;
    assert!(late_id < lowest_later, "the late row took its id first");
}

/// While the MVNO AP is down the cursor waits and nothing is written; afterwards every
/// notification arrives.
#[actix_web::test]
async fn an_mvno_outage_holds_the_cursor_writes_nothing_and_loses_nothing() {
    let sim = standalone_simulator();
    let app = stream_app(&sim).await;
    let t = app.login("user01").await;
    app.kos_fault(json!({ "mode": "down", "endpoint": "mvno" }))
        .await;
    let mut ids = Vec::new();
    for month in &months()[..4] {
        let a = inquire(&app, &t.access, "01012345001", month).await;
        ids.push(a["requestId"].as_str().unwrap().to_string());
    }
    eventually(
        WITHIN,
        "deliveries fail while the MVNO AP is down",
        || async {
            app.admin_actors().await["mvnoNotifier"]["streamFailures"]
                .as_u64()
                .unwrap_or(0)
                >= 2
        },
    )
    .await;
    let view = app.admin_actors().await;
    assert_eq!(view["mvnoNotifier"]["stream"]["pending"], 4, "{view}");
    assert_eq!(app.number("SELECT count(*) AS n FROM mvno_outbox").await, 0);
    assert_eq!(
        app.number("SELECT position_id AS n FROM mvno_cursors WHERE stream = 'bill-result'")
            .await,
        0,
        "the cursor moved during the outage"
    );
    assert!(bill_results(&app, &sim).await.is_empty());
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    eventually(WITHIN, "all four delivered after the outage", || {
        all_received(&app, &sim, &ids)
    })
    .await;
    let got = mvno_received(&app.client, &sim).await;
    assert!(
        got.iter()
            .all(|i| i["payload"]["attempt"].as_i64().unwrap() >= 2),
        "a notification delivered after failed attempts says so"
    );
    assert_eq!(app.number("SELECT count(*) AS n FROM mvno_outbox").await, 0);
}

/// The MVNO AP refuses one line's notifications for good: they are set aside and counted,
/// and every other line's are delivered all the same.
#[actix_web::test]
async fn a_notification_refused_for_good_is_set_aside_and_holds_nothing_up() {
    let sim = standalone_simulator();
    let app = stream_app(&sim).await;
    app.kos_fault(json!({ "refuseLines": ["01012345002"] }))
        .await;
    let (t1, t2) = (app.login("user01").await, app.login("user02").await);
    let (mut kept, mut refused) = (Vec::new(), Vec::new());
    for month in &months()[..3] {
        let a = inquire(&app, &t2.access, "01012345002", month).await;
        refused.push(a["requestId"].as_str().unwrap().to_string());
        let a = inquire(&app, &t1.access, "01012345001", month).await;
        kept.push(a["requestId"].as_str().unwrap().to_string());
    }
    eventually(WITHIN, "the other line's notifications delivered", || {
        all_received(&app, &sim, &kept)
    })
    .await;
    eventually(WITHIN, "the refused ones set aside", || async {
        app.number("SELECT count(*) AS n FROM mvno_outbox WHERE set_aside_at IS NOT NULL")
            .await
            == 3
    })
    .await;
    let aside: HashSet<String> = {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Text)]
            event_id: String,
        }
        diesel::sql_query("SELECT event_id FROM mvno_outbox WHERE set_aside_at IS NOT NULL")
            .load::<Id>(&mut app.db().await)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.event_id)
            .collect()
    };
    assert_eq!(aside, refused.iter().cloned().collect::<HashSet<_>>());
    let seen = bill_results(&app, &sim).await;
    assert!(refused.iter().all(|id| !seen.contains_key(id)));
    eventually(WITHIN, "the stream is not held up", || async {
        let v = app.admin_actors().await;
        v["mvnoNotifier"]["stream"]["pending"] == 0 && v["mvnoNotifier"]["setAside"] == 3
    })
    .await;
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"phonebill_mvno_outbox{measure="set_aside"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"phonebill_mvno_deliveries_total{result="set_aside"} 3"#),
        "{metrics}"
    );
    // Set aside means set aside: not retried by itself.
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.number("SELECT max(attempts)::bigint AS n FROM mvno_outbox")
            .await,
        1
    );
}

/// Two instances write and deliver at once: every answered inquiry reaches the MVNO AP;
/// when the one delivering stops, the other takes the stream over.
#[actix_web::test]
async fn two_instances_share_the_stream_and_one_takes_over_when_the_other_goes() {
    let sim = standalone_simulator();
    let a = stream_app(&sim).await;
    let b = a.spawn_peer().await;
    let (ta, tb) = (a.login("user01").await, b.login("user04").await);
    let m = months();
    let on_a = async {
        let mut ids = Vec::new();
        for month in &m[..6] {
            let r = inquire(&a, &ta.access, "01012345001", month).await;
            ids.push(r["requestId"].as_str().unwrap().to_string());
        }
        ids
    };
    let on_b = async {
        let mut ids = Vec::new();
        for month in &m[..6] {
            let r = inquire(&b, &tb.access, "01012345004", month).await;
            ids.push(r["requestId"].as_str().unwrap().to_string());
        }
        ids
    };
    let (mut ids, more) = futures_util::future::join(on_a, on_b).await;
    ids.extend(more);
    eventually(WITHIN, "all twelve delivered", || {
        all_received(&a, &sim, &ids)
    })
    .await;
    // One instance holds the stream; stop it and go on with the other.
    let holder_a = a.admin_actors().await["mvnoNotifier"]["streamHolder"] == true;
    let holder_b = b.admin_actors().await["mvnoNotifier"]["streamHolder"] == true;
    assert!(holder_a ^ holder_b, "exactly one instance holds the stream");
    let (gone, left, token) = if holder_a {
        (&a, &b, &tb)
    } else {
        (&b, &a, &ta)
    };
    gone.stop().await;
    let line = if holder_a {
        "01012345004"
    } else {
        "01012345001"
    };
    let mut after = Vec::new();
    for month in &m[6..9] {
        let r = inquire(left, &token.access, line, month).await;
        after.push(r["requestId"].as_str().unwrap().to_string());
    }
    eventually(
        WITHIN,
        "the other instance delivers after the holder stopped",
        || all_received(left, &sim, &after),
    )
    .await;
    assert_eq!(
        left.admin_actors().await["mvnoNotifier"]["streamHolder"],
        true
    );
    // Every answered inquiry of both instances, and nothing else, went to the MVNO AP.
    ids.extend(after);
    let seen = bill_results(left, &sim).await;
    let sent: HashSet<&String> = seen.keys().collect();
    assert_eq!(sent, ids.iter().collect::<HashSet<_>>());
    assert_eq!(
        left.number("SELECT count(*) AS n FROM bill_inquiry_history WHERE snapshot_id IS NOT NULL")
            .await,
        15
    );
}
