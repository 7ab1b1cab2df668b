//! The membership store: coupon campaigns and first-come claims (SPEC section 9).
