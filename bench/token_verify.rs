//! Access-token verification cost: a configured secret against generated rotating keys
//! (kid lookup, `crit` check, the period key derived by HMAC-SHA256), and against the bare
//! `jsonwebtoken::decode` with a fixed key (what verification was before key ids), in one run.
//!     cargo run --release --example token_verify [ITERATIONS]
use std::time::Instant;

use phonebill::domain::identity::token::{KeySource, TokenKeys};

fn keys(source: KeySource) -> TokenKeys {
    TokenKeys::new(source, "phonebill", "phonebill-web", 1800, 86400, 5)
}

fn per_second(keys: &TokenKeys, iterations: u32) -> f64 {
    let issued = keys
        .issue("user01", uuid::Uuid::new_v4(), 0, chrono::Utc::now())
        .unwrap_or_else(|e| panic!("issue: {e}"));
    let started = Instant::now();
    for _ in 0..iterations {
        if keys.verify_access(&issued.access_token).is_err() {
            panic!("a fresh token did not verify");
        }
    }
    f64::from(iterations) / started.elapsed().as_secs_f64()
}

/// The baseline: decode with one fixed key and the same validation, nothing else.
fn bare_per_second(iterations: u32) -> f64 {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let secret = b"bench-secret-bench-secret-bench-secret";
    let keys = keys(KeySource::Configured {
        kid: "configured".into(),
        secret: secret.to_vec(),
    });
    let issued = keys
        .issue("user01", uuid::Uuid::new_v4(), 0, chrono::Utc::now())
        .unwrap_or_else(|e| panic!("issue: {e}"));
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&["phonebill"]);
    v.set_audience(&["phonebill-web"]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    let key = DecodingKey::from_secret(secret);
    let started = Instant::now();
    for _ in 0..iterations {
        if decode::<phonebill::domain::identity::token::AccessClaims>(
            &issued.access_token,
            &key,
            &v,
        )
        .is_err()
        {
            panic!("a fresh token did not decode");
        }
    }
    f64::from(iterations) / started.elapsed().as_secs_f64()
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let configured = keys(KeySource::Configured {
        kid: "configured".into(),
        secret: b"bench-secret-bench-secret-bench-secret".to_vec(),
    });
    let rotating = keys(KeySource::Rotating {
        master: vec![7u8; 32],
        period_s: 604_800,
    });
    // Alternated, twice, so neither pays for running first.
    for round in 1..=2 {
        let b = bare_per_second(iterations);
        let c = per_second(&configured, iterations);
        let r = per_second(&rotating, iterations);
        println!(
            "round {round}: bare decode {b:.0}/s ({:.2} us); configured {c:.0}/s ({:.2} us, {:.2} of bare); rotating {r:.0}/s ({:.2} us, {:.2} of bare)",
            1e6 / b,
            1e6 / c,
            c / b,
            1e6 / r,
            r / b
        );
    }
}
