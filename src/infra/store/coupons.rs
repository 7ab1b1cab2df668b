//! Coupon campaigns and issued coupons (`store_coupon_campaigns`, `store_coupons`).
//! (Being built: see issue 14.)

use diesel_async::AsyncPgConnection;

use crate::infra::StoreError;

/// seed-demo's campaigns (`WELCOME`, `EVENT2025`, `KTONLY`), created when missing; how many
/// were created.
pub async fn ensure_demo_campaigns(_conn: &mut AsyncPgConnection) -> Result<usize, StoreError> {
    Ok(0)
}
