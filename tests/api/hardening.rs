//! The findings of the attack pass of issue 12, each a test that failed before its fix.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, PASSWORD};

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Finding 8: tokens and personal data are never stored by caches (RFC 6749 §5.1), no
/// answer is content-sniffed, and `/docs` cannot be framed.
#[actix_web::test]
async fn tokens_and_personal_data_are_not_cached_nor_sniffed_and_docs_cannot_be_framed() {
    let app = spawn_app().await;
    let login = app.post_login("user01", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(header(&login, "cache-control"), "no-store");
    assert_eq!(header(&login, "x-content-type-options"), "nosniff");
    let body: serde_json::Value = login.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let res = app.refresh(&refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let res = app
        .post_json("/api/v1/bills/inquiry", &json!({}), Some(&access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let res = app.get("/api/v1/products/available", Some(&access)).await;
    assert_eq!(header(&res, "cache-control"), "no-store");
    // Errors too.
    let res = app.get("/api/v1/bills/menu", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");

    let docs = app.get("/docs", None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    let csp = header(&docs, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(header(&docs, "x-frame-options"), "DENY");
}

/// Finding 2: unauthenticated registrations spend a KOS budget of their own, never the
/// customers'; and a change that must fail is refused without asking KOS.
#[actix_web::test]
async fn registrations_never_spend_the_customers_kos_budget() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.kos.max_calls_per_minute = 5;
        s.kos.registration_calls_per_minute = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..10 {
        // Lines of the simulator's generated range: someone else's, refused by KOS's answer.
        let res = app
            .post_json(
                "/api/v1/auth/register",
                &json!({
                    "userId": format!("flood{n:02}"), "customerId": "FLOOD", "lineNumber": format!("0105000{n:04}"),
                    "userName": "홍수", "password": "N3w-passw0rd", "permissions": ["BILL_INQUIRY"],
                }),
                None,
            )
            .await;
        statuses.push(res.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[400, 400, 400], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 503), "{statuses:?}");
    // The customers' budget is whole: cache-missing inquiries of five lines go through.
    for user in ["user01", "user02", "user04", "user05", "admin"] {
        let t = app.login(user).await;
        let res = app
            .post_json("/api/v1/bills/inquiry", &json!({}), Some(&t.access))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{user}");
    }
}

#[actix_web::test]
async fn a_change_to_the_current_product_is_refused_without_any_kos_call() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let current = crate::helpers::current_product(&app, &t.access).await;
    let inquiries = |stats: serde_json::Value| stats["product-inquiry"].as_u64().unwrap_or(0);
    let before = inquiries(app.kos_stats().await);
    // Its own current product (50 times), a discontinued one, another operator's.
    let targets = std::iter::repeat_n(current.as_str(), 50).chain(["3G-OLD-001", "LGU-5G-001"]);
    for target in targets {
        let res = app
            .post_json(
                "/api/v1/products/change",
                &json!({ "lineNumber": "01012345001", "currentProductCode": current,
                         "targetProductCode": target }),
                Some(&t.access),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{target}");
    }
    assert_eq!(
        inquiries(app.kos_stats().await),
        before,
        "a must-fail change asked KOS about the line"
    );
}

/// Finding 9: the login limit holds over any 60 seconds, also across the turn of a minute
/// (a fixed one-minute window let twice the limit through there).
#[actix_web::test]
async fn the_login_limit_holds_across_the_turn_of_a_minute() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.rate_limit.login_per_ip_per_minute = 3;
        s.rate_limit.trust_forwarded_for = true;
    })
    .await;
    let attempt = || {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", "10.9.9.9")
            .json(&json!({ "userId": "user01", "password": "Wrong-passw0rd" }))
            .send()
    };
    // Three tries just before a minute turns, one just after (the clock must get there:
    // these two waits are what the test is about).
    let second = chrono::Utc::now().timestamp() % 60;
    let to_58 = (58 - second).rem_euclid(60) as u64;
    actix_web::rt::time::sleep(std::time::Duration::from_secs(to_58)).await;
    for _ in 0..3 {
        assert_eq!(attempt().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let second = chrono::Utc::now().timestamp() % 60;
    let past_turn = if second >= 58 { 61 - second } else { 0 } as u64;
    actix_web::rt::time::sleep(std::time::Duration::from_secs(past_turn)).await;
    let res = attempt().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((50..=60).contains(&retry), "retry after {retry}");
}

/// Finding 9: internal reasons stay in the log; the client gets the stable code.
#[actix_web::test]
async fn errors_carry_stable_codes_not_internal_reasons() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    assert_eq!(app.logout(&t.access).await.status(), StatusCode::OK);
    let res = app.get("/api/v1/bills/menu", Some(&t.access)).await;
    let body = crate::helpers::assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(body["error"]["details"].is_null(), "{body}");
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"userId\": [")
        .send()
        .await
        .unwrap();
    let body = crate::helpers::assert_error(res, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert!(body["error"]["details"].is_null(), "{body}");
    assert!(!body.to_string().contains("line 1"), "{body}");
}

/// Finding 4: no secret is shipped. With none configured, the first instance generates one
/// and keeps it in PostgreSQL: instances of one install agree, two installs never do, and
/// the secret earlier versions shipped signs nothing that is accepted.
#[actix_web::test]
async fn a_fresh_install_has_a_secret_of_its_own_that_its_instances_share() {
    use secrecy::ExposeSecret;
    let a = spawn_app().await;
    assert!(
        a.settings.jwt.secret.expose_secret().is_empty(),
        "the shipped config has none"
    );
    let b = a.spawn_peer().await;
    let t = a.login("user01").await;
    assert_eq!(
        b.verify(&t.access).await,
        StatusCode::OK,
        "an instance of the same install"
    );
    let other = spawn_app().await;
    assert_eq!(
        other.verify(&t.access).await,
        StatusCode::UNAUTHORIZED,
        "another install's token"
    );
    // The header names the key it was signed with.
    let header = t.access.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert!(header["kid"].as_str().unwrap().starts_with('p'), "{header}");
}

/// Finding 6: a body trickled byte by byte is answered 408 at `[server] body_timeout_ms`
/// and its connection closed.
#[actix_web::test]
async fn a_body_sent_too_slowly_is_408_and_the_connection_closed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = crate::helpers::spawn_app_with(|s| s.server.body_timeout_ms = 1000).await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = async {
        loop {
            // One more byte every 300 ms: never the whole body.
            let mut buf = [0u8; 4096];
            tokio::select! {
                n = conn.read(&mut buf) => {
                    let n = n.unwrap_or(0);
                    if n == 0 { break; }
                    answer.extend_from_slice(&buf[..n]);
                }
                _ = actix_web::rt::time::sleep(std::time::Duration::from_millis(300)) => {
                    let _ = conn.write_all(b" ").await;
                }
            }
        }
    };
    let closed = tokio::time::timeout(std::time::Duration::from_secs(8), read).await;
    assert!(closed.is_ok(), "the connection was still open after 8 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

async fn decoy_attempts(app: &crate::helpers::TestApp) -> i32 {
    use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
    use secrecy::ExposeSecret;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempts: i32,
    }
    let mut conn =
        diesel_async::AsyncPgConnection::establish(app.settings.database.url.expose_secret())
            .await
            .unwrap();
    let row: Row = diesel::sql_query(
        "SELECT failed_login_count AS attempts FROM users WHERE user_id = '!decoy'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    row.attempts
}

/// `phonebill unlock USER` against the app's database, as an operator runs it.
fn unlock(app: &crate::helpers::TestApp, user: &str) -> std::process::Output {
    use secrecy::ExposeSecret;
    std::process::Command::new(env!("CARGO_BIN_EXE_phonebill"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "PHONEBILL__DATABASE__URL",
            app.settings.database.url.expose_secret(),
        )
        .env("PHONEBILL__LOG__LEVEL", "warn")
        .args(["unlock", user])
        .output()
        .unwrap()
}

/// Finding 7: a login for an unknown user writes one row, as a wrong password does (its
/// account's failure count), so the two take the same time; and an operator can unlock any
/// account from the command line, `admin` included, with no ADMIN logged in.
#[actix_web::test]
async fn unknown_users_cost_what_known_ones_do_and_admin_can_be_unlocked_without_an_admin() {
    let app = spawn_app().await;
    let before = decoy_attempts(&app).await;
    for _ in 0..3 {
        let res = app.post_login("nobody-here", "Wrong-passw0rd").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        decoy_attempts(&app).await,
        before + 3,
        "unknown users wrote nothing"
    );
    // A wrong password on a known account writes its counter, not the decoy.
    let res = app.post_login("user02", "Wrong-passw0rd").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(decoy_attempts(&app).await, before + 3);

    for _ in 0..5 {
        let _ = app.post_login("admin", "Wrong-passw0rd").await;
    }
    assert_eq!(
        app.post_login("admin", PASSWORD).await.status(),
        StatusCode::LOCKED
    );
    let out = unlock(&app, "admin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.post_login("admin", PASSWORD).await.status(),
        StatusCode::OK
    );
    let out = unlock(&app, "no-such-user");
    assert!(!out.status.success(), "an unknown user is an error");
}

/// Pub/sub delivery is asynchronous but immediate: a moment, never a TTL.
async fn soon_401(app: &crate::helpers::TestApp, access: &str) -> StatusCode {
    let mut status = app.verify(access).await;
    for _ in 0..20 {
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
        status = app.verify(access).await;
    }
    status
}

/// Finding 5: a suspended account's sessions end at once on every instance and refresh
/// gives it nothing; a permission change ends them too (the next login carries it); and
/// refreshes never take a session past its absolute lifetime.
#[actix_web::test]
async fn suspension_and_permission_changes_end_sessions_everywhere_and_sessions_have_an_end() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let admin = a.login("admin").await;
    let victim = a.login("user01").await;
    assert_eq!(b.verify(&victim.access).await, StatusCode::OK);
    // Only USER_MANAGEMENT may change accounts.
    let res = a
        .post_json(
            "/api/v1/users/user02/suspend",
            &json!({}),
            Some(&victim.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = a
        .post_json(
            "/api/v1/users/user01/suspend",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"]["sessionsEnded"], 1, "{body}");
    assert_eq!(
        soon_401(&b, &victim.access).await,
        StatusCode::UNAUTHORIZED,
        "other instance"
    );
    assert_eq!(a.verify(&victim.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.refresh(&victim.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.post_login("user01", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = a
        .post_json(
            "/api/v1/users/user01/resume",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let again = a.login("user01").await;
    // Taking PRODUCT_CHANGE away ends the session; the next login has only BILL_INQUIRY.
    let res = a
        .client
        .put(a.url("/api/v1/users/user01/permissions"))
        .bearer_auth(&admin.access)
        .json(&json!({ "permissions": ["BILL_INQUIRY"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(soon_401(&b, &again.access).await, StatusCode::UNAUTHORIZED);
    let fresh = a.login("user01").await;
    assert_eq!(fresh.body["user"]["permissions"], json!(["BILL_INQUIRY"]));
    let res = a.get("/api/v1/products/menu", Some(&fresh.access)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = a
        .post_json(
            "/api/v1/users/nobody-x/suspend",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Changes made in the database directly (no API): the next refresh ends the session.
    let sql = |statement: &'static str| {
        let url = {
            use secrecy::ExposeSecret;
            a.settings.database.url.expose_secret().to_string()
        };
        async move {
            use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
            let mut conn = diesel_async::AsyncPgConnection::establish(&url)
                .await
                .unwrap();
            diesel::sql_query(statement)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    };
    let t = a.login("user05").await;
    sql("UPDATE users SET permissions = '{BILL_INQUIRY}' WHERE user_id = 'user05'").await;
    assert_eq!(
        a.refresh(&t.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "old permissions"
    );
    assert_eq!(soon_401(&b, &t.access).await, StatusCode::UNAUTHORIZED);
    let t = a.login("user05").await;
    assert_eq!(t.body["user"]["permissions"], json!(["BILL_INQUIRY"]));
    assert_eq!(
        a.refresh(&t.refresh).await.status(),
        StatusCode::OK,
        "unchanged: refreshed"
    );
    let t = a.login("user02").await;
    sql("UPDATE users SET account_status = 'SUSPENDED' WHERE user_id = 'user02'").await;
    assert_eq!(
        a.refresh(&t.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "suspended"
    );
    assert_eq!(soon_401(&b, &t.access).await, StatusCode::UNAUTHORIZED);

    // Absolute lifetime: refreshed every second, a 3-second session still ends.
    let short = crate::helpers::spawn_app_with(|s| s.auth.session_lifetime_s = 3).await;
    let t = short.login("user02").await;
    let mut refresh = t.refresh.clone();
    let started = std::time::Instant::now();
    let mut refused_after = None;
    while started.elapsed() < std::time::Duration::from_secs(8) {
        // A refresh every 700 ms keeps the session in use: the lifetime must run out anyway.
        actix_web::rt::time::sleep(std::time::Duration::from_millis(700)).await;
        let res = short.refresh(&refresh).await;
        if res.status() != StatusCode::OK {
            refused_after = Some(started.elapsed());
            break;
        }
        let body: serde_json::Value = res.json().await.unwrap();
        refresh = body["data"]["refreshToken"].as_str().unwrap().to_string();
    }
    let after = refused_after.expect("the session outlived its lifetime");
    assert!(after >= std::time::Duration::from_secs(2), "{after:?}");
}

/// Finding 3: with self-registration off, an operator (USER_MANAGEMENT) creates accounts.
#[actix_web::test]
async fn with_self_registration_off_operators_create_the_accounts() {
    let app = crate::helpers::spawn_app_with(|s| s.auth.self_registration = false).await;
    app.kos_customer("CRM0001", "01099990077").await;
    let account = json!({
        "userId": "crmuser1", "customerId": "CRM0001", "lineNumber": "010-9999-0077",
        "userName": "상담등록", "password": "Crm-passw0rd", "permissions": ["BILL_INQUIRY", "PRODUCT_CHANGE"],
    });
    let res = app.post_json("/api/v1/auth/register", &account, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let user01 = app.login("user01").await;
    let res = app
        .post_json("/api/v1/users", &account, Some(&user01.access))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no USER_MANAGEMENT");
    let admin = app.login("admin").await;
    let res = app
        .post_json("/api/v1/users", &account, Some(&admin.access))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        app.post_login("crmuser1", "Crm-passw0rd").await.status(),
        StatusCode::OK
    );
    let res = app
        .post_json("/api/v1/users", &account, Some(&admin.access))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}
