//! The shop's products: their ids and what an admin may set.

use serde::{Deserialize, Serialize};

use super::points::Points;

/// A shop product's id: a positive integer (deserialized only from the store's own
/// records, e.g. an answer kept under an Idempotency-Key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(i64);

impl ProductId {
    /// Anything but a positive integer is no product (the edge answers 404 for it).
    pub fn parse(input: &str) -> Option<Self> {
        let s = input.trim();
        if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<i64>().ok().filter(|&n| n > 0).map(ProductId)
    }

    pub fn from_db(id: i64) -> Self {
        ProductId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A product as the shop shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub price: Points,
    pub stock: i32,
    pub description: String,
}

/// Limits of what an admin may put in the shop.
pub const NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 2000;
pub const PRICE_MAX: i64 = 10_000_000;
pub const STOCK_MAX: i64 = 1_000_000;

/// A product name: 1–100 characters, not blank.
pub fn product_name(input: &str) -> Result<String, &'static str> {
    let s = input.trim();
    if s.is_empty() || s.chars().count() > NAME_MAX {
        return Err("상품명은 1~100자여야 합니다");
    }
    Ok(s.to_string())
}

/// A price: 1 … 10,000,000 won.
pub fn price(won: i64) -> Result<Points, &'static str> {
    if (1..=PRICE_MAX).contains(&won) {
        Ok(Points::new(won))
    } else {
        Err("가격은 1원 이상 10,000,000원 이하여야 합니다")
    }
}

/// A stock level or an addition to it: 0 … 1,000,000 units.
pub fn stock(units: i64) -> Result<i32, &'static str> {
    if (0..=STOCK_MAX).contains(&units) {
        Ok(units as i32)
    } else {
        Err("재고는 0개 이상 1,000,000개 이하여야 합니다")
    }
}

/// A description: at most 2,000 characters.
pub fn description(input: &str) -> Result<String, &'static str> {
    if input.chars().count() > DESCRIPTION_MAX {
        return Err("설명은 2,000자 이하여야 합니다");
    }
    Ok(input.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_positive_integers() {
        assert_eq!(ProductId::parse("7").map(ProductId::get), Some(7));
        for bad in ["0", "-1", "abc", "1.5", "", "99999999999999999999", "+3"] {
            assert_eq!(ProductId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn admin_values_are_bounded() {
        assert!(product_name("  ").is_err());
        assert!(product_name(&"가".repeat(101)).is_err());
        assert_eq!(product_name(" 텀블러 ").unwrap(), "텀블러");
        assert!(price(0).is_err());
        assert!(price(PRICE_MAX + 1).is_err());
        assert!(stock(-1).is_err());
        assert_eq!(stock(5), Ok(5));
        assert!(description(&"x".repeat(2001)).is_err());
    }
}
