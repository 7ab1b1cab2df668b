//! KOS faults under a steady stream of requests: every mode the simulator has, one after
//! another, while clients keep asking for bills KOS must be called for. Nobody waits longer
//! than the time-out, nobody gets a 500, the breaker opens and the service recovers by itself.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app_with, TestApp};
use crate::kos::{kos_settings, INQUIRY_TIMEOUT_MS};

#[derive(Debug, Clone)]
struct Answered {
    client: u32,
    phase: &'static str,
    status: StatusCode,
    took: Duration,
    retry_after: bool,
}

/// One client: new lines of the generated range (a KOS call each, through the cache) until
/// told to stop, recording every answer with the phase it was sent in.
async fn client(
    app: Rc<TestApp>,
    token: String,
    id: u32,
    phase: Rc<RefCell<&'static str>>,
    log: Rc<RefCell<Vec<Answered>>>,
) {
    let month = phonebill::simulator::data::available_months()[0].clone();
    let mut line = id * 100_000;
    while *phase.borrow() != "stop" {
        line += 1;
        let sent_in = *phase.borrow();
        let started = Instant::now();
        let res = app
            .post_json(
                "/api/v1/bills/inquiry",
                &json!({ "lineNumber": format!("0105{line:07}"), "inquiryMonth": month }),
                Some(&token),
            )
            .await;
        log.borrow_mut().push(Answered {
            client: id,
            phase: sent_in,
            status: res.status(),
            took: started.elapsed(),
            retry_after: res.headers().contains_key("retry-after"),
        });
    }
}

async fn read_breaker(app: &TestApp, token: &str) -> Value {
    let res = app.get("/admin/actors", Some(token)).await;
    let view: Value = res.json().await.unwrap();
    view["kosGateway"]["readBreaker"].clone()
}

const CLIENTS: u32 = 4;

/// Waits until the service has recovered by itself in `phase`: the breaker is closed and
/// every client has had a bill it asked for in this phase (so nothing sent before it is
/// still under way).
async fn until_recovered(
    app: &TestApp,
    token: &str,
    phase: &'static str,
    log: &RefCell<Vec<Answered>>,
) {
    eventually(
        Duration::from_secs(20),
        &format!("the breaker closed and every client answered in {phase}"),
        || async {
            let answered = |c: u32| {
                log.borrow()
                    .iter()
                    .any(|a| a.client == c && a.phase == phase && a.status == StatusCode::OK)
            };
            (0..CLIENTS).all(answered) && read_breaker(app, token).await["state"] == "CLOSED"
        },
    )
    .await;
}

#[actix_web::test]
async fn every_kos_fault_under_a_steady_stream_costs_no_500_and_no_wait_beyond_the_time_out() {
    let app = Rc::new(spawn_app_with(kos_settings).await);
    let admin = app.login("admin").await;
    let phase = Rc::new(RefCell::new("normal"));
    let log = Rc::new(RefCell::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            actix_web::rt::spawn(client(
                app.clone(),
                admin.access.clone(),
                i,
                phase.clone(),
                log.clone(),
            ))
        })
        .collect();

    let flap = |mode: &'static str| json!({ "mode": mode, "endpoint": "bill-inquiry" });
    let normal = || json!({ "mode": "normal", "latencyMs": 0 });
    // How long each phase lasts: `Some(ms)`, a fault (or the calm before them) held that
    // long under the stream, which is what the test is about; `None`, a recovery, over
    // once the service has recovered by itself.
    let steps: Vec<(&'static str, Value, Option<u64>)> = vec![
        ("normal", normal(), Some(600)),
        ("down", flap("down"), Some(1500)),
        ("recover-1", normal(), None),
        ("hang", flap("hang"), Some(1500)),
        ("recover-2", normal(), None),
        ("error", flap("error"), Some(1500)),
        ("recover-3", normal(), None),
        (
            "half-fail",
            json!({ "mode": "normal", "failureRate": 0.5, "endpoint": "bill-inquiry" }),
            Some(2000),
        ),
    ];
    let mut opened_in = Vec::new();
    for (name, fault, hold) in steps {
        // The phase is named first, so nothing sent after the fault counts in the one before.
        *phase.borrow_mut() = name;
        app.kos_fault(fault).await;
        let before = read_breaker(&app, &admin.access).await["transitions"]
            .as_u64()
            .unwrap_or(0);
        match hold {
            Some(ms) => actix_web::rt::time::sleep(Duration::from_millis(ms)).await,
            None => until_recovered(&app, &admin.access, name, &log).await,
        }
        let after = read_breaker(&app, &admin.access).await["transitions"]
            .as_u64()
            .unwrap_or(0);
        if after > before {
            opened_in.push(name);
        }
    }
    // Flapping: down and up every 300 ms for 3 s (the rhythm is the fault).
    *phase.borrow_mut() = "flapping";
    for i in 0..10 {
        let mode = if i % 2 == 0 { "down" } else { "normal" };
        app.kos_fault(json!({ "mode": mode, "latencyMs": 0 })).await;
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
    *phase.borrow_mut() = "settling";
    app.kos_fault(normal()).await;
    until_recovered(&app, &admin.access, "settling", &log).await;
    // A phase of fixed length under the stream, every answer of which must be a bill.
    *phase.borrow_mut() = "recovered";
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    *phase.borrow_mut() = "stop";
    for c in clients {
        c.await.unwrap();
    }

    let log = log.borrow().clone();
    let count = |phase: &str, ok: bool| {
        log.iter()
            .filter(|a| a.phase == phase && (a.status == StatusCode::OK) == ok)
            .count()
    };
    let summary: Vec<String> = [
        "normal",
        "down",
        "hang",
        "error",
        "half-fail",
        "flapping",
        "recovered",
    ]
    .iter()
    .map(|p| format!("{p}: {} ok / {} refused", count(p, true), count(p, false)))
    .collect();
    let slowest = log.iter().map(|a| a.took).max().unwrap();
    eprintln!(
        "KOS faults under a steady stream: {}; slowest answer {slowest:?}",
        summary.join(", ")
    );

    // Only two answers exist: the bill, or 503 with Retry-After. Never a 500.
    for a in log.iter() {
        assert!(
            a.status == StatusCode::OK
                || (a.status == StatusCode::SERVICE_UNAVAILABLE && a.retry_after),
            "{a:?}"
        );
    }
    // No one waited beyond the inquiry time-out (plus scheduling slack on a busy CI machine).
    assert!(
        slowest < Duration::from_millis(INQUIRY_TIMEOUT_MS + 1100),
        "slowest answer took {slowest:?}"
    );
    // The breaker opened under each kind of failure, so most were refused fast.
    for p in ["down", "hang", "error"] {
        assert!(
            opened_in.contains(&p),
            "breaker did not move during {p}: {opened_in:?}"
        );
        assert!(count(p, false) > 0, "{p}: nothing refused");
    }
    // Half the calls failing keeps tripping it; some bills still get through.
    assert!(count("half-fail", false) > 0 && count("half-fail", true) > 0);
    // Before any fault all are answered, but for the one each client may have had in flight
    // when KOS went down.
    assert!(
        count("normal", true) > 0 && count("normal", false) <= 4,
        "{summary:?}"
    );
    // Recovered by itself: the breaker is closed and every request after it is answered.
    assert!(count("recovered", true) >= 4, "{summary:?}");
    assert_eq!(count("recovered", false), 0, "{summary:?}");
    assert_eq!(read_breaker(&app, &admin.access).await["state"], "CLOSED");
}
