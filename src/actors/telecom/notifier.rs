//! The MVNO notifier: delivers bill and product-change results to the MVNO AP server at
//! least once.
//!
//! State: only its round bookkeeping. The notifications wait in PostgreSQL, so neither a
//! restart nor an MVNO outage loses one, and memory holds at most one batch of each kind:
//! - bill results are the history rows themselves, followed by a cursor
//!   (`infra::telecom::bill_stream`) that one instance at a time holds and moves once per
//!   delivered batch. While the MVNO AP is down (every delivery of a batch fails) the cursor
//!   waits, with exponential backoff, and nothing is written; a notification that fails
//!   while others of its batch go through is moved to the outbox and retried from there;
//! - the outbox (`infra::telecom::outbox`) holds product-change results and those retries,
//!   leased row by row (instances never deliver one row twice at once), retried with
//!   backoff.
//!
//! A notification the MVNO AP refuses for good (HTTP 4xx other than 408/425/429) is set
//! aside in the outbox: counted, never retried by itself, holding nothing up.
//! Rounds run every `[mvno] poll_interval_ms`, right after an `Enqueue` and when the
//! history writer wrote (`Wake`). One per instance.
//! Senders: the product flows (`Enqueue`), the history writer (`Wake`), `/admin/actors`
//! (`Snapshot`).

use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng as _;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::actors::shard::{Lifeline, Panic};
use crate::domain::identity::LineNumber;
use crate::domain::telecom::bill::BillNotification;
use crate::infra::db::DbPool;
use crate::infra::telecom::bill_stream::{self, Due, StreamLag};
use crate::infra::telecom::outbox::{self, Failed, Kind, Lag, NewNotification};
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

/// Gives up the bill-result stream's lease, if this instance holds it (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifierSnapshot {
    /// The outbox (product changes, retries, set aside).
    #[serde(flatten)]
    pub lag: Lag,
    /// The bill-result stream.
    pub stream: StreamLag,
    /// Whether this instance holds the stream's lease, or held it last (a lease runs out
    /// between batches when there is nothing to deliver; the holder takes it back first).
    pub stream_holder: bool,
    /// Consecutive stream batches that all failed (the MVNO AP is down).
    pub stream_failures: u32,
    pub delivered: u64,
    pub failed_attempts: u64,
    /// Notifications this instance set aside (refused for good).
    pub set_aside: u64,
    pub rounds: u64,
    pub vacuums: u64,
}

impl NotifierSnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &crate::metrics::Metrics) {
        m.set_outbox(
            self.lag.pending + self.stream.pending,
            self.lag.oldest_pending_s.max(self.stream.oldest_pending_s) as i64,
            self.lag.set_aside,
        );
        m.set_outbox_deliveries(
            self.delivered,
            self.failed_attempts,
            self.set_aside,
            self.vacuums,
        );
    }
}

/// How one delivery ended.
#[derive(Debug, Clone)]
enum Failure {
    /// Worth another try later (no answer, a 5xx, a time-out, a `resultCode` not `0000`).
    Transient(String),
    /// The MVNO AP refused it for good (a 4xx other than 408, 425 and 429).
    Refused(String),
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Transient(m) | Failure::Refused(m) => m,
        }
    }
}

#[derive(Default)]
struct RoundResult {
    delivered: u64,
    failed: u64,
    set_aside: u64,
    full_batch: bool,
}

impl RoundResult {
    /// Outbox rows whose lease and outcome left dead row versions behind.
    fn rows_touched(&self) -> u64 {
        self.delivered + self.failed + self.set_aside
    }
}

/// How a round of the bill-result stream ended.
enum StreamRound {
    /// Nothing to deliver, or another instance holds the cursor.
    Idle,
    /// Every delivery failed and none was refused: the MVNO AP is down; the cursor stays.
    Outage {
        failed: u64,
        error: String,
    },
    Delivered(RoundResult),
}

