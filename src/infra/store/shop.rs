//! The shop's products (`store_products`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::domain::store::points::Points;
use crate::domain::store::shop::{Product, ProductId};
use crate::infra::schema::store_products as p;
use crate::infra::StoreError;

#[derive(Queryable, Selectable)]
#[diesel(table_name = p)]
struct ProductRow {
    product_id: i64,
    name: String,
    price: i64,
    stock: i32,
    description: String,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Product {
            id: ProductId::from_db(r.product_id),
            name: r.name,
            price: Points::new(r.price),
            stock: r.stock,
            description: r.description,
        }
    }
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: ProductId,
) -> Result<Option<Product>, StoreError> {
    Ok(p::table
        .find(id.get())
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Product::from))
}

/// A page of the shop, by id, and how many products in all.
pub async fn page(
    conn: &mut AsyncPgConnection,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Product>, i64), StoreError> {
    let total: i64 = p::table.count().get_result(conn).await?;
    let items = p::table
        .order(p::product_id.asc())
        .offset(offset)
        .limit(limit)
        .select(ProductRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Product::from)
        .collect();
    Ok((items, total))
}

/// A new product on sale with `stock` units.
pub async fn create(
    conn: &mut AsyncPgConnection,
    name: &str,
    price: Points,
    stock: i32,
    description: &str,
) -> Result<Product, StoreError> {
    Ok(diesel::insert_into(p::table)
        .values((
            p::name.eq(name),
            p::price.eq(price.won()),
            p::stock.eq(stock),
            p::stocked.eq(stock),
            p::description.eq(description),
        ))
        .returning(ProductRow::as_returning())
        .get_result(conn)
        .await?
        .into())
}

/// An admin's change: a new price or description, and units added (relative: sales and
/// reservations running meanwhile are not lost). `None` for an unknown product.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: ProductId,
    price: Option<Points>,
    add_stock: i32,
    description: Option<&str>,
) -> Result<Option<Product>, StoreError> {
    Ok(diesel::sql_query(
        "UPDATE store_products \
            SET price = COALESCE($2, price), description = COALESCE($3, description), \
                stock = stock + $4, stocked = stocked + $4, updated_at = now() \
          WHERE product_id = $1 \
          RETURNING product_id, name, price, stock, description",
    )
    .bind::<diesel::sql_types::BigInt, _>(id.get())
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(price.map(Points::won))
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(description)
    .bind::<diesel::sql_types::Integer, _>(add_stock)
    .get_result::<ProductByName>(conn)
    .await
    .optional()?
    .map(|r| Product {
        id: ProductId::from_db(r.product_id),
        name: r.name,
        price: Points::new(r.price),
        stock: r.stock,
        description: r.description,
    }))
}

#[derive(QueryableByName)]
struct ProductByName {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    product_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    price: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    stock: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    description: String,
}

/// The product named `name`, if there is one (seed-demo's idempotency).
pub async fn find_by_name(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<Option<Product>, StoreError> {
    Ok(p::table
        .filter(p::name.eq(name))
        .order(p::product_id.asc())
        .select(ProductRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Product::from))
}
