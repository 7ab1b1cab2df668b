//! `/api/v1/auth/*`: login, refresh, logout, registration, token verification, permissions,
//! admin unlock. Login answers raw snake_case JSON (the web client reads it directly);
//! the rest use the envelope.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actors::identity::account::{
    GetAccount, Login, PrepareRegistration, Register, Registration, Unlock,
};
use crate::actors::identity::session::{CloseSession, OpenSession, Refresh};
use crate::actors::telecom::kos_gateway::{Budget, InquireCustomer};
use crate::domain::identity::registration::{check_line, LineInKos};
use crate::domain::identity::{
    AccountStatus, CustomerId, LineNumber, NewPassword, Permission, Permissions, UserId, UserName,
};
use crate::domain::telecom::kos::Answer;
use crate::http::envelope::{ok, with_status};
use crate::http::error::ApiError;
use crate::http::extract::{Admin, AnyUser, Auth, BearerClaims, ClientIp};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/auth")
            .route("/login", web::post().to(login))
            .route("/refresh", web::post().to(refresh))
            .route("/logout", web::post().to(logout))
            .route("/register", web::post().to(register))
            .route("/verify", web::get().to(verify))
            .route("/permissions", web::get().to(permissions))
            .route("/permissions/check", web::post().to(check_permission))
            .route("/unlock/{userId}", web::post().to(unlock)),
    );
}

/// Longest password accepted at login, in bytes (50 characters of up to 4 bytes each, with
/// room); longer ones are refused before any hashing.
const MAX_PASSWORD_LEN: usize = 256;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginRequest {
    #[serde(default, alias = "user_id")]
    user_id: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, alias = "auto_login")]
    #[allow(dead_code)]
    auto_login: Option<bool>,
}

#[derive(Serialize)]
struct LoginUser {
    user_id: String,
    user_name: String,
    line_number: String,
    permissions: Vec<String>,
}

#[derive(Serialize)]
struct LoginResponse {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    user_id: String,
    customer_id: String,
    line_number: String,
    user: LoginUser,
}

