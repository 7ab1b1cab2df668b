//! Orders (`store_orders`, `store_order_items`, `store_sales_hourly`).
//!
//! An order is placed in two transactions. The **reserve** takes, in one transaction and
//! with relative, conditional updates only: the coupon (`AVAILABLE` → `RESERVED`), the
//! balance (its `USE` ledger entry), the order row `PENDING` with its items and the
//! Idempotency-Key's `Reserved` mark; the stock is taken when it commits, by the items'
//! deferred trigger (`stock = stock - q`, the `CHECK (stock >= 0)` refusing a short line),
//! so a hot product's row is locked only while the transaction commits. The
//! **confirm** is one statement: `PAID`, the coupon `USED`, the hour's sales and the answer
//! kept under the key. A refusal rolls the reserve back and records the order `FAILED` with
//! its answer, holding nothing. The **recovery** settles a `PENDING` order past its
//! deadline in one transaction, leased with `FOR UPDATE SKIP LOCKED` so any instance may run
//! it and each order is settled once: coupon back to `AVAILABLE`, a `RESTORE` entry, stock
//! given back, `CANCELED`, and the answer under the key.
//! Rows are locked in one order everywhere (coupon, wallet, products by id: the trigger
//! takes an order's items in the order they were inserted, by product id), so these
//! transactions never deadlock one another; the recovery locks products `FOR NO KEY
//! UPDATE`, the lock a stock update takes anyway, which does not wait for the `KEY SHARE`
//! lock each order item's foreign key holds on its product.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Double, Integer, Jsonb, Nullable, SmallInt, Text, Timestamptz,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::identity::UserId;
use crate::domain::store::order::{
    CouponId, CouponRefusal, KeyedOrder, Line, OrderOutcome, OrderStatus, PricedLine, Refusal,
    Shortage, SYSTEM_FAILURE,
};
use crate::domain::store::points::Points;
use crate::domain::store::shop::ProductId;
use crate::infra::db::Prepared;
use crate::infra::store::coupons::discount_from_sql;
use crate::infra::StoreError;

type SqlUuid = diesel::sql_types::Uuid;

/// `store_orders.status` (its `CHECK` lists the same values).
pub fn status_sql(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Pending => "PENDING",
        OrderStatus::Paid => "PAID",
        OrderStatus::Failed => "FAILED",
        OrderStatus::Canceled => "CANCELED",
    }
}

fn status_from_sql(s: &str) -> Result<OrderStatus, StoreError> {
    match s {
        "PENDING" => Ok(OrderStatus::Pending),
        "PAID" => Ok(OrderStatus::Paid),
        "FAILED" => Ok(OrderStatus::Failed),
        "CANCELED" => Ok(OrderStatus::Canceled),
        other => Err(StoreError::Corrupt(format!("order status {other:?}"))),
    }
}

fn answer_json(k: &KeyedOrder) -> Result<Value, StoreError> {
    serde_json::to_value(k).map_err(|e| StoreError::Corrupt(format!("order answer: {e}")))
}

#[derive(QueryableByName)]
struct PriceRow {
    #[diesel(sql_type = BigInt)]
    product_id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    price: i64,
}

/// The lines priced at the products' current prices; `None` if any product is unknown.
/// On a shared connection, so that it can be pipelined with the key's claim.
pub async fn price(
    conn: &AsyncPgConnection,
    lines: &[Line],
) -> Result<Option<Vec<PricedLine>>, StoreError> {
    let mut conn = conn;
    let ids: Vec<i64> = lines.iter().map(|l| l.product.get()).collect();
    let rows: Vec<PriceRow> = Prepared(
        diesel::sql_query(
            "SELECT product_id, name, price FROM store_products WHERE product_id = ANY($1)",
        )
        .bind::<Array<BigInt>, _>(&ids),
    )
    .load(&mut conn)
    .await?;
    let mut priced = Vec::with_capacity(lines.len());
    for l in lines {
        let Some(r) = rows.iter().find(|r| r.product_id == l.product.get()) else {
            return Ok(None);
        };
        priced.push(PricedLine {
            product_id: l.product,
            name: r.name.clone(),
            unit_price: Points::new(r.price),
            quantity: l.quantity,
        });
    }
    Ok(Some(priced))
}

