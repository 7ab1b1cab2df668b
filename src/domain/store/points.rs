//! Points (whole won) and the wallet's rules: what a charge may be, and the ledger's kinds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of points, in whole won. Arithmetic is checked: an overflow is an error, never
/// a wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Points(i64);

impl Points {
    pub const ZERO: Points = Points(0);

    pub const fn new(won: i64) -> Self {
        Points(won)
    }

    pub fn won(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Points) -> Option<Points> {
        self.0.checked_add(other.0).map(Points)
    }

    pub fn checked_sub(self, other: Points) -> Option<Points> {
        self.0.checked_sub(other.0).map(Points)
    }

    pub fn checked_mul(self, n: i64) -> Option<Points> {
        self.0.checked_mul(n).map(Points)
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which way a ledger entry moved a balance (`store_ledger.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerKind {
    Charge,
    Use,
    Restore,
}

/// Why a charge is refused (`error.details.reason`), in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargeRefusal {
    /// Not a multiple of `[store] charge_unit`.
    Unit,
    /// Below `[store] charge_min`.
    Minimum,
    /// Above `[store] charge_max`.
    MaximumPerCharge,
    /// The balance would exceed `[store] balance_max`.
    BalanceLimit,
}

/// What a charge came to (kept under its Idempotency-Key and answered again to a retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ChargeOutcome {
    #[serde(rename_all = "camelCase")]
    Charged {
        transaction_id: uuid::Uuid,
        balance: Points,
        charged: Points,
    },
    /// Refused by the balance limit (the other rules are checked before anything else).
    OverLimit,
}

/// The four charge rules (`[store]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeRules {
    pub unit: i64,
    pub min: i64,
    pub max: i64,
    pub balance_max: i64,
}

impl ChargeRules {
    /// The three rules about the amount alone, in SPEC's order; the fourth (the balance
    /// limit) needs the balance and is `fits`.
    pub fn check_amount(&self, amount: i64) -> Result<Points, ChargeRefusal> {
        if self.unit > 1 && amount % self.unit != 0 {
            return Err(ChargeRefusal::Unit);
        }
        if amount < self.min {
            return Err(ChargeRefusal::Minimum);
        }
        if amount > self.max {
            return Err(ChargeRefusal::MaximumPerCharge);
        }
        Ok(Points(amount))
    }

    /// The balance after charging `amount` onto `balance`, if it stays within the limit.
    pub fn fits(&self, balance: Points, amount: Points) -> Result<Points, ChargeRefusal> {
        balance
            .checked_add(amount)
            .filter(|after| after.0 <= self.balance_max)
            .ok_or(ChargeRefusal::BalanceLimit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: ChargeRules = ChargeRules {
        unit: 10,
        min: 1000,
        max: 100_000,
        balance_max: 10_000_000,
    };

    #[test]
    fn the_amount_rules_are_checked_in_order() {
        assert_eq!(RULES.check_amount(5_000), Ok(Points(5_000)));
        // Not a multiple of 10 and below the minimum: the unit rule is first.
        assert_eq!(RULES.check_amount(995), Err(ChargeRefusal::Unit));
        assert_eq!(RULES.check_amount(990), Err(ChargeRefusal::Minimum));
        assert_eq!(RULES.check_amount(0), Err(ChargeRefusal::Minimum));
        assert_eq!(RULES.check_amount(-1000), Err(ChargeRefusal::Minimum));
        assert_eq!(RULES.check_amount(100_000), Ok(Points(100_000)));
        assert_eq!(
            RULES.check_amount(100_010),
            Err(ChargeRefusal::MaximumPerCharge)
        );
        assert_eq!(RULES.check_amount(100_001), Err(ChargeRefusal::Unit));
    }

    #[test]
    fn the_balance_limit_is_inclusive_and_overflow_safe() {
        let at = |b| Points(b);
        assert_eq!(RULES.fits(at(9_900_000), at(100_000)), Ok(at(10_000_000)));
        assert_eq!(
            RULES.fits(at(9_900_010), at(100_000)),
            Err(ChargeRefusal::BalanceLimit)
        );
        assert_eq!(
            RULES.fits(at(i64::MAX), at(1_000)),
            Err(ChargeRefusal::BalanceLimit)
        );
    }
}
