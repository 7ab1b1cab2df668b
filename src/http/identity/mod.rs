//! Identity's endpoints: `/auth/*` (login, tokens, registration, permissions) and
//! `/users/*` (accounts and their management).

pub mod auth;
pub mod users;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(auth::routes).configure(users::routes);
}
