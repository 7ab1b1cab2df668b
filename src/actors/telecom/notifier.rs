//! The MVNO notifier: delivers bill and product-change results to the MVNO AP server at
//! least once.
//!
//! State: only its round bookkeeping; the notifications wait in the PostgreSQL outbox
//! (`infra::telecom::outbox`), so neither a restart nor an MVNO outage loses one, and memory holds at
//! most one batch. Rounds run every `[mvno] poll_interval_ms` and right after an `Enqueue`;
//! a failed delivery is retried with exponential backoff. One per instance; instances share
//! the outbox without delivering a row twice at once.
//! Senders: the bill and product flows (`Enqueue`), `/admin/actors` (`Snapshot`).

use std::time::Duration;

use actix::prelude::*;
use rand::Rng as _;
use serde::Serialize;
use serde_json::json;

use crate::actors::shard::{Lifeline, Panic};
use crate::infra::db::DbPool;
use crate::infra::telecom::outbox::{self, Kind, Lag, Leased, NewNotification};
use crate::infra::StoreError;
use crate::settings::MvnoSettings;

/// Stores notifications durably; answered once they are in PostgreSQL.
#[derive(Message)]
#[rtype(result = "Result<usize, StoreError>")]
pub struct Enqueue(pub Vec<NewNotification>);

/// Start a delivery round now (if none is running).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Wake;

#[derive(Message)]
#[rtype(result = "Result<NotifierSnapshot, StoreError>")]
pub struct Snapshot;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifierSnapshot {
    #[serde(flatten)]
    pub lag: Lag,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub rounds: u64,
    pub vacuums: u64,
}

impl NotifierSnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &crate::metrics::Metrics) {
        m.set_outbox(self.lag.pending, self.lag.oldest_pending_s as i64);
        m.set_outbox_deliveries(self.delivered, self.failed_attempts, self.vacuums);
    }
}

#[derive(Default)]
struct RoundResult {
    delivered: u64,
    failed: u64,
    full_batch: bool,
}

impl RoundResult {
    /// Rows whose lease and outcome left dead row versions behind.
    fn rows_touched(&self) -> u64 {
        self.delivered + self.failed
    }
}

pub struct Notifier {
    db: DbPool,
    client: reqwest::Client,
    base_url: String,
    settings: MvnoSettings,
    busy: bool,
    delivered: u64,
    failed_attempts: u64,
    rounds: u64,
    /// Rows touched since the last vacuum of the outbox, and whether one is running.
    since_vacuum: u64,
    vacuuming: bool,
    vacuums: u64,
    _lifeline: Lifeline,
}

impl Notifier {
    /// `client`: built once at start-up (`infra::telecom::outbox::mvno_client`).
    pub fn new(
        db: DbPool,
        client: reqwest::Client,
        base_url: String,
        settings: MvnoSettings,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            db,
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            settings,
            busy: false,
            delivered: 0,
            failed_attempts: 0,
            rounds: 0,
            since_vacuum: 0,
            vacuuming: false,
            vacuums: 0,
            _lifeline: lifeline,
        }
    }

    fn round(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let db = self.db.clone();
        let client = self.client.clone();
        let base_url = self.base_url.clone();
        let s = self.settings.clone();
        let work = async move { deliver_round(&db, &client, &base_url, &s).await };
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            act.busy = false;
            act.rounds += 1;
            match result {
                Ok(r) => {
                    act.delivered += r.delivered;
                    act.failed_attempts += r.failed;
                    act.since_vacuum += r.rows_touched();
                    act.vacuum_if_due(ctx);
                    if r.full_batch {
                        ctx.notify(Wake);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "notifier round failed; will retry"),
            }
        }));
    }

    /// Vacuums the outbox once `[mvno] vacuum_every` rows were touched since the last time,
    /// beside the rounds (on a connection of its own; one at a time per instance, and
    /// instances skip the table while another vacuums it).
    fn vacuum_if_due(&mut self, ctx: &mut Context<Self>) {
        let every = u64::from(self.settings.vacuum_every);
        if every == 0 || self.vacuuming || self.since_vacuum < every {
            return;
        }
        self.vacuuming = true;
        self.since_vacuum = 0;
        let db = self.db.clone();
        let work = async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            outbox::vacuum(&mut conn).await
        };
        ctx.spawn(work.into_actor(self).map(|result, act, _| {
            act.vacuuming = false;
            match result {
                Ok(()) => act.vacuums += 1,
                Err(e) => tracing::warn!(error = %e, "vacuum of the MVNO outbox failed"),
            }
        }));
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(
            Duration::from_millis(self.settings.poll_interval_ms),
            |act, ctx| act.round(ctx),
        );
        let (db, days) = (self.db.clone(), self.settings.keep_delivered_days);
        ctx.run_interval(Duration::from_secs(3600), move |act, ctx| {
            let db = db.clone();
            ctx.spawn(
                async move {
                    if let Ok(mut conn) = db.get().await {
                        let _ = outbox::purge_delivered(&mut conn, days as i32).await;
                    }
                }
                .into_actor(act),
            );
        });
    }
}

impl Supervised for Notifier {}

