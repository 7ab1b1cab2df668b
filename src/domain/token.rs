//! Access and refresh tokens: HS256 JWTs with the algorithm pinned and `iss`, `aud`, `exp`,
//! `nbf` required. Both carry the session id; a refresh token also carries its generation in
//! the session's refresh-token family (rotation and reuse detection live in the session actor).

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
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

/// Keys and rules for both token kinds. Built once at start-up.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_validation: Validation,
    refresh_validation: Validation,
    issuer: String,
    audience: String,
    refresh_audience: String,
    access_ttl_s: u64,
    refresh_ttl_s: u64,
}

impl TokenKeys {
    pub fn new(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        access_ttl_s: u64,
        refresh_ttl_s: u64,
        leeway_s: u64,
    ) -> Self {
        // A refresh token is never accepted as an access token and vice versa: distinct `aud`.
        let refresh_audience = format!("{audience}#refresh");
        let validation = |aud: &str| {
            let mut v = Validation::new(Algorithm::HS256);
            v.algorithms = vec![Algorithm::HS256];
            v.set_issuer(&[issuer]);
            v.set_audience(&[aud]);
            v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
            v.validate_exp = true;
            v.validate_nbf = true;
            v.leeway = leeway_s;
            v
        };
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_validation: validation(audience),
            refresh_validation: validation(&refresh_audience),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            refresh_audience,
            access_ttl_s,
            refresh_ttl_s,
        }
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
        let header = Header::new(Algorithm::HS256);
        Ok(IssuedTokens {
            access_token: encode(&header, &access, &self.encoding)?,
            refresh_token: encode(&header, &refresh, &self.encoding)?,
            expires_in: self.access_ttl_s,
        })
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, InvalidToken> {
        decode::<AccessClaims>(token, &self.decoding, &self.access_validation)
            .map(|d| d.claims)
            .map_err(|_| InvalidToken)
    }

    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, InvalidToken> {
        decode::<RefreshClaims>(token, &self.decoding, &self.refresh_validation)
            .map(|d| d.claims)
            .map_err(|_| InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            b"0123456789abcdef0123456789abcdef",
            "phonebill",
            "web",
            1800,
            86400,
            0,
        )
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
            b"another-secret-another-secret-xx",
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
