//! The membership store: orders paid with points, duplicate-payment prevention, pending
//! orders and their recovery, popular products, the audit (SPEC section 9).

use std::time::Duration;

use diesel_async::RunQueryDsl;
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{assert_error, eventually, poll_until, spawn_app, spawn_app_with, TestApp};

async fn execute(app: &TestApp, sql: &str) {
    diesel::sql_query(sql)
        .execute(&mut app.db().await)
        .await
        .unwrap();
}

/// `phonebill store-audit` as an operator runs it: its exit status and output.
pub fn store_audit(app: &TestApp) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_phonebill"))
        .arg("store-audit")
        .env(
            "PHONEBILL_CONFIG",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"),
        )
        .env(
            "PHONEBILL__DATABASE__URL",
            app.settings.database.url.expose_secret(),
        )
        .env("PHONEBILL__LOG__LEVEL", "warn")
        .output()
        .expect("phonebill store-audit runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn assert_audit_clean(app: &TestApp) {
    let (ok, text) = store_audit(app);
    assert!(ok, "store-audit found violations:\n{text}");
    assert!(text.contains("none violated"), "{text}");
}

async fn order_with(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/store/orders"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    req.send().await.unwrap()
}

async fn order(app: &TestApp, token: &str, key: &str, body: &Value) -> Response {
    order_with(app, token, Some(key), body).await
}

fn items(product: i64, quantity: i64) -> Value {
    json!({ "items": [{ "productId": product, "quantity": quantity }] })
}

async fn data(res: Response) -> Value {
    let body: Value = res.json().await.unwrap();
    body["data"].clone()
}

