//! The store's invariants, checked against PostgreSQL (`phonebill store-audit`): each query
//! lists the rows that break one, so an empty result is a kept invariant.

use diesel::sql_types::{Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::infra::StoreError;

/// One broken invariant, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

#[derive(diesel::QueryableByName)]
struct Finding {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// What was checked: (invariant, query listing its violations as `detail`).
const CHECKS: &[(&str, &str)] = &[
    (
        "balance = Σ ledger (CHARGE + RESTORE - USE) per user",
        "SELECT format('user %s: balance %s, ledger %s', w.user_id, w.balance, \
                COALESCE(l.total, 0)) AS detail \
           FROM store_wallets w \
           LEFT JOIN (SELECT user_id, sum(CASE kind WHEN 'USE' THEN -amount ELSE amount END) \
                        AS total FROM store_ledger GROUP BY user_id) l USING (user_id) \
          WHERE w.balance <> COALESCE(l.total, 0)",
    ),
    (
        "stock put on sale = stock + units of paid and pending orders, per product",
        "SELECT format('product %s: stocked %s, stock %s, held or sold %s', p.product_id, \
                p.stocked, p.stock, COALESCE(s.units, 0)) AS detail \
           FROM store_products p \
           LEFT JOIN (SELECT i.product_id, sum(i.quantity) AS units FROM store_order_items i \
                        JOIN store_orders o USING (order_id) \
                       WHERE o.status IN ('PAID', 'PENDING') GROUP BY i.product_id) s \
                  USING (product_id) \
          WHERE p.stocked <> p.stock + COALESCE(s.units, 0)",
    ),
    (
        "issued ≤ quantity, and issued = coupons, per campaign",
        "SELECT format('campaign %s: quantity %s, issued %s, coupons %s', k.code, \
                k.total_quantity, k.issued, count(c.coupon_id)) AS detail \
           FROM store_coupon_campaigns k LEFT JOIN store_coupons c USING (campaign_id) \
          GROUP BY k.campaign_id \
         HAVING k.issued > k.total_quantity OR k.issued <> count(c.coupon_id)",
    ),
    (
        "a coupon is used by at most one paid order",
        "SELECT format('coupon %s: %s paid orders', coupon_id, count(*)) AS detail \
           FROM store_orders WHERE status = 'PAID' AND coupon_id IS NOT NULL \
          GROUP BY coupon_id HAVING count(*) > 1",
    ),
    (
        "a coupon is USED by its paid order, RESERVED by its pending one, else AVAILABLE",
        "SELECT format('coupon %s: %s, order %s %s', c.coupon_id, c.status, \
                COALESCE(o.order_id::text, '-'), COALESCE(o.status, '-')) AS detail \
           FROM store_coupons c \
           LEFT JOIN store_orders o ON o.coupon_id = c.coupon_id \
                AND o.status IN ('PAID', 'PENDING') \
          WHERE c.status <> CASE o.status WHEN 'PAID' THEN 'USED' \
                                          WHEN 'PENDING' THEN 'RESERVED' \
                                          ELSE 'AVAILABLE' END \
             OR (o.order_id IS NOT NULL AND c.order_id IS DISTINCT FROM o.order_id)",
    ),
    (
        "an order's ledger: paid and pending took once, canceled took once and was given \
         it back once, failed took nothing",
        "SELECT format('order %s %s paid %s: used %s, restored %s', o.order_id, o.status, \
                o.paid_amount, COALESCE(l.used, 0), COALESCE(l.restored, 0)) AS detail \
           FROM store_orders o \
           LEFT JOIN (SELECT order_id, \
                             sum(amount) FILTER (WHERE kind = 'USE') AS used, \
                             count(*) FILTER (WHERE kind = 'USE') AS uses, \
                             sum(amount) FILTER (WHERE kind = 'RESTORE') AS restored, \
                             count(*) FILTER (WHERE kind = 'RESTORE') AS restores \
                        FROM store_ledger WHERE order_id IS NOT NULL GROUP BY order_id) l \
                  USING (order_id) \
          WHERE COALESCE(l.used, 0) <> CASE WHEN o.status = 'FAILED' THEN 0 ELSE o.paid_amount END \
             OR COALESCE(l.uses, 0) > 1 OR COALESCE(l.restores, 0) > 1 \
             OR COALESCE(l.restored, 0) <> CASE WHEN o.status = 'CANCELED' THEN o.paid_amount ELSE 0 END",
    ),
    (
        "sales per product = units of its paid orders",
        "SELECT format('product %s: sales %s, paid units %s', product_id, \
                COALESCE(s.units, 0), COALESCE(p.units, 0)) AS detail \
           FROM (SELECT product_id, sum(quantity) AS units FROM store_sales_hourly \
                  GROUP BY product_id) s \
           FULL JOIN (SELECT i.product_id, sum(i.quantity) AS units \
                        FROM store_order_items i JOIN store_orders o USING (order_id) \
                       WHERE o.status = 'PAID' GROUP BY i.product_id) p USING (product_id) \
          WHERE COALESCE(s.units, 0) <> COALESCE(p.units, 0)",
    ),
];

/// Nothing `PENDING` past its deadline plus `margin_s` (the recovery's delay).
const OVERDUE: &str = "SELECT format('order %s PENDING %s s past its deadline', order_id, \
        round(EXTRACT(EPOCH FROM now() - deadline)::numeric, 1)) AS detail \
   FROM store_orders WHERE status = 'PENDING' \
    AND deadline < now() - make_interval(secs => $1)";

/// Every invariant's violations; `checked` is how many invariants were looked at.
pub async fn run(
    conn: &mut AsyncPgConnection,
    margin_s: f64,
) -> Result<(usize, Vec<Violation>), StoreError> {
    let mut found = Vec::new();
    for (invariant, sql) in CHECKS {
        let rows: Vec<Finding> = diesel::sql_query(*sql).load(conn).await?;
        found.extend(rows.into_iter().map(|f| Violation {
            invariant,
            detail: f.detail,
        }));
    }
    let rows: Vec<Finding> = diesel::sql_query(OVERDUE)
        .bind::<Double, _>(margin_s)
        .load(conn)
        .await?;
    found.extend(rows.into_iter().map(|f| Violation {
        invariant: "nothing PENDING past its deadline and the margin",
        detail: f.detail,
    }));
    Ok((CHECKS.len() + 1, found))
}
