//! Orders paid with points (SPEC section 9, seed 4-1 … 6-1): what a client may ask for, how
//! an order is priced, the states it goes through, why one is refused, and the outcome kept
//! under its Idempotency-Key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::coupon::Discount;
use super::points::Points;
use super::shop::ProductId;

/// An issued coupon's id: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CouponId(i64);

impl CouponId {
    pub fn new(id: i64) -> Option<Self> {
        (id > 0).then_some(CouponId(id))
    }

    pub fn from_db(id: i64) -> Self {
        CouponId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// One line of an order as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub product: ProductId,
    pub quantity: i32,
}

/// What a client asks to buy: distinct products in product-id order (the order rows are
/// locked in), and maybe a coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    lines: Vec<Line>,
    pub coupon: Option<CouponId>,
}

/// Why an order request is malformed: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub field: String,
    pub message: String,
}

fn malformed(field: impl Into<String>, message: impl Into<String>) -> Malformed {
    Malformed {
        field: field.into(),
        message: message.into(),
    }
}

/// The limits of one order (`[store] max_order_items`, `max_item_quantity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLimits {
    pub max_items: usize,
    pub max_quantity: i32,
}

impl OrderRequest {
    /// From `(productId, quantity)` pairs as sent: 1..=max_items distinct products, each
    /// 1..=max_quantity units. `None` for a product id that is no product (the edge answers
    /// 404 for it, as for an unknown one).
    pub fn parse(
        items: &[(Option<ProductId>, i64)],
        coupon: Option<CouponId>,
        limits: OrderLimits,
    ) -> Result<Result<Self, usize>, Malformed> {
        if items.is_empty() || items.len() > limits.max_items {
            return Err(malformed(
                "items",
                format!("상품은 1~{}개여야 합니다", limits.max_items),
            ));
        }
        let mut lines = Vec::with_capacity(items.len());
        let mut unknown = None;
        for (i, (product, quantity)) in items.iter().enumerate() {
            if !(1..=i64::from(limits.max_quantity)).contains(quantity) {
                return Err(malformed(
                    format!("items[{i}].quantity"),
                    format!("수량은 1~{}이어야 합니다", limits.max_quantity),
                ));
            }
            match product {
                Some(product) => lines.push(Line {
                    product: *product,
                    quantity: *quantity as i32,
                }),
                None => unknown = unknown.or(Some(i)),
            }
        }
        lines.sort_by_key(|l| l.product);
        if lines.windows(2).any(|w| w[0].product == w[1].product) {
            return Err(malformed("items", "같은 상품이 두 번 있습니다"));
        }
        Ok(match unknown {
            Some(i) => Err(i),
            None => Ok(Self { lines, coupon }),
        })
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// What makes two requests under one Idempotency-Key the same request.
    pub fn fingerprint(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&format!("{}x{},", l.product.get(), l.quantity));
        }
        if let Some(c) = self.coupon {
            s.push_str(&format!("coupon={}", c.get()));
        }
        s
    }
}

/// A line priced at the product's current price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: Points,
    pub quantity: i32,
}

impl PricedLine {
    pub fn amount(&self) -> Option<Points> {
        self.unit_price.checked_mul(i64::from(self.quantity))
    }
}

/// Σ price × quantity (`None` on an overflow, which the limits make impossible).
pub fn total(lines: &[PricedLine]) -> Option<Points> {
    lines
        .iter()
        .try_fold(Points::ZERO, |acc, l| acc.checked_add(l.amount()?))
}

/// The discount first, capped by the total; the balance pays the rest.
pub fn split(total: Points, discount: Option<Discount>) -> (Points, Points) {
    let off = discount.map_or(Points::ZERO, |d| d.off(total));
    (off, Points::new(total.won() - off.won()))
}

/// An order's state (`store_orders.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Reserved (stock, coupon, balance taken), not yet confirmed.
    Pending,
    Paid,
    /// Refused; nothing held.
    Failed,
    /// Left pending and settled by the recovery; everything given back.
    Canceled,
}

/// Why a coupon cannot pay for an order (`error.details.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CouponRefusal {
    NotFound,
    NotOwned,
    Used,
    Reserved,
    Expired,
    MinOrderAmount,
}

/// One product short of stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shortage {
    pub product_id: ProductId,
    pub requested: i32,
    pub available: i32,
}

