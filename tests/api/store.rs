//! The membership store: points wallet, shop and admin products (SPEC section 9).

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

async fn db(app: &TestApp) -> AsyncPgConnection {
    AsyncPgConnection::establish(app.settings.database.url.expose_secret())
        .await
        .unwrap()
}

#[derive(diesel::QueryableByName)]
struct Num {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn number(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Num>(conn)
        .await
        .unwrap()
        .n
}

async fn charge(app: &TestApp, token: &str, amount: Value, key: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/store/points/charge"))
        .bearer_auth(token)
        .json(&json!({ "amount": amount }));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let body: Value = app
        .get("/api/v1/store/points", Some(token))
        .await
        .json()
        .await
        .unwrap();
    body["data"]["balance"].as_i64().unwrap()
}

/// Every wallet equals the sum of its ledger (CHARGE and RESTORE add, USE subtracts).
async fn assert_ledger_balances(conn: &mut AsyncPgConnection) {
    let off = number(
        conn,
        "SELECT count(*) AS n FROM store_wallets w WHERE w.balance <> COALESCE((SELECT sum(CASE kind WHEN 'USE' THEN -amount ELSE amount END) FROM store_ledger l WHERE l.user_id = w.user_id), 0)",
    )
    .await;
    assert_eq!(off, 0, "a wallet differs from the sum of its ledger");
}

#[actix_web::test]
async fn seed_demo_gives_user01_its_points_and_a_shop_once() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    assert_eq!(balance(&app, &t.access).await, 50_000);
    let shop: Value = app
        .get("/api/v1/store/products?size=100", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    let items = shop["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 10, "{shop}");
    assert!(items.iter().any(|p| p["stock"].as_i64().unwrap() <= 5));
    // Again: nothing more.
    let again = phonebill::seed::run(&app.settings, 0).await.unwrap();
    assert_eq!(again.store.products_created, 0);
    assert!(!again.store.points_given);
    assert_eq!(balance(&app, &t.access).await, 50_000);
    let mut conn = db(&app).await;
    assert_eq!(
        number(&mut conn, "SELECT count(*) AS n FROM store_products").await,
        10
    );
    assert_ledger_balances(&mut conn).await;
}

#[actix_web::test]
async fn charges_follow_the_four_rules_in_order() {
    let app = spawn_app().await;
    let t = app.login("user02").await;
    for (amount, reason) in [
        (json!(995), "UNIT"),
        (json!(990), "MINIMUM"),
        (json!(0), "MINIMUM"),
        (json!(-1000), "MINIMUM"),
        (json!(100_010), "MAXIMUM_PER_CHARGE"),
    ] {
        let body = assert_error(
            charge(&app, &t.access, amount.clone(), None).await,
            StatusCode::BAD_REQUEST,
            "INVALID_CHARGE_AMOUNT",
        )
        .await;
        assert_eq!(
            body["error"]["details"]["reason"], reason,
            "{amount}: {body}"
        );
        assert_eq!(body["message"], "유효하지 않은 충전 금액입니다.");
    }
    // Not an integer at all: a plain input error, never a 500.
    for amount in [json!("1000"), json!(1000.5), json!(null)] {
        let res = charge(&app, &t.access, amount, None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    // Never charged: zero, no time.
    let body: Value = app
        .get("/api/v1/store/points", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["balance"], 0);
    assert!(body["data"]["updatedAt"].is_null());

    let res = charge(&app, &t.access, json!(10_000), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["charged"], 10_000);
    assert_eq!(body["data"]["balance"], 10_000);
    assert!(body["data"]["transactionId"].as_str().unwrap().len() >= 32);

    // At the cap: exactly 10,000,000 is allowed, one won more is not.
    let mut conn = db(&app).await;
    diesel::sql_query(
        "INSERT INTO store_ledger (transaction_id, user_id, kind, amount, balance_after) \
         VALUES (gen_random_uuid(), 'user02', 'CHARGE', 9980000, 9990000)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("UPDATE store_wallets SET balance = 9990000 WHERE user_id = 'user02'")
        .execute(&mut conn)
        .await
        .unwrap();
    let body = assert_error(
        charge(&app, &t.access, json!(10_010), None).await,
        StatusCode::BAD_REQUEST,
        "INVALID_CHARGE_AMOUNT",
    )
    .await;
    assert_eq!(body["error"]["details"]["reason"], "BALANCE_LIMIT");
    let res = charge(&app, &t.access, json!(10_000), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(balance(&app, &t.access).await, 10_000_000);
    let body = assert_error(
        charge(&app, &t.access, json!(1_000), None).await,
        StatusCode::BAD_REQUEST,
        "INVALID_CHARGE_AMOUNT",
    )
    .await;
    assert_eq!(body["error"]["details"]["reason"], "BALANCE_LIMIT");
    assert_eq!(balance(&app, &t.access).await, 10_000_000);
    assert_ledger_balances(&mut conn).await;
}

#[actix_web::test]
async fn a_charge_retried_with_its_key_is_answered_again_and_charged_once() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    let t = app.login("user03").await;
    let first = charge(&app, &t.access, json!(5_000), Some("charge-1")).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    // The retry on the other instance: the same answer, flagged, no second charge.
    let again = charge(&peer, &t.access, json!(5_000), Some("charge-1")).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"], first["data"]);
    assert_eq!(balance(&app, &t.access).await, 5_000);
    // The same key with another amount.
    assert_error(
        charge(&app, &t.access, json!(6_000), Some("charge-1")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    // Ten parallel requests with one new key, across both instances: one charge.
    let sends = (0..10).map(|i| {
        let target = if i % 2 == 0 { &app } else { &peer };
        charge(target, &t.access, json!(1_000), Some("charge-burst"))
    });
    let answers = futures_util::future::join_all(sends).await;
    let mut ok = 0;
    for res in answers {
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "DUPLICATE_REQUEST", "{body}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1);
    assert_eq!(balance(&app, &t.access).await, 6_000, "charged once");
    let mut conn = db(&app).await;
    assert_eq!(
        number(
            &mut conn,
            "SELECT count(*) AS n FROM store_ledger WHERE user_id = 'user03'"
        )
        .await,
        2
    );
    assert_ledger_balances(&mut conn).await;
    // A malformed key is refused before anything is charged.
    let res = charge(&app, &t.access, json!(1_000), Some("bad key")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(balance(&app, &t.access).await, 6_000);
}

#[actix_web::test]
async fn the_ledger_lists_newest_first_and_cannot_be_rewritten() {
    let app = spawn_app().await;
    let t = app.login("user05").await;
    for amount in [1_000, 2_000, 3_000] {
        assert_eq!(
            charge(&app, &t.access, json!(amount), None).await.status(),
            StatusCode::OK
        );
    }
    let page: Value = app
        .get("/api/v1/store/points/history?size=2", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    let items = page["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["amount"], 3_000);
    assert_eq!(items[0]["balanceAfter"], 6_000);
    assert_eq!(items[0]["type"], "CHARGE");
    assert_eq!(items[1]["amount"], 2_000);
    assert_eq!(page["data"]["pagination"]["totalItems"], 3);
    assert_eq!(page["data"]["pagination"]["hasNext"], true);
    let uses: Value = app
        .get("/api/v1/store/points/history?type=USE", Some(&t.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(uses["data"]["items"].as_array().unwrap().len(), 0);
    let res = app
        .get("/api/v1/store/points/history?type=GIFT", Some(&t.access))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .get("/api/v1/store/points/history?page=0", Some(&t.access))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Another user sees only their own ledger.
    let other = app.login("user04").await;
    let theirs: Value = app
        .get("/api/v1/store/points/history", Some(&other.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"]["items"].as_array().unwrap().len(), 0);
    // The database refuses to rewrite history.
    let mut conn = db(&app).await;
    assert!(diesel::sql_query("UPDATE store_ledger SET amount = 1")
        .execute(&mut conn)
        .await
        .is_err());
    assert!(diesel::sql_query("DELETE FROM store_ledger")
        .execute(&mut conn)
        .await
        .is_err());
    assert!(
        diesel::sql_query("UPDATE store_wallets SET balance = -1 WHERE user_id = 'user05'")
            .execute(&mut conn)
            .await
            .is_err(),
        "a negative balance is refused"
    );
}

#[actix_web::test]
async fn the_shop_lists_and_finds_products_and_admin_changes_them() {
    let app = spawn_app().await;
    let user = app.login("user01").await;
    let admin = app.login("admin").await;
    let page: Value = app
        .get("/api/v1/store/products?page=2&size=3", Some(&user.access))
        .await
        .json()
        .await
        .unwrap();
    let items = page["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(page["data"]["pagination"]["totalItems"], 10);
    let id = items[0]["productId"].as_i64().unwrap();
    let one: Value = app
        .get(&format!("/api/v1/store/products/{id}"), Some(&user.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["data"], items[0]);
    for bad in ["abc", "0", "-1", "999999", "1.5"] {
        assert_error(
            app.get(&format!("/api/v1/store/products/{bad}"), Some(&user.access))
                .await,
            StatusCode::NOT_FOUND,
            "PRODUCT_NOT_FOUND",
        )
        .await;
    }

    // Admin only.
    let new =
        json!({ "name": "테스트 텀블러", "price": 12_000, "stock": 7, "description": "시험용" });
    let res = app
        .post_json("/api/v1/store/admin/products", &new, Some(&user.access))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .post_json("/api/v1/store/admin/products", &new, Some(&admin.access))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["data"]["name"], "테스트 텀블러");
    assert_eq!(created["data"]["stock"], 7);
    let pid = created["data"]["productId"].as_i64().unwrap();
    for (body, field) in [
        (json!({ "price": 1000, "stock": 1 }), "name"),
        (json!({ "name": "x", "price": 0, "stock": 1 }), "price"),
        (json!({ "name": "x", "price": 1.5, "stock": 1 }), "price"),
        (json!({ "name": "x", "price": 100, "stock": -1 }), "stock"),
        (json!({ "name": " ", "price": 100, "stock": 1 }), "name"),
    ] {
        let res = app
            .post_json("/api/v1/store/admin/products", &body, Some(&admin.access))
            .await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
        assert!(
            err["fieldErrors"].get(field).is_some() || err["error"]["details"].get(field).is_some(),
            "{body}: {err}"
        );
    }
    // A change: relative stock, new price; others see it at once on any instance.
    let peer = app.spawn_peer().await;
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/store/admin/products/{pid}")))
        .bearer_auth(&admin.access)
        .json(&json!({ "price": 13_000, "addStock": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen: Value = peer
        .get(&format!("/api/v1/store/products/{pid}"), Some(&user.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["data"]["price"], 13_000);
    assert_eq!(seen["data"]["stock"], 12);
    let res = app
        .client
        .patch(app.url("/api/v1/store/admin/products/999999"))
        .bearer_auth(&admin.access)
        .json(&json!({ "addStock": 1 }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND").await;
    let mut conn = db(&app).await;
    assert_eq!(
        number(
            &mut conn,
            &format!("SELECT stocked::bigint AS n FROM store_products WHERE product_id = {pid}")
        )
        .await,
        12,
        "every unit ever put on sale is counted"
    );
}

#[actix_web::test]
async fn the_store_needs_a_login() {
    let app = spawn_app().await;
    for path in ["/api/v1/store/points", "/api/v1/store/products"] {
        assert_eq!(app.get(path, None).await.status(), StatusCode::UNAUTHORIZED);
    }
}
