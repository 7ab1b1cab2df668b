//! Login, lockout, registration, permissions, accounts.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, PASSWORD};

#[actix_web::test]
async fn login_answers_the_web_clients_raw_snake_case_shape() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let b = &t.body;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 1800);
    assert_eq!(b["user_id"], "user01");
    assert_eq!(b["customer_id"], "CUST001");
    assert_eq!(b["line_number"], "010-1234-5001");
    assert_eq!(b["user"]["user_id"], "user01");
    assert_eq!(b["user"]["line_number"], "010-1234-5001");
    assert_eq!(
        b["user"]["permissions"],
        json!(["BILL_INQUIRY", "PRODUCT_CHANGE"])
    );
    assert!(b["user"]["user_name"].is_string());
    assert!(b.get("success").is_none(), "login is not enveloped: {b}");
    assert_eq!(app.verify(&t.access).await, StatusCode::OK);
}

#[actix_web::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let wrong = assert_error(
        app.post_login("user01", "Wrong-passw0rd").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    let unknown = assert_error(
        app.post_login("nobody99", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    let malformed = assert_error(
        app.post_login("no such user!", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    for key in ["message", "error"] {
        assert_eq!(wrong[key], unknown[key]);
        assert_eq!(wrong[key], malformed[key]);
    }
}

#[actix_web::test]
async fn five_failures_lock_the_account_until_an_admin_unlocks_it() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let res = app.post_login("user02", "Wrong-passw0rd").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = app.post_login("user02", PASSWORD).await;
    let body = assert_error(locked, StatusCode::LOCKED, "ACCOUNT_LOCKED").await;
    assert!(body["error"]["details"]["lockedUntil"].is_string());

    // Only ADMIN may unlock.
    let user01 = app.login("user01").await;
    let res = app
        .post_json(
            "/api/v1/auth/unlock/user02",
            &json!({}),
            Some(&user01.access),
        )
        .await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(body["message"], "서비스 이용 권한이 없습니다");

    let admin = app.login("admin").await;
    let res = app
        .post_json(
            "/api/v1/auth/unlock/user02",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.login("user02").await;

    let res = app
        .post_json(
            "/api/v1/auth/unlock/ghost01",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[actix_web::test]
async fn a_success_resets_the_failure_count() {
    let app = spawn_app().await;
    for _ in 0..4 {
        app.post_login("user05", "Wrong-passw0rd").await;
    }
    app.login("user05").await;
    for _ in 0..4 {
        app.post_login("user05", "Wrong-passw0rd").await;
    }
    app.login("user05").await;
}

#[actix_web::test]
async fn parallel_guesses_get_no_more_tries_than_sequential_ones() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let guesses = (0..24).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post_login("user05", "Wrong-passw0rd")
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::LOCKED));
    assert_eq!(
        a.post_login("user05", PASSWORD).await.status(),
        StatusCode::LOCKED
    );
}

#[actix_web::test]
async fn a_user_logging_in_from_many_tabs_at_once_is_not_locked_out() {
    let app = spawn_app().await;
    let logins = (0..8).map(|_| app.post_login("user04", PASSWORD));
    for res in futures_util::future::join_all(logins).await {
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[actix_web::test]
async fn lockout_is_shared_by_two_instances() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    for _ in 0..3 {
        assert_eq!(
            a.post_login("user03", "Wrong-passw0rd").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..2 {
        assert_eq!(
            b.post_login("user03", "Wrong-passw0rd").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        a.post_login("user03", PASSWORD).await.status(),
        StatusCode::LOCKED
    );
    assert_eq!(
        b.post_login("user03", PASSWORD).await.status(),
        StatusCode::LOCKED
    );
}

#[actix_web::test]
async fn login_is_rate_limited_per_client_ip() {
    let app = spawn_app_with(|s| {
        s.rate_limit.login_per_ip_per_minute = 3;
        s.rate_limit.trust_forwarded_for = true;
    })
    .await;
    let attempt = |ip: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", ip)
            .json(&json!({ "userId": "user01", "password": "Wrong-passw0rd" }))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("10.0.0.1").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attempt("10.0.0.1").await.unwrap();
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(
        attempt("10.0.0.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn registration_is_rate_limited_per_client_ip() {
    let app = spawn_app_with(|s| s.rate_limit.register_per_ip_per_minute = 2).await;
    for n in 1..=3 {
        app.kos_customer("CUST900", &format!("0109999100{n}")).await;
    }
    for n in 1..=2 {
        let r = registration(&format!("rate{n}"), &format!("0109999100{n}"));
        let res = app.post_json("/api/v1/auth/register", &r, None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let r = registration("rate3", "01099991003");
    let res = app.post_json("/api/v1/auth/register", &r, None).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
}

fn registration(user: &str, line: &str) -> Value {
    json!({
        "userId": user,
        "customerId": "CUST900",
        "lineNumber": line,
        "userName": "신규고객",
        "password": "N3w-passw0rd",
        "permissions": ["BILL_INQUIRY"],
    })
}

#[actix_web::test]
async fn registration_creates_an_account_that_can_log_in() {
    let app = spawn_app().await;
    app.kos_customer("CUST900", "01099990001").await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &registration("newbie", "01099990001"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["lineNumber"], "010-9999-0001");
    assert_eq!(body["data"]["permissions"], json!(["BILL_INQUIRY"]));

    let res = app.post_login("newbie", "N3w-passw0rd").await;
    assert_eq!(res.status(), StatusCode::OK);
    let login: Value = res.json().await.unwrap();
    assert_eq!(login["user"]["permissions"], json!(["BILL_INQUIRY"]));
}

#[actix_web::test]
async fn registration_refuses_duplicates_with_409() {
    let app = spawn_app().await;
    app.kos_customer("CUST900", "01099990002").await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &registration("user01", "01099990002"),
            None,
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "DUPLICATE_USER").await;
    let mut taken = registration("other01", "010-1234-5001");
    taken["customerId"] = json!("CUST001");
    let res = app.post_json("/api/v1/auth/register", &taken, None).await;
    assert_error(res, StatusCode::CONFLICT, "DUPLICATE_LINE").await;
}

#[actix_web::test]
async fn a_line_kos_holds_for_another_customer_is_never_registered() {
    for allow_unknown in [true, false] {
        let app = spawn_app_with(|s| s.auth.allow_unknown_lines = allow_unknown).await;
        // A line KOS created for customer CUST777, and a generated load-test line (LOAD…);
        // neither has an account here yet (a line with one is a 409 first).
        app.kos_customer("CUST777", "01099990050").await;
        for line in ["010-9999-0050", "01050000042"] {
            let res = app
                .post_json(
                    "/api/v1/auth/register",
                    &registration("thief01", line),
                    None,
                )
                .await;
            let body = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
            assert!(body["fieldErrors"]["lineNumber"].is_string(), "{body}");
            assert!(body["fieldErrors"]["customerId"].is_null(), "{body}");
        }
        assert_eq!(
            app.post_login("thief01", "N3w-passw0rd").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[actix_web::test]
async fn a_line_kos_does_not_know_is_registered_only_while_allow_unknown_lines() {
    let app = spawn_app().await;
    assert!(app.settings.auth.allow_unknown_lines, "the shipped default");
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &registration("early01", "01099990009"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let strict = spawn_app_with(|s| s.auth.allow_unknown_lines = false).await;
    let res = strict
        .post_json(
            "/api/v1/auth/register",
            &registration("early02", "01099990010"),
            None,
        )
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    assert_eq!(
        body["fieldErrors"]["lineNumber"], "통신사에 등록되지 않은 회선입니다",
        "{body}"
    );
}

/// SPEC's order: input (400), then duplicates (409), then KOS. A taken user id is 409 even
/// on a line KOS holds for someone else, and a bad field is 400 before anything is asked.
#[actix_web::test]
async fn registration_refusals_come_in_specs_order_and_duplicates_never_reach_kos() {
    let app = spawn_app().await;
    let inquiries = |stats: Value| stats["product-inquiry"].as_u64().unwrap_or(0);
    let before = inquiries(app.kos_stats().await);
    // user01 is taken; the line is user02's.
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &registration("user01", "010-1234-5002"),
            None,
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "DUPLICATE_USER").await;
    // A taken line (user01's), with a free user id.
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &registration("fresh01", "010-1234-5001"),
            None,
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "DUPLICATE_LINE").await;
    // Bad input beats a taken user id.
    let mut bad = registration("user01", "010-1234-5002");
    bad["password"] = json!("short");
    let res = app.post_json("/api/v1/auth/register", &bad, None).await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    assert!(body["fieldErrors"]["password"].is_string(), "{body}");
    assert_eq!(
        inquiries(app.kos_stats().await),
        before,
        "a refusal that needs no KOS asked KOS"
    );
}

#[actix_web::test]
async fn self_registration_off_refuses_every_registration_with_403() {
    let app = spawn_app_with(|s| s.auth.self_registration = false).await;
    app.kos_customer("CUST900", "01099990011").await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &registration("closed01", "01099990011"),
            None,
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "REGISTRATION_CLOSED").await;
}

#[actix_web::test]
async fn registration_names_every_bad_field_at_the_top_level() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({ "userId": "x", "lineNumber": "011-1234-5678", "password": "short" }),
            None,
        )
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
    for field in ["userId", "customerId", "lineNumber", "userName", "password"] {
        assert!(body["fieldErrors"][field].is_string(), "{field}: {body}");
    }
}

#[actix_web::test]
async fn self_registration_never_grants_admin_or_user_management() {
    let app = spawn_app().await;
    for perm in ["ADMIN", "USER_MANAGEMENT"] {
        let mut r = registration("climber", "01099990003");
        r["permissions"] = json!(["BILL_INQUIRY", perm]);
        let res = app.post_json("/api/v1/auth/register", &r, None).await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "INVALID_INPUT").await;
        assert!(body["fieldErrors"]["permissions"].is_string());
    }
    assert_eq!(
        app.post_login("climber", "N3w-passw0rd").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn permissions_are_listed_and_checked() {
    let app = spawn_app().await;
    let t = app.login("user02").await;
    let res = app.get("/api/v1/auth/permissions", Some(&t.access)).await;
    let body: Value = res.json().await.unwrap();
    let list = body["data"]["permissions"].as_array().unwrap();
    let granted =
        |name: &str| list.iter().find(|p| p["permission"] == name).unwrap()["granted"].clone();
    assert_eq!(granted("BILL_INQUIRY"), true);
    assert_eq!(granted("PRODUCT_CHANGE"), false);
    assert_eq!(granted("ADMIN"), false);

    let check = |service: &'static str| {
        let body = json!({ "serviceType": service });
        let (app, token) = (&app, t.access.clone());
        async move {
            app.post_json("/api/v1/auth/permissions/check", &body, Some(&token))
                .await
        }
    };
    let body: Value = check("PRODUCT_CHANGE").await.json().await.unwrap();
    assert_eq!(
        body["data"],
        json!({ "serviceType": "PRODUCT_CHANGE", "hasPermission": false })
    );
    let body: Value = check("BILL_INQUIRY").await.json().await.unwrap();
    assert_eq!(body["data"]["hasPermission"], true);
    assert_error(
        check("HACKING").await,
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
    )
    .await;
}

#[actix_web::test]
async fn verify_reports_the_session_owner() {
    let app = spawn_app().await;
    let t = app.login("user04").await;
    let res = app.get("/api/v1/auth/verify", Some(&t.access)).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["valid"], true);
    assert_eq!(body["data"]["userId"], "user04");
    assert_eq!(body["data"]["lineNumber"], "010-1234-5004");
    assert!(body["data"]["expiresAt"].is_string());
}

#[actix_web::test]
async fn users_read_only_their_own_account_and_admin_reads_any() {
    let app = spawn_app().await;
    let user = app.login("user01").await;
    let res = app.get("/api/v1/users/user01", Some(&user.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user_id"], "user01");
    assert_eq!(body["line_number"], "010-1234-5001");
    assert_eq!(body["account_status"], "ACTIVE");
    assert!(body.get("password_hash").is_none());

    let res = app.get("/api/v1/users/user02", Some(&user.access)).await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    let admin = app.login("admin").await;
    let res = app.get("/api/v1/users/user02", Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get("/api/v1/users/ghost01", Some(&admin.access)).await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let res = app.get("/api/v1/users/user02", None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[actix_web::test]
async fn seeding_is_idempotent_and_load_users_can_log_in() {
    let app = spawn_app().await;
    let again = phonebill::seed::run(&app.settings, 25).await.unwrap();
    assert_eq!(again.demo_created, 0);
    assert_eq!(again.load_created, 25);
    let twice = phonebill::seed::run(&app.settings, 25).await.unwrap();
    assert_eq!((twice.demo_created, twice.load_created), (0, 0));
    let t = app.login("load00025").await;
    assert_eq!(t.body["line_number"], "010-5000-0025");
}