/// Why an order is refused, the first in SPEC's order (coupon, stock, balance). A refused
/// order is recorded `FAILED` with `code()` as its reason and holds nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "camelCase")]
pub enum Refusal {
    InvalidCoupon { reason: CouponRefusal },
    InsufficientStock { items: Vec<Shortage> },
    InsufficientBalance { required: Points, balance: Points },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidCoupon { .. } => "INVALID_COUPON",
            Refusal::InsufficientStock { .. } => "INSUFFICIENT_STOCK",
            Refusal::InsufficientBalance { .. } => "INSUFFICIENT_BALANCE",
        }
    }
}

/// The reason of an order the recovery canceled.
pub const SYSTEM_FAILURE: &str = "SYSTEM_FAILURE";

/// A paid order's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub order_id: Uuid,
    pub lines: Vec<PricedLine>,
    pub total: Points,
    pub discount: Points,
    pub paid: Points,
    pub balance_after: Points,
    pub coupon: Option<CouponId>,
    pub created_at: DateTime<Utc>,
    pub paid_at: DateTime<Utc>,
}

/// What placing an order came to, as its client is answered (and answered again, under its
/// Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum OrderOutcome {
    Paid(Receipt),
    #[serde(rename_all = "camelCase")]
    Refused {
        order_id: Uuid,
        refusal: Refusal,
    },
    /// Reserved but not confirmed: the recovery settles it.
    #[serde(rename_all = "camelCase")]
    Pending {
        order_id: Uuid,
    },
}

/// What an order's Idempotency-Key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "key", rename_all = "camelCase")]
pub enum KeyedOrder {
    /// Written by the reserve transaction: the order exists and is not settled yet (a
    /// request with the same key is answered 409 meanwhile).
    #[serde(rename_all = "camelCase")]
    Reserved { order_id: Uuid },
    /// The answer the first request was given, to give again.
    Answered(OrderOutcome),
}

/// A step of placing an order at which a fault can be injected (`POST /admin/faults/store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultStep {
    /// Right after the reserve transaction committed: nothing more is done.
    AfterReserve,
    /// Inside the confirm transaction, which is rolled back instead of committed.
    BeforePaid,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: OrderLimits = OrderLimits {
        max_items: 3,
        max_quantity: 5,
    };

    fn p(n: i64) -> Option<ProductId> {
        ProductId::parse(&n.to_string())
    }

    #[test]
    fn a_request_is_sorted_by_product_and_bounded() {
        let r = OrderRequest::parse(&[(p(3), 1), (p(1), 5)], None, LIMITS)
            .unwrap()
            .unwrap();
        let ids: Vec<i64> = r.lines().iter().map(|l| l.product.get()).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(r.fingerprint(), "1x5,3x1,");
        assert_eq!(
            OrderRequest::parse(&[], None, LIMITS).unwrap_err().field,
            "items"
        );
        let four = [(p(1), 1), (p(2), 1), (p(3), 1), (p(4), 1)];
        assert!(OrderRequest::parse(&four, None, LIMITS).is_err());
        let e = OrderRequest::parse(&[(p(1), 6)], None, LIMITS).unwrap_err();
        assert_eq!(e.field, "items[0].quantity");
        let e = OrderRequest::parse(&[(p(1), 0)], None, LIMITS).unwrap_err();
        assert_eq!(e.field, "items[0].quantity");
        let twice = OrderRequest::parse(&[(p(2), 1), (p(2), 2)], None, LIMITS).unwrap_err();
        assert_eq!(twice.field, "items");
        assert_eq!(
            OrderRequest::parse(&[(p(2), 1), (None, 1)], None, LIMITS).unwrap(),
            Err(1)
        );
    }

    #[test]
    fn the_coupon_pays_first_capped_by_the_total() {
        let total = Points::new(8_000);
        assert_eq!(
            split(total, Some(Discount::Amount(Points::new(3_000)))),
            (Points::new(3_000), Points::new(5_000))
        );
        assert_eq!(
            split(total, Some(Discount::Amount(Points::new(9_000)))),
            (total, Points::ZERO)
        );
        let rate = Discount::Rate {
            percent: 10,
            max: Points::new(500),
        };
        assert_eq!(
            split(total, Some(rate)),
            (Points::new(500), Points::new(7_500))
        );
        assert_eq!(split(total, None), (Points::ZERO, total));
    }

    #[test]
    fn outcomes_survive_their_json() {
        let o = KeyedOrder::Answered(OrderOutcome::Refused {
            order_id: Uuid::nil(),
            refusal: Refusal::InsufficientBalance {
                required: Points::new(10),
                balance: Points::ZERO,
            },
        });
        let back: KeyedOrder = serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