/// An order to reserve (already priced).
pub struct NewOrder<'a> {
    pub order_id: Uuid,
    pub user: &'a UserId,
    /// The request holding the order's Idempotency-Key.
    pub request_id: &'a str,
    pub lines: &'a [PricedLine],
    pub total: Points,
    pub coupon: Option<CouponId>,
    /// Seconds after which the recovery may settle it (`[store] pending_recovery_s`).
    pub recovery_after_s: f64,
}

/// What a committed reserve took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub discount: Points,
    pub paid: Points,
    pub balance_after: Points,
    pub created_at: DateTime<Utc>,
}

/// What a reserve came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserve {
    Reserved(Reserved),
    /// Rolled back: nothing is held (the caller records the order `FAILED`).
    Refused(Refusal),
    /// The Idempotency-Key was taken over by another request (this one was presumed dead):
    /// rolled back.
    KeyLost,
}

/// Why a reserve transaction ends without committing.
enum Abort {
    Refused(Refusal),
    KeyLost,
    Store(StoreError),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Store(e.into())
    }
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Abort::Store(e)
    }
}

#[derive(QueryableByName)]
struct DiscountRow {
    #[diesel(sql_type = Text)]
    discount_type: String,
    #[diesel(sql_type = BigInt)]
    discount_value: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    max_discount: Option<i64>,
}

#[derive(QueryableByName)]
struct CouponStateRow {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    min_order_amount: i64,
}

#[derive(QueryableByName)]
struct BalanceRow {
    #[diesel(sql_type = BigInt)]
    balance: i64,
}

#[derive(QueryableByName)]
struct StockRow {
    #[diesel(sql_type = BigInt)]
    product_id: i64,
    #[diesel(sql_type = Integer)]
    stock: i32,
}

#[derive(QueryableByName)]
struct InsertedRow {
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    keyed: i64,
}

/// Why `coupon` cannot pay an order of `total` for `user`, as it stands now.
async fn coupon_refusal(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    coupon: CouponId,
    total: Points,
) -> Result<CouponRefusal, StoreError> {
    let found: Option<CouponStateRow> = Prepared(
        diesel::sql_query(
            "SELECT c.user_id, c.status, c.expires_at, k.min_order_amount \
           FROM store_coupons c JOIN store_coupon_campaigns k USING (campaign_id) \
          WHERE c.coupon_id = $1",
        )
        .bind::<BigInt, _>(coupon.get()),
    )
    .get_result(conn)
    .await
    .optional()?;
    let Some(c) = found else {
        return Ok(CouponRefusal::NotFound);
    };
    Ok(if c.user_id != user.as_str() {
        CouponRefusal::NotOwned
    } else if c.status == "USED" {
        CouponRefusal::Used
    } else if c.status == "RESERVED" {
        CouponRefusal::Reserved
    } else if c.expires_at <= Utc::now() {
        CouponRefusal::Expired
    } else if total.won() < c.min_order_amount {
        CouponRefusal::MinOrderAmount
    } else {
        // Free again by now: it was held by another order a moment ago.
        CouponRefusal::Reserved
    })
}

/// The lines short of stock as it stands now (empty: none is).
async fn shortages(
    conn: &mut AsyncPgConnection,
    lines: &[PricedLine],
) -> Result<Vec<Shortage>, StoreError> {
    let ids: Vec<i64> = lines.iter().map(|l| l.product_id.get()).collect();
    let rows: Vec<StockRow> = Prepared(
        diesel::sql_query(
            "SELECT product_id, stock FROM store_products WHERE product_id = ANY($1)",
        )
        .bind::<Array<BigInt>, _>(&ids),
    )
    .load(conn)
    .await?;
    Ok(lines
        .iter()
        .filter_map(|l| {
            let available = rows
                .iter()
                .find(|r| r.product_id == l.product_id.get())
                .map_or(0, |r| r.stock);
            (available < l.quantity).then_some(Shortage {
                product_id: l.product_id,
                requested: l.quantity,
                available,
            })
        })
        .collect())
}

