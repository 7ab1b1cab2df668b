//! `/store/admin/products*` (ADMIN): put products on sale and change them. The coupon
//! campaigns' admin endpoints are with the coupons (`coupons.rs`).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::shop::{not_found, StoreProduct};
use crate::actors::store::shop::{CreateProduct, UpdateProduct};
use crate::domain::store::shop::{self, ProductId};
use crate::http::envelope::{ok, with_status, Envelope, ErrorEnvelope};
use crate::http::error::{described, ApiError};
use crate::http::extract::{Admin, Auth};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/products", web::post().to(create))
        .route("/admin/products/{productId}", web::patch().to(update));
}

/// An integer field of a JSON body, or why not (a number with a fraction, a string...).
fn integer(errors: &mut BTreeMap<String, String>, name: &str, v: &Option<Value>) -> Option<i64> {
    match v {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(n),
            None => {
                errors.insert(name.into(), format!("{name}는 정수여야 합니다"));
                None
            }
        },
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NewProductBody {
    #[schema(example = "텀블러")]
    name: Option<String>,
    #[schema(value_type = Option<i64>, example = 12000)]
    price: Option<Value>,
    #[schema(value_type = Option<i64>, example = 50)]
    stock: Option<Value>,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /store/admin/products` → `201` the product.
#[utoipa::path(
    post,
    path = "/api/v1/store/admin/products",
    tag = "store",
    summary = "Put a product on sale (ADMIN): name 1-100 characters, price 1-10,000,000 won, stock 0-1,000,000",
    description = "Requires permission ADMIN.",
    request_body = NewProductBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = described::SUCCESS, body = Envelope<StoreProduct>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn create(
    state: web::Data<AppState>,
    _auth: Auth<Admin>,
    body: web::Json<NewProductBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let mut errors = BTreeMap::new();
    let name = match b.name.as_deref().map(shop::product_name) {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            errors.insert("name".into(), e.to_string());
            None
        }
        None => {
            errors.insert("name".into(), "name이 필요합니다".into());
            None
        }
    };
    let price = match integer(&mut errors, "price", &b.price).map(shop::price) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            errors.insert("price".into(), e.to_string());
            None
        }
        None => {
            errors
                .entry("price".into())
                .or_insert("price가 필요합니다".into());
            None
        }
    };
    let stock = match integer(&mut errors, "stock", &b.stock).map(shop::stock) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            errors.insert("stock".into(), e.to_string());
            None
        }
        None => {
            errors
                .entry("stock".into())
                .or_insert("stock이 필요합니다".into());
            None
        }
    };
    let description = match shop::description(b.description.as_deref().unwrap_or_default()) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.insert("description".into(), e.to_string());
            None
        }
    };
    let (Some(name), Some(price), Some(stock), Some(description)) =
        (name, price, stock, description)
    else {
        return Err(ApiError::Validation(errors));
    };
    let msg = CreateProduct {
        name,
        price,
        stock,
        description,
    };
    let product = state.actors.store.shop.ask(&0, msg).await??;
    Ok(with_status(
        StatusCode::CREATED,
        StoreProduct::from(product),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProductChangeBody {
    #[schema(value_type = Option<i64>)]
    price: Option<Value>,
    /// Units added to the stock (0 … 1,000,000).
    #[schema(value_type = Option<i64>)]
    add_stock: Option<Value>,
    description: Option<String>,
}

/// `PATCH /store/admin/products/{productId}`.
#[utoipa::path(
    patch,
    path = "/api/v1/store/admin/products/{productId}",
    tag = "store",
    summary = "Change a product's price or description, or add stock (ADMIN)",
    description = "Requires permission ADMIN.",
    params(("productId" = String, Path, description = "A positive integer")),
    request_body = ProductChangeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = described::SUCCESS, body = Envelope<StoreProduct>),
        (status = 400, description = described::BAD_REQUEST, body = ErrorEnvelope),
        (status = 401, description = described::UNAUTHORIZED, body = ErrorEnvelope),
        (status = 403, description = described::FORBIDDEN, body = ErrorEnvelope),
        (status = 404, description = described::NOT_FOUND, body = ErrorEnvelope),
        (status = 413, description = described::PAYLOAD_TOO_LARGE, body = ErrorEnvelope),
        (status = 503, description = described::UNAVAILABLE, body = ErrorEnvelope),
    )
)]
async fn update(
    state: web::Data<AppState>,
    _auth: Auth<Admin>,
    path: web::Path<String>,
    body: web::Json<ProductChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let id = ProductId::parse(&path).ok_or_else(not_found)?;
    let b = body.into_inner();
    let mut errors = BTreeMap::new();
    let price = match integer(&mut errors, "price", &b.price).map(shop::price) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            errors.insert("price".into(), e.to_string());
            None
        }
        None => None,
    };
    let add_stock = match integer(&mut errors, "addStock", &b.add_stock).map(shop::stock) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            errors.insert("addStock".into(), e.to_string());
            0
        }
        None => 0,
    };
    let description = match b.description.as_deref().map(shop::description) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            errors.insert("description".into(), e.to_string());
            None
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let msg = UpdateProduct {
        id,
        price,
        add_stock,
        description,
    };
    let product = state.actors.store.shop.ask(&id, msg).await??;
    Ok(ok(StoreProduct::from(product.ok_or_else(not_found)?)))
}
