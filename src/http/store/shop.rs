//! `/store/products*`: the shop (seed 2-1, 2-2).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::PageParams;
use crate::actors::store::popular::Popular;
use crate::actors::store::shop::{GetProduct, ListProducts};
use crate::domain::paging::Pagination;
use crate::domain::store::shop::{Product, ProductId};
use crate::http::envelope::{ok, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::Auth;
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/products", web::get().to(list))
        .route("/products/popular", web::get().to(popular))
        .route("/products/{productId}", web::get().to(one));
}

/// A product as the shop shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreProduct {
    pub product_id: i64,
    pub name: String,
    pub price: i64,
    pub stock: i32,
    pub description: String,
}

impl From<Product> for StoreProduct {
    fn from(p: Product) -> Self {
        Self {
            product_id: p.id.get(),
            name: p.name,
            price: p.price.won(),
            stock: p.stock,
            description: p.description,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ProductPage {
    items: Vec<StoreProduct>,
    pagination: Pagination,
}

pub fn not_found() -> ApiError {
    ApiError::Refused {
        status: StatusCode::NOT_FOUND,
        code: "PRODUCT_NOT_FOUND",
        message: "상품을 찾을 수 없습니다.",
        details: Value::Null,
    }
}

/// `GET /store/products?page&size`.
#[utoipa::path(
    get,
    path = "/api/v1/store/products",
    tag = "store",
    summary = "The shop's products, by id",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<ProductPage>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn list(
    state: web::Data<AppState>,
    _auth: Auth,
    query: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse()?;
    let msg = ListProducts {
        offset: page.offset(),
        limit: i64::from(page.size),
    };
    let (items, total) = state.actors.store.shop.ask(&page.page, msg).await??;
    Ok(ok(ProductPage {
        items: items.into_iter().map(StoreProduct::from).collect(),
        pagination: Pagination::new(page, total.max(0) as u64),
    }))
}

/// `GET /store/products/{productId}`.
#[utoipa::path(
    get,
    path = "/api/v1/store/products/{productId}",
    tag = "store",
    summary = "One product; 404 PRODUCT_NOT_FOUND also for a non-numeric id",
    params(("productId" = String, Path, description = "A positive integer")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<StoreProduct>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn one(
    state: web::Data<AppState>,
    _auth: Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ProductId::parse(&path).ok_or_else(not_found)?;
    let found = state.actors.store.shop.ask(&id, GetProduct(id)).await??;
    Ok(ok(StoreProduct::from(found.ok_or_else(not_found)?)))
}

/// One of the popular products.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PopularItem {
    rank: u32,
    product_id: i64,
    name: String,
    price: i64,
    stock: i32,
    /// Units in paid orders over the window.
    sold_quantity: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PopularView {
    items: Vec<PopularItem>,
    window_days: i64,
    /// When these figures were read (answered from memory, refreshed every
    /// `[store] popular_refresh_ms`).
    as_of: String,
}

/// `GET /store/products/popular`.
#[utoipa::path(
    get,
    path = "/api/v1/store/products/popular",
    tag = "store",
    summary = "The top products by units in paid orders of the last 72 hours, ties by productId; answered from memory, at most [store] popular_refresh_ms old",
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<PopularView>),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn popular(state: web::Data<AppState>, _auth: Auth) -> Result<HttpResponse, ApiError> {
    let board = state.actors.store.popular.ask_shard(0, Popular).await??;
    Ok(ok(PopularView {
        items: board
            .items
            .iter()
            .zip(1..)
            .map(|(s, rank)| PopularItem {
                rank,
                product_id: s.product_id.get(),
                name: s.name.clone(),
                price: s.price.won(),
                stock: s.stock,
                sold_quantity: s.sold,
            })
            .collect(),
        window_days: i64::from(state.popular_window_hours) / 24,
        as_of: board.as_of.to_rfc3339(),
    }))
}
