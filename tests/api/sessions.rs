//! Tokens and sessions: refresh rotation, reuse detection, logout everywhere, forged tokens.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

#[actix_web::test]
async fn refresh_rotates_both_tokens() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let res = app.refresh(&t.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let d = &body["data"];
    assert_eq!(d["tokenType"], "Bearer");
    assert_eq!(d["expiresIn"], 1800);
    let new_refresh = d["refreshToken"].as_str().unwrap();
    assert_ne!(new_refresh, t.refresh);
    assert_eq!(
        app.verify(d["accessToken"].as_str().unwrap()).await,
        StatusCode::OK
    );
    // The rotated token works once more.
    assert_eq!(app.refresh(new_refresh).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let t = app.login("user01").await;
    let body: Value = app.refresh(&t.refresh).await.json().await.unwrap();
    let newest_refresh = body["data"]["refreshToken"].as_str().unwrap().to_string();
    let newest_access = body["data"]["accessToken"].as_str().unwrap().to_string();

    let reuse = app.refresh(&t.refresh).await;
    assert_error(reuse, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(
        app.refresh(&newest_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.verify(&newest_access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.verify(&t.access).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn logout_ends_both_tokens_at_once_and_is_idempotent() {
    let app = spawn_app().await;
    let t = app.login("user02").await;
    let other = app.login("user02").await;
    assert_eq!(app.verify(&t.access).await, StatusCode::OK);
    let res = app.logout(&t.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(app.verify(&t.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&t.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.logout(&t.access).await.status(), StatusCode::OK);
    // Another session of the same user is untouched.
    assert_eq!(app.verify(&other.access).await, StatusCode::OK);
}

#[actix_web::test]
async fn logout_on_one_instance_is_effective_on_the_other_at_once() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let t = a.login("user01").await;
    // B has the session in its memory before the logout.
    assert_eq!(b.verify(&t.access).await, StatusCode::OK);
    assert_eq!(a.logout(&t.access).await.status(), StatusCode::OK);
    let mut status = b.verify(&t.access).await;
    // Pub/sub delivery is asynchronous but immediate; allow it a moment, never a TTL.
    for _ in 0..20 {
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
        status = b.verify(&t.access).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn sessions_and_refresh_work_across_instances() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let t = a.login("user05").await;
    let res = b.refresh(&t.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let access = body["data"]["accessToken"].as_str().unwrap();
    assert_eq!(a.verify(access).await, StatusCode::OK);
    // The spent token is spent on every instance.
    assert_eq!(
        a.refresh(&t.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Signs as the service would with its configured secret (the test configures one).
fn sign(app: &TestApp, claims: &Value, alg: Algorithm) -> String {
    let secret = app.settings.jwt.secret.expose_secret().as_bytes().to_vec();
    let mut header = Header::new(alg);
    header.kid = Some(app.settings.jwt.key_id.clone());
    encode(&header, claims, &EncodingKey::from_secret(&secret)).unwrap()
}

/// The tests that forge tokens know the key: a configured one.
async fn with_known_key() -> TestApp {
    crate::helpers::spawn_app_with(|s| {
        s.jwt.secret = secrecy::SecretString::from("test-secret-test-secret-test-secret-0");
    })
    .await
}

fn claims_of(app: &TestApp, token: &str) -> Value {
    use base64_payload::decode_part;
    let _ = app;
    decode_part(token.split('.').nth(1).unwrap())
}

mod base64_payload {
    /// Minimal base64url decoding of a JWT part, enough to read our own claims in tests.
    pub fn decode_part(part: &str) -> serde_json::Value {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u32;
        let mut nbits = 0;
        let mut out = Vec::new();
        for c in part.bytes() {
            let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                out.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        serde_json::from_slice(&out).unwrap()
    }

    pub fn encode_part(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[actix_web::test]
async fn forged_expired_and_foreign_tokens_are_401() {
    let app = with_known_key().await;
    let t = app.login("user01").await;
    let good = claims_of(&app, &t.access);
    let now = chrono::Utc::now().timestamp();

    let mut forged = Vec::new();
    // Tampered payload, original signature.
    let parts: Vec<&str> = t.access.split('.').collect();
    let mut admin_claims = good.clone();
    admin_claims["sub"] = json!("admin");
    let payload = base64_payload::encode_part(admin_claims.to_string().as_bytes());
    forged.push(format!("{}.{}.{}", parts[0], payload, parts[2]));
    // alg: none.
    let none_header = base64_payload::encode_part(br#"{"alg":"none","typ":"JWT"}"#);
    forged.push(format!("{none_header}.{}.", parts[1]));
    // Another algorithm with the same secret.
    forged.push(sign(&app, &good, Algorithm::HS512));
    // Expired.
    let mut c = good.clone();
    c["iat"] = json!(now - 7200);
    c["nbf"] = json!(now - 7200);
    c["exp"] = json!(now - 3600);
    forged.push(sign(&app, &c, Algorithm::HS256));
    // Not yet valid.
    let mut c = good.clone();
    c["nbf"] = json!(now + 3600);
    forged.push(sign(&app, &c, Algorithm::HS256));
    // Wrong issuer, wrong audience.
    let mut c = good.clone();
    c["iss"] = json!("someone-else");
    forged.push(sign(&app, &c, Algorithm::HS256));
    let mut c = good.clone();
    c["aud"] = json!("another-service");
    forged.push(sign(&app, &c, Algorithm::HS256));
    // Validly signed but for a session that does not exist.
    let mut c = good.clone();
    c["sid"] = json!(uuid::Uuid::new_v4());
    forged.push(sign(&app, &c, Algorithm::HS256));
    // Someone else's session id under a different subject.
    let mut c = good.clone();
    c["sub"] = json!("user02");
    forged.push(sign(&app, &c, Algorithm::HS256));
    // A refresh token used as an access token.
    forged.push(t.refresh.clone());
    // Wrong secret; the secret earlier versions shipped; no key id; an unknown key id.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(app.settings.jwt.key_id.clone());
    for secret in [
        b"not-the-secret-not-the-secret-xx".as_slice(),
        phonebill::settings::DEFAULT_JWT_SECRET.as_bytes(),
    ] {
        forged.push(encode(&header, &good, &EncodingKey::from_secret(secret)).unwrap());
    }
    let secret = app.settings.jwt.secret.expose_secret().as_bytes().to_vec();
    forged.push(
        encode(
            &Header::new(Algorithm::HS256),
            &good,
            &EncodingKey::from_secret(&secret),
        )
        .unwrap(),
    );
    let mut unknown = Header::new(Algorithm::HS256);
    unknown.kid = Some("p1".into());
    forged.push(encode(&unknown, &good, &EncodingKey::from_secret(&secret)).unwrap());

    for (i, token) in forged.iter().enumerate() {
        let res = app.get("/api/v1/auth/verify", Some(token)).await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "forged token #{i} accepted"
        );
    }
    // The genuine token still works, so the rejections above are not an accident.
    assert_eq!(app.verify(&t.access).await, StatusCode::OK);
    let res = app
        .client
        .get(app.url("/api/v1/auth/verify"))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}
