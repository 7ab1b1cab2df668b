//! Coupon actors: first-come claims of coupon campaigns (SPEC section 9, seed 3-1/3-2).
//!
//! State, per shard (sharded by campaign code), for each campaign claimed through it: the
//! campaign (loaded from PostgreSQL on its first claim and kept: a campaign never changes),
//! whether PostgreSQL said it is sold out (then answered from memory: quantity never grows),
//! the users known to hold one (a second claim is answered from memory), and the claims
//! waiting for the next batch. One batch per campaign is in flight at a time; the claims
//! arriving meanwhile queue and go together in the next (at most `batch_max`), so a burst of
//! N claims costs few transactions. PostgreSQL decides who gets one, whichever instance
//! asks (see `infra::store::coupons`); memory only repeats what it said.
//! Eligibility comes before quantity: the issue window, then, for a campaign limited to an
//! operator, the claimant's line's operator read through telecom's customer cache.
//! Senders: the coupon handlers (`Claim`, `MyCoupons`, `CreateCampaign`, `CampaignReport`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::StoreStats;
use crate::actors::shard::{ActorError, Lifeline, Panic, ShardSet};
use crate::actors::telecom::cache::{CacheActor, CacheKey, Cached, Get};
use crate::actors::telecom::kos_gateway::KosError;
use crate::domain::identity::{LineNumber, UserId};
use crate::domain::store::coupon::{Campaign, CouponCode, Discount, Ineligible};
use crate::domain::store::points::Points;
use crate::infra::db::DbPool;
use crate::infra::store::coupons::{self, Batch, CreateError, Issue, NewCampaign};
use crate::infra::StoreError;

pub use crate::infra::store::coupons::{CampaignCounts, HeldCoupon};

/// Holders of a sold-out campaign loaded into memory at most (beyond, a holder this
/// instance has not seen claiming again is told "sold out" rather than "already issued").
const HOLDERS_IN_MEMORY: i64 = 100_000;

