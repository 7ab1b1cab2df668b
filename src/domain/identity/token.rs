//! Access and refresh tokens: HS256 JWTs with the algorithm pinned and `iss`, `aud`, `exp`,
//! `nbf` required. Both carry the session id; a refresh token also carries its generation in
//! the session's refresh-token family (rotation and reuse detection live in the session actor).
//!
//! Keys have ids (`kid` in the header; a token without one, or with a `crit` header, is
//! refused). Either a configured secret is the one key, of a configured id; or the keys
//! rotate by themselves: each period
//! of `rotate_every` has its own key, derived from a master secret (HMAC-SHA256 of the key
//! id), so that every instance signs with the same key at the same time without talking to
//! the others, and a token stays verifiable through the next period (the overlap).

use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::hmac;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub sub: String,
    pub sid: Uuid,
    /// Position in the session's refresh-token family; only the newest is usable.
    pub generation: u64,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

impl AccessClaims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0)
            .single()
            .unwrap_or_else(Utc::now)
    }
}

/// The pair handed to a client at login and on every refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

#[derive(Debug, thiserror::Error)]
#[error("token signing failed: {0}")]
pub struct SigningFailed(#[from] jsonwebtoken::errors::Error);

/// Where the signing keys come from.
pub enum KeySource {
    /// `[jwt] secret`: the one key, of id `kid`, used verbatim (no rotation).
    Configured { kid: String, secret: Vec<u8> },
    /// Keys derived from a master secret, one per period of `period_s` seconds.
    Rotating { master: Vec<u8>, period_s: u64 },
}

/// Keys and rules for both token kinds. Built once at start-up.
pub struct TokenKeys {
    source: KeySource,
    /// The verification keys derived so far, by period (the periods still accepted): a key
    /// is derived once per period, not once per token verified.
    derived: ArcSwap<Vec<(i64, Arc<hmac::Key>)>>,
    /// A configured secret's verification key.
    configured: Option<Arc<hmac::Key>>,
    /// Seconds of clock difference allowed on `exp` and `nbf`.
    leeway_s: i64,
    issuer: String,
    audience: String,
    refresh_audience: String,
    access_ttl_s: u64,
    refresh_ttl_s: u64,
}

impl TokenKeys {
    pub fn new(
        source: KeySource,
        issuer: &str,
        audience: &str,
        access_ttl_s: u64,
        refresh_ttl_s: u64,
        leeway_s: u64,
    ) -> Self {
        // A refresh token is never accepted as an access token and vice versa: distinct `aud`.
        let refresh_audience = format!("{audience}#refresh");
        let configured = match &source {
            KeySource::Configured { secret, .. } => {
                Some(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret)))
            }
            KeySource::Rotating { .. } => None,
        };
        Self {
            source,
            derived: ArcSwap::from_pointee(Vec::new()),
            configured,
            leeway_s: i64::try_from(leeway_s).unwrap_or(i64::MAX),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            refresh_audience,
            access_ttl_s,
            refresh_ttl_s,
        }
    }

    /// The id and secret that sign at `now`.
    fn signing_key(&self, now: DateTime<Utc>) -> (String, Vec<u8>) {
        match &self.source {
            KeySource::Configured { kid, secret } => (kid.clone(), secret.clone()),
            KeySource::Rotating { master, period_s } => {
                let kid = period_kid(period(now, *period_s));
                let secret = derive(master, &kid);
                (kid, secret)
            }
        }
    }

    /// The key of `kid`, if tokens signed with it are still accepted at `now`.
    fn verification_key(&self, kid: &str, now: DateTime<Utc>) -> Option<Arc<hmac::Key>> {
        match &self.source {
            KeySource::Configured { kid: current, .. } => {
                (kid == current).then(|| self.configured.clone()).flatten()
            }
            KeySource::Rotating { master, period_s } => {
                let p = kid.strip_prefix('p')?.parse::<i64>().ok()?;
                let current = period(now, *period_s);
                // This period's, the previous one's (the overlap), and the next one's (an
                // instance whose clock runs a little ahead).
                let accepted = current - 1..=current + 1;
                if !accepted.contains(&p) {
                    return None;
                }
                let known = self.derived.load();
                if let Some((_, key)) = known.iter().find(|(q, _)| *q == p) {
                    return Some(key.clone());
                }
                let key = Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &derive(master, kid)));
                // Two threads deriving the same key at once both store it: harmless.
                let mut next: Vec<_> = known
                    .iter()
                    .filter(|(q, _)| accepted.contains(q))
                    .cloned()
                    .collect();
                next.push((p, key.clone()));
                self.derived.store(Arc::new(next));
                Some(key)
            }
        }
    }

    /// The claims of `token` if it is one of ours, of audience `audience`, valid at `now`:
    /// three base64url parts; a header of algorithm HS256 naming a key we accept (`kid`),
    /// without `crit` (RFC 7515 §4.1.11: extensions we do not understand); a signature that
    /// is that key's HMAC-SHA256 of the first two parts (compared in constant time, before
    /// the claims are read); then `iss`, `aud`, `exp` and `nbf` (with the leeway).
    fn verify<C: DeserializeOwned + Registered>(
        &self,
        token: &str,
        audience: &str,
        now: DateTime<Utc>,
    ) -> Result<C, InvalidToken> {
        #[derive(Deserialize)]
        struct KeyHeader {
            alg: String,
            kid: Option<String>,
            #[serde(default)]
            crit: Present,
        }
        /// Whether a field is there at all (even as `null`).
        #[derive(Default)]
        struct Present(bool);
        impl<'de> Deserialize<'de> for Present {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
            }
        }
        let b64 = |part: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| InvalidToken)
        };
        let (signed, signature) = token.rsplit_once('.').ok_or(InvalidToken)?;
        let (header, claims) = signed.split_once('.').ok_or(InvalidToken)?;
        let header: KeyHeader = serde_json::from_slice(&b64(header)?).map_err(|_| InvalidToken)?;
        if header.alg != "HS256" || header.crit.0 {
            return Err(InvalidToken);
        }
        let key = self
            .verification_key(&header.kid.ok_or(InvalidToken)?, now)
            .ok_or(InvalidToken)?;
        hmac::verify(&key, signed.as_bytes(), &b64(signature)?).map_err(|_| InvalidToken)?;
        let claims: C = serde_json::from_slice(&b64(claims)?).map_err(|_| InvalidToken)?;
        let now = now.timestamp();
        let valid = claims.iss() == self.issuer
            && claims.aud() == audience
            && claims.exp() >= now.saturating_sub(self.leeway_s)
            && claims.nbf() <= now.saturating_add(self.leeway_s);
        valid.then_some(claims).ok_or(InvalidToken)
    }

    pub fn access_ttl_s(&self) -> u64 {
        self.access_ttl_s
    }

    pub fn refresh_ttl_s(&self) -> u64 {
        self.refresh_ttl_s
    }

    /// Signs a fresh access/refresh pair for session `sid` at refresh generation `generation`.
    pub fn issue(
        &self,
        user_id: &str,
        sid: Uuid,
        generation: u64,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, SigningFailed> {
        let iat = now.timestamp();
        let access = AccessClaims {
            sub: user_id.to_string(),
            sid,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            nbf: iat,
            exp: iat + self.access_ttl_s as i64,
            jti: Uuid::new_v4(),
        };
        let refresh = RefreshClaims {
            sub: user_id.to_string(),
            sid,
            generation,
            iss: self.issuer.clone(),
            aud: self.refresh_audience.clone(),
            iat,
            nbf: iat,
            exp: iat + self.refresh_ttl_s as i64,
            jti: Uuid::new_v4(),
        };
        let (kid, secret) = self.signing_key(now);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid);
        let key = EncodingKey::from_secret(&secret);
        Ok(IssuedTokens {
            access_token: encode(&header, &access, &key)?,
            refresh_token: encode(&header, &refresh, &key)?,
            expires_in: self.access_ttl_s,
        })
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, InvalidToken> {
        self.verify(token, &self.audience, Utc::now())
    }

    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, InvalidToken> {
        self.verify(token, &self.refresh_audience, Utc::now())
    }
}

