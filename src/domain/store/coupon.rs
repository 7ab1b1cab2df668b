//! Coupon campaigns and coupons: codes, discounts, issue windows, eligibility, and the
//! states a coupon goes through.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::points::Points;

/// A campaign's code: 1–32 of `A-Z 0-9 _ -` (upper-cased on the way in).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CouponCode(String);

impl CouponCode {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim().to_ascii_uppercase();
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s))
        } else {
            Err("쿠폰 코드는 1~32자의 영문 대문자, 숫자, _, - 여야 합니다")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a coupon takes money off an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A fixed amount.
    Amount(Points),
    /// A percentage (1–100) of the order, at most `max`.
    Rate { percent: i64, max: Points },
}

/// `discountType` as clients and the database name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountType {
    Amount,
    Rate,
}

impl Discount {
    /// From an admin's `discountType`, `discountValue` and `maxDiscount`.
    pub fn parse(
        kind: DiscountType,
        value: i64,
        max: Option<i64>,
    ) -> Result<Self, (&'static str, &'static str)> {
        match kind {
            DiscountType::Amount if (1..=10_000_000).contains(&value) => {
                Ok(Discount::Amount(Points::new(value)))
            }
            DiscountType::Amount => {
                Err(("discountValue", "할인 금액은 1~10,000,000원이어야 합니다"))
            }
            DiscountType::Rate if !(1..=100).contains(&value) => {
                Err(("discountValue", "할인율은 1~100이어야 합니다"))
            }
            DiscountType::Rate => match max {
                Some(m) if (1..=10_000_000).contains(&m) => Ok(Discount::Rate {
                    percent: value,
                    max: Points::new(m),
                }),
                _ => Err((
                    "maxDiscount",
                    "정률 할인에는 1~10,000,000원의 최대 할인 금액이 필요합니다",
                )),
            },
        }
    }

    pub fn kind(self) -> DiscountType {
        match self {
            Discount::Amount(_) => DiscountType::Amount,
            Discount::Rate { .. } => DiscountType::Rate,
        }
    }

    /// `discountValue`: won for `AMOUNT`, percent for `RATE`.
    pub fn value(self) -> i64 {
        match self {
            Discount::Amount(a) => a.won(),
            Discount::Rate { percent, .. } => percent,
        }
    }

    pub fn max_discount(self) -> Option<Points> {
        match self {
            Discount::Amount(_) => None,
            Discount::Rate { max, .. } => Some(max),
        }
    }

    /// What it takes off an order of `total`: never more than the total, a rate rounded
    /// down to the won and capped by its maximum.
    pub fn off(self, total: Points) -> Points {
        let total = total.won().max(0);
        let off = match self {
            Discount::Amount(a) => a.won(),
            Discount::Rate { percent, max } => {
                // i128: total × percent cannot overflow.
                let raw = (i128::from(total) * i128::from(percent) / 100) as i64;
                raw.min(max.won())
            }
        };
        Points::new(off.clamp(0, total))
    }
}

/// A campaign as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub id: i64,
    pub code: CouponCode,
    pub name: String,
    pub discount: Discount,
    pub min_order_amount: Points,
    pub total_quantity: i32,
    pub issue_starts_at: DateTime<Utc>,
    pub issue_ends_at: DateTime<Utc>,
    pub valid_days: i32,
    /// Only lines of this operator may claim it (e.g. `KT`).
    pub eligible_operator: Option<String>,
}

/// Why a claim is refused before quantity is even asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    OutsideWindow,
    Operator,
}

impl Campaign {
    /// Whether a user whose line is on `operator` may claim at `now` (the window is
    /// `[issue_starts_at, issue_ends_at)`).
    pub fn may_claim(&self, now: DateTime<Utc>, operator: Option<&str>) -> Result<(), Ineligible> {
        if now < self.issue_starts_at || now >= self.issue_ends_at {
            return Err(Ineligible::OutsideWindow);
        }
        match (&self.eligible_operator, operator) {
            (None, _) => Ok(()),
            (Some(wanted), Some(op)) if wanted == op => Ok(()),
            _ => Err(Ineligible::Operator),
        }
    }

    /// When a coupon issued at `at` expires.
    pub fn expiry(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + Duration::days(i64::from(self.valid_days))
    }
}