/// Times a claim goes round again after a batch left it out with quantity remaining.
const MAX_ATTEMPTS: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CouponError {
    #[error("campaign code taken")]
    CodeTaken,
    /// The claimant's operator could not be read (KOS behind the customer cache).
    #[error(transparent)]
    Kos(#[from] KosError),
    #[error(transparent)]
    Actor(#[from] ActorError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A coupon just issued to the claimant.
#[derive(Debug, Clone)]
pub struct IssuedCoupon {
    pub coupon_id: i64,
    pub campaign: Arc<Campaign>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// How a claim ended.
#[derive(Debug, Clone)]
pub enum ClaimOutcome {
    Issued(IssuedCoupon),
    /// One per user per campaign: the claimant holds one.
    AlreadyIssued,
    SoldOut,
    NotEligible(Ineligible),
    NotFound,
}

/// `user` (on `line`) claims a coupon of campaign `code`.
#[derive(Message)]
#[rtype(result = "Result<ClaimOutcome, CouponError>")]
pub struct Claim {
    pub code: CouponCode,
    pub user: UserId,
    pub line: LineNumber,
}

/// The coupons `0` holds, newest first, their status as of now.
#[derive(Message)]
#[rtype(result = "Result<Vec<HeldCoupon>, CouponError>")]
pub struct MyCoupons(pub UserId);

/// An admin's new campaign (already validated).
#[derive(Message)]
#[rtype(result = "Result<Campaign, CouponError>")]
pub struct CreateCampaign {
    pub code: CouponCode,
    pub name: String,
    pub discount: Discount,
    pub min_order_amount: Points,
    pub total_quantity: i32,
    pub issue_starts_at: DateTime<Utc>,
    pub issue_ends_at: DateTime<Utc>,
    pub valid_days: i32,
    pub eligible_operator: Option<String>,
}

/// A campaign and what it has given out, as PostgreSQL says now (`None`: no such code).
#[derive(Message)]
#[rtype(result = "Result<Option<(Campaign, CampaignCounts)>, CouponError>")]
pub struct CampaignReport(pub CouponCode);

type Reply = oneshot::Sender<Result<ClaimOutcome, CouponError>>;

/// A claim past eligibility, waiting for a batch.
struct Queued {
    user: UserId,
    reply: Reply,
    attempts: u8,
}

/// A claim waiting for its campaign to be loaded.
struct Arriving {
    user: UserId,
    line: LineNumber,
    reply: Reply,
}

struct CampaignState {
    campaign: Arc<Campaign>,
    sold_out: bool,
    /// Users known to hold one (all of them once `every_holder_known`).
    holders: HashSet<UserId>,
    every_holder_known: bool,
    queue: VecDeque<Queued>,
    in_flight: bool,
}

enum Entry {
    Loading(Vec<Arriving>),
    Ready(Box<CampaignState>),
}

/// One user's claims in a batch: the first is answered with the outcome, the others (the
/// same user twice in one batch) "already issued" when it was issued.
struct BatchSlot {
    user: UserId,
    claims: Vec<Queued>,
}

pub struct CouponActor {
    db: DbPool,
    customers: Arc<ShardSet<CacheActor>>,
    stats: Arc<StoreStats>,
    batch_max: usize,
    campaigns: HashMap<CouponCode, Entry>,
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
            db,
            customers,
            stats,
            batch_max: batch_max.max(1),
            campaigns: HashMap::new(),
            _lifeline: lifeline,
        }
    }

    fn state(&mut self, code: &CouponCode) -> Option<&mut CampaignState> {
        match self.campaigns.get_mut(code) {
            Some(Entry::Ready(st)) => Some(st),
            _ => None,
        }
    }

    fn answer(&self, reply: Reply, outcome: ClaimOutcome) {
        let counter = match &outcome {
            ClaimOutcome::Issued(_) => Some(&self.stats.coupons_issued),
            ClaimOutcome::AlreadyIssued => Some(&self.stats.coupons_duplicate),
            ClaimOutcome::NotEligible(_) => Some(&self.stats.coupons_not_eligible),
            // Sold out is counted where it is known (memory or PostgreSQL).
            ClaimOutcome::SoldOut | ClaimOutcome::NotFound => None,
        };
        if let Some(c) = counter {
            StoreStats::count(c);
        }
        let _ = reply.send(Ok(outcome));
    }

    fn sold_out_from_memory(&self, reply: Reply) {
        StoreStats::count(&self.stats.coupons_sold_out_memory);
        let _ = reply.send(Ok(ClaimOutcome::SoldOut));
    }

    /// Loads campaign `code` for the claims waiting on it.
    fn load(&mut self, code: CouponCode, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let find_code = code.clone();
        let load = async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            coupons::find(&mut conn, &find_code).await
        };
        ctx.spawn(load.into_actor(self).map(move |found, act, ctx| {
            let arriving = match act.campaigns.remove(&code) {
                Some(Entry::Loading(arriving)) => arriving,
                Some(other) => {
                    act.campaigns.insert(code.clone(), other);
                    Vec::new()
                }
                None => Vec::new(),
            };
            match found {
                Ok(Some(campaign)) => {
                    act.campaigns
                        .entry(code.clone())
                        .or_insert_with(|| Entry::Ready(Box::new(CampaignState::new(campaign))));
                    for a in arriving {
                        act.admit(&code, a.user, a.line, a.reply, ctx);
                    }
                }
                // Not remembered: the campaign may be created (on any instance) any time.
                Ok(None) => {
                    for a in arriving {
                        act.answer(a.reply, ClaimOutcome::NotFound);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "coupon campaign could not be loaded");
                    for a in arriving {
                        let _ = a.reply.send(Err(copy(&e).into()));
                    }
                }
            }
        }));
    }

    /// A claim of a loaded campaign: the window, a holder known, the operator, then quantity.
    fn admit(
        &mut self,
        code: &CouponCode,
        user: UserId,
        line: LineNumber,
        reply: Reply,
        ctx: &mut Context<Self>,
    ) {
        let Some(st) = self.state(code) else {
            let _ = reply.send(Ok(ClaimOutcome::NotFound));
            return;
        };
        let campaign = st.campaign.clone();
        // With the campaign's own operator, `may_claim` checks the window alone.
        if let Err(why) = campaign.may_claim(Utc::now(), campaign.eligible_operator.as_deref()) {
            return self.answer(reply, ClaimOutcome::NotEligible(why));
        }
        if st.holders.contains(&user) {
            return self.answer(reply, ClaimOutcome::AlreadyIssued);
        }
        if campaign.eligible_operator.is_none() {
            return self.enqueue(code, user, reply, ctx);
        }
        let customers = self.customers.clone();
        let lookup = async move {
            let key = CacheKey::Customer(line);
            let found = customers.ask(&key.name(), Get(key)).await??;
            Ok::<_, CouponError>(match &*found.value {
                Cached::Customer(c) => Some(c.operator_code.clone()),
                // KOS does not know the line (or it is not in use): no operator to match.
                _ => None,
            })
        };
        let code = code.clone();
        ctx.spawn(lookup.into_actor(self).map(move |operator, act, ctx| {
            let operator = match operator {
                Ok(op) => op,
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return;
                }
            };
            match campaign.may_claim(Utc::now(), operator.as_deref()) {
                Ok(()) => act.enqueue(&code, user, reply, ctx),
                Err(why) => act.answer(reply, ClaimOutcome::NotEligible(why)),
            }
        }));
    }

    /// An eligible claim: answered from memory if it can be, else queued for a batch.
    fn enqueue(&mut self, code: &CouponCode, user: UserId, reply: Reply, ctx: &mut Context<Self>) {
        let Some(st) = self.state(code) else {
            let _ = reply.send(Ok(ClaimOutcome::NotFound));
            return;
        };
        if st.holders.contains(&user) {
            return self.answer(reply, ClaimOutcome::AlreadyIssued);
        }
        if st.sold_out {
            return self.sold_out_from_memory(reply);
        }
        st.queue.push_back(Queued {
            user,
            reply,
            attempts: 0,
        });
        self.pump(code, ctx);
    }

    /// Starts the next batch of `code` unless one is in flight.
    fn pump(&mut self, code: &CouponCode, ctx: &mut Context<Self>) {
        let batch_max = self.batch_max;
        let Some(st) = self.state(code) else {
            return;
        };
        if st.in_flight || st.queue.is_empty() {
            return;
        }
        let mut batch: Vec<BatchSlot> = Vec::new();
        let mut index: HashMap<UserId, usize> = HashMap::new();
        let mut from_memory: Vec<(Queued, bool)> = Vec::new();
        while let Some(q) = st.queue.pop_front() {
            if st.holders.contains(&q.user) {
                from_memory.push((q, true));
            } else if st.sold_out {
                from_memory.push((q, false));
            } else if let Some(&i) = index.get(&q.user) {
                batch[i].claims.push(q);
            } else if batch.len() >= batch_max {
                st.queue.push_front(q);
                break;
            } else {
                index.insert(q.user.clone(), batch.len());
                batch.push(BatchSlot {
                    user: q.user.clone(),
                    claims: vec![q],
                });
            }
        }
        let want_holders = !st.every_holder_known;
        let campaign_id = st.campaign.id;
        if !batch.is_empty() {
            st.in_flight = true;
        }
        for (q, held) in from_memory {
            if held {
                self.answer(q.reply, ClaimOutcome::AlreadyIssued);
            } else {
                self.sold_out_from_memory(q.reply);
            }
        }
        if batch.is_empty() {
            return;
        }
        let db = self.db.clone();
        let users: Vec<UserId> = batch.iter().map(|s| s.user.clone()).collect();
        let run = async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            let result = coupons::issue_batch(&mut conn, campaign_id, &users).await?;
            // Once sold out, who holds one can no longer change: learn them all at once.
            let holders = if result.sold_out() && want_holders {
                coupons::holders(&mut conn, campaign_id, HOLDERS_IN_MEMORY)
                    .await
                    .unwrap_or(None)
            } else {
                None
            };
            Ok::<_, StoreError>((result, holders))
        };
        let code = code.clone();
        ctx.spawn(run.into_actor(self).map(move |result, act, ctx| {
            act.settle(&code, batch, result);
            act.pump(&code, ctx);
        }));
    }

    /// Answers a batch's claims from what PostgreSQL said.
    fn settle(
        &mut self,
        code: &CouponCode,
        batch: Vec<BatchSlot>,
        result: Result<(Batch, Option<Vec<String>>), StoreError>,
    ) {
        let stats = self.stats.clone();
        let Some(st) = self.state(code) else {
            return;
        };
        st.in_flight = false;
        let (result, all_holders) = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, claims = batch.len(), "coupon batch failed");
                for q in batch.into_iter().flat_map(|s| s.claims) {
                    let _ = q.reply.send(Err(copy(&e).into()));
                }
                return;
            }
        };
        StoreStats::count(&stats.coupon_batches);
        if result.sold_out() {
            st.sold_out = true;
        }
        if let Some(all) = all_holders {
            st.holders
                .extend(all.iter().filter_map(|u| UserId::parse(u).ok()));
            st.every_holder_known = true;
        }
        let campaign = st.campaign.clone();
        let mut answers: Vec<(Reply, ClaimOutcome)> = Vec::new();
        let mut sold_out: Vec<Reply> = Vec::new();
        let mut again: Vec<Queued> = Vec::new();
        for (slot, issue) in batch.into_iter().zip(result.per_user.iter()) {
            let mut claims = slot.claims.into_iter();
            match issue {
                Issue::Issued(i) => {
                    st.holders.insert(slot.user);
                    if let Some(first) = claims.next() {
                        let coupon = IssuedCoupon {
                            coupon_id: i.coupon_id,
                            campaign: campaign.clone(),
                            issued_at: i.issued_at,
                            expires_at: i.expires_at,
                        };
                        answers.push((first.reply, ClaimOutcome::Issued(coupon)));
                    }
                    answers.extend(claims.map(|q| (q.reply, ClaimOutcome::AlreadyIssued)));
                }
                Issue::AlreadyHeld => {
                    st.holders.insert(slot.user);
                    answers.extend(claims.map(|q| (q.reply, ClaimOutcome::AlreadyIssued)));
                }
                Issue::NotIssued if result.sold_out() => {
                    sold_out.extend(claims.map(|q| q.reply));
                }
                // Quantity remains: a coupon inserted out of turn took this one's place.
                Issue::NotIssued => again.extend(claims.map(|q| Queued {
                    attempts: q.attempts + 1,
                    ..q
                })),
            }
        }
        let mut gave_up = Vec::new();
        for q in again.into_iter().rev() {
            if q.attempts >= MAX_ATTEMPTS {
                gave_up.push(q.reply);
            } else {
                st.queue.push_front(q);
            }
        }
        for (reply, outcome) in answers {
            self.answer(reply, outcome);
        }
        for reply in sold_out {
            StoreStats::count(&stats.coupons_sold_out);
            let _ = reply.send(Ok(ClaimOutcome::SoldOut));
        }
        for reply in gave_up {
            let busy = StoreError::DbUnavailable("coupon claim contended too long".into());
            let _ = reply.send(Err(busy.into()));
        }
    }
}

