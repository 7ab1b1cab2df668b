//! The actor foundation: the admin view, panics survived, full mailboxes shed as 503.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, eventually, spawn_app, spawn_app_with, PASSWORD};

fn kind<'a>(actors: &'a Value, name: &str) -> &'a Value {
    actors["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == name)
        .unwrap_or_else(|| panic!("kind {name} missing: {actors}"))
}

#[actix_web::test]
async fn admin_sees_every_actor_kind_with_its_mailboxes() {
    let app = spawn_app().await;
    let view = app.admin_actors().await;
    let session = kind(&view, "session");
    assert_eq!(session["shards"], app.settings.actors.session.shards);
    let shards = session["perShard"].as_array().unwrap();
    assert_eq!(shards.len(), app.settings.actors.session.shards);
    assert_eq!(
        shards[0]["mailboxCapacity"],
        app.settings.actors.session.mailbox
    );
    // Shards are spread over both arbiters.
    let arbiters: std::collections::BTreeSet<u64> = shards
        .iter()
        .map(|s| s["arbiter"].as_u64().unwrap())
        .collect();
    assert_eq!(arbiters.len(), 2);
    // The login that fetched this view went through the session and account actors.
    assert!(session["processed"].as_u64().unwrap() >= 1, "{session}");
    assert!(kind(&view, "account")["processed"].as_u64().unwrap() >= 1);
    assert!(view["passwordHasher"]["capacity"].as_u64().unwrap() >= 1);

    let user = app.login("user01").await;
    let res = app.get("/admin/actors", Some(&user.access)).await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
}

/// Requests of the stream answered after each replacement starts, before the next panic.
const STREAM_AFTER_EACH: usize = 7;

const WITHIN: Duration = Duration::from_secs(10);

const KINDS: [&str; 13] = [
    "session",
    "session_front",
    "account",
    "cache",
    "cache_front",
    "history",
    "products",
    "reconciler",
    "kos",
    "notifier",
    "wallet",
    "shop",
    "coupon",
];

#[actix_web::test]
async fn a_panicking_actor_is_replaced_and_the_service_keeps_answering() {
    let app = std::rc::Rc::new(
        spawn_app_with(|s| {
            s.actors.session.shards = 1;
            s.actors.account.shards = 1;
            s.actors.cache.shards = 1;
            s.actors.products.shards = 1;
            s.actors.wallet.shards = 1;
            s.actors.shop.shards = 1;
            s.actors.coupon.shards = 1;
        })
        .await,
    );
    let admin = app.login("admin").await;
    let user = app.login("user01").await;
    // A steady stream of inquiries while every kind of actor panics in turn.
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let statuses = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let stream = {
        let (app, stop, statuses, token) = (
            app.clone(),
            stop.clone(),
            statuses.clone(),
            user.access.clone(),
        );
        actix_web::rt::spawn(async move {
            while !stop.get() {
                let res = app
                    .post_json("/api/v1/bills/inquiry", &json!({}), Some(&token))
                    .await;
                statuses.borrow_mut().push(res.status());
            }
        })
    };
    for actor in KINDS {
        let res = app
            .post_json(
                &format!("/admin/faults/panic?actor={actor}"),
                &json!({}),
                Some(&admin.access),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["panicked"], true, "{body}");
        // Its replacement is in place, and the stream goes on through it for a few requests
        // before the next kind panics.
        eventually(WITHIN, &format!("a replacement {actor} actor"), || async {
            app.actors
                .snapshot()
                .await
                .actors
                .iter()
                .any(|k| k.kind == actor && k.restarts >= 1)
        })
        .await;
        let seen = statuses.borrow().len();
        eventually(
            WITHIN,
            &format!("{STREAM_AFTER_EACH} requests of the stream after the {actor} panic"),
            || async { statuses.borrow().len() >= seen + STREAM_AFTER_EACH },
        )
        .await;
    }
    stop.set(true);
    stream.await.unwrap();
    let statuses = statuses.borrow().clone();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    eprintln!(
        "{} inquiries while {} actors panicked: {ok} answered 200, the rest {:?}",
        statuses.len(),
        KINDS.len(),
        statuses
            .iter()
            .filter(|s| **s != StatusCode::OK)
            .collect::<Vec<_>>()
    );
    // Nothing but answers or a clean 503 for the request caught in a dying actor.
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE));
    // At most the one request caught in each dying actor is refused.
    assert!(
        statuses.len() >= 50,
        "only {} requests in the stream",
        statuses.len()
    );
    assert!(
        statuses.len() - ok <= KINDS.len(),
        "{ok} of {}",
        statuses.len()
    );
    // With one shard each, these requests can only be served by the replacement actors.
    assert_eq!(app.verify(&user.access).await, StatusCode::OK);
    app.login("user02").await;
    let res = app
        .post_json("/api/v1/bills/inquiry", &json!({}), Some(&user.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The store's replacements answer too.
    let res = app.get("/api/v1/store/points", Some(&user.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get("/api/v1/store/products", Some(&user.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_json(
            "/api/v1/store/coupons",
            &json!({ "couponCode": "WELCOME" }),
            Some(&user.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get("/admin/actors", Some(&admin.access)).await;
    let view: Value = res.json().await.unwrap();
    for actor in KINDS {
        assert_eq!(kind(&view, actor)["restarts"], 1, "{actor}");
    }
    // The replacements work: the gateway answers, the notifier reports.
    assert_eq!(view["kosGateway"]["readBreaker"]["state"], "CLOSED");
    assert!(view["mvnoNotifier"]["pending"].is_number());
}

#[actix_web::test]
async fn fault_injection_is_off_unless_configured() {
    let app = spawn_app_with(|s| s.admin.fault_injection = false).await;
    let admin = app.login("admin").await;
    let res = app
        .post_json(
            "/admin/faults/panic?actor=session",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[actix_web::test]
async fn unknown_actor_kind_is_400() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let res = app
        .post_json(
            "/admin/faults/panic?actor=bogus",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
}

#[actix_web::test]
async fn a_full_mailbox_is_shed_as_503_with_retry_after_never_500() {
    let app = spawn_app_with(|s| {
        s.actors.account.shards = 1;
        s.actors.account.mailbox = 2;
    })
    .await;
    let attempts = (0..24).map(|_| app.post_login("user01", PASSWORD));
    let responses = futures_util::future::join_all(attempts).await;
    let mut ok = 0;
    let mut shed = 0;
    for res in responses {
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(res.headers().get("retry-after").is_some());
                assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;
                shed += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1, "some logins succeed");
    assert!(shed >= 1, "excess logins are shed");
    let view = app.admin_actors().await;
    assert!(kind(&view, "account")["rejected"].as_u64().unwrap() >= shed);
}

#[actix_web::test]
async fn a_login_storm_beyond_the_hashing_queue_is_shed_as_503() {
    let app = spawn_app_with(|s| {
        s.auth.hash_concurrency = 1;
        s.auth.hash_queue = 1;
    })
    .await;
    phonebill::seed::run(&app.settings, 16).await.unwrap();
    let users: Vec<String> = (1..=16).map(|n| format!("load{n:05}")).collect();
    let attempts = users.iter().map(|u| app.post_login(u, PASSWORD));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK));
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE));
}
