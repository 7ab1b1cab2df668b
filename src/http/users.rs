//! `/api/v1/users/{userId}`: an account, raw snake_case (the web client reads it directly).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::auth::dashed;
use super::error::ApiError;
use super::extract::{AnyUser, Auth};
use super::AppState;
use crate::actors::account::GetAccount;
use crate::domain::UserId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/{userId}", web::get().to(get_user));
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
        .accounts
        .ask(user_id.as_str(), GetAccount(user_id.clone()))
        .await??
        .ok_or(ApiError::NotFound("사용자"))?;
    Ok(HttpResponse::Ok().json(json!({
        "user_id": account.user_id,
        "user_name": account.user_name,
        "customer_id": account.customer_id,
        "line_number": dashed(&account.line_number),
        "account_status": account.account_status,
        "permissions": account.permissions.names(),
    })))
}