pub struct Notifier {
    db: DbPool,
    client: reqwest::Client,
    base_url: String,
    settings: MvnoSettings,
    /// This process's name as holder of the stream's lease.
    holder: String,
    outbox_busy: bool,
    stream_busy: bool,
    /// Consecutive stream batches that all failed, and when the stream is tried again.
    stream_failures: u32,
    stream_resume_at: Option<Instant>,
    delivered: u64,
    failed_attempts: u64,
    set_aside: u64,
    rounds: u64,
    /// Rows touched since the last vacuum of the outbox, and whether one is running.
    since_vacuum: u64,
    vacuuming: bool,
    vacuums: u64,
    _lifeline: Lifeline,
}

impl Notifier {
    /// `client`: built once at start-up (`infra::telecom::outbox::mvno_client`); `holder`:
    /// this process's name for the stream's lease (the same across restarts of the actor).
    pub fn new(
        db: DbPool,
        client: reqwest::Client,
        base_url: String,
        settings: MvnoSettings,
        holder: String,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            db,
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            settings,
            holder,
            outbox_busy: false,
            stream_busy: false,
            stream_failures: 0,
            stream_resume_at: None,
            delivered: 0,
            failed_attempts: 0,
            set_aside: 0,
            rounds: 0,
            since_vacuum: 0,
            vacuuming: false,
            vacuums: 0,
            _lifeline: lifeline,
        }
    }

    fn round(&mut self, ctx: &mut Context<Self>) {
        self.stream_round(ctx);
        self.outbox_round(ctx);
    }

    /// A round of the bill-result stream, unless one runs or it waits out an outage.
    fn stream_round(&mut self, ctx: &mut Context<Self>) {
        if self.stream_busy || self.stream_resume_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.stream_busy = true;
        let (db, client, base_url, s, holder) = (
            self.db.clone(),
            self.client.clone(),
            self.base_url.clone(),
            self.settings.clone(),
            self.holder.clone(),
        );
        let attempt = self.stream_failures as i32 + 1;
        let work =
            async move { deliver_stream(&db, &client, &base_url, &s, &holder, attempt).await };
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            act.stream_busy = false;
            act.rounds += 1;
            match result {
                Ok(StreamRound::Idle) => {}
                Ok(StreamRound::Outage { failed, error }) => {
                    act.failed_attempts += failed;
                    act.stream_failures = act.stream_failures.saturating_add(1);
                    let wait = backoff_ms(&act.settings, act.stream_failures as i32);
                    act.stream_resume_at =
                        Some(Instant::now() + Duration::from_millis(wait as u64));
                    tracing::warn!(failed, error = %error, retry_in_ms = wait,
                        "MVNO AP refuses every bill result; the stream waits");
                }
                Ok(StreamRound::Delivered(r)) => {
                    act.stream_failures = 0;
                    act.stream_resume_at = None;
                    act.delivered += r.delivered;
                    act.failed_attempts += r.failed + r.set_aside;
                    act.set_aside += r.set_aside;
                    if r.full_batch {
                        act.stream_round(ctx);
                    }
                    if r.failed + r.set_aside > 0 {
                        // Retries are in the outbox now.
                        act.outbox_round(ctx);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "bill-result stream round failed; will retry"),
            }
        }));
    }

    /// A round of the outbox, unless one runs.
    fn outbox_round(&mut self, ctx: &mut Context<Self>) {
        if self.outbox_busy {
            return;
        }
        self.outbox_busy = true;
        let db = self.db.clone();
        let client = self.client.clone();
        let base_url = self.base_url.clone();
        let s = self.settings.clone();
        let work = async move { deliver_outbox(&db, &client, &base_url, &s).await };
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            act.outbox_busy = false;
            act.rounds += 1;
            match result {
                Ok(r) => {
                    act.delivered += r.delivered;
                    act.failed_attempts += r.failed + r.set_aside;
                    act.set_aside += r.set_aside;
                    act.since_vacuum += r.rows_touched();
                    act.vacuum_if_due(ctx);
                    if r.full_batch {
                        act.outbox_round(ctx);
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

/// One batch of the bill-result stream: read after the cursor, take the lease if needed,
/// deliver, move the cursor (keeping what failed in the outbox). No connection is held
/// while the MVNO AP is called.
async fn deliver_stream(
    db: &DbPool,
    client: &reqwest::Client,
    base_url: &str,
    s: &MvnoSettings,
    holder: &str,
    attempt: i32,
) -> Result<StreamRound, StoreError> {
    let lease_s = s.lease_s as f64;
    let due = {
        let mut conn = db.get().await.map_err(StoreError::from)?;
        let due = bill_stream::due(&mut conn, i64::from(s.batch_size)).await?;
        let Some(first) = due.first() else {
            return Ok(StreamRound::Idle);
        };
        // A lease with more than half its time left is used as it is (each move renews it).
        let mine = first.holder.as_deref() == Some(holder)
            && first.lease_left_ms.is_some_and(|ms| ms > lease_s * 500.0);
        if !mine && !bill_stream::lease(&mut conn, holder, &first.from(), lease_s).await? {
            return Ok(StreamRound::Idle);
        }
        due
    };
    let (Some(first), Some(last)) = (due.first(), due.last()) else {
        return Ok(StreamRound::Idle);
    };
    let (from, to) = (first.from(), last.position());
    let outgoing: Vec<Result<Outgoing, Failure>> =
        due.iter().map(|d| bill_result(d, attempt)).collect();
    let ready: Vec<&Outgoing> = outgoing.iter().filter_map(|o| o.as_ref().ok()).collect();
    let outcomes = deliver_all(client, base_url, &ready, s.per_post).await;
    let mut result = RoundResult {
        full_batch: due.len() as u32 >= s.batch_size,
        ..RoundResult::default()
    };
    let mut failed = Vec::new();
    let mut first_error = None;
    let mut delivered_outcomes = outcomes.into_iter();
    for (d, o) in due.iter().zip(&outgoing) {
        let outcome = match o {
            Ok(_) => delivered_outcomes.next().unwrap_or(Ok(())),
            Err(f) => Err(f.clone()),
        };
        match outcome {
            Ok(()) => result.delivered += 1,
            Err(failure) => {
                let set_aside = matches!(failure, Failure::Refused(_));
                if set_aside {
                    result.set_aside += 1;
                } else {
                    result.failed += 1;
                }
                failed.push((d, failure));
            }
        }
    }
    if result.delivered == 0 && result.set_aside == 0 {
        let error = failed
            .first()
            .map(|(_, f)| f.message().to_string())
            .unwrap_or_default();
        return Ok(StreamRound::Outage {
            failed: result.failed,
            error,
        });
    }
    let kept: Vec<Failed<'_>> = failed
        .iter()
        .map(|(d, failure)| {
            let (d, set_aside) = (*d, matches!(failure, Failure::Refused(_)));
            first_error.get_or_insert_with(|| failure.message().to_string());
            Failed {
                kind: Kind::BillResult.as_str(),
                event_id: &d.request_id,
                payload: bill_payload(d)
                    .map(|p| p.get().to_string())
                    .unwrap_or_else(|_| "{}".into()),
                attempts: attempt,
                retry_in_ms: backoff_ms(s, attempt),
                error: failure.message(),
                set_aside,
            }
        })
        .collect();
    if let Some(error) = first_error {
        tracing::warn!(failed = result.failed, set_aside = result.set_aside, error = %error,
            "some bill results failed; kept in the outbox");
    }
    let mut conn = db.get().await.map_err(StoreError::from)?;
    if !bill_stream::advance(&mut conn, holder, &from, &to, lease_s, &kept).await? {
        tracing::warn!("the bill-result stream's lease was lost during a round; another instance delivers those rows again");
        return Ok(StreamRound::Idle);
    }
    Ok(StreamRound::Delivered(result))
}

/// What the MVNO AP is told of an answered inquiry (from its history row and its bill).
fn bill_payload(d: &Due) -> Result<Box<RawValue>, Failure> {
    let line = LineNumber::parse(&d.line_number)
        .map_err(|_| Failure::Refused(format!("history row {} has no valid line", d.id)))?;
    serde_json::value::to_raw_value(&BillNotification {
        request_id: &d.request_id,
        line_number: &line,
        billing_month: d.inquiry_month.clone(),
        total_fee: d.total_fee,
        customer_id: &d.customer_id,
        processed_at: d.process_time.to_rfc3339(),
    })
    .map_err(|e| Failure::Refused(e.to_string()))
}

fn bill_result(d: &Due, attempt: i32) -> Result<Outgoing, Failure> {
    Ok(Outgoing {
        kind: Kind::BillResult,
        event_id: d.request_id.clone(),
        attempt,
        payload: bill_payload(d)?,
    })
}

/// A notification on its way: kind, event id, attempt number and payload (serialized once).
struct Outgoing {
    kind: Kind,
    event_id: String,
    attempt: i32,
    payload: Box<RawValue>,
}

/// A notification as the MVNO AP receives it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Delivered<'a> {
    event_id: &'a str,
    kind: &'a str,
    attempt: i32,
    result: &'a RawValue,
}

impl<'a> From<&'a Outgoing> for Delivered<'a> {
    fn from(n: &'a Outgoing) -> Self {
        Delivered {
            event_id: &n.event_id,
            kind: n.kind.as_str(),
            attempt: n.attempt,
            result: &n.payload,
        }
    }
}

/// Leases a batch of the outbox, delivers it concurrently, records the outcomes.
async fn deliver_outbox(
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
    let mut outgoing = Vec::with_capacity(leased.len());
    let mut unknown = Vec::new();
    for n in &leased {
        // (A stored payload is JSON already: it always serializes.)
        match (
            Kind::parse(&n.kind),
            serde_json::value::to_raw_value(&n.payload),
        ) {
            (Some(kind), Ok(payload)) => outgoing.push((
                n,
                Outgoing {
                    kind,
                    event_id: n.event_id.clone(),
                    attempt: n.attempts,
                    payload,
                },
            )),
            _ => unknown.push(n),
        }
    }
    let ready: Vec<&Outgoing> = outgoing.iter().map(|(_, o)| o).collect();
    let outcomes = deliver_all(client, base_url, &ready, s.per_post).await;
    let mut conn = db.get().await.map_err(StoreError::from)?;
    let mut result = RoundResult {
        full_batch,
        ..RoundResult::default()
    };
    let mut delivered = Vec::new();
    let mut first_error = None;
    for n in unknown {
        result.set_aside += 1;
        outbox::set_aside(&mut conn, n.id, &format!("unknown kind {}", n.kind)).await?;
    }
    for ((n, _), outcome) in outgoing.iter().zip(outcomes) {
        match outcome {
            Ok(()) => delivered.push(n.id),
            Err(Failure::Refused(error)) => {
                result.set_aside += 1;
                outbox::set_aside(&mut conn, n.id, &error).await?;
                first_error.get_or_insert(error);
            }
            Err(Failure::Transient(error)) => {
                result.failed += 1;
                let delay = backoff_ms(s, n.attempts);
                outbox::retry_later(&mut conn, n.id, delay, &error).await?;
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        tracing::warn!(failed = result.failed, set_aside = result.set_aside, error = %error,
            "MVNO deliveries failed; retried with backoff or set aside");
    }
    outbox::mark_delivered(&mut conn, &delivered).await?;
    result.delivered = delivered.len() as u64;
    Ok(result)
}

/// Delivers notifications concurrently, grouped into POSTs; one outcome per notification,
/// in order.
async fn deliver_all(
    client: &reqwest::Client,
    base_url: &str,
    notes: &[&Outgoing],
    per_post: u32,
) -> Vec<Result<(), Failure>> {
    let posts = group_posts(notes, per_post);
    let outcomes = futures_util::future::join_all(posts.iter().map(|p| {
        deliver_post(
            client,
            base_url,
            p.iter().map(|&i| notes[i]).collect(),
            per_post > 1,
        )
    }))
    .await;
    let mut by_note: Vec<Option<Result<(), Failure>>> = vec![None; notes.len()];
    for (post, outcome) in posts.iter().zip(outcomes) {
        for &i in post {
            by_note[i] = Some(outcome.clone());
        }
    }
    by_note
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(Failure::Transient("not sent".into()))))
        .collect()
}

/// Groups notifications into POSTs (as indexes into `notes`): each POST carries one kind,
/// at most `per_post` of them.
fn group_posts(notes: &[&Outgoing], per_post: u32) -> Vec<Vec<usize>> {
    let mut posts: Vec<Vec<usize>> = Vec::new();
    for (i, n) in notes.iter().enumerate() {
        match posts
            .iter_mut()
            .find(|p| p.len() < per_post as usize && notes[p[0]].kind == n.kind)
        {
            Some(post) => post.push(i),
            None => posts.push(vec![i]),
        }
    }
    posts
}

/// One POST: a single notification as an object, or (`as_array`) several as an array.
async fn deliver_post(
    client: &reqwest::Client,
    base_url: &str,
    post: Vec<&Outgoing>,
    as_array: bool,
) -> Result<(), Failure> {
    let first = post
        .first()
        .ok_or_else(|| Failure::Transient("empty delivery".into()))?;
    let body = if as_array {
        serde_json::to_vec(&post.iter().map(|&n| Delivered::from(n)).collect::<Vec<_>>())
    } else {
        serde_json::to_vec(&Delivered::from(*first))
    }
    .map_err(|e| Failure::Refused(format!("serializing a notification: {e}")))?;
    let response = client
        .post(format!("{base_url}{}", first.kind.path()))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            Failure::Transient(if e.is_timeout() {
                "timed out".to_string()
            } else {
                e.to_string()
            })
        })?;
    let status = response.status();
    if status.is_client_error() && ![408, 425, 429].contains(&status.as_u16()) {
        return Err(Failure::Refused(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(Failure::Transient(format!("HTTP {status}")));
    }
    let answer: serde_json::Value = response
        .json()
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
    match answer.get("resultCode").and_then(|c| c.as_str()) {
        None | Some("0000") => Ok(()),
        Some(code) => Err(Failure::Transient(format!("MVNO answered {code}"))),
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
            let outbox = outbox::lag(&mut conn).await?;
            let stream = bill_stream::lag(&mut conn).await?;
            Ok::<_, StoreError>((outbox, stream))
        };
        Box::pin(lag.into_actor(self).map(|lag, act, _| {
            let (lag, stream) = lag?;
            let stream_holder = stream.holder.as_deref() == Some(act.holder.as_str());
            Ok(NotifierSnapshot {
                lag,
                stream,
                stream_holder,
                stream_failures: act.stream_failures,
                set_aside: act.set_aside,
                delivered: act.delivered,
                failed_attempts: act.failed_attempts,
                rounds: act.rounds,
                vacuums: act.vacuums,
            })
        }))
    }
}

impl Handler<Release> for Notifier {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Release, _: &mut Context<Self>) -> Self::Result {
        // No round starts after this; one running may still move the cursor (and renew
        // the lease: then the lease runs out by itself).
        self.stream_resume_at = Some(Instant::now() + Duration::from_secs(3600));
        let (db, holder) = (self.db.clone(), self.holder.clone());
        let release = async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            bill_stream::release(&mut conn, &holder).await
        };
        Box::pin(release.into_actor(self).map(|result, _, _| {
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not give up the bill-result stream's lease");
            }
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
