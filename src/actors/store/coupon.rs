//! Coupon actors: first-come claims of coupon campaigns (SPEC section 9, seed 3-1/3-2).
//! (Being built: see issue 14.)

use actix::prelude::*;

use std::sync::Arc;

use super::StoreStats;
use crate::actors::shard::{Lifeline, Panic, ShardSet};
use crate::actors::telecom::cache::CacheActor;
use crate::infra::db::DbPool;

pub struct CouponActor {
    _db: DbPool,
    _customers: Arc<ShardSet<CacheActor>>,
    _stats: Arc<StoreStats>,
    _batch_max: usize,
    _lifeline: Lifeline,
}

impl CouponActor {
    pub fn new(
        db: DbPool,
        customers: Arc<ShardSet<CacheActor>>,
        stats: Arc<StoreStats>,
        batch_max: usize,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            _db: db,
            _customers: customers,
            _stats: stats,
            _batch_max: batch_max,
            _lifeline: lifeline,
        }
    }
}

impl Actor for CouponActor {
    type Context = Context<Self>;
}

impl Supervised for CouponActor {}

impl Handler<Panic> for CouponActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: coupon actor panics on request");
    }
}