/// The order row, its items and the key's answer, in one statement. The answer is kept only
/// if `request_id` still holds the key with no answer yet; `keyed` says whether it did. A
/// pending order's `balance_after` is read from the wallet, as the reserve left it (`None`
/// given). On a shared connection, so that the reserve can pipeline it.
#[allow(clippy::too_many_arguments)]
async fn insert_order(
    conn: &mut &AsyncPgConnection,
    o: &NewOrder<'_>,
    status: OrderStatus,
    reason: Option<&str>,
    discount: Points,
    paid: Points,
    balance_after: Option<Points>,
    answer: &Value,
) -> Result<InsertedRow, StoreError> {
    let ids: Vec<i64> = o.lines.iter().map(|l| l.product_id.get()).collect();
    let names: Vec<&str> = o.lines.iter().map(|l| l.name.as_str()).collect();
    let prices: Vec<i64> = o.lines.iter().map(|l| l.unit_price.won()).collect();
    let quantities: Vec<i32> = o.lines.iter().map(|l| l.quantity).collect();
    let settled = status != OrderStatus::Pending;
    Ok(Prepared(
        diesel::sql_query(
            "WITH o AS ( \
           INSERT INTO store_orders (order_id, user_id, status, reason, total_amount, \
                  discount_amount, paid_amount, coupon_id, request_id, balance_after, \
                  created_at, deadline, settled_at) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                   COALESCE($10, CASE WHEN NOT $12 THEN \
                     (SELECT balance FROM store_wallets WHERE user_id = $2) END), now(), \
                   now() + make_interval(secs => $11), CASE WHEN $12 THEN now() END) \
           RETURNING order_id, created_at), \
         i AS ( \
           INSERT INTO store_order_items (order_id, product_id, name, unit_price, quantity) \
           SELECT o.order_id, x.id, x.name, x.price, x.q \
             FROM o, unnest($13::bigint[], $14::text[], $15::bigint[], $16::int[]) \
                  AS x(id, name, price, q)), \
         k AS ( \
           UPDATE idempotency_keys SET answer = $17 \
            WHERE request_id = $9 AND answer IS NULL RETURNING 1) \
         SELECT o.created_at, (SELECT count(*) FROM k) AS keyed FROM o",
        )
        .bind::<SqlUuid, _>(o.order_id)
        .bind::<Text, _>(o.user.as_str())
        .bind::<Text, _>(status_sql(status))
        .bind::<Nullable<Text>, _>(reason)
        .bind::<BigInt, _>(o.total.won())
        .bind::<BigInt, _>(discount.won())
        .bind::<BigInt, _>(paid.won())
        .bind::<Nullable<BigInt>, _>(o.coupon.map(CouponId::get))
        .bind::<Text, _>(o.request_id)
        .bind::<Nullable<BigInt>, _>(balance_after.map(Points::won))
        .bind::<Double, _>(if settled { 0.0 } else { o.recovery_after_s })
        .bind::<diesel::sql_types::Bool, _>(settled)
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<Text>, _>(&names)
        .bind::<Array<BigInt>, _>(&prices)
        .bind::<Array<Integer>, _>(&quantities)
        .bind::<Jsonb, _>(answer),
    )
    .get_result(conn)
    .await?)
}

/// The reserve's commit does not wait for its WAL flush, so a hot product's row is locked
/// for microseconds, not a disk flush. Nothing acknowledged is lost by it: the client is
/// answered only after a flushed commit later in the WAL (the confirm, a refusal's record,
/// or `make_durable` before a 202), which makes the reserve durable too; a reserve lost in a
/// crash before that took nothing that was acknowledged.
async fn commit_without_flush(conn: &mut &AsyncPgConnection) -> Result<(), StoreError> {
    Prepared(diesel::sql_query("SET LOCAL synchronous_commit = off"))
        .execute(conn)
        .await?;
    Ok(())
}

