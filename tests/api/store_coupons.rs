//! The membership store: coupon campaigns and first-come claims (SPEC section 9).

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp, PASSWORD};

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

/// Coupons of campaign `code` in PostgreSQL.
async fn coupons_in_db(app: &TestApp, code: &str) -> i64 {
    let mut conn = db(app).await;
    number(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM store_coupons s JOIN store_coupon_campaigns c \
             USING (campaign_id) WHERE c.code = '{code}'"
        ),
    )
    .await
}

async fn claim(app: &TestApp, token: &str, code: &str) -> Response {
    app.post_json(
        "/api/v1/store/coupons",
        &json!({ "couponCode": code }),
        Some(token),
    )
    .await
}

/// A campaign open from an hour ago for a day, `quantity` of 1,000 won off.
fn campaign(code: &str, quantity: i64) -> Value {
    json!({
        "code": code,
        "name": format!("{code} 쿠폰"),
        "discountType": "AMOUNT",
        "discountValue": 1000,
        "minOrderAmount": 5000,
        "totalQuantity": quantity,
        "issueStartsAt": (Utc::now() - Duration::hours(1)).to_rfc3339(),
        "issueEndsAt": (Utc::now() + Duration::days(1)).to_rfc3339(),
        "validDays": 7,
    })
}

async fn create(app: &TestApp, admin: &str, body: &Value) -> Response {
    app.post_json("/api/v1/store/admin/coupons", body, Some(admin))
        .await
}

