//! The membership store's endpoints (`/api/v1/store/*`, SPEC section 9): points, the shop,
//! coupons, orders, and the admin endpoints. Any logged-in user may use the store; admin needs
//! `ADMIN`.

pub mod admin;
pub mod coupons;
pub mod orders;
pub mod points;
pub mod shop;

use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::paging::PageRequest;
use crate::http::error::ApiError;
use crate::http::params::number;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/store")
            .configure(points::routes)
            .configure(shop::routes)
            .configure(coupons::routes)
            .configure(orders::routes)
            .configure(admin::routes),
    );
}

/// `page` and `size` of a store list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// From 1 (default 1)
    pub page: Option<String>,
    /// 1-100 (default 20)
    pub size: Option<String>,
}

impl PageParams {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        PageRequest::parse(
            number("page", self.page.as_deref())?,
            number("size", self.size.as_deref())?,
            20,
            100,
        )
        .map_err(|e| crate::http::params::field(e.field, e.message))
    }
}