impl CampaignState {
    fn new(campaign: Campaign) -> Self {
        Self {
            campaign: Arc::new(campaign),
            sold_out: false,
            holders: HashSet::new(),
            every_holder_known: false,
            queue: VecDeque::new(),
            in_flight: false,
        }
    }
}

/// The same failure for each of a batch's claims (a store error is not `Clone`); a database
/// error that is not an outage stays an unexpected one.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::DbUnavailable(m) => StoreError::DbUnavailable(m.clone()),
        StoreError::RedisUnavailable(m) => StoreError::RedisUnavailable(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Db(inner) => StoreError::Corrupt(format!("database error: {inner}")),
    }
}

impl Actor for CouponActor {
    type Context = Context<Self>;
}

impl Supervised for CouponActor {}

impl Handler<Claim> for CouponActor {
    type Result = ResponseFuture<Result<ClaimOutcome, CouponError>>;

    fn handle(&mut self, msg: Claim, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        match self.campaigns.get_mut(&msg.code) {
            Some(Entry::Ready(_)) => self.admit(&msg.code, msg.user, msg.line, reply, ctx),
            Some(Entry::Loading(arriving)) => arriving.push(Arriving {
                user: msg.user,
                line: msg.line,
                reply,
            }),
            None => {
                let arriving = Arriving {
                    user: msg.user,
                    line: msg.line,
                    reply,
                };
                self.campaigns
                    .insert(msg.code.clone(), Entry::Loading(vec![arriving]));
                self.load(msg.code, ctx);
            }
        }
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(CouponError::Actor(ActorError::Gone {
                    kind: "coupon",
                    retry_after_s: 1,
                }))
            })
        })
    }
}