/// `paid` taken from `o`'s user's balance with its `USE` entry (none for nothing to pay):
/// the balance after, or `None` if it does not reach (or there is no wallet).
async fn take_balance(
    conn: &mut &AsyncPgConnection,
    o: &NewOrder<'_>,
    paid: Points,
) -> Result<Option<BalanceRow>, StoreError> {
    Ok(Prepared(
        diesel::sql_query(
            "WITH w AS ( \
               UPDATE store_wallets SET balance = balance - $2, updated_at = now() \
                WHERE user_id = $1 AND balance >= $2 RETURNING balance), \
             l AS ( \
               INSERT INTO store_ledger (transaction_id, user_id, kind, amount, \
                      balance_after, order_id) \
               SELECT $3, $1, 'USE', $2, w.balance, $4 FROM w WHERE $2 > 0) \
             SELECT balance FROM w",
        )
        .bind::<Text, _>(o.user.as_str())
        .bind::<BigInt, _>(paid.won())
        .bind::<SqlUuid, _>(Uuid::new_v4())
        .bind::<SqlUuid, _>(o.order_id),
    )
    .get_result(conn)
    .await
    .optional()?)
}

/// The reserve transaction (see the module's description). Checks in SPEC's order: the
/// coupon, the stock, the balance; the first refusal wins.
pub async fn reserve(
    conn: &mut AsyncPgConnection,
    o: &NewOrder<'_>,
) -> Result<Reserve, StoreError> {
    let result = conn
        .transaction::<Reserved, Abort, _>(async |conn| {
            let mut discount = Points::ZERO;
            if let Some(coupon) = o.coupon {
                let taken: Option<DiscountRow> = Prepared(
                    diesel::sql_query(
                        "UPDATE store_coupons c SET status = 'RESERVED', order_id = $3 \
                       FROM store_coupon_campaigns k \
                      WHERE c.coupon_id = $1 AND c.user_id = $2 AND c.status = 'AVAILABLE' \
                        AND c.expires_at > now() AND k.campaign_id = c.campaign_id \
                        AND k.min_order_amount <= $4 \
                  RETURNING k.discount_type, k.discount_value, k.max_discount",
                    )
                    .bind::<BigInt, _>(coupon.get())
                    .bind::<Text, _>(o.user.as_str())
                    .bind::<SqlUuid, _>(o.order_id)
                    .bind::<BigInt, _>(o.total.won()),
                )
                .get_result(conn)
                .await
                .optional()?;
                let Some(d) = taken else {
                    let reason = coupon_refusal(conn, o.user, coupon, o.total).await?;
                    return Err(Abort::Refused(Refusal::InvalidCoupon { reason }));
                };
                let d = discount_from_sql(&d.discount_type, d.discount_value, d.max_discount)
                    .ok_or_else(|| StoreError::Corrupt(format!("coupon {}", coupon.get())))?;
                discount = d.off(o.total);
            }
            let paid = Points::new(o.total.won() - discount.won());
            let reserved = answer_json(&KeyedOrder::Reserved {
                order_id: o.order_id,
            })?;
            // The commit's mode, the balance and the order, pipelined: sent together, run
            // by PostgreSQL one after the other in this order, their results looked at once
            // all are back (any refusal rolls the whole transaction back). The stock is
            // taken by the items' deferred trigger when the transaction commits.
            let shared: &AsyncPgConnection = conn;
            let (mut c0, mut c1, mut c2) = (shared, shared, shared);
            let (asynchronous, after, row) = futures_util::future::join3(
                commit_without_flush(&mut c0),
                take_balance(&mut c1, o, paid),
                insert_order(
                    &mut c2,
                    o,
                    OrderStatus::Pending,
                    None,
                    discount,
                    paid,
                    None,
                    &reserved,
                ),
            )
            .await;
            let (after, row) = (after?, row?);
            asynchronous?;
            let balance_after = match after {
                Some(r) => Points::new(r.balance),
                // Nothing to pay and no wallet yet: the balance is 0 and stays so.
                None if paid == Points::ZERO => Points::ZERO,
                None => {
                    // Stock is checked before the balance: a short line wins.
                    let short = shortages(conn, o.lines).await?;
                    if !short.is_empty() {
                        return Err(Abort::Refused(Refusal::InsufficientStock { items: short }));
                    }
                    let balance: Option<BalanceRow> = Prepared(
                        diesel::sql_query("SELECT balance FROM store_wallets WHERE user_id = $1")
                            .bind::<Text, _>(o.user.as_str()),
                    )
                    .get_result(conn)
                    .await
                    .optional()?;
                    return Err(Abort::Refused(Refusal::InsufficientBalance {
                        required: paid,
                        balance: Points::new(balance.map_or(0, |b| b.balance)),
                    }));
                }
            };
            if row.keyed != 1 {
                return Err(Abort::KeyLost);
            }
            Ok(Reserved {
                discount,
                paid,
                balance_after,
                created_at: row.created_at,
            })
        })
        .await;
    match result {
        Ok(r) => Ok(Reserve::Reserved(r)),
        // The commit found a line short of stock (`store_order_item_takes_stock`): rolled
        // back, nothing held.
        Err(Abort::Store(StoreError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::CheckViolation,
            info,
        )))) if info.constraint_name() == Some("store_product_stock") => {
            let items = shortages(conn, o.lines).await?;
            Ok(Reserve::Refused(Refusal::InsufficientStock { items }))
        }
        Err(Abort::Refused(refusal)) => Ok(Reserve::Refused(refusal)),
        Err(Abort::KeyLost) => Ok(Reserve::KeyLost),
        Err(Abort::Store(e)) => Err(e),
    }
}