async fn created(app: &TestApp, admin: &str, body: &Value) -> Value {
    let res = create(app, admin, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn report(app: &TestApp, admin: &str, code: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/store/admin/coupons/{code}"), Some(admin))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["data"].clone()
}

async fn my_coupons(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get("/api/v1/store/coupons", Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["data"]["items"].as_array().unwrap().clone()
}

/// The store's counters an instance shows in `/admin/actors`.
async fn store_stats(app: &TestApp, admin: &str) -> Value {
    let res = app.get("/admin/actors", Some(admin)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["store"].clone()
}

/// Logs `users` in, a few at a time (each login is an argon2 hash), retrying a login the
/// hashing queue turned away.
async fn tokens(app: &TestApp, users: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in users.chunks(8) {
        let logins = chunk.iter().map(|u| async move {
            for _ in 0..20 {
                let res = app.post_login(u, PASSWORD).await;
                if res.status() == StatusCode::SERVICE_UNAVAILABLE {
                    actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                assert_eq!(res.status(), StatusCode::OK, "login of {u}");
                let body: Value = res.json().await.unwrap();
                return body["access_token"].as_str().unwrap().to_string();
            }
            panic!("login of {u} kept being refused");
        });
        out.extend(futures_util::future::join_all(logins).await);
    }
    out
}

#[actix_web::test]
async fn a_claim_issues_a_coupon_once_and_lists_it() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let res = claim(&app, &t.access, "welcome").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "쿠폰이 발급되었습니다.");
    let c = &body["data"];
    assert!(c["couponId"].as_i64().unwrap() > 0, "{body}");
    assert_eq!(c["couponCode"], "WELCOME");
    assert_eq!(
        c["discount"],
        json!({ "type": "AMOUNT", "value": 3000, "maxDiscount": null })
    );
    assert_eq!(c["minOrderAmount"], 10000);
    assert_eq!(c["status"], "AVAILABLE");
    // validDays 30 from now.
    let expires = chrono::DateTime::parse_from_rfc3339(c["expiresAt"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&Utc) - Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{c}");

    // One per user per campaign.
    let again = claim(&app, &t.access, "WELCOME").await;
    let err = assert_error(again, StatusCode::CONFLICT, "COUPON_ALREADY_ISSUED").await;
    assert_eq!(err["message"], "이미 발급받은 쿠폰입니다.");

    // A rate discount shows its cap.
    let res = claim(&app, &t.access, "EVENT2025").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["data"]["discount"],
        json!({ "type": "RATE", "value": 10, "maxDiscount": 5000 })
    );

    let mine = my_coupons(&app, &t.access).await;
    assert_eq!(mine.len(), 2, "{mine:?}");
    // Newest first.
    assert_eq!(mine[0]["couponCode"], "EVENT2025");
    assert_eq!(mine[1]["couponCode"], "WELCOME");
    assert_eq!(mine[1]["couponId"], c["couponId"]);
    assert_eq!(mine[1]["expiresAt"], c["expiresAt"]);
    assert!(mine.iter().all(|m| m["status"] == "AVAILABLE"));
    // Someone else's list is their own.
    let other = app.login("user02").await;
    assert!(my_coupons(&app, &other.access).await.is_empty());
}

#[actix_web::test]
async fn the_list_shows_reserved_used_and_expired_coupons() {
    let app = spawn_app().await;
    let t = app.login("user03").await;
    for code in ["WELCOME", "EVENT2025", "KTONLY"] {
        assert_eq!(claim(&app, &t.access, code).await.status(), StatusCode::OK);
    }
    // What orders (reserve, pay) and time do to coupons, done here directly.
    let mut conn = db(&app).await;
    for (code, set) in [
        ("WELCOME", "status = 'RESERVED'"),
        ("EVENT2025", "status = 'USED'"),
        ("KTONLY", "expires_at = now() - interval '1 minute'"),
    ] {
        diesel::sql_query(format!(
            "UPDATE store_coupons SET {set} WHERE user_id = 'user03' AND campaign_id = \
             (SELECT campaign_id FROM store_coupon_campaigns WHERE code = '{code}')"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let mine = my_coupons(&app, &t.access).await;
    let status = |code: &str| {
        mine.iter()
            .find(|m| m["couponCode"] == code)
            .map(|m| m["status"].clone())
            .unwrap()
    };
    assert_eq!(status("WELCOME"), "RESERVED");
    assert_eq!(status("EVENT2025"), "USED");
    assert_eq!(status("KTONLY"), "EXPIRED");
    let admin = app.login("admin").await;
    assert_eq!(report(&app, &admin.access, "EVENT2025").await["used"], 1);
}

#[actix_web::test]
async fn bad_claims_are_refused_with_their_codes() {
    let app = spawn_app().await;
    let t = app.login("user02").await;
    for code in ["NOSUCH", "with space", "", &"A".repeat(40)] {
        let res = claim(&app, &t.access, code).await;
        let err = assert_error(res, StatusCode::NOT_FOUND, "COUPON_NOT_FOUND").await;
        assert_eq!(err["message"], "쿠폰을 찾을 수 없습니다.");
    }
    for body in [
        json!({}),
        json!({ "couponCode": 5 }),
        json!({ "couponCode": null }),
    ] {
        let res = app
            .post_json("/api/v1/store/coupons", &body, Some(&t.access))
            .await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
        assert!(err["fieldErrors"]["couponCode"].is_string(), "{err}");
    }
    let res = app
        .client
        .post(app.url("/api/v1/store/coupons"))
        .bearer_auth(&t.access)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .post_json(
            "/api/v1/store/coupons",
            &json!({ "couponCode": "WELCOME" }),
            None,
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let res = app.get("/api/v1/store/coupons", None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    // Nothing was issued by any of it.
    assert_eq!(coupons_in_db(&app, "WELCOME").await, 0);
}

#[actix_web::test]
async fn an_operator_campaign_is_for_that_operators_lines_only() {
    let app = spawn_app().await;
    // user04's line is on LGU.
    let lgu = app.login("user04").await;
    let res = claim(&app, &lgu.access, "KTONLY").await;
    let err = assert_error(res, StatusCode::FORBIDDEN, "COUPON_NOT_ELIGIBLE").await;
    assert_eq!(err["message"], "발급 대상이 아닙니다.");
    assert_eq!(err["error"]["details"]["reason"], "OPERATOR");
    // ...and stays refused (nothing remembered that would let it through).
    let res = claim(&app, &lgu.access, "KTONLY").await;
    assert_error(res, StatusCode::FORBIDDEN, "COUPON_NOT_ELIGIBLE").await;
    // An open campaign is for everyone.
    assert_eq!(
        claim(&app, &lgu.access, "WELCOME").await.status(),
        StatusCode::OK
    );
    // user01's is on KT.
    let kt = app.login("user01").await;
    let res = claim(&app, &kt.access, "KTONLY").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["discount"]["value"], 5000);
    assert_eq!(coupons_in_db(&app, "KTONLY").await, 1);
    let admin = app.login("admin").await;
    let r = report(&app, &admin.access, "KTONLY").await;
    assert_eq!(r["eligibleOperator"], "KT");
    assert_eq!(r["issued"], 1);
}

#[actix_web::test]
async fn claims_outside_the_window_are_not_eligible() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let mut future = campaign("LATER", 10);
    future["issueStartsAt"] = json!((Utc::now() + Duration::days(1)).to_rfc3339());
    future["issueEndsAt"] = json!((Utc::now() + Duration::days(2)).to_rfc3339());
    created(&app, &admin.access, &future).await;
    let mut past = campaign("EARLIER", 10);
    past["issueStartsAt"] = json!((Utc::now() - Duration::days(2)).to_rfc3339());
    past["issueEndsAt"] = json!((Utc::now() - Duration::days(1)).to_rfc3339());
    created(&app, &admin.access, &past).await;
    let t = app.login("user05").await;
    for code in ["LATER", "EARLIER"] {
        let res = claim(&app, &t.access, code).await;
        let err = assert_error(res, StatusCode::FORBIDDEN, "COUPON_NOT_ELIGIBLE").await;
        assert_eq!(err["error"]["details"]["reason"], "OUTSIDE_WINDOW");
        assert_eq!(report(&app, &admin.access, code).await["issued"], 0);
    }
}

#[actix_web::test]
async fn admin_creates_campaigns_and_every_field_is_validated() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let user = app.login("user01").await;

    // Not admin: 403; no token: 401.
    let body = campaign("SPRING", 50);
    let res = create(&app, &user.access, &body).await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let res = app
        .post_json("/api/v1/store/admin/coupons", &body, None)
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let res = app
        .get("/api/v1/store/admin/coupons/WELCOME", Some(&user.access))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    let mut rate = campaign("spring", 50);
    rate["discountType"] = json!("RATE");
    rate["discountValue"] = json!(15);
    rate["maxDiscount"] = json!(4000);
    rate["eligibleOperator"] = json!("kt");
    let made = created(&app, &admin.access, &rate).await;
    let c = &made["data"];
    assert_eq!(c["code"], "SPRING");
    assert_eq!(c["discountType"], "RATE");
    assert_eq!(c["discountValue"], 15);
    assert_eq!(c["maxDiscount"], 4000);
    assert_eq!(c["minOrderAmount"], 5000);
    assert_eq!(c["totalQuantity"], 50);
    assert_eq!(c["validDays"], 7);
    assert_eq!(c["eligibleOperator"], "KT");
    assert_eq!(
        (c["issued"].clone(), c["remaining"].clone()),
        (json!(0), json!(50))
    );
    let r = report(&app, &admin.access, "spring").await;
    assert_eq!(r["code"], "SPRING");
    assert_eq!(
        (
            r["issued"].clone(),
            r["remaining"].clone(),
            r["used"].clone()
        ),
        (json!(0), json!(50), json!(0))
    );
    assert_eq!(r["issueStartsAt"], c["issueStartsAt"]);

    // A taken code.
    let res = create(&app, &admin.access, &campaign("SPRING", 5)).await;
    assert_error(res, StatusCode::CONFLICT, "COUPON_CODE_TAKEN").await;
    let res = create(&app, &admin.access, &campaign("WELCOME", 5)).await;
    assert_error(res, StatusCode::CONFLICT, "COUPON_CODE_TAKEN").await;
    // Unknown or malformed code.
    for code in ["NOSUCH", "bad%20code"] {
        let res = app
            .get(
                &format!("/api/v1/store/admin/coupons/{code}"),
                Some(&admin.access),
            )
            .await;
        assert_error(res, StatusCode::NOT_FOUND, "COUPON_NOT_FOUND").await;
    }

    // Each bad field is named.
    let cases: Vec<(&str, Value)> = vec![
        ("code", json!(null)),
        ("code", json!("no spaces")),
        ("code", json!(12)),
        ("name", json!("")),
        ("name", json!("가".repeat(101))),
        ("discountType", json!("PERCENT")),
        ("discountValue", json!(0)),
        ("discountValue", json!("1000")),
        ("discountValue", json!(1.5)),
        ("maxDiscount", json!(500)),
        ("minOrderAmount", json!(-1)),
        ("minOrderAmount", json!(null)),
        ("totalQuantity", json!(0)),
        ("totalQuantity", json!(1e12)),
        ("issueStartsAt", json!("yesterday")),
        ("issueEndsAt", json!("2026-13-01T00:00:00Z")),
        ("validDays", json!(0)),
        ("validDays", json!(5000)),
        ("eligibleOperator", json!("K T")),
        ("eligibleOperator", json!(7)),
    ];
    for (name, value) in cases {
        let mut body = campaign("BADONE", 10);
        body[name] = value.clone();
        let res = create(&app, &admin.access, &body).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
        assert!(
            err["fieldErrors"][name].is_string(),
            "{name} = {value}: {err}"
        );
    }
    // A rate needs its cap, and at most 100 %.
    let mut body = campaign("BADONE", 10);
    body["discountType"] = json!("RATE");
    body["discountValue"] = json!(10);
    let err = assert_error(
        create(&app, &admin.access, &body).await,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
    )
    .await;
    assert!(err["fieldErrors"]["maxDiscount"].is_string(), "{err}");
    body["discountValue"] = json!(101);
    body["maxDiscount"] = json!(1000);
    let err = assert_error(
        create(&app, &admin.access, &body).await,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
    )
    .await;
    assert!(err["fieldErrors"]["discountValue"].is_string(), "{err}");
    // The window must open before it closes.
    let mut body = campaign("BADONE", 10);
    body["issueEndsAt"] = body["issueStartsAt"].clone();
    let err = assert_error(
        create(&app, &admin.access, &body).await,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
    )
    .await;
    assert!(err["fieldErrors"]["issueEndsAt"].is_string(), "{err}");
    // Several problems at once are all named.
    let err = assert_error(
        create(&app, &admin.access, &json!({})).await,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
    )
    .await;
    for name in [
        "code",
        "name",
        "discountType",
        "discountValue",
        "minOrderAmount",
        "totalQuantity",
        "issueStartsAt",
        "issueEndsAt",
        "validDays",
    ] {
        assert!(err["fieldErrors"][name].is_string(), "{name}: {err}");
    }
    // None of the refused ones exists.
    let res = app
        .get("/api/v1/store/admin/coupons/BADONE", Some(&admin.access))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "COUPON_NOT_FOUND").await;
    // Absent optional fields are fine.
    let made = created(&app, &admin.access, &campaign("PLAIN", 3)).await;
    assert_eq!(made["data"]["maxDiscount"], Value::Null);
    assert_eq!(made["data"]["eligibleOperator"], Value::Null);
}

#[actix_web::test]
async fn first_come_first_served_exactly_across_two_instances() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    let admin = app.login("admin").await;
    created(&app, &admin.access, &campaign("FIRST100", 100)).await;
    phonebill::seed::run(&app.settings, 300).await.unwrap();
    let users: Vec<String> = (1..=300).map(|n| format!("load{n:05}")).collect();
    let tokens = tokens(&app, &users).await;

    // 300 distinct users at once, half on each instance.
    let claims = tokens.iter().enumerate().map(|(i, t)| {
        let on = if i % 2 == 0 { &app } else { &peer };
        async move { claim(on, t, "FIRST100").await.status() }
    });
    let statuses = futures_util::future::join_all(claims).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let gone = statuses.iter().filter(|s| **s == StatusCode::GONE).count();
    assert_eq!((ok, gone), (100, 200), "{statuses:?}");

    let r = report(&peer, &admin.access, "FIRST100").await;
    assert_eq!(
        (r["issued"].clone(), r["remaining"].clone()),
        (json!(100), json!(0))
    );
    assert_eq!(coupons_in_db(&app, "FIRST100").await, 100);
    let mut conn = db(&app).await;
    let distinct = number(
        &mut conn,
        "SELECT count(DISTINCT user_id) AS n FROM store_coupons s JOIN store_coupon_campaigns c \
         USING (campaign_id) WHERE c.code = 'FIRST100'",
    )
    .await;
    assert_eq!(distinct, 100);

    // Both instances had claims PostgreSQL could not serve, so both know it is sold out:
    // the next claims are answered from memory, without a transaction.
    let before = [
        store_stats(&app, &admin.access).await,
        store_stats(&peer, &admin.access).await,
    ];
    let losers: Vec<&String> = tokens
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == StatusCode::GONE)
        .map(|(t, _)| t)
        .take(20)
        .collect();
    let winners: Vec<&String> = tokens
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == StatusCode::OK)
        .map(|(t, _)| t)
        .take(4)
        .collect();
    for (i, on) in [&app, &peer].into_iter().enumerate() {
        for t in losers.iter().skip(i * 10).take(10) {
            let res = claim(on, t, "FIRST100").await;
            let err = assert_error(res, StatusCode::GONE, "COUPON_SOLD_OUT").await;
            assert_eq!(err["message"], "쿠폰 수량이 모두 소진되었습니다.");
        }
        // A holder claiming again is told so, on either instance, also from memory.
        for t in &winners {
            let res = claim(on, t, "FIRST100").await;
            assert_error(res, StatusCode::CONFLICT, "COUPON_ALREADY_ISSUED").await;
        }
    }
    for (on, before) in [&app, &peer].into_iter().zip(before) {
        let after = store_stats(on, &admin.access).await;
        let grew = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
        assert_eq!(grew("couponsSoldOutMemory"), 10, "{after}");
        assert_eq!(grew("couponsDuplicate"), 4, "{after}");
        assert_eq!(grew("couponBatches"), 0, "{after}");
        assert_eq!(grew("couponsSoldOut"), 0, "{after}");
        assert_eq!(grew("couponsIssued"), 0, "{after}");
    }
    // Across both instances: 100 issued, in fewer transactions than claims.
    let (mut issued, mut batches) = (0, 0);
    for on in [&app, &peer] {
        let s = store_stats(on, &admin.access).await;
        issued += s["couponsIssued"].as_u64().unwrap();
        batches += s["couponBatches"].as_u64().unwrap();
    }
    assert_eq!(issued, 100);
    assert!((2..300).contains(&batches), "{batches} batches");
    assert_eq!(coupons_in_db(&app, "FIRST100").await, 100);
}

#[actix_web::test]
async fn one_users_parallel_claims_across_two_instances_get_one_coupon() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    let admin = app.login("admin").await;
    created(&app, &admin.access, &campaign("ONLYONE", 50)).await;
    let t = app.login("user02").await;
    let claims = (0..10).map(|i| {
        let on = if i % 2 == 0 { &app } else { &peer };
        let token = t.access.clone();
        async move { claim(on, &token, "ONLYONE").await.status() }
    });
    let statuses = futures_util::future::join_all(claims).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let dup = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, dup), (1, 9), "{statuses:?}");
    assert_eq!(coupons_in_db(&app, "ONLYONE").await, 1);
    let r = report(&app, &admin.access, "ONLYONE").await;
    assert_eq!(
        (r["issued"].clone(), r["remaining"].clone()),
        (json!(1), json!(49))
    );
    let mine = my_coupons(&peer, &t.access).await;
    assert_eq!(
        mine.iter().filter(|m| m["couponCode"] == "ONLYONE").count(),
        1
    );
}