async fn charge(app: &TestApp, token: &str, amount: i64) {
    let res = app
        .post_json(
            "/api/v1/store/points/charge",
            &json!({ "amount": amount }),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    data(app.get("/api/v1/store/points", Some(token)).await).await["balance"]
        .as_i64()
        .unwrap()
}

/// A product made by `admin`: its id.
async fn product(app: &TestApp, admin: &str, name: &str, price: i64, stock: i64) -> i64 {
    let res = app
        .post_json(
            "/api/v1/store/admin/products",
            &json!({ "name": name, "price": price, "stock": stock, "description": "" }),
            Some(admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["data"]["productId"].as_i64().unwrap()
}

async fn stock(app: &TestApp, token: &str, id: i64) -> i64 {
    data(
        app.get(&format!("/api/v1/store/products/{id}"), Some(token))
            .await,
    )
    .await["stock"]
        .as_i64()
        .unwrap()
}

/// A campaign `code` of `off` won off orders of at least `min`, and a coupon of it for
/// `token`'s user: the coupon's id.
async fn coupon(app: &TestApp, admin: &str, token: &str, code: &str, off: i64, min: i64) -> i64 {
    let now = chrono::Utc::now();
    let res = app
        .post_json(
            "/api/v1/store/admin/coupons",
            &json!({
                "code": code, "name": format!("{code} 쿠폰"), "discountType": "AMOUNT",
                "discountValue": off, "minOrderAmount": min, "totalQuantity": 100,
                "issueStartsAt": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "issueEndsAt": (now + chrono::Duration::days(1)).to_rfc3339(),
                "validDays": 7,
            }),
            Some(admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post_json(
            "/api/v1/store/coupons",
            &json!({ "couponCode": code }),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    data(res).await["couponId"].as_i64().unwrap()
}

async fn coupon_status(app: &TestApp, token: &str, id: i64) -> String {
    let list = data(app.get("/api/v1/store/coupons", Some(token)).await).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["couponId"] == id)
        .map(|c| c["status"].as_str().unwrap().to_string())
        .unwrap()
}

async fn get_order(app: &TestApp, token: &str, id: &str) -> Response {
    app.get(&format!("/api/v1/store/orders/{id}"), Some(token))
        .await
}

async fn arm(app: &TestApp, admin: &str, step: &str, count: u32) -> Response {
    app.post_json(
        "/admin/faults/store",
        &json!({ "step": step, "count": count }),
        Some(admin),
    )
    .await
}

#[actix_web::test]
async fn an_order_takes_the_coupon_first_then_the_balance_and_is_listed() {
    let app = spawn_app().await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    let other = app.login("user03").await.access;
    charge(&app, &user, 30_000).await;
    let p = product(&app, &admin, "주문 상품", 7_000, 10).await;
    let q = product(&app, &admin, "두번째 상품", 1_500, 10).await;
    let c = coupon(&app, &admin, &user, "ORDER3K", 3_000, 10_000).await;

    let body = json!({ "items": [{ "productId": q, "quantity": 2 }, { "productId": p, "quantity": 1 }],
                       "couponId": c });
    let res = order(&app, &user, "first-order", &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let full: Value = res.json().await.unwrap();
    assert_eq!(full["message"], "결제가 완료되었습니다.");
    let paid = full["data"].clone();
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["totalAmount"], 10_000);
    assert_eq!(paid["discountAmount"], 3_000);
    assert_eq!(paid["paidAmount"], 7_000);
    assert_eq!(paid["balanceAfter"], 23_000);
    assert_eq!(paid["couponId"], c);
    assert!(paid["paidAt"].is_string() && paid["createdAt"].is_string());
    // Lines in product order, each with its amount.
    assert_eq!(paid["items"][0]["productId"], p);
    assert_eq!(paid["items"][0]["amount"], 7_000);
    assert_eq!(paid["items"][1]["productId"], q);
    assert_eq!(paid["items"][1]["unitPrice"], 1_500);
    assert_eq!(paid["items"][1]["amount"], 3_000);
    let id = paid["orderId"].as_str().unwrap().to_string();

    // Stock, coupon and balance all taken.
    assert_eq!(stock(&app, &user, p).await, 9);
    assert_eq!(stock(&app, &user, q).await, 8);
    assert_eq!(coupon_status(&app, &user, c).await, "USED");
    assert_eq!(balance(&app, &user).await, 23_000);
    let ledger = data(
        app.get("/api/v1/store/points/history?type=USE", Some(&user))
            .await,
    )
    .await;
    assert_eq!(ledger["items"][0]["amount"], 7_000);
    assert_eq!(ledger["items"][0]["orderId"], id.as_str());

    // Read back by its owner and ADMIN; anyone else is told it does not exist.
    let mine = data(get_order(&app, &user, &id).await).await;
    assert_eq!(mine["status"], "PAID");
    assert_eq!(mine["reason"], Value::Null);
    assert_eq!(mine["paidAmount"], 7_000);
    assert!(mine["settledAt"].is_string());
    assert_eq!(get_order(&app, &admin, &id).await.status(), StatusCode::OK);
    assert_error(
        get_order(&app, &other, &id).await,
        StatusCode::NOT_FOUND,
        "ORDER_NOT_FOUND",
    )
    .await;
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        assert_error(
            get_order(&app, &user, bad).await,
            StatusCode::NOT_FOUND,
            "ORDER_NOT_FOUND",
        )
        .await;
    }

    // A coupon that covers everything: nothing to pay, no ledger entry.
    let free = coupon(&app, &admin, &user, "ALLFREE", 50_000, 0).await;
    let res = order(
        &app,
        &user,
        "free",
        &json!({ "items": [{ "productId": q, "quantity": 1 }], "couponId": free }),
    )
    .await;
    let free_order = data(res).await;
    assert_eq!(
        (
            free_order["discountAmount"].clone(),
            free_order["paidAmount"].clone()
        ),
        (json!(1_500), json!(0))
    );
    assert_eq!(free_order["balanceAfter"], 23_000);

    let list = data(app.get("/api/v1/store/orders", Some(&user)).await).await;
    assert_eq!(list["pagination"]["totalItems"], 2);
    assert_eq!(list["items"][1]["orderId"], id.as_str());
    let paid_only = data(
        app.get(
            "/api/v1/store/orders?status=PAID&size=1&page=2",
            Some(&user),
        )
        .await,
    )
    .await;
    assert_eq!(paid_only["items"][0]["orderId"], id.as_str());
    assert_eq!(paid_only["pagination"]["totalItems"], 2);
    let none = data(
        app.get("/api/v1/store/orders?status=FAILED", Some(&user))
            .await,
    )
    .await;
    assert_eq!(none["pagination"]["totalItems"], 0);
    assert_error(
        app.get("/api/v1/store/orders?status=LOST", Some(&user))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
    )
    .await;
    let theirs = data(app.get("/api/v1/store/orders", Some(&other)).await).await;
    assert_eq!(theirs["pagination"]["totalItems"], 0);
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn refusals_come_in_spec_order_are_recorded_failed_and_hold_nothing() {
    let app = spawn_app().await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    let other = app.login("user03").await.access;
    charge(&app, &user, 10_000).await;
    let p = product(&app, &admin, "귀한 상품", 4_000, 2).await;
    let c = coupon(&app, &admin, &user, "MIN20K", 1_000, 20_000).await;

    // Coupon, stock and balance all wrong: the coupon is named.
    let all_wrong = json!({ "items": [{ "productId": p, "quantity": 3 }], "couponId": c });
    let res = order(&app, &user, "r1", &all_wrong).await;
    let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_COUPON").await;
    assert_eq!(err["message"], "쿠폰이 유효하지 않습니다.");
    assert_eq!(err["error"]["details"]["reason"], "MIN_ORDER_AMOUNT");
    // Stock and balance wrong (12,000 > 10,000): the stock is named.
    let res = order(&app, &user, "r2", &items(p, 3)).await;
    let err = assert_error(res, StatusCode::CONFLICT, "INSUFFICIENT_STOCK").await;
    assert_eq!(err["message"], "일부 상품의 재고가 부족합니다.");
    assert_eq!(
        err["error"]["details"]["items"],
        json!([{ "productId": p, "requested": 3, "available": 2 }])
    );
    // Only the balance.
    let rich = product(&app, &admin, "비싼 상품", 11_000, 5).await;
    let res = order(&app, &user, "r3", &items(rich, 1)).await;
    let err = assert_error(res, StatusCode::PAYMENT_REQUIRED, "INSUFFICIENT_BALANCE").await;
    assert_eq!(err["message"], "잔액이 부족합니다.");
    assert_eq!(
        (
            err["error"]["details"]["required"].clone(),
            err["error"]["details"]["balance"].clone()
        ),
        (json!(11_000), json!(10_000))
    );
    // A user who never charged has a balance of 0.
    let res = order(&app, &other, "r4", &items(p, 1)).await;
    let err = assert_error(res, StatusCode::PAYMENT_REQUIRED, "INSUFFICIENT_BALANCE").await;
    assert_eq!(err["error"]["details"]["balance"], 0);

    // Each coupon reason.
    let theirs = coupon(&app, &admin, &other, "THEIRS", 500, 0).await;
    let expired = coupon(&app, &admin, &user, "OLDONE", 500, 0).await;
    execute(
        &app,
        &format!("UPDATE store_coupons SET expires_at = now() - interval '1 minute' WHERE coupon_id = {expired}"),
    )
    .await;
    let used = coupon(&app, &admin, &user, "USEDUP", 500, 0).await;
    let res = order(
        &app,
        &user,
        "use-it",
        &json!({ "items": [{ "productId": p, "quantity": 1 }], "couponId": used }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    for (key, coupon_id, reason) in [
        ("c1", 999_999, "NOT_FOUND"),
        ("c2", theirs, "NOT_OWNED"),
        ("c3", expired, "EXPIRED"),
        ("c4", used, "USED"),
    ] {
        let res = order(
            &app,
            &user,
            key,
            &json!({ "items": [{ "productId": p, "quantity": 1 }], "couponId": coupon_id }),
        )
        .await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_COUPON").await;
        assert_eq!(err["error"]["details"]["reason"], reason, "{key}");
    }

    // Nothing is held: stock, balance and coupons as they were after the one paid order.
    assert_eq!(stock(&app, &user, p).await, 1);
    assert_eq!(balance(&app, &user).await, 6_500);
    assert_eq!(coupon_status(&app, &user, c).await, "AVAILABLE");
    assert_eq!(coupon_status(&app, &other, theirs).await, "AVAILABLE");
    // Every refusal is a FAILED order with its reason, the caller's to read.
    let failed = data(
        app.get("/api/v1/store/orders?status=FAILED&size=100", Some(&user))
            .await,
    )
    .await;
    let reasons: Vec<&str> = failed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "INVALID_COUPON",
            "INVALID_COUPON",
            "INVALID_COUPON",
            "INVALID_COUPON",
            "INSUFFICIENT_BALANCE",
            "INSUFFICIENT_STOCK",
            "INVALID_COUPON"
        ]
    );
    assert!(failed["items"][0]["settledAt"].is_string());
    assert_eq!(failed["items"][0]["paidAt"], Value::Null);
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_ledger WHERE kind = 'USE'")
            .await,
        1
    );
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn malformed_orders_are_refused_naming_the_field_and_recorded_nowhere() {
    let app = spawn_app().await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    charge(&app, &user, 10_000).await;
    let p = product(&app, &admin, "상품", 1_000, 10).await;

    let res = order_with(&app, &user, None, &items(p, 1)).await;
    let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    assert!(
        err["error"]["details"]["Idempotency-Key"].is_string(),
        "{err}"
    );
    let long = "k".repeat(256);
    let res = order(&app, &user, &long, &items(p, 1)).await;
    assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;

    let twenty_one: Vec<Value> = (1..=21)
        .map(|i| json!({ "productId": i, "quantity": 1 }))
        .collect();
    for (i, body, field) in [
        (json!({}), "items"),
        (json!({ "items": [] }), "items"),
        (json!({ "items": "many" }), "items"),
        (json!({ "items": twenty_one }), "items"),
        (json!({ "items": [{ "productId": p }] }), "items[0].quantity"),
        (json!({ "items": [{ "productId": p, "quantity": 0 }] }), "items[0].quantity"),
        (json!({ "items": [{ "productId": p, "quantity": 101 }] }), "items[0].quantity"),
        (json!({ "items": [{ "productId": p, "quantity": 1.5 }] }), "items[0].quantity"),
        (json!({ "items": [{ "quantity": 1 }] }), "items[0].productId"),
        (json!({ "items": [{ "productId": "1", "quantity": 1 }] }), "items[0].productId"),
        (json!({ "items": [{ "productId": p, "quantity": 1 }, { "productId": p, "quantity": 2 }] }), "items"),
        (json!({ "items": [{ "productId": p, "quantity": 1 }], "couponId": "x" }), "couponId"),
        (json!({ "items": [{ "productId": p, "quantity": 1 }], "couponId": 0 }), "couponId"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (body, field))| (i, body, field))
    {
        let res = order(&app, &user, &format!("bad-{i}"), &body).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
        assert!(err["error"]["details"][field].is_string(), "{body}: {err}");
    }
    for unknown in [999_999, -1, 0] {
        let res = order(
            &app,
            &user,
            &format!("unknown-{unknown}"),
            &items(unknown, 1),
        )
        .await;
        let err = assert_error(res, StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND").await;
        assert_eq!(err["message"], "상품을 찾을 수 없습니다.");
    }
    let res = app
        .client
        .post(app.url("/api/v1/store/orders"))
        .bearer_auth(&user)
        .header("Idempotency-Key", "broken")
        .header("content-type", "application/json")
        .body("{\"items\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .client
        .post(app.url("/api/v1/store/orders"))
        .header("Idempotency-Key", "anon")
        .json(&items(p, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_orders").await,
        0
    );
    // A key refused for an unknown product is free again.
    let res = order(&app, &user, "unknown-999999", &items(p, 1)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn a_replay_gives_the_first_answer_and_charges_nothing_again() {
    let app = spawn_app().await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    charge(&app, &user, 10_000).await;
    let p = product(&app, &admin, "상품", 3_000, 10).await;

    let first = order(&app, &user, "pay-once", &items(p, 2)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    for _ in 0..3 {
        let again = order(&app, &user, "pay-once", &items(p, 2)).await;
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["data"], first["data"]);
    }
    // Another body under the same key.
    let res = order(&app, &user, "pay-once", &items(p, 1)).await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    // The same lines in another order are the same request.
    let q = product(&app, &admin, "다른 상품", 1_000, 10).await;
    let two =
        json!({ "items": [{ "productId": p, "quantity": 1 }, { "productId": q, "quantity": 1 }] });
    let swapped =
        json!({ "items": [{ "productId": q, "quantity": 1 }, { "productId": p, "quantity": 1 }] });
    assert_eq!(
        order(&app, &user, "two", &two).await.status(),
        StatusCode::OK
    );
    let res = order(&app, &user, "two", &swapped).await;
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    // A refusal is replayed too (and not turned into a payment by a charge in between).
    let res = order(&app, &user, "too-dear", &items(p, 3)).await;
    assert_error(res, StatusCode::PAYMENT_REQUIRED, "INSUFFICIENT_BALANCE").await;
    charge(&app, &user, 50_000).await;
    let res = order(&app, &user, "too-dear", &items(p, 3)).await;
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_error(res, StatusCode::PAYMENT_REQUIRED, "INSUFFICIENT_BALANCE").await;
    // Keys are per user: another user's same key is their own.
    let other = app.login("user03").await.access;
    charge(&app, &other, 10_000).await;
    let res = order(&app, &other, "pay-once", &items(p, 2)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("idempotent-replayed").is_none());

    // 10,000 charged, 6,000 and 4,000 paid, 50,000 charged.
    assert_eq!(balance(&app, &user).await, 50_000);
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_orders WHERE status = 'PAID'")
            .await,
        3
    );
    let stats = app.admin_actors().await;
    assert_eq!(stats["store"]["ordersReplayed"], 5, "{}", stats["store"]);
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn the_same_key_at_two_instances_at_once_makes_one_order() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    charge(&app, &user, 50_000).await;
    let p = product(&app, &admin, "상품", 1_000, 100).await;

    for round in 0..3 {
        let key = format!("double-click-{round}");
        let sends = (0..10).map(|i| {
            let on = if i % 2 == 0 { &app } else { &peer };
            let (key, user) = (key.clone(), user.clone());
            async move {
                let res = order(on, &user, &key, &items(p, 1)).await;
                let replayed = res.headers().contains_key("idempotent-replayed");
                (res.status(), replayed, res.json::<Value>().await.unwrap())
            }
        });
        let answers = futures_util::future::join_all(sends).await;
        let fresh_paid = answers
            .iter()
            .filter(|(s, replayed, _)| *s == StatusCode::OK && !replayed)
            .count();
        assert_eq!(fresh_paid, 1, "{answers:?}");
        for (status, replayed, body) in &answers {
            match *status {
                StatusCode::OK => assert!(*replayed || body["data"]["status"] == "PAID", "{body}"),
                StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "DUPLICATE_REQUEST"),
                other => panic!("{other}: {body}"),
            }
        }
    }
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_orders").await,
        3
    );
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_ledger WHERE kind = 'USE'")
            .await,
        3
    );
    assert_eq!(balance(&peer, &user).await, 47_000);
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn the_last_three_units_ordered_by_ten_users_across_two_instances_sell_exactly_three() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    let admin = app.login("admin").await.access;
    phonebill::seed::run(&app.settings, 10).await.unwrap();
    let mut tokens = Vec::new();
    for n in 1..=10 {
        let t = app.login(&format!("load{n:05}")).await.access;
        charge(&app, &t, 20_000).await;
        tokens.push(t);
    }
    let last = product(&app, &admin, "마지막 세 개", 5_000, 3).await;
    // Another product in each order too, so rows are locked in more than one order.
    let plenty = product(&app, &admin, "넉넉한 상품", 1_000, 1_000).await;

    let sends = tokens.iter().enumerate().map(|(i, t)| {
        let on = if i % 2 == 0 { &app } else { &peer };
        let body = if i % 3 == 0 {
            json!({ "items": [{ "productId": plenty, "quantity": 1 }, { "productId": last, "quantity": 1 }] })
        } else {
            items(last, 1)
        };
        async move { order(on, t, &format!("last-{i}"), &body).await.status() }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let paid = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let short = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((paid, short), (3, 7), "{statuses:?}");
    assert_eq!(stock(&peer, &admin, last).await, 0);
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_orders WHERE status = 'PAID'")
            .await,
        3
    );
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_orders WHERE status = 'FAILED' AND reason = 'INSUFFICIENT_STOCK'").await,
        7
    );
    // The refused ones were given back whatever else they held.
    let mut total = 0;
    for t in &tokens {
        total += balance(&app, t).await;
    }
    let plenty_sold = 1_000 - stock(&app, &admin, plenty).await;
    assert_eq!(total, 10 * 20_000 - 3 * 5_000 - plenty_sold * 1_000);
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn an_injected_failure_at_each_step_is_pending_then_canceled_with_everything_restored() {
    // A deadline long enough for the checks made while the order is pending, on a machine
    // busy with the whole suite.
    let app = spawn_app_with(|s| {
        s.store.pending_recovery_s = 5;
        s.store.recovery_interval_ms = 100;
    })
    .await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    charge(&app, &user, 40_000).await;
    let p = product(&app, &admin, "복구 상품", 6_000, 5).await;

    // Only ADMIN arms faults, and only known steps.
    let res = arm(&app, &user, "after_reserve", 1).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = arm(&app, &admin, "halfway", 1).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    for (n, step) in ["after_reserve", "before_paid"].into_iter().enumerate() {
        let c = coupon(&app, &admin, &user, &format!("FAULT{n}"), 2_000, 0).await;
        let res = arm(&app, &admin, step, 1).await;
        assert_eq!(res.status(), StatusCode::OK);
        let armed: Value = res.json().await.unwrap();
        assert_eq!(armed[if n == 0 { "afterReserve" } else { "beforePaid" }], 1);
        let body = json!({ "items": [{ "productId": p, "quantity": 2 }], "couponId": c });
        let key = format!("fault-{step}");
        let res = order(&app, &user, &key, &body).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{step}");
        let pending: Value = res.json().await.unwrap();
        assert_eq!(pending["success"], true);
        assert_eq!(pending["resultCode"], "ORDER_PENDING");
        assert_eq!(pending["message"], "결제 처리 중 오류 발생, 자동 복구 예정");
        assert_eq!(pending["data"]["status"], "PENDING");
        let id = pending["data"]["orderId"].as_str().unwrap().to_string();

        // Held while pending: stock, coupon, balance; the same key is in flight.
        let o = data(get_order(&app, &user, &id).await).await;
        assert_eq!(o["status"], "PENDING", "{step}");
        assert_eq!(stock(&app, &user, p).await, 3);
        assert_eq!(coupon_status(&app, &user, c).await, "RESERVED");
        assert_eq!(balance(&app, &user).await, 40_000 - 10_000);
        let res = order(&app, &user, &key, &body).await;
        assert_error(res, StatusCode::CONFLICT, "DUPLICATE_REQUEST").await;
        // A reserved coupon cannot pay another order meanwhile.
        let res = order(&app, &user, &format!("{key}-again"), &body).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_COUPON").await;
        assert_eq!(err["error"]["details"]["reason"], "RESERVED");

        // Settled within the deadline (and a round), everything given back exactly.
        let settled = poll_until(
            Duration::from_secs(15),
            || async { data(get_order(&app, &user, &id).await).await },
            |o| o["status"] != "PENDING",
        )
        .await;
        assert_eq!(settled["status"], "CANCELED", "{step}: {settled}");
        assert_eq!(settled["reason"], "SYSTEM_FAILURE");
        assert_eq!(settled["paidAt"], Value::Null);
        let created =
            chrono::DateTime::parse_from_rfc3339(settled["createdAt"].as_str().unwrap()).unwrap();
        let at =
            chrono::DateTime::parse_from_rfc3339(settled["settledAt"].as_str().unwrap()).unwrap();
        let took = (at - created).num_milliseconds();
        assert!(
            (5_000..7_000).contains(&took),
            "{step}: settled after {took} ms"
        );
        eprintln!("fault {step}: 202, then CANCELED and restored {took} ms after creation (deadline 5,000 ms)");
        assert_eq!(stock(&app, &user, p).await, 5);
        assert_eq!(coupon_status(&app, &user, c).await, "AVAILABLE");
        assert_eq!(balance(&app, &user).await, 40_000);
        let restores = data(
            app.get("/api/v1/store/points/history?type=RESTORE", Some(&user))
                .await,
        )
        .await;
        assert_eq!(restores["pagination"]["totalItems"], n + 1);
        assert_eq!(restores["items"][0]["amount"], 10_000);
        assert_eq!(restores["items"][0]["orderId"], id.as_str());
        // The first answer is given again, marked, charging nothing.
        let res = order(&app, &user, &key, &body).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(res.headers()["idempotent-replayed"], "true");
        assert_eq!(data(res).await["orderId"], id.as_str());
        assert_eq!(balance(&app, &user).await, 40_000);
        // The coupon pays a new order again.
        let res = order(&app, &user, &format!("{key}-new"), &body).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app
            .post_json(
                "/api/v1/store/points/charge",
                &json!({ "amount": 10_000 }),
                Some(&user),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        execute(&app, &format!("UPDATE store_products SET stock = stock + 2, stocked = stocked + 2 WHERE product_id = {p}")).await;
    }
    // Counted, and the recovery's latency is in /metrics.
    let stats = app.admin_actors().await;
    assert_eq!(stats["store"]["ordersPending"], 2, "{}", stats["store"]);
    assert_eq!(stats["store"]["ordersRecovered"], 2, "{}", stats["store"]);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("phonebill_store_recovery_seconds_count 2"),
        "{metrics}"
    );
    assert!(metrics.contains("phonebill_store_orders_total{outcome=\"pending\"} 2"));
    assert!(metrics.contains("phonebill_store_orders_pending{measure=\"count\"} 0"));
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn the_store_fault_endpoint_is_off_unless_configured() {
    let app = spawn_app_with(|s| s.admin.fault_injection = false).await;
    let admin = app.login("admin").await.access;
    let res = arm(&app, &admin, "after_reserve", 1).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_pending_order_is_settled_once_by_whichever_instance_leases_it() {
    // Two instances' recoveries race for the same overdue orders.
    let app = spawn_app_with(|s| {
        s.store.pending_recovery_s = 1;
        s.store.recovery_interval_ms = 50;
    })
    .await;
    let peer = app.spawn_peer().await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    charge(&app, &user, 100_000).await;
    let p = product(&app, &admin, "상품", 1_000, 100).await;
    arm(&app, &admin, "after_reserve", 20).await;
    for i in 0..20 {
        let res = order(&app, &user, &format!("race-{i}"), &items(p, 1)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    eventually(
        Duration::from_secs(10),
        "every pending order settled",
        || async {
            app.number("SELECT count(*) AS n FROM store_orders WHERE status = 'PENDING'")
                .await
                == 0
        },
    )
    .await;
    assert_eq!(
        app.number("SELECT count(*) AS n FROM store_ledger WHERE kind = 'RESTORE'")
            .await,
        20
    );
    assert_eq!(balance(&app, &user).await, 100_000);
    assert_eq!(stock(&app, &user, p).await, 100);
    let (a, b) = (app.admin_actors().await, peer.admin_actors().await);
    let recovered = a["store"]["ordersRecovered"].as_u64().unwrap()
        + b["store"]["ordersRecovered"].as_u64().unwrap();
    assert_eq!(recovered, 20);
    assert_audit_clean(&app);
}

#[actix_web::test]
async fn popular_products_rank_paid_units_of_the_window_without_canceled_orders() {
    let app = spawn_app_with(|s| {
        s.store.pending_recovery_s = 1;
        s.store.recovery_interval_ms = 100;
        s.store.popular_refresh_ms = 100;
    })
    .await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    charge(&app, &user, 100_000).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(product(&app, &admin, &format!("인기 {i}"), 100, 1_000).await);
    }
    // Units per product: 7 → 1 (ties: 3 and 3, by id), the last one nothing.
    for (i, units) in [(0, 2), (1, 7), (2, 3), (3, 3), (4, 1), (5, 5)] {
        let res = order(&app, &user, &format!("pop-{i}"), &items(ids[i], units)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // A big order left pending and canceled does not count.
    arm(&app, &admin, "before_paid", 1).await;
    let res = order(&app, &user, "pop-canceled", &items(ids[6], 50)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    eventually(
        Duration::from_secs(10),
        "the pending order settled",
        || async {
            app.number("SELECT count(*) AS n FROM store_orders WHERE status = 'PENDING'")
                .await
                == 0
        },
    )
    .await;
    // A 6th product in the window falls off a top 5.
    let board = poll_until(
        Duration::from_secs(5),
        || async { data(app.get("/api/v1/store/products/popular", Some(&user)).await).await },
        |b| b["items"][0]["soldQuantity"] == 7,
    )
    .await;
    assert_eq!(board["windowDays"], 3);
    assert!(board["asOf"].is_string());
    let ranked: Vec<(i64, i64, i64)> = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["rank"].as_i64().unwrap(),
                i["productId"].as_i64().unwrap(),
                i["soldQuantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ranked,
        [
            (1, ids[1], 7),
            (2, ids[5], 5),
            (3, ids[2], 3),
            (4, ids[3], 3),
            (5, ids[0], 2)
        ]
    );
    assert_eq!(board["items"][0]["stock"], 993);
    assert_eq!(board["items"][0]["price"], 100);
    // Sales older than the window are not counted.
    execute(
        &app,
        "UPDATE store_sales_hourly SET hour = hour - interval '80 hours'",
    )
    .await;
    let board = poll_until(
        Duration::from_secs(5),
        || async { data(app.get("/api/v1/store/products/popular", Some(&user)).await).await },
        |b| b["items"].as_array().is_some_and(Vec::is_empty),
    )
    .await;
    assert_eq!(board["items"], json!([]));
}

#[actix_web::test]
async fn store_audit_finds_each_broken_invariant_and_exits_non_zero() {
    // No recovery round during the test: the overdue order below must stay pending.
    let app = spawn_app_with(|s| s.store.recovery_interval_ms = 3_600_000).await;
    let admin = app.login("admin").await.access;
    let user = app.login("user02").await.access;
    charge(&app, &user, 10_000).await;
    let p = product(&app, &admin, "감사 상품", 1_000, 10).await;
    assert_eq!(
        order(&app, &user, "audited", &items(p, 2)).await.status(),
        StatusCode::OK
    );
    assert_audit_clean(&app);
    // Break what the database cannot hold by itself, one invariant at a time.
    execute(
        &app,
        &format!("UPDATE store_products SET stock = stock + 1 WHERE product_id = {p}"),
    )
    .await;
    execute(
        &app,
        "UPDATE store_wallets SET balance = balance + 5 WHERE user_id = 'user02'",
    )
    .await;
    execute(
        &app,
        "UPDATE store_sales_hourly SET quantity = quantity + 1",
    )
    .await;
    execute(
        &app,
        "INSERT INTO store_orders (order_id, user_id, status, total_amount, discount_amount, \
         paid_amount, request_id, created_at, deadline) VALUES (gen_random_uuid(), 'user02', \
         'PENDING', 0, 0, 0, 'audit-test', now() - interval '1 hour', now() - interval '1 hour')",
    )
    .await;
    let (ok, text) = store_audit(&app);
    assert!(!ok, "{text}");
    for expected in [
        "balance = Σ ledger",
        "stock put on sale",
        "sales per product",
        "nothing PENDING past its deadline",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("VIOLATION") && l.contains(expected)),
            "{expected} not reported:\n{text}"
        );
    }
    assert!(text.contains("4 violations"), "{text}");
}