/// The registered claims every token of ours carries and `verify` checks.
trait Registered {
    fn iss(&self) -> &str;
    fn aud(&self) -> &str;
    fn exp(&self) -> i64;
    fn nbf(&self) -> i64;
}

macro_rules! registered {
    ($claims:ty) => {
        impl Registered for $claims {
            fn iss(&self) -> &str {
                &self.iss
            }
            fn aud(&self) -> &str {
                &self.aud
            }
            fn exp(&self) -> i64 {
                self.exp
            }
            fn nbf(&self) -> i64 {
                self.nbf
            }
        }
    };
}
registered!(AccessClaims);
registered!(RefreshClaims);

fn period(now: DateTime<Utc>, period_s: u64) -> i64 {
    now.timestamp().div_euclid(period_s.max(1) as i64)
}

fn period_kid(p: i64) -> String {
    format!("p{p}")
}

/// A period's key: HMAC-SHA256 of its id under the master secret.
fn derive(master: &[u8], kid: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, master);
    ring::hmac::sign(&key, format!("phonebill-jwt:{kid}").as_bytes())
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn configured(secret: &[u8]) -> KeySource {
        KeySource::Configured {
            kid: "k1".into(),
            secret: secret.to_vec(),
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(
            configured(b"0123456789abcdef0123456789abcdef"),
            "phonebill",
            "web",
            1800,
            86400,
            0,
        )
    }

    fn rotating(period_s: u64) -> TokenKeys {
        TokenKeys::new(
            KeySource::Rotating {
                master: b"master-secret-master-secret-0123".to_vec(),
                period_s,
            },
            "phonebill",
            "web",
            1800,
            86400,
            0,
        )
    }

    #[test]
    fn rotating_keys_sign_with_the_periods_key_and_accept_the_previous_one() {
        let k = rotating(7 * 86400);
        let now = Utc::now();
        let p = period(now, 7 * 86400);
        let (kid, secret) = k.signing_key(now);
        assert_eq!(kid, format!("p{p}"));
        assert!(k.verification_key(&format!("p{}", p - 1), now).is_some());
        assert!(k.verification_key(&format!("p{}", p - 2), now).is_none());
        assert!(k.verification_key("k1", now).is_none());
        // Another period signs with another key.
        let (next_kid, next) = k.signing_key(now + Duration::days(7));
        assert_ne!((next_kid, next), (kid, secret));
        let t = k.issue("user01", Uuid::new_v4(), 0, now).unwrap();
        assert!(k.verify_access(&t.access_token).is_ok());
    }

    #[test]
    fn tokens_without_kid_or_with_crit_are_refused() {
        let k = keys();
        let claims = serde_json::json!({
            "sub": "user01", "sid": Uuid::new_v4(), "iss": "phonebill", "aud": "web",
            "iat": Utc::now().timestamp(), "nbf": Utc::now().timestamp(),
            "exp": Utc::now().timestamp() + 600, "jti": Uuid::new_v4(),
        });
        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let mut good = Header::new(Algorithm::HS256);
        good.kid = Some("k1".into());
        assert!(k
            .verify_access(&encode(&good, &claims, &key).unwrap())
            .is_ok());
        let no_kid = Header::new(Algorithm::HS256);
        assert!(k
            .verify_access(&encode(&no_kid, &claims, &key).unwrap())
            .is_err());
        // A `crit` header, written by hand (jsonwebtoken has no field for it).
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let head = b64(
            &serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "k1", "crit": ["exp"], "exp": 1}),
        );
        let body = b64(&claims);
        let signing = format!("{head}.{body}");
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef"),
            signing.as_bytes(),
        );
        let token = format!(
            "{signing}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref())
        );
        assert!(k.verify_access(&token).is_err());
    }

    #[test]
    fn other_algorithms_tampered_tokens_and_claims_out_of_bounds_are_refused() {
        let k = keys();
        let secret = b"0123456789abcdef0123456789abcdef";
        let now = Utc::now().timestamp();
        let claims = |iss: &str, nbf: i64, exp: i64| {
            serde_json::json!({
                "sub": "user01", "sid": Uuid::new_v4(), "iss": iss, "aud": "web",
                "iat": now, "nbf": nbf, "exp": exp, "jti": Uuid::new_v4(),
            })
        };
        let sign = |alg: Algorithm, c: &serde_json::Value| {
            let mut h = Header::new(alg);
            h.kid = Some("k1".into());
            encode(&h, c, &EncodingKey::from_secret(secret)).unwrap()
        };
        let good = sign(Algorithm::HS256, &claims("phonebill", now, now + 600));
        assert!(k.verify_access(&good).is_ok());
        // Another HMAC algorithm under the same key.
        assert!(k
            .verify_access(&sign(
                Algorithm::HS512,
                &claims("phonebill", now, now + 600)
            ))
            .is_err());
        // A claim changed after signing, a signature cut short, parts missing.
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(claims("phonebill", now, now + 60_000).to_string());
        assert!(k.verify_access(&format!("{head}.{forged}.{sig}")).is_err());
        assert!(k.verify_access(&good[..good.len() - 2]).is_err());
        assert!(k.verify_access(&format!("{head}.{sig}")).is_err());
        assert!(k.verify_access("").is_err());
        // Someone else's issuer, not valid yet, expired a moment ago; and, within a leeway of
        // 30 s, a token a moment from valid or a moment expired.
        let lenient = TokenKeys::new(configured(secret), "phonebill", "web", 1800, 86400, 30);
        for (keys, iss, nbf, exp, accepted) in [
            (&k, "other", now, now + 600, false),
            (&k, "phonebill", now + 60, now + 600, false),
            (&k, "phonebill", now - 600, now - 1, false),
            (&lenient, "phonebill", now + 10, now + 600, true),
            (&lenient, "phonebill", now - 600, now - 10, true),
        ] {
            let token = sign(Algorithm::HS256, &claims(iss, nbf, exp));
            assert_eq!(
                keys.verify_access(&token).is_ok(),
                accepted,
                "{iss} {nbf} {exp}"
            );
        }
    }

    #[test]
    fn issued_tokens_verify_with_their_own_kind_only() {
        let k = keys();
        let sid = Uuid::new_v4();
        let t = k.issue("user01", sid, 3, Utc::now()).unwrap();
        let a = k.verify_access(&t.access_token).unwrap();
        assert_eq!((a.sub.as_str(), a.sid), ("user01", sid));
        let r = k.verify_refresh(&t.refresh_token).unwrap();
        assert_eq!((r.sid, r.generation), (sid, 3));
        assert!(k.verify_access(&t.refresh_token).is_err());
        assert!(k.verify_refresh(&t.access_token).is_err());
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let k = keys();
        let old = k
            .issue("user01", Uuid::new_v4(), 0, Utc::now() - Duration::hours(2))
            .unwrap();
        assert!(k.verify_access(&old.access_token).is_err());
        let other = TokenKeys::new(
            configured(b"another-secret-another-secret-xx"),
            "phonebill",
            "web",
            1800,
            86400,
            0,
        );
        let t = other
            .issue("user01", Uuid::new_v4(), 0, Utc::now())
            .unwrap();
        assert!(k.verify_access(&t.access_token).is_err());
    }
}