impl Handler<MyCoupons> for CouponActor {
    type Result = ResponseFuture<Result<Vec<HeldCoupon>, CouponError>>;

    fn handle(&mut self, msg: MyCoupons, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            let now = Utc::now();
            let mut held = coupons::held_by(&mut conn, &msg.0).await?;
            for h in &mut held {
                h.status = h.status.as_of(h.expires_at, now);
            }
            Ok(held)
        })
    }
}

impl Handler<CreateCampaign> for CouponActor {
    type Result = ResponseFuture<Result<Campaign, CouponError>>;

    fn handle(&mut self, msg: CreateCampaign, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            let new = NewCampaign {
                code: &msg.code,
                name: &msg.name,
                discount: msg.discount,
                min_order_amount: msg.min_order_amount,
                total_quantity: msg.total_quantity,
                issue_starts_at: msg.issue_starts_at,
                issue_ends_at: msg.issue_ends_at,
                valid_days: msg.valid_days,
                eligible_operator: msg.eligible_operator.as_deref(),
            };
            coupons::create(&mut conn, &new).await.map_err(|e| match e {
                CreateError::Taken => CouponError::CodeTaken,
                CreateError::Store(s) => CouponError::Store(s),
            })
        })
    }
}

impl Handler<CampaignReport> for CouponActor {
    type Result = ResponseFuture<Result<Option<(Campaign, CampaignCounts)>, CouponError>>;

    fn handle(&mut self, msg: CampaignReport, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            let Some(campaign) = coupons::find(&mut conn, &msg.0).await? else {
                return Ok(None);
            };
            let counts = coupons::counts(&mut conn, campaign.id).await?;
            Ok(Some((campaign, counts)))
        })
    }
}

impl Handler<Panic> for CouponActor {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: coupon actor panics on request");
    }
}