/// Makes sure the reserve of request `request_id` is durable, before its client is told
/// `202`: the reserve commits without waiting for its WAL flush, so this writes (its key's
/// row, unchanged) with a flushed commit, which is later in the WAL. Fails if the reserve is
/// not visible (lost in a crash) or PostgreSQL cannot be reached: then nobody may promise
/// the order will be settled, and the client is told to try again (the same key finds out
/// which it was).
pub async fn make_durable(
    conn: &mut AsyncPgConnection,
    request_id: &str,
) -> Result<(), StoreError> {
    let marked = Prepared(
        diesel::sql_query(
            "UPDATE idempotency_keys SET created_at = created_at \
          WHERE request_id = $1 AND answer IS NOT NULL",
        )
        .bind::<Text, _>(request_id),
    )
    .execute(conn)
    .await?;
    if marked == 1 {
        Ok(())
    } else {
        Err(StoreError::DbUnavailable(
            "the order's reserve is not in the database (lost before it was flushed)".into(),
        ))
    }
}

/// Records a refused order `FAILED` with its reason and keeps its answer under the key, in
/// one statement; false if the key was taken over meanwhile (the order is recorded, the
/// answer is not kept).
pub async fn record_refused(
    conn: &mut AsyncPgConnection,
    o: &NewOrder<'_>,
    refusal: &Refusal,
) -> Result<bool, StoreError> {
    let answer = answer_json(&KeyedOrder::Answered(OrderOutcome::Refused {
        order_id: o.order_id,
        refusal: refusal.clone(),
    }))?;
    let mut shared: &AsyncPgConnection = conn;
    let row = insert_order(
        &mut shared,
        o,
        OrderStatus::Failed,
        Some(refusal.code()),
        Points::ZERO,
        o.total,
        None,
        &answer,
    )
    .await?;
    Ok(row.keyed == 1)
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ConfirmedRow {
    #[diesel(sql_type = BigInt)]
    confirmed: i64,
}

/// The confirm statement: `PAID` (if still `PENDING`), the coupon `USED`, the hour's sales,
/// `answer` kept under the key. False if the order was no longer pending (the recovery
/// settled it first). With `roll_back` the statement runs in a transaction that is then
/// rolled back, as a failure before the commit would (fault injection).
pub async fn confirm(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
    paid_at: DateTime<Utc>,
    answer: &OrderOutcome,
    roll_back: bool,
) -> Result<bool, StoreError> {
    let answer = answer_json(&KeyedOrder::Answered(answer.clone()))?;
    // A hot product's confirms spread over this many rows of its hour (each row is locked
    // until its confirm's commit is flushed).
    let slot = (order_id.as_u128() % 16) as i16;
    let query = Prepared(
        diesel::sql_query(
            "WITH o AS ( \
           UPDATE store_orders SET status = 'PAID', paid_at = $2, settled_at = $2 \
            WHERE order_id = $1 AND status = 'PENDING' \
            RETURNING order_id, coupon_id, request_id), \
         c AS ( \
           UPDATE store_coupons SET status = 'USED' \
            WHERE coupon_id = (SELECT coupon_id FROM o) AND order_id = $1 \
              AND status = 'RESERVED'), \
         s AS ( \
           INSERT INTO store_sales_hourly (product_id, hour, slot, quantity) \
           SELECT i.product_id, date_trunc('hour', $2), $3, i.quantity \
             FROM store_order_items i JOIN o USING (order_id) \
           ON CONFLICT (product_id, hour, slot) \
           DO UPDATE SET quantity = store_sales_hourly.quantity + EXCLUDED.quantity), \
         k AS ( \
           UPDATE idempotency_keys SET answer = $4 \
            WHERE request_id = (SELECT request_id FROM o)) \
         SELECT count(*) AS confirmed FROM o",
        )
        .bind::<SqlUuid, _>(order_id)
        .bind::<Timestamptz, _>(paid_at)
        .bind::<SmallInt, _>(slot)
        .bind::<Jsonb, _>(answer),
    );
    if roll_back {
        let failed = conn
            .transaction::<(), StoreError, _>(async |conn| {
                query.get_result::<ConfirmedRow>(conn).await?;
                Err(StoreError::DbUnavailable(
                    "fault injection: the confirm transaction failed before its commit".into(),
                ))
            })
            .await;
        return failed.map(|()| false);
    }
    let row: ConfirmedRow = query.get_result(conn).await?;
    Ok(row.confirmed == 1)
}

/// An order as its owner (or ADMIN) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub order_id: Uuid,
    pub user_id: String,
    pub status: OrderStatus,
    pub reason: Option<String>,
    pub lines: Vec<PricedLine>,
    pub total: Points,
    pub discount: Points,
    pub paid: Points,
    pub coupon: Option<CouponId>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct OrderRow {
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    total_amount: i64,
    #[diesel(sql_type = BigInt)]
    discount_amount: i64,
    #[diesel(sql_type = BigInt)]
    paid_amount: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    coupon_id: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    paid_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    settled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    total_count: i64,
}

#[derive(QueryableByName)]
struct ItemRow {
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = BigInt)]
    product_id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    unit_price: i64,
    #[diesel(sql_type = Integer)]
    quantity: i32,
}

