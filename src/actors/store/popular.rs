//! The popular-products actor, one per instance (SPEC section 9, seed 7-1).
//!
//! State: the current top products, and when they were read. Every
//! `[store] popular_refresh_ms` it reads them from the per-hour paid totals the confirm
//! transaction keeps (`orders::best_sellers`: products × hours, whatever the number of
//! orders), so an answer is at most that old; requests are answered from memory.
//! Senders: the shop handler (`Popular`).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::actors::shard::{Lifeline, Panic};
use crate::infra::db::DbPool;
use crate::infra::store::orders::{self, Sold};
use crate::infra::StoreError;

/// The top products as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub items: Vec<Sold>,
    pub as_of: DateTime<Utc>,
}

/// The top products, from memory (read once first if never read yet).
#[derive(Message)]
#[rtype(result = "Result<Arc<Board>, StoreError>")]
pub struct Popular;

pub struct PopularActor {
    db: DbPool,
    refresh: Duration,
    window_hours: i64,
    size: i64,
    board: Option<Arc<Board>>,
    refreshing: bool,
    _lifeline: Lifeline,
}

impl PopularActor {
    pub fn new(
        db: DbPool,
        refresh: Duration,
        window_hours: i64,
        size: i64,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            db,
            refresh,
            window_hours,
            size,
            board: None,
            refreshing: false,
            _lifeline: lifeline,
        }
    }

    fn read(&self) -> impl std::future::Future<Output = Result<Board, StoreError>> + 'static {
        let (db, window, size) = (self.db.clone(), self.window_hours, self.size);
        async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            let as_of = Utc::now();
            let items = orders::best_sellers(&mut conn, window, size).await?;
            Ok(Board { items, as_of })
        }
    }

    fn refresh(&mut self, ctx: &mut Context<Self>) {
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        ctx.spawn(self.read().into_actor(self).map(|r, act, _| {
            act.refreshing = false;
            match r {
                Ok(board) => act.board = Some(Arc::new(board)),
                Err(e) => {
                    tracing::warn!(error = %e, "popular products not refreshed; next round retries")
                }
            }
        }));
    }
}

impl Actor for PopularActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.refresh(ctx);
        ctx.run_interval(self.refresh, |act, ctx| act.refresh(ctx));
    }
}

impl Supervised for PopularActor {}

impl Handler<Popular> for PopularActor {
    type Result = ResponseActFuture<Self, Result<Arc<Board>, StoreError>>;

    fn handle(&mut self, _: Popular, _: &mut Context<Self>) -> Self::Result {
        if let Some(board) = &self.board {
            let board = board.clone();
            return Box::pin(fut::ready(Ok(board)));
        }
        Box::pin(self.read().into_actor(self).map(|r, act, _| {
            let board = Arc::new(r?);
            act.board = Some(board.clone());
            Ok(board)
        }))
    }
}

impl Handler<Panic> for PopularActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: popular products actor panics on request");
    }
}
