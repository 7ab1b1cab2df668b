//! Shop actors: the store's products (SPEC section 9, seed 2-1/2-2), read and changed by
//! admin. Sharded by product id. The truth is `store_products`; stock is taken and given
//! back by the order transactions (`infra::store::orders`), relatively, never here.
//! Senders: the shop and admin handlers, seed-demo.

use actix::prelude::*;

use crate::actors::shard::{Lifeline, Panic};
use crate::domain::store::points::Points;
use crate::domain::store::shop::{Product, ProductId};
use crate::infra::db::DbPool;
use crate::infra::store::shop;
use crate::infra::StoreError;

#[derive(Message)]
#[rtype(result = "Result<Option<Product>, StoreError>")]
pub struct GetProduct(pub ProductId);

/// A page of the shop by id, and how many products in all.
#[derive(Message)]
#[rtype(result = "Result<(Vec<Product>, i64), StoreError>")]
pub struct ListProducts {
    pub offset: i64,
    pub limit: i64,
}

#[derive(Message)]
#[rtype(result = "Result<Product, StoreError>")]
pub struct CreateProduct {
    pub name: String,
    pub price: Points,
    pub stock: i32,
    pub description: String,
}

/// An admin's change; `None` answer for an unknown product.
#[derive(Message)]
#[rtype(result = "Result<Option<Product>, StoreError>")]
pub struct UpdateProduct {
    pub id: ProductId,
    pub price: Option<Points>,
    pub add_stock: i32,
    pub description: Option<String>,
}

pub struct ShopActor {
    db: DbPool,
    _lifeline: Lifeline,
}

impl ShopActor {
    pub fn new(db: DbPool, lifeline: Lifeline) -> Self {
        Self {
            db,
            _lifeline: lifeline,
        }
    }
}

impl Actor for ShopActor {
    type Context = Context<Self>;
}

impl Supervised for ShopActor {}

impl Handler<GetProduct> for ShopActor {
    type Result = ResponseFuture<Result<Option<Product>, StoreError>>;

    fn handle(&mut self, msg: GetProduct, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            shop::find(&mut conn, msg.0).await
        })
    }
}

impl Handler<ListProducts> for ShopActor {
    type Result = ResponseFuture<Result<(Vec<Product>, i64), StoreError>>;

    fn handle(&mut self, msg: ListProducts, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            shop::page(&mut conn, msg.offset, msg.limit).await
        })
    }
}

impl Handler<CreateProduct> for ShopActor {
    type Result = ResponseFuture<Result<Product, StoreError>>;

    fn handle(&mut self, msg: CreateProduct, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            shop::create(&mut conn, &msg.name, msg.price, msg.stock, &msg.description).await
        })
    }
}

impl Handler<UpdateProduct> for ShopActor {
    type Result = ResponseFuture<Result<Option<Product>, StoreError>>;

    fn handle(&mut self, msg: UpdateProduct, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            shop::update(
                &mut conn,
                msg.id,
                msg.price,
                msg.add_stock,
                msg.description.as_deref(),
            )
            .await
        })
    }
}

impl Handler<Panic> for ShopActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: shop actor panics on request");
    }
}