async fn login(
    state: web::Data<AppState>,
    client: ClientIp,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut fields = BTreeMap::new();
    let user_id = body.user_id.unwrap_or_default();
    let password = body.password.unwrap_or_default();
    if user_id.trim().is_empty() {
        fields.insert("userId".to_string(), "아이디를 입력해주세요".to_string());
    }
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        fields.insert(
            "password".to_string(),
            "비밀번호를 입력해주세요".to_string(),
        );
    }
    if !fields.is_empty() {
        return Err(ApiError::Validation(fields));
    }
    let user_id = user_id.trim().to_string();
    let account = state
        .actors
        .identity
        .accounts
        .ask(
            &user_id,
            Login {
                user_id: user_id.clone(),
                password,
                client: client.0,
            },
        )
        .await??;
    let tokens = state
        .actors
        .identity
        .sessions
        .ask(&account.user_id, OpenSession(account.session_record()))
        .await??;
    let line = account.line_number.to_string();
    tracing::info!(user = %account.user_id, "login");
    Ok(HttpResponse::Ok().json(LoginResponse {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        user_id: account.user_id.clone(),
        customer_id: account.customer_id,
        line_number: line.clone(),
        user: LoginUser {
            user_id: account.user_id,
            user_name: account.user_name,
            line_number: line,
            permissions: account.permissions.names(),
        },
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    #[serde(default, alias = "refresh_token")]
    refresh_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body
        .into_inner()
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::field("refreshToken", "refreshToken이 필요합니다"))?;
    let claims = state
        .tokens
        .verify_refresh(&token)
        .map_err(|_| ApiError::Unauthorized("invalid or expired refresh token"))?;
    let user = claims.sub.clone();
    // The account as it is now, whoever changed it (the API ends sessions at once; a change
    // made in the database directly takes effect here, within an access token's lifetime):
    // one suspended or removed gets no new tokens, and a session whose permissions are no
    // longer the account's ends (see `Refresh`).
    let account = match UserId::parse(&user) {
        Ok(id) => {
            state
                .actors
                .identity
                .accounts
                .ask(&user, GetAccount(id))
                .await??
        }
        Err(_) => None,
    };
    let Some(account) = account.filter(|a| a.account_status == AccountStatus::Active) else {
        close_session(&state, &user, claims.sid).await?;
        return Err(ApiError::Unauthorized("account not active"));
    };
    let refresh = Refresh {
        claims,
        permissions: account.permissions.names(),
    };
    let tokens = state.actors.identity.sessions.ask(&user, refresh).await??;
    Ok(ok(TokenPair {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
    }))
}

/// Ends the session of the presented token on every instance. Idempotent: a token whose
/// session already ended still logs out successfully.
async fn logout(
    state: web::Data<AppState>,
    bearer: BearerClaims,
) -> Result<HttpResponse, ApiError> {
    let claims = bearer.0;
    close_session(&state, &claims.sub, claims.sid).await?;
    tracing::info!(user = %claims.sub, "logout");
    Ok(ok(json!({})))
}

/// Ends session `sid` of `user` on every instance.
async fn close_session(state: &AppState, user: &str, sid: uuid::Uuid) -> Result<(), ApiError> {
    let close = CloseSession {
        user_id: user.to_string(),
        sid,
    };
    state.actors.identity.sessions.ask(user, close).await??;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    line_number: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    permissions: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredUser {
    user_id: String,
    customer_id: String,
    line_number: String,
    user_name: String,
    permissions: Vec<String>,
}

/// Who is creating an account: the customer (self-registration: only self-grantable
/// permissions, rate limited) or an operator with `USER_MANAGEMENT` (any permission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registrant {
    Customer,
    Operator,
}

/// Parses a registration, collecting every field's problem at once.
pub fn parse_registration(body: RegisterRequest, by: Registrant) -> Result<Registration, ApiError> {
    let mut errors = BTreeMap::new();
    let mut field = |name: &str, problem: &str| {
        errors.insert(name.to_string(), problem.to_string());
    };
    let user_id = UserId::parse(body.user_id.as_deref().unwrap_or_default())
        .map_err(|e| field("userId", e))
        .ok();
    let customer_id = CustomerId::parse(body.customer_id.as_deref().unwrap_or_default())
        .map_err(|e| field("customerId", e))
        .ok();
    let line_number = LineNumber::parse(body.line_number.as_deref().unwrap_or_default())
        .map_err(|e| field("lineNumber", e))
        .ok();
    let user_name = UserName::parse(body.user_name.as_deref().unwrap_or_default())
        .map_err(|e| field("userName", e))
        .ok();
    let password = NewPassword::parse(body.password.as_deref().unwrap_or_default())
        .map_err(|e| field("password", e))
        .ok();
    let requested = body.permissions.unwrap_or_default();
    let mut granted = Vec::new();
    for name in &requested {
        match name.parse::<Permission>() {
            Ok(p) if by == Registrant::Operator || p.self_grantable() => granted.push(p),
            Ok(_) => field("permissions", "자가 가입으로는 부여할 수 없는 권한입니다"),
            Err(()) => field("permissions", "알 수 없는 권한입니다"),
        }
    }
    if requested.is_empty() {
        granted = vec![Permission::BillInquiry, Permission::ProductChange];
    }
    match (user_id, customer_id, line_number, user_name, password) {
        (Some(user_id), Some(customer_id), Some(line_number), Some(user_name), Some(password))
            if errors.is_empty() =>
        {
            Ok(Registration {
                user_id,
                customer_id,
                line_number,
                user_name,
                password,
                permissions: Permissions::new(granted),
            })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

async fn register(
    state: web::Data<AppState>,
    client: ClientIp,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    if !state.registration.self_registration {
        return Err(ApiError::ForbiddenCode {
            code: "REGISTRATION_CLOSED",
            message: "자가 가입을 받지 않습니다. 운영자에게 계정을 요청하세요".into(),
        });
    }
    let registration = parse_registration(body.into_inner(), Registrant::Customer)?;
    create_account(&state, registration, Some(client.0)).await
}

/// Creates an account in SPEC's order: input was parsed already (400); then the client's
/// rate (429, self-registration only) and taken ids (409); only then KOS, so neither a
/// duplicate nor a flood reaches the KOS budget (and registration has a KOS budget of its
/// own): a line KOS holds for another customer is never registered.
pub async fn create_account(
    state: &AppState,
    registration: Registration,
    client: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let view = RegisteredUser {
        user_id: registration.user_id.to_string(),
        customer_id: registration.customer_id.as_str().to_string(),
        line_number: registration.line_number.to_string(),
        user_name: registration.user_name.as_str().to_string(),
        permissions: registration.permissions.names(),
    };
    let key = view.user_id.clone();
    state
        .actors
        .identity
        .accounts
        .ask(
            &key,
            PrepareRegistration {
                user_id: registration.user_id.clone(),
                line_number: registration.line_number.clone(),
                client,
            },
        )
        .await??;
    let customer = state
        .actors
        .telecom
        .kos
        .ask_shard(
            0,
            InquireCustomer {
                line: registration.line_number.clone(),
                budget: Budget::Registration,
            },
        )
        .await??;
    let held = match &customer {
        Answer::Ok(c) => LineInKos::HeldBy(&c.customer_id),
        Answer::Refused { code, .. } => LineInKos::from_refusal(code),
    };
    check_line(
        held,
        &registration.customer_id,
        state.registration.allow_unknown_lines,
    )
    .map_err(|refusal| ApiError::field("lineNumber", refusal.message()))?;
    state
        .actors
        .identity
        .accounts
        .ask(&key, Register(registration))
        .await??;
    tracing::info!(user = %key, "registered");
    Ok(with_status(StatusCode::CREATED, view))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyResponse {
    valid: bool,
    user_id: String,
    customer_id: String,
    line_number: String,
    expires_at: String,
}

async fn verify(auth: Auth<AnyUser>) -> Result<HttpResponse, ApiError> {
    let p = auth.principal;
    Ok(ok(VerifyResponse {
        valid: true,
        user_id: p.user_id.to_string(),
        customer_id: p.customer_id.as_str().to_string(),
        line_number: p.line_number.to_string(),
        expires_at: p.expires_at.to_rfc3339(),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PermissionView {
    permission: &'static str,
    description: &'static str,
    granted: bool,
}

async fn permissions(auth: Auth<AnyUser>) -> Result<HttpResponse, ApiError> {
    let p = &auth.principal;
    let list: Vec<PermissionView> = Permission::ALL
        .into_iter()
        .map(|perm| PermissionView {
            permission: perm.as_str(),
            description: perm.description(),
            granted: p.has(perm),
        })
        .collect();
    Ok(ok(json!({ "userId": p.user_id, "permissions": list })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckRequest {
    #[serde(default)]
    service_type: Option<String>,
}

async fn check_permission(
    auth: Auth<AnyUser>,
    body: web::Json<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    let service_type = body.into_inner().service_type.unwrap_or_default();
    let permission = match service_type.as_str() {
        "BILL_INQUIRY" => Permission::BillInquiry,
        "PRODUCT_CHANGE" => Permission::ProductChange,
        _ => {
            return Err(ApiError::field(
                "serviceType",
                "serviceType은 BILL_INQUIRY 또는 PRODUCT_CHANGE 여야 합니다",
            ))
        }
    };
    Ok(ok(json!({
        "serviceType": service_type,
        "hasPermission": auth.principal.has(permission),
    })))
}

async fn unlock(
    state: web::Data<AppState>,
    _admin: Auth<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = UserId::parse(&path.into_inner()).map_err(|e| ApiError::field("userId", e))?;
    let found = state
        .actors
        .identity
        .accounts
        .ask(user_id.as_str(), Unlock(user_id.clone()))
        .await??;
    if !found {
        return Err(ApiError::NotFound("사용자"));
    }
    tracing::info!(user = %user_id, "account unlocked by admin");
    Ok(ok(json!({ "userId": user_id, "unlocked": true })))
}
