//! `/store/coupons*` and `/store/admin/coupons*`: first-come coupon claims, the caller's
//! coupons, and campaigns (seed 3-1, 3-2). (Being built: see issue 14.)

use actix_web::web;

pub fn routes(_cfg: &mut web::ServiceConfig) {}
