//! Extractors: who is calling (bearer token → live session → `Principal`), with which
//! permission, from which client address.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::{AppState, WorkerFronts};
use crate::actors::identity::session_front;
use crate::domain::identity::token::AccessClaims;
use crate::domain::identity::{LineNumber, Permission, Principal};

/// What an endpoint requires beyond a live session.
pub trait Requirement {
    const PERMISSION: Option<Permission>;
}

/// Any logged-in user.
pub struct AnyUser;
impl Requirement for AnyUser {
    const PERMISSION: Option<Permission> = None;
}

macro_rules! requirement {
    ($name:ident, $perm:expr) => {
        pub struct $name;
        impl Requirement for $name {
            const PERMISSION: Option<Permission> = Some($perm);
        }
    };
}
requirement!(BillInquiry, Permission::BillInquiry);
requirement!(ProductChange, Permission::ProductChange);
requirement!(Admin, Permission::Admin);
requirement!(UserManagement, Permission::UserManagement);

/// A caller with a valid access token, a live session and permission `R`.
pub struct Auth<R: Requirement = AnyUser> {
    pub principal: Principal,
    _requirement: PhantomData<R>,
}

impl<R: Requirement> Auth<R> {
    /// The ownership guard of every line-scoped endpoint: the caller's own line, or ADMIN.
    pub fn ensure_line(&self, line: &LineNumber) -> Result<(), ApiError> {
        if self.principal.may_access_line(line) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))
}

fn fronts(req: &HttpRequest) -> Result<web::Data<WorkerFronts>, ApiError> {
    req.app_data::<web::Data<WorkerFronts>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("worker fronts missing".into()))
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing bearer token"))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("missing bearer token"))?;
    Ok(token.trim().to_string())
}

/// A correctly signed, unexpired access token, whether or not its session is still live
/// (logout uses this so that logging out twice is not an error).
pub struct BearerClaims(pub AccessClaims);

impl FromRequest for BearerClaims {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready((|| {
            let state = state(req)?;
            let token = bearer(req)?;
            let claims = state
                .tokens
                .verify_access(&token)
                .map_err(|_| ApiError::Unauthorized("invalid or expired token"))?;
            Ok(BearerClaims(claims))
        })())
    }
}

impl<R: Requirement + 'static> FromRequest for Auth<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = state(req).and_then(|state| {
            let token = bearer(req)?;
            let claims = state
                .tokens
                .verify_access(&token)
                .map_err(|_| ApiError::Unauthorized("invalid or expired token"))?;
            Ok((fronts(req)?, claims))
        });
        Box::pin(async move {
            let (fronts, claims) = checked?;
            let principal = session_front::check(&fronts.sessions, claims).await??;
            tracing::Span::current().record("user", principal.user_id.as_str());
            if let Some(required) = R::PERMISSION {
                if !principal.has(required) {
                    return Err(ApiError::Forbidden);
                }
            }
            Ok(Auth {
                principal,
                _requirement: PhantomData,
            })
        })
    }
}

/// The client's address for rate limiting: the peer address, or, when
/// `[rate_limit] trust_forwarded_for` is on, the last `X-Forwarded-For` entry: the one our
/// own proxy appended (earlier entries are whatever the client chose to send).
pub struct ClientIp(pub String);

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust = state(req).map(|s| s.trust_forwarded_for).unwrap_or(false);
        let forwarded = trust
            .then(|| {
                req.headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.rsplit(',').next())
                    .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
                    .map(|ip| ip.to_string())
            })
            .flatten();
        let ip = forwarded
            .or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
            .unwrap_or_else(|| "unknown".into());
        std::future::ready(Ok(ClientIp(ip)))
    }
}
