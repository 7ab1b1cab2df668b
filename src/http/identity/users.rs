//! `/api/v1/users/{userId}`: an account, raw snake_case (the web client reads it directly);
//! and the `USER_MANAGEMENT` operations: create an account, suspend, resume, set permissions. Each change ends
//! the user's sessions on every instance, so it takes effect at once.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth::{create_account, parse_registration, RegisterRequest, Registrant};
use crate::actors::identity::account::{ChangeAccount, GetAccount};
use crate::actors::identity::session::EndUserSessions;
use crate::domain::identity::{Permission, Permissions, UserId};
use crate::http::envelope::ok;
use crate::http::error::ApiError;
use crate::http::extract::{AnyUser, Auth, UserManagement};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::post().to(create_user))
        .route("/users/{userId}", web::get().to(get_user))
        .route("/users/{userId}/suspend", web::post().to(suspend))
        .route("/users/{userId}/resume", web::post().to(resume))
        .route(
            "/users/{userId}/permissions",
            web::put().to(set_permissions),
        );
}

/// `POST /api/v1/users` (USER_MANAGEMENT): an operator creates an account, with any
/// permissions, whether or not `[auth] self_registration` is on (the way accounts are made
/// when it is off). The same checks as registration otherwise: taken ids `409`, a line KOS
/// holds for another customer `400`.
async fn create_user(
    state: web::Data<AppState>,
    auth: Auth<UserManagement>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let registration = parse_registration(body.into_inner(), Registrant::Operator)?;
    tracing::info!(by = %auth.principal.user_id, user = %registration.user_id, "account created by an operator");
    create_account(&state, registration, None).await
}

fn user_of(path: web::Path<String>) -> Result<UserId, ApiError> {
    UserId::parse(&path.into_inner()).map_err(|e| ApiError::field("userId", e))
}

/// Applies `change`, then ends the user's sessions everywhere.
async fn apply(
    state: &AppState,
    by: &Auth<UserManagement>,
    user: &UserId,
    change: ChangeAccount,
    what: &str,
) -> Result<HttpResponse, ApiError> {
    let found = state
        .actors
        .identity
        .accounts
        .ask(user.as_str(), change)
        .await??;
    if !found {
        return Err(ApiError::NotFound("사용자"));
    }
    let ended = state
        .actors
        .identity
        .sessions
        .ask(user.as_str(), EndUserSessions(user.to_string()))
        .await??;
    tracing::info!(user = %user, by = %by.principal.user_id, change = what, sessions_ended = ended, "account changed");
    Ok(ok(
        json!({ "userId": user.as_str(), "change": what, "sessionsEnded": ended }),
    ))
}

/// `POST /api/v1/users/{userId}/suspend` (USER_MANAGEMENT): no more logins or refreshes,
/// and every session ends now.
async fn suspend(
    state: web::Data<AppState>,
    auth: Auth<UserManagement>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(path)?;
    let change = ChangeAccount::Suspend(user.clone());
    apply(&state, &auth, &user, change, "suspended").await
}

/// `POST /api/v1/users/{userId}/resume` (USER_MANAGEMENT).
async fn resume(
    state: web::Data<AppState>,
    auth: Auth<UserManagement>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(path)?;
    let change = ChangeAccount::Resume(user.clone());
    apply(&state, &auth, &user, change, "resumed").await
}

#[derive(Deserialize)]
struct PermissionsBody {
    #[serde(default)]
    permissions: Option<Vec<String>>,
}

/// `PUT /api/v1/users/{userId}/permissions {permissions: [...]}` (USER_MANAGEMENT): the
/// whole set; the user's sessions end, so the next login carries it.
async fn set_permissions(
    state: web::Data<AppState>,
    auth: Auth<UserManagement>,
    path: web::Path<String>,
    body: web::Json<PermissionsBody>,
) -> Result<HttpResponse, ApiError> {
    let user = user_of(path)?;
    let names = body
        .into_inner()
        .permissions
        .ok_or_else(|| ApiError::field("permissions", "권한 목록이 필요합니다"))?;
    let mut granted = Vec::new();
    for name in &names {
        match name.parse::<Permission>() {
            Ok(p) => granted.push(p),
            Err(()) => return Err(ApiError::field("permissions", "알 수 없는 권한입니다")),
        }
    }
    let change = ChangeAccount::SetPermissions(user.clone(), Permissions::new(granted));
    apply(&state, &auth, &user, change, "permissions").await
}

/// `GET /api/v1/users/{userId}` (self or ADMIN): the account, raw snake_case.
async fn get_user(
    state: web::Data<AppState>,
    auth: Auth<AnyUser>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = UserId::parse(&path.into_inner()).map_err(|e| ApiError::field("userId", e))?;
    if !auth.principal.may_access_user(&user_id) {
        return Err(ApiError::Forbidden);
    }
    let account = state
        .actors
        .identity
        .accounts
        .ask(user_id.as_str(), GetAccount(user_id.clone()))
        .await??
        .ok_or(ApiError::NotFound("사용자"))?;
    Ok(HttpResponse::Ok().json(json!({
        "user_id": account.user_id,
        "user_name": account.user_name,
        "customer_id": account.customer_id,
        "line_number": account.line_number,
        "account_status": account.account_status,
        "permissions": account.permissions.names(),
    })))
}
