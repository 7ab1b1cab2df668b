//! Telecom's endpoints: `/bills/*` (bill inquiry and its history), `/products/*` (rate
//! plans and plan changes) and `/kos/mock-datas` (the built-in simulator's data).

pub mod bills;
pub mod kos_mock;
pub mod products;
pub mod views;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(bills::routes)
        .configure(products::routes)
        .configure(kos_mock::routes);
}