const ORDER_COLUMNS: &str = "order_id, user_id, status, reason, total_amount, discount_amount, \
     paid_amount, coupon_id, created_at, paid_at, settled_at";

async fn with_items(
    conn: &mut AsyncPgConnection,
    rows: Vec<OrderRow>,
) -> Result<Vec<OrderRecord>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.order_id).collect();
    let items: Vec<ItemRow> = Prepared(
        diesel::sql_query(
            "SELECT order_id, product_id, name, unit_price, quantity FROM store_order_items \
          WHERE order_id = ANY($1) ORDER BY product_id",
        )
        .bind::<Array<SqlUuid>, _>(&ids),
    )
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(OrderRecord {
                order_id: r.order_id,
                user_id: r.user_id,
                status: status_from_sql(&r.status)?,
                reason: r.reason,
                lines: items
                    .iter()
                    .filter(|i| i.order_id == r.order_id)
                    .map(|i| PricedLine {
                        product_id: ProductId::from_db(i.product_id),
                        name: i.name.clone(),
                        unit_price: Points::new(i.unit_price),
                        quantity: i.quantity,
                    })
                    .collect(),
                total: Points::new(r.total_amount),
                discount: Points::new(r.discount_amount),
                paid: Points::new(r.paid_amount),
                coupon: r.coupon_id.map(CouponId::from_db),
                created_at: r.created_at,
                paid_at: r.paid_at,
                settled_at: r.settled_at,
            })
        })
        .collect()
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    order_id: Uuid,
) -> Result<Option<OrderRecord>, StoreError> {
    let rows: Vec<OrderRow> = Prepared(
        diesel::sql_query(format!(
        "SELECT {ORDER_COLUMNS}, 1::bigint AS total_count FROM store_orders WHERE order_id = $1"
    ))
        .bind::<SqlUuid, _>(order_id),
    )
    .load(conn)
    .await?;
    Ok(with_items(conn, rows).await?.pop())
}