/// Where an issued coupon stands (`store_coupons.status`; `Expired` is read from its expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CouponStatus {
    Available,
    /// Held by an order still being paid.
    Reserved,
    Used,
    Expired,
}

impl CouponStatus {
    /// A stored status as of `now`: an unused coupon past its expiry is expired.
    pub fn as_of(self, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        match self {
            CouponStatus::Available if now >= expires_at => CouponStatus::Expired,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn campaign(operator: Option<&str>) -> Campaign {
        Campaign {
            id: 1,
            code: CouponCode::parse("event2025").unwrap(),
            name: "이벤트".into(),
            discount: Discount::Rate {
                percent: 10,
                max: Points::new(5_000),
            },
            min_order_amount: Points::new(10_000),
            total_quantity: 100,
            issue_starts_at: at("2026-01-01T00:00:00Z"),
            issue_ends_at: at("2027-01-01T00:00:00Z"),
            valid_days: 30,
            eligible_operator: operator.map(str::to_string),
        }
    }

    #[test]
    fn codes_are_upper_cased_and_bounded() {
        assert_eq!(CouponCode::parse(" welcome ").unwrap().as_str(), "WELCOME");
        assert!(CouponCode::parse("").is_err());
        assert!(CouponCode::parse("with space").is_err());
        assert!(CouponCode::parse(&"A".repeat(33)).is_err());
    }

    #[test]
    fn discounts_never_exceed_the_total_and_rates_are_capped() {
        let amount = Discount::Amount(Points::new(3_000));
        assert_eq!(amount.off(Points::new(10_000)), Points::new(3_000));
        assert_eq!(amount.off(Points::new(2_000)), Points::new(2_000));
        let rate = Discount::Rate {
            percent: 10,
            max: Points::new(5_000),
        };
        assert_eq!(rate.off(Points::new(30_000)), Points::new(3_000));
        assert_eq!(rate.off(Points::new(80_000)), Points::new(5_000));
        // Rounded down to the won.
        assert_eq!(rate.off(Points::new(12_345)), Points::new(1_234));
        assert_eq!(rate.off(Points::new(i64::MAX)), Points::new(5_000));
        let all = Discount::Rate {
            percent: 100,
            max: Points::new(1_000_000),
        };
        assert_eq!(all.off(Points::new(7_000)), Points::new(7_000));
    }

    #[test]
    fn admin_discounts_are_validated() {
        assert!(Discount::parse(DiscountType::Amount, 0, None).is_err());
        assert!(Discount::parse(DiscountType::Rate, 101, Some(5_000)).is_err());
        assert_eq!(
            Discount::parse(DiscountType::Rate, 10, None).unwrap_err().0,
            "maxDiscount"
        );
        assert_eq!(
            Discount::parse(DiscountType::Amount, 3_000, None),
            Ok(Discount::Amount(Points::new(3_000)))
        );
    }

    #[test]
    fn the_window_is_half_open_and_operators_must_match() {
        let open = campaign(None);
        assert_eq!(open.may_claim(at("2026-06-01T00:00:00Z"), None), Ok(()));
        assert_eq!(
            open.may_claim(at("2025-12-31T23:59:59Z"), None),
            Err(Ineligible::OutsideWindow)
        );
        assert_eq!(
            open.may_claim(at("2027-01-01T00:00:00Z"), None),
            Err(Ineligible::OutsideWindow)
        );
        let kt = campaign(Some("KT"));
        assert_eq!(kt.may_claim(at("2026-06-01T00:00:00Z"), Some("KT")), Ok(()));
        assert_eq!(
            kt.may_claim(at("2026-06-01T00:00:00Z"), Some("LGU")),
            Err(Ineligible::Operator)
        );
        assert_eq!(
            kt.may_claim(at("2026-06-01T00:00:00Z"), None),
            Err(Ineligible::Operator)
        );
    }

    #[test]
    fn unused_coupons_expire() {
        let exp = at("2026-02-01T00:00:00Z");
        let before = at("2026-01-31T00:00:00Z");
        let after = at("2026-02-01T00:00:00Z");
        assert_eq!(
            CouponStatus::Available.as_of(exp, before),
            CouponStatus::Available
        );
        assert_eq!(
            CouponStatus::Available.as_of(exp, after),
            CouponStatus::Expired
        );
        assert_eq!(CouponStatus::Used.as_of(exp, after), CouponStatus::Used);
    }
}
