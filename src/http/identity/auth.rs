//! `/api/v1/auth/*`: login, refresh, logout, registration, token verification, permissions,
//! admin unlock. Login answers raw snake_case JSON (the web client reads it directly);
//! the rest use the envelope.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
use crate::http::envelope::{ok, with_status, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
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

/// `userId` and `password` (`user_id`, `auto_login` accepted too).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LoginRequest {
    #[serde(default, alias = "user_id")]
    #[schema(value_type = String, required = true, pattern = "^[a-zA-Z0-9_-]{3,20}$")]
    user_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    password: Option<String>,
    #[serde(default, alias = "auto_login")]
    #[schema(value_type = bool)]
    #[allow(dead_code)]
    auto_login: Option<bool>,
}

#[derive(Serialize, ToSchema)]
struct LoginUser {
    user_id: String,
    user_name: String,
    #[schema(example = "010-1234-5001")]
    line_number: String,
    #[schema(value_type = Vec<Permission>)]
    permissions: Vec<String>,
}

/// Login's raw snake_case answer.
#[derive(Serialize, ToSchema)]
struct LoginResponse {
    access_token: String,
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    #[schema(example = 1800)]
    expires_in: u64,
    user_id: String,
    customer_id: String,
    #[schema(example = "010-1234-5001")]
    line_number: String,
    user: LoginUser,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    summary = "Log in (raw snake_case answer)",
    request_body = LoginRequest,
    responses(
        (status = 200, description = described::SUCCESS, body = LoginResponse),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 423, description = described::LOCKED, body = ErrorEnvelope),
        (status = 429, description = described::RATE_LIMITED, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    #[serde(default, alias = "refresh_token")]
    #[schema(value_type = String, required = true, min_length = 1)]
    refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    summary = "Rotate the token pair; a spent refresh token revokes its family",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<TokenPair>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
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

/// Logout's answer: `{}`.
#[derive(Serialize, ToSchema)]
struct Empty {}

/// Ends the session of the presented token on every instance. Idempotent: a token whose
/// session already ended still logs out successfully.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    summary = "End the session on every instance (idempotent)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<Empty>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn logout(
    state: web::Data<AppState>,
    bearer: BearerClaims,
) -> Result<HttpResponse, ApiError> {
    let claims = bearer.0;
    close_session(&state, &claims.sub, claims.sid).await?;
    tracing::info!(user = %claims.sub, "logout");
    Ok(ok(Empty {}))
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

/// A new account: by self-registration (`/auth/register`) or by an operator (`/users`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[a-zA-Z0-9_-]{3,20}$")]
    user_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    customer_id: Option<String>,
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        pattern = "^010-?[0-9]{4}-?[0-9]{4}$",
        example = "010-1234-5001"
    )]
    line_number: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 50)]
    user_name: Option<String>,
    /// 8-50 characters with an upper-case and a lower-case letter, a digit and a symbol.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 8, max_length = 50)]
    password: Option<String>,
    /// Default BILL_INQUIRY and PRODUCT_CHANGE; self-registration may ask for only those
    /// two, an operator for any.
    #[serde(default)]
    #[schema(value_type = Vec<Permission>)]
    permissions: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredUser {
    user_id: String,
    customer_id: String,
    #[schema(example = "010-1234-5001")]
    line_number: String,
    user_name: String,
    #[schema(value_type = Vec<Permission>)]
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

#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    summary = "Self-registration (BILL_INQUIRY / PRODUCT_CHANGE only). Checked in order: input (400), rate (429), taken user id or line (409), then KOS: a line KOS holds for another customer is 400; one KOS does not know is accepted while [auth] allow_unknown_lines. 403 when [auth] self_registration is off",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = described::SUCCESS, body = Envelope<RegisteredUser>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 409, description = described::CONFLICT, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 429, description = described::RATE_LIMITED, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
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

#[derive(Serialize, ToSchema)]
#[schema(as = Verify)]
#[serde(rename_all = "camelCase")]
struct VerifyResponse {
    valid: bool,
    user_id: String,
    customer_id: String,
    #[schema(example = "010-1234-5001")]
    line_number: String,
    expires_at: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/auth/verify",
    tag = "auth",
    summary = "Check the access token and its session",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<VerifyResponse>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
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

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PermissionView {
    #[schema(value_type = Permission)]
    permission: &'static str,
    description: &'static str,
    granted: bool,
}

/// The caller's permissions, each of the service's with whether it is granted.
#[derive(Serialize, ToSchema)]
#[schema(as = Permissions)]
#[serde(rename_all = "camelCase")]
struct PermissionsView {
    permissions: Vec<PermissionView>,
    user_id: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/auth/permissions",
    tag = "auth",
    summary = "The caller's permissions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<PermissionsView>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
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
    Ok(ok(PermissionsView {
        permissions: list,
        user_id: p.user_id.to_string(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PermissionCheckRequest)]
#[serde(rename_all = "camelCase")]
struct CheckRequest {
    /// BILL_INQUIRY or PRODUCT_CHANGE.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^(BILL_INQUIRY|PRODUCT_CHANGE)$")]
    service_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PermissionCheck {
    has_permission: bool,
    service_type: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/permissions/check",
    tag = "auth",
    summary = "Whether the caller may use a service",
    request_body = CheckRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<PermissionCheck>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
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
    Ok(ok(PermissionCheck {
        has_permission: auth.principal.has(permission),
        service_type,
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Unlocked {
    unlocked: bool,
    user_id: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/unlock/{userId}",
    tag = "auth",
    summary = "Unlock an account locked after failed logins",
    description = "Requires permission ADMIN.",
    params(("userId" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<Unlocked>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
    )
)]
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
    Ok(ok(Unlocked {
        unlocked: true,
        user_id: user_id.to_string(),
    }))
}