/// A page of `user`'s orders (of `status` if given), newest first, and how many in all.
pub async fn page(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    status: Option<OrderStatus>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<OrderRecord>, i64), StoreError> {
    let rows: Vec<OrderRow> = Prepared(
        diesel::sql_query(format!(
            "SELECT {ORDER_COLUMNS}, count(*) OVER () AS total_count FROM store_orders \
          WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) \
          ORDER BY created_at DESC, order_id OFFSET $3 LIMIT $4"
        ))
        .bind::<Text, _>(user.as_str())
        .bind::<Nullable<Text>, _>(status.map(status_sql))
        .bind::<BigInt, _>(offset)
        .bind::<BigInt, _>(limit),
    )
    .load(conn)
    .await?;
    let total = match <[OrderRow]>::first(&rows) {
        Some(r) => r.total_count,
        // Past the last page the window count is not there: count apart.
        None if offset > 0 => {
            Prepared(
                diesel::sql_query(
                    "SELECT count(*) AS n FROM store_orders \
                  WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)",
                )
                .bind::<Text, _>(user.as_str())
                .bind::<Nullable<Text>, _>(status.map(status_sql)),
            )
            .get_result::<CountRow>(conn)
            .await?
            .n
        }
        None => 0,
    };
    Ok((with_items(conn, rows).await?, total))
}

#[derive(QueryableByName)]
struct OverdueRow {
    #[diesel(sql_type = SqlUuid)]
    order_id: Uuid,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = BigInt)]
    paid_amount: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    coupon_id: Option<i64>,
    #[diesel(sql_type = Double)]
    age_s: f64,
}

/// An order the recovery settled.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub order_id: Uuid,
    /// Seconds from its creation to its settlement.
    pub age_s: f64,
}

/// Settles one `PENDING` order past its deadline, if there is one no other instance holds:
/// in one transaction, the coupon back to `AVAILABLE`, a `RESTORE` entry of what was paid,
/// the stock given back, `CANCELED` (`SYSTEM_FAILURE`) and its Idempotency-Key's answer
/// (the `202` its client was, or would have been, given).
pub async fn settle_one_overdue(
    conn: &mut AsyncPgConnection,
) -> Result<Option<Settled>, StoreError> {
    conn.transaction::<Option<Settled>, StoreError, _>(async |conn| {
        let found: Option<OverdueRow> = Prepared(diesel::sql_query(
            "SELECT order_id, user_id, paid_amount, coupon_id, \
                    EXTRACT(EPOCH FROM clock_timestamp() - created_at)::float8 AS age_s \
               FROM store_orders WHERE status = 'PENDING' AND deadline <= now() \
              ORDER BY deadline LIMIT 1 FOR UPDATE SKIP LOCKED",
        ))
        .get_result(conn)
        .await
        .optional()?;
        let Some(o) = found else {
            return Ok(None);
        };
        if let Some(coupon) = o.coupon_id {
            Prepared(
                diesel::sql_query(
                    "UPDATE store_coupons SET status = 'AVAILABLE', order_id = NULL \
                  WHERE coupon_id = $1 AND order_id = $2 AND status = 'RESERVED'",
                )
                .bind::<BigInt, _>(coupon)
                .bind::<SqlUuid, _>(o.order_id),
            )
            .execute(conn)
            .await?;
        }
        if o.paid_amount > 0 {
            // A restore never applies the charge rules: it gives back what was taken.
            let restored = Prepared(
                diesel::sql_query(
                    "WITH w AS ( \
                   UPDATE store_wallets SET balance = balance + $2, updated_at = now() \
                    WHERE user_id = $1 RETURNING balance) \
                 INSERT INTO store_ledger (transaction_id, user_id, kind, amount, \
                        balance_after, order_id) \
                 SELECT $3, $1, 'RESTORE', $2, w.balance, $4 FROM w",
                )
                .bind::<Text, _>(&o.user_id)
                .bind::<BigInt, _>(o.paid_amount)
                .bind::<SqlUuid, _>(Uuid::new_v4())
                .bind::<SqlUuid, _>(o.order_id),
            )
            .execute(conn)
            .await?;
            if restored != 1 {
                return Err(StoreError::Corrupt(format!(
                    "order {} paid {} from a wallet that is not there",
                    o.order_id, o.paid_amount
                )));
            }
        }
        Prepared(
            diesel::sql_query(
                "WITH x AS ( \
               SELECT p.product_id, i.quantity FROM store_order_items i \
                 JOIN store_products p USING (product_id) \
                WHERE i.order_id = $1 ORDER BY p.product_id FOR NO KEY UPDATE OF p) \
             UPDATE store_products p SET stock = p.stock + x.quantity, updated_at = now() \
               FROM x WHERE p.product_id = x.product_id",
            )
            .bind::<SqlUuid, _>(o.order_id),
        )
        .execute(conn)
        .await?;
        let answer = answer_json(&KeyedOrder::Answered(OrderOutcome::Pending {
            order_id: o.order_id,
        }))?;
        Prepared(
            diesel::sql_query(
                "WITH o AS ( \
               UPDATE store_orders SET status = 'CANCELED', reason = $2, settled_at = now() \
                WHERE order_id = $1 AND status = 'PENDING' RETURNING request_id) \
             UPDATE idempotency_keys SET answer = $3 \
              WHERE request_id = (SELECT request_id FROM o)",
            )
            .bind::<SqlUuid, _>(o.order_id)
            .bind::<Text, _>(SYSTEM_FAILURE)
            .bind::<Jsonb, _>(&answer),
        )
        .execute(conn)
        .await?;
        Ok(Some(Settled {
            order_id: o.order_id,
            age_s: o.age_s,
        }))
    })
    .await
}

