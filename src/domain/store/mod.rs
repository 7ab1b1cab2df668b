//! The membership store (SPEC section 9): points, the shop, coupon campaigns. It shares
//! only identity with the other contexts.

pub mod coupon;
pub mod order;
pub mod points;
pub mod shop;