#[actix_web::test]
async fn a_campaign_created_on_one_instance_is_claimed_on_another() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    let t = app.login("user05").await;
    // Unknown first on the peer: not remembered as unknown.
    let res = claim(&peer, &t.access, "LATECOMER").await;
    assert_error(res, StatusCode::NOT_FOUND, "COUPON_NOT_FOUND").await;
    let admin = app.login("admin").await;
    created(&app, &admin.access, &campaign("LATECOMER", 1)).await;
    assert_eq!(
        claim(&peer, &t.access, "LATECOMER").await.status(),
        StatusCode::OK
    );
    // The one coupon is gone, as the other instance learns from PostgreSQL.
    let other = app.login("user01").await;
    let res = claim(&app, &other.access, "LATECOMER").await;
    assert_error(res, StatusCode::GONE, "COUPON_SOLD_OUT").await;
    let res = claim(&app, &t.access, "LATECOMER").await;
    assert_error(res, StatusCode::CONFLICT, "COUPON_ALREADY_ISSUED").await;
}

#[actix_web::test]
async fn the_coupon_operations_are_documented() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    for (method, path, statuses) in [
        (
            "post",
            "/api/v1/store/coupons",
            &[
                "200", "400", "401", "403", "404", "409", "410", "413", "503",
            ][..],
        ),
        (
            "get",
            "/api/v1/store/coupons",
            &["200", "401", "413", "503"],
        ),
        (
            "post",
            "/api/v1/store/admin/coupons",
            &["201", "400", "401", "403", "409", "413", "503"],
        ),
        (
            "get",
            "/api/v1/store/admin/coupons/{couponCode}",
            &["200", "401", "403", "404", "413", "503"],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["tags"], json!(["store"]), "{method} {path}");
        assert!(op["security"].is_array(), "{method} {path}");
        for s in statuses {
            assert!(op["responses"][*s].is_object(), "{method} {path} {s}");
        }
        // Served, and wants a token.
        let url = app.url(&path.replace("{couponCode}", "WELCOME"));
        let req = match method {
            "get" => app.client.get(url),
            _ => app
                .client
                .post(url)
                .header("content-type", "application/json")
                .body("{}"),
        };
        let res = req.send().await.unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
}

#[actix_web::test]
async fn an_operator_that_cannot_be_read_is_unavailable_not_ineligible() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    app.kos_fault(json!({ "mode": "down" })).await;
    let res = claim(&app, &t.access, "KTONLY").await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE").await;
    // A campaign for everyone needs no operator: KOS down does not matter to it.
    assert_eq!(
        claim(&app, &t.access, "WELCOME").await.status(),
        StatusCode::OK
    );
    assert_eq!(coupons_in_db(&app, "KTONLY").await, 0);
    app.kos_fault(json!({ "mode": "normal", "latencyMs": 0 }))
        .await;
    assert_eq!(
        claim(&app, &t.access, "KTONLY").await.status(),
        StatusCode::OK
    );
}