#[derive(QueryableByName)]
struct PendingRow {
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = Nullable<Double>)]
    oldest_s: Option<f64>,
}

/// How many orders are `PENDING`, and the age in seconds of the oldest.
pub async fn pending(conn: &mut AsyncPgConnection) -> Result<(i64, Option<f64>), StoreError> {
    let r: PendingRow = Prepared(diesel::sql_query(
        "SELECT count(*) AS pending, \
                EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest_s \
           FROM store_orders WHERE status = 'PENDING'",
    ))
    .get_result(conn)
    .await?;
    Ok((r.pending, r.oldest_s))
}

/// A product's paid units over the popular window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sold {
    pub product_id: ProductId,
    pub name: String,
    pub price: Points,
    pub stock: i32,
    pub sold: i64,
}

#[derive(QueryableByName)]
struct SoldRow {
    #[diesel(sql_type = BigInt)]
    product_id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    price: i64,
    #[diesel(sql_type = Integer)]
    stock: i32,
    #[diesel(sql_type = BigInt)]
    sold: i64,
}

/// The `top` products by units in paid orders of the hours that overlap the last
/// `window_hours` hours (whole hours: the oldest hour may be counted in full), ties by
/// product id. Reads the per-hour totals only: its cost is products × hours, whatever the
/// number of orders.
pub async fn best_sellers(
    conn: &mut AsyncPgConnection,
    window_hours: i64,
    top: i64,
) -> Result<Vec<Sold>, StoreError> {
    let rows: Vec<SoldRow> = Prepared(
        diesel::sql_query(
            "SELECT s.product_id, p.name, p.price, p.stock, s.sold \
           FROM (SELECT product_id, sum(quantity)::bigint AS sold FROM store_sales_hourly \
                  WHERE hour > now() - make_interval(hours => $1::int + 1) \
                  GROUP BY product_id) s \
           JOIN store_products p USING (product_id) \
          ORDER BY s.sold DESC, s.product_id LIMIT $2",
        )
        .bind::<Integer, _>(window_hours as i32)
        .bind::<BigInt, _>(top),
    )
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Sold {
            product_id: ProductId::from_db(r.product_id),
            name: r.name,
            price: Points::new(r.price),
            stock: r.stock,
            sold: r.sold,
        })
        .collect())
}