/// Leases a batch, delivers it concurrently, records the outcomes.
async fn deliver_round(
    db: &DbPool,
    client: &reqwest::Client,
    base_url: &str,
    s: &MvnoSettings,
) -> Result<RoundResult, StoreError> {
    let leased = {
        let mut conn = db.get().await.map_err(StoreError::from)?;
        outbox::lease_due(&mut conn, i64::from(s.batch_size), s.lease_s as f64).await?
    };
    if leased.is_empty() {
        return Ok(RoundResult::default());
    }
    let full_batch = leased.len() as u32 >= s.batch_size;
    let posts = group_posts(&leased, s.per_post);
    let outcomes = futures_util::future::join_all(
        posts
            .iter()
            .map(|p| deliver_post(client, base_url, p, s.per_post > 1)),
    )
    .await;
    let outcomes: Vec<(&Leased, Result<(), String>)> = posts
        .iter()
        .zip(outcomes)
        .flat_map(|(post, outcome)| post.iter().map(move |n| (*n, outcome.clone())))
        .collect();
    let mut conn = db.get().await.map_err(StoreError::from)?;
    let mut result = RoundResult {
        full_batch,
        ..RoundResult::default()
    };
    let mut delivered = Vec::new();
    let mut first_error = None;
    for (n, outcome) in outcomes {
        match outcome {
            Ok(()) => delivered.push(n.id),
            Err(error) => {
                result.failed += 1;
                let delay = backoff_ms(s, n.attempts);
                outbox::retry_later(&mut conn, n.id, delay, &error).await?;
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        tracing::warn!(failed = result.failed, error = %error, "MVNO deliveries failed; will retry with backoff");
    }
    outbox::mark_delivered(&mut conn, &delivered).await?;
    result.delivered = delivered.len() as u64;
    Ok(result)
}

/// Groups notifications into POSTs: each POST carries one kind, at most `per_post` of them.
fn group_posts(leased: &[Leased], per_post: u32) -> Vec<Vec<&Leased>> {
    let mut posts: Vec<Vec<&Leased>> = Vec::new();
    for n in leased {
        match posts
            .iter_mut()
            .find(|p| p.len() < per_post as usize && p[0].kind == n.kind)
        {
            Some(post) => post.push(n),
            None => posts.push(vec![n]),
        }
    }
    posts
}

/// One POST: a single notification as an object, or (`as_array`) several as an array.
async fn deliver_post(
    client: &reqwest::Client,
    base_url: &str,
    post: &[&Leased],
    as_array: bool,
) -> Result<(), String> {
    let first = post.first().ok_or("empty delivery")?;
    let kind = Kind::parse(&first.kind).ok_or_else(|| format!("unknown kind {}", first.kind))?;
    let item = |n: &Leased| {
        json!({
            "eventId": n.event_id,
            "kind": n.kind,
            "attempt": n.attempts,
            "result": n.payload,
        })
    };
    let body = if as_array {
        serde_json::Value::Array(post.iter().map(|n| item(n)).collect())
    } else {
        item(first)
    };
    let response = client
        .post(format!("{base_url}{}", kind.path()))
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                e.to_string()
            }
        })?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let answer: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    match answer.get("resultCode").and_then(|c| c.as_str()) {
        None | Some("0000") => Ok(()),
        Some(code) => Err(format!("MVNO answered {code}")),
    }
}

/// `retry_base_ms × 2^(attempt−1)`, at most `retry_max_ms`, with ±10 % jitter.
fn backoff_ms(s: &MvnoSettings, attempt: i32) -> i64 {
    let exp = attempt.clamp(1, 30) - 1;
    let base = s
        .retry_base_ms
        .saturating_mul(1u64 << exp)
        .min(s.retry_max_ms.max(s.retry_base_ms));
    let jitter = rand::thread_rng().gen_range(0.9..=1.1);
    (base as f64 * jitter) as i64
}

impl Handler<Enqueue> for Notifier {
    type Result = ResponseActFuture<Self, Result<usize, StoreError>>;

    fn handle(&mut self, msg: Enqueue, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let insert = async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            outbox::enqueue(&mut conn, &msg.0).await
        };
        Box::pin(insert.into_actor(self).map(|result, act, ctx| {
            if result.is_ok() {
                act.round(ctx);
            }
            result
        }))
    }
}

impl Handler<Wake> for Notifier {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.round(ctx);
    }
}

impl Handler<Snapshot> for Notifier {
    type Result = ResponseActFuture<Self, Result<NotifierSnapshot, StoreError>>;

    fn handle(&mut self, _: Snapshot, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let lag = async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            outbox::lag(&mut conn).await
        };
        Box::pin(lag.into_actor(self).map(|lag, act, _| {
            Ok(NotifierSnapshot {
                lag: lag?,
                delivered: act.delivered,
                failed_attempts: act.failed_attempts,
                rounds: act.rounds,
                vacuums: act.vacuums,
            })
        }))
    }
}

impl Handler<Panic> for Notifier {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: MVNO notifier panics on request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = MvnoSettings {
            base_url: String::new(),
            timeout_ms: 1000,
            poll_interval_ms: 500,
            batch_size: 10,
            per_post: 1,
            retry_base_ms: 1000,
            retry_max_ms: 8000,
            lease_s: 30,
            vacuum_every: 0,
            keep_delivered_days: 7,
        };
        let within =
            |v: i64, target: f64| (v as f64) >= target * 0.89 && (v as f64) <= target * 1.11;
        assert!(within(backoff_ms(&s, 1), 1000.0));
        assert!(within(backoff_ms(&s, 2), 2000.0));
        assert!(within(backoff_ms(&s, 3), 4000.0));
        assert!(within(backoff_ms(&s, 10), 8000.0));
    }
}
