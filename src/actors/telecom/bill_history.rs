//! The history writer: records bill inquiries (and the MVNO notifications that go with
//! them) in PostgreSQL, in batches, without making requests wait.
//!
//! State: the records accepted and not yet written (at most a few flush intervals' worth),
//! whether a write is under way, and whether PostgreSQL is being skipped after a failure.
//! Handlers hand it records (`Record`) and go on; it writes a batch when `batch_size`
//! records are waiting or every `flush_interval_ms`. While PostgreSQL is unavailable the
//! batches go to an append-only spool file (fsynced) and are replayed, without duplicates
//! (`request_id` is unique), once it is back. If the actor dies or stops with records still
//! buffered, they are spooled as it is dropped. One per instance.
//! It also remembers the bill snapshots it saw committed, so a batch sends only the bills
//! PostgreSQL does not have yet (a replayed spool sends them all).
//! Senders: the bill handlers (`Record`, `Find`, `Page`), shutdown (`Flush`), `/admin`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;

use super::notifier::{Notifier, Wake};
use crate::actors::shard::{Lifeline, Panic, ShardSet};
use crate::domain::telecom::bill::{InquiryFilter, PastInquiry};
use crate::infra::db::DbPool;
use crate::infra::telecom::bill_history::{self as store, HistoryRecord};
use crate::infra::telecom::spool::Spool;
use crate::infra::StoreError;
use crate::settings::HistorySettings;

/// Records held for the writer: handed over and not yet in PostgreSQL or the spool (in its
/// mailbox, its buffer or the running round), and records refused because `max_buffered`
/// were held. Shared by the inlet and the writer (atomics only).
#[derive(Debug, Default)]
pub struct Held {
    records: AtomicUsize,
    refused: AtomicU64,
}

impl Held {
    /// `n` records are in PostgreSQL or the spool (or lost with a failed spool: logged).
    /// Never below zero: a miscount must not leave the inlet refusing every record.
    fn done(&self, n: usize) {
        let _ = self
            .records
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(n))
            });
    }
}

/// The writer holds `max_buffered` records already, or cannot be reached: the record was
/// not taken (the inquiry is answered "unavailable, retry").
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("history writer full")]
    Overloaded,
    #[error("history writer gone")]
    Gone,
}

/// Where inquiries hand their records to the history writer without a round trip: a record
/// is admitted while fewer than `max_buffered` are held, then queued for the writer, which
/// takes the queue into its buffer at every write (each `flush_interval_ms`, or at once when
/// a `batch_size` has been queued: the only time the writer is woken). The queue outlives
/// the writer actor: a writer that dies spools what it held and what was queued then, and
/// its successor takes what is queued after. The inquiry is answered once its record is
/// queued, as it was once its record was buffered: the last flush interval's records are
/// what a SIGKILL loses.
pub struct HistoryInlet {
    queue: crossbeam_channel::Sender<HistoryRecord>,
    writer: Arc<ShardSet<HistoryWriter>>,
    held: Arc<Held>,
    max_buffered: usize,
    batch_size: usize,
}

impl HistoryInlet {
    pub fn new(
        queue: crossbeam_channel::Sender<HistoryRecord>,
        writer: Arc<ShardSet<HistoryWriter>>,
        held: Arc<Held>,
        settings: &HistorySettings,
    ) -> Self {
        Self {
            queue,
            writer,
            held,
            max_buffered: settings.max_buffered,
            batch_size: settings.batch_size.max(1),
        }
    }

    /// Hands `record` to the writer; `Ok` once it is queued for it.
    pub fn hand(&self, record: HistoryRecord) -> Result<(), Refused> {
        let before = self.held.records.fetch_add(1, Ordering::AcqRel);
        if before >= self.max_buffered {
            self.held.done(1);
            self.held.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Overloaded);
        }
        if self.queue.send(record).is_err() {
            // No writer can ever take it (the set is gone: shutdown).
            self.held.done(1);
            return Err(Refused::Gone);
        }
        if (before + 1).is_multiple_of(self.batch_size) {
            // A batch is waiting: write it now rather than at the next tick. A full mailbox
            // only delays it to that tick.
            self.writer.tell(&0, Drain);
        }
        Ok(())
    }
}

/// Takes the queue into the buffer and writes a batch if one is full.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Writes everything buffered now; answers when it is in PostgreSQL or the spool.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Flush;

#[derive(Message)]
#[rtype(result = "Result<Option<PastInquiry>, StoreError>")]
pub struct Find(pub String);

#[derive(Message)]
#[rtype(result = "Result<(Vec<PastInquiry>, i64), StoreError>")]
pub struct Page(pub InquiryFilter);

#[derive(Message)]
#[rtype(result = "HistorySnapshot")]
pub struct Snapshot;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistorySnapshot {
    pub buffered: usize,
    pub written: u64,
    pub batches: u64,
    pub spooled: u64,
    pub replayed: u64,
    pub last_batch_size: usize,
    pub last_flush_ms: u64,
    pub postgres_skipped: bool,
    /// Records refused because `max_buffered` were held (each an "unavailable, retry" to a client).
    pub refused: u64,
}

impl HistorySnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &crate::metrics::Metrics) {
        m.set_history("buffered", self.buffered as u64);
        m.set_history("last_batch_size", self.last_batch_size as u64);
        m.set_history("last_flush_ms", self.last_flush_ms);
        m.set_history_records("written", self.written);
        m.set_history_records("spooled", self.spooled);
        m.set_history_records("replayed", self.replayed);
    }
}

/// How a write round ended.
struct Written {
    written: u64,
    spooled: u64,
    /// Records neither written nor spooled (both failed): kept for the next round.
    kept: Vec<HistoryRecord>,
    postgres_failed: bool,
    batch: usize,
    took: Duration,
    /// Snapshots of the batches PostgreSQL committed.
    stored: Vec<uuid::Uuid>,
}

/// Snapshot ids remembered as stored at most; then the memory starts afresh (the batches
/// after that send their bills once more). About 4 MB.
const STORED_SNAPSHOTS_MAX: usize = 100_000;

pub struct HistoryWriter {
    db: DbPool,
    spool: Spool,
    settings: HistorySettings,
    notifier: Arc<ShardSet<Notifier>>,
    buffer: Vec<HistoryRecord>,
    /// The records the running round is writing (shared with it, not copied): spooled if
    /// the actor dies.
    in_flight: Arc<Vec<HistoryRecord>>,
    busy: bool,
    /// Told when the running round ends (their records are in it).
    waiting_on_round: Vec<tokio::sync::oneshot::Sender<()>>,
    /// Told when the next round ends (their records arrived during the running one).
    waiting_on_next: Vec<tokio::sync::oneshot::Sender<()>>,
    skip_postgres_until: Option<Instant>,
    stats: HistorySnapshot,
    /// Records handed over by the inlet, not yet taken into `buffer`.
    queue: crossbeam_channel::Receiver<HistoryRecord>,
    held: Arc<Held>,
    /// Bill snapshots seen committed by this writer's batches: their bills are not sent
    /// again. Only a committed batch adds to it (and a new writer starts empty), so a row
    /// never refers to a snapshot that is not stored. Shared with the running round.
    stored: Arc<HashSet<uuid::Uuid>>,
    _lifeline: Lifeline,
}

impl HistoryWriter {
    /// `spool` is this instance's slot, claimed once at start-up (it outlives the actor).
    pub fn new(
        db: DbPool,
        spool: Spool,
        settings: HistorySettings,
        notifier: Arc<ShardSet<Notifier>>,
        queue: crossbeam_channel::Receiver<HistoryRecord>,
        held: Arc<Held>,
        lifeline: Lifeline,
    ) -> Self {
        Self {
            db,
            spool,
            settings,
            notifier,
            buffer: Vec::new(),
            in_flight: Arc::default(),
            busy: false,
            waiting_on_round: Vec::new(),
            waiting_on_next: Vec::new(),
            skip_postgres_until: None,
            stats: HistorySnapshot::default(),
            queue,
            held,
            stored: Arc::default(),
            _lifeline: lifeline,
        }
    }

    /// Starts a write round of what is buffered, if none is running. `done` is told once
    /// every record buffered now is in PostgreSQL or the spool: at most two rounds later,
    /// however busy the writer is.
    fn flush(&mut self, ctx: &mut Context<Self>, done: Option<tokio::sync::oneshot::Sender<()>>) {
        self.drain();
        if self.busy {
            self.waiting_on_next.extend(done);
            return;
        }
        if self.buffer.is_empty() {
            for d in self.waiting_on_next.drain(..).chain(done) {
                let _ = d.send(());
            }
            return;
        }
        self.busy = true;
        let records = Arc::new(std::mem::take(&mut self.buffer));
        self.in_flight = records.clone();
        self.waiting_on_round = self.waiting_on_next.drain(..).chain(done).collect();
        let try_postgres = self.skip_postgres_until.is_none_or(|t| Instant::now() >= t);
        let (db, spool, batch_size, connections) = (
            self.db.clone(),
            self.spool.clone(),
            self.settings.batch_size,
            self.settings.write_connections,
        );
        let limit = Duration::from_millis(self.settings.write_timeout_ms);
        let round = write_round(
            db,
            spool,
            records,
            self.stored.clone(),
            batch_size,
            connections,
            try_postgres,
            limit,
        );
        ctx.spawn(round.into_actor(self).map(move |w, act, ctx| {
            act.busy = false;
            act.in_flight = Arc::default();
            // The round has ended and let go of the set: no copy is made.
            let stored = Arc::make_mut(&mut act.stored);
            if stored.len() + w.stored.len() > STORED_SNAPSHOTS_MAX {
                stored.clear();
            }
            stored.extend(w.stored);
            act.held.done(w.batch - w.kept.len());
            act.stats.written += w.written;
            act.stats.spooled += w.spooled;
            act.stats.batches += 1;
            act.stats.last_batch_size = w.batch;
            act.stats.last_flush_ms = w.took.as_millis() as u64;
            if w.postgres_failed {
                act.skip_postgres_until =
                    Some(Instant::now() + Duration::from_millis(act.settings.replay_interval_ms));
            }
            if w.written > 0 {
                act.notifier.tell(&0, Wake);
            }
            let kept = !w.kept.is_empty();
            if kept {
                let newer = std::mem::replace(&mut act.buffer, w.kept);
                act.buffer.extend(newer);
            }
            if kept {
                // Neither PostgreSQL nor the spool took them: the waiters wait on.
                let waiting = std::mem::take(&mut act.waiting_on_round);
                act.waiting_on_next.extend(waiting);
                ctx.run_later(
                    Duration::from_millis(act.settings.flush_interval_ms),
                    |act, ctx| act.flush(ctx, None),
                );
                return;
            }
            for d in act.waiting_on_round.drain(..) {
                let _ = d.send(());
            }
            if !act.waiting_on_next.is_empty() || act.buffer.len() >= act.settings.batch_size {
                act.flush(ctx, None);
            }
        }));
    }

    /// Takes what the inlet queued into the buffer (at most `max_buffered` are held).
    fn drain(&mut self) {
        self.buffer.extend(self.queue.try_iter());
    }

    /// Replays the spool into PostgreSQL, when there is one and nothing else runs.
    fn replay(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.skip_postgres_until.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.busy = true;
        let (db, spool, batch_size) = (
            self.db.clone(),
            self.spool.clone(),
            self.settings.batch_size,
        );
        let limit = Duration::from_millis(self.settings.write_timeout_ms);
        let work = async move {
            let check = spool.clone();
            if !tokio::task::spawn_blocking(move || check.has_pending())
                .await
                .unwrap_or(false)
            {
                return Ok(0);
            }
            // Each file's replay is bounded; one that cannot finish leaves its file in place
            // (replayed again later: rows are written once, by request id).
            replay_spool(&db, spool, batch_size, limit).await
        };
        ctx.spawn(work.into_actor(self).map(|outcome, act, ctx| {
            act.busy = false;
            match outcome {
                Ok(0) => {}
                Ok(n) => {
                    act.stats.replayed += n;
                    tracing::info!(records = n, "history spool replayed into PostgreSQL");
                    act.notifier.tell(&0, Wake);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "history spool replay failed; will retry");
                    act.skip_postgres_until = Some(
                        Instant::now() + Duration::from_millis(act.settings.replay_interval_ms),
                    );
                }
            }
            if !act.waiting_on_next.is_empty() {
                act.flush(ctx, None);
            }
        }));
    }
}

/// Writes `records` in batches over up to `connections` connections at once; what
/// PostgreSQL does not take goes to the spool.
#[allow(clippy::too_many_arguments)]
async fn write_round(
    db: DbPool,
    spool: Spool,
    records: Arc<Vec<HistoryRecord>>,
    stored: Arc<HashSet<uuid::Uuid>>,
    batch_size: usize,
    connections: usize,
    try_postgres: bool,
    limit: Duration,
) -> Written {
    let started = Instant::now();
    let batch = records.len();
    let mut written = 0;
    let mut postgres_failed = !try_postgres;
    let mut committed = Vec::new();
    // What PostgreSQL did not take (copied out of the shared round only then).
    let mut rest = Vec::new();
    if !try_postgres {
        rest = records.to_vec();
    } else if !records.is_empty() {
        let part = records.len().div_ceil(connections.max(1)).max(batch_size);
        let parts: Vec<&[HistoryRecord]> = records.chunks(part).collect();
        let done = futures_util::future::join_all(
            parts
                .iter()
                .map(|p| write_part_within(&db, p, &stored, batch_size, limit)),
        )
        .await;
        for (p, (n, failed)) in parts.iter().zip(done) {
            written += n as u64;
            postgres_failed |= failed;
            committed.extend(
                p[..n]
                    .iter()
                    .filter_map(|r| r.row.snapshot.as_ref().map(|s| s.id)),
            );
            rest.extend_from_slice(&p[n..]);
        }
    }
    let mut spooled = 0;
    let mut kept = Vec::new();
    if !rest.is_empty() {
        let count = rest.len() as u64;
        let shared = Arc::new(rest);
        let to_spool = shared.clone();
        match tokio::task::spawn_blocking(move || spool.append(&to_spool)).await {
            Ok(Ok(())) => spooled = count,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "history spool write failed; keeping records in memory");
                kept = Arc::unwrap_or_clone(shared);
            }
            Err(e) => {
                tracing::error!(error = %e, "history spool task failed; keeping records in memory");
                kept = Arc::unwrap_or_clone(shared);
            }
        }
    }
    Written {
        written,
        spooled,
        kept,
        postgres_failed,
        batch,
        took: started.elapsed(),
        stored: committed,
    }
}

/// [`write_part`] within `limit`: a part PostgreSQL does not finish in time (a connection
/// that never answers, a lock that is never granted) counts as failed and is spooled whole
/// (what it did write is not written twice: rows are unique by request id). The round ends
/// either way, so the writer never stops writing.
async fn write_part_within(
    db: &DbPool,
    part: &[HistoryRecord],
    stored: &HashSet<uuid::Uuid>,
    batch_size: usize,
    limit: Duration,
) -> (usize, bool) {
    match tokio::time::timeout(limit, write_part(db, part, stored, batch_size)).await {
        Ok(done) => done,
        Err(_) => {
            tracing::warn!(
                records = part.len(),
                limit_ms = limit.as_millis() as u64,
                "history write did not finish in time; spooling"
            );
            (0, true)
        }
    }
}

/// Writes `part` batch by batch on one connection; how many were written, and whether
/// PostgreSQL failed.
async fn write_part(
    db: &DbPool,
    part: &[HistoryRecord],
    stored: &HashSet<uuid::Uuid>,
    batch_size: usize,
) -> (usize, bool) {
    let mut conn = match db.get().await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "PostgreSQL unavailable for history; spooling");
            return (0, true);
        }
    };
    let mut written = 0;
    for chunk in part.chunks(batch_size) {
        if let Err(e) = store::write_batch_after(&mut conn, chunk, stored).await {
            tracing::warn!(error = %e, "history write failed; spooling");
            return (written, true);
        }
        written += chunk.len();
    }
    (written, false)
}

async fn replay_spool(
    db: &DbPool,
    spool: Spool,
    batch_size: usize,
    limit: Duration,
) -> Result<u64, String> {
    let files = {
        let s = spool.clone();
        tokio::task::spawn_blocking(move || s.take_pending())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let mut replayed = 0;
    for file in files {
        match tokio::time::timeout(limit, replay_file(db, &spool, &file, batch_size)).await {
            Ok(Ok(n)) => replayed += n,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(format!(
                    "replay of {} did not finish within {} ms",
                    file.display(),
                    limit.as_millis()
                ))
            }
        }
    }
    Ok(replayed)
}

/// Replays one spool file, then removes it; how many records PostgreSQL took.
async fn replay_file(
    db: &DbPool,
    spool: &Spool,
    file: &std::path::Path,
    batch_size: usize,
) -> Result<u64, String> {
    let mut conn = db.get().await.map_err(|e| e.to_string())?;
    let path = file.to_path_buf();
    let records = tokio::task::spawn_blocking(move || Spool::read(&path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut rejected = Vec::new();
    for chunk in records.chunks(batch_size) {
        match store::write_batch(&mut conn, chunk).await {
            Ok(_) => {}
            // PostgreSQL answered with an error: some record of the chunk is refused.
            // Find it record by record, so it cannot block everything after it.
            Err(StoreError::Db(_)) => {
                for record in chunk {
                    match store::write_batch(&mut conn, std::slice::from_ref(record)).await {
                        Ok(_) => {}
                        Err(StoreError::Db(e)) => {
                            tracing::error!(error = %e, "PostgreSQL refuses a spooled history record; quarantined");
                            rejected.push(record.clone());
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let refused = rejected.len();
    if !rejected.is_empty() {
        let s = spool.clone();
        let kept = rejected.len();
        let path = tokio::task::spawn_blocking(move || s.quarantine(&rejected))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        tracing::error!(records = kept, file = %path.display(), "history records PostgreSQL refuses kept aside");
    }
    std::fs::remove_file(file).map_err(|e| e.to_string())?;
    Ok((records.len() - refused) as u64)
}

impl Actor for HistoryWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(
            Duration::from_millis(self.settings.flush_interval_ms),
            |act, ctx| act.flush(ctx, None),
        );
        ctx.run_interval(
            Duration::from_millis(self.settings.replay_interval_ms),
            |act, ctx| act.replay(ctx),
        );
        // Whatever an earlier run left in the spool goes first.
        self.replay(ctx);
    }
}

impl Supervised for HistoryWriter {}

impl Drop for HistoryWriter {
    fn drop(&mut self) {
        // Dying (panic) or stopping with records buffered or being written: keep them in
        // the spool (a record written twice is harmless; `request_id` is unique).
        // What is still queued too: a successor would write it, but at shutdown there is
        // none, and a record spooled and also written is stored once (`request_id`).
        let pending: Vec<HistoryRecord> = self
            .in_flight
            .iter()
            .cloned()
            .chain(self.buffer.drain(..))
            .chain(self.queue.try_iter())
            .collect();
        if pending.is_empty() {
            return;
        }
        match self.spool.append(&pending) {
            Ok(()) => tracing::warn!(
                records = pending.len(),
                "history writer stopped; pending records spooled"
            ),
            Err(e) => {
                tracing::error!(records = pending.len(), error = %e, "history records lost: spool failed")
            }
        }
        self.held.done(pending.len());
    }
}

impl Handler<Drain> for HistoryWriter {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        self.drain();
        if self.buffer.len() >= self.settings.batch_size {
            self.flush(ctx, None);
        }
    }
}

impl Handler<Flush> for HistoryWriter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.flush(ctx, Some(tx));
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<Find> for HistoryWriter {
    type Result = ResponseFuture<Result<Option<PastInquiry>, StoreError>>;

    fn handle(&mut self, msg: Find, _: &mut Context<Self>) -> Self::Result {
        // A record still waiting to be written is found too.
        self.drain();
        if let Some(r) = self
            .buffer
            .iter()
            .chain(self.in_flight.iter())
            .find(|r| r.row.request_id == msg.0)
        {
            let found = r.row.to_past();
            return Box::pin(async move { found.map(Some) });
        }
        let db = self.db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(StoreError::from)?;
            store::find(&mut conn, &msg.0).await
        })
    }
}

impl Handler<Page> for HistoryWriter {
    type Result = ResponseFuture<Result<(Vec<PastInquiry>, i64), StoreError>>;

    fn handle(&mut self, msg: Page, ctx: &mut Context<Self>) -> Self::Result {
        // Write what is buffered first, so a client sees its own latest inquiries.
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.flush(ctx, Some(tx));
        let db = self.db.clone();
        Box::pin(async move {
            let _ = rx.await;
            let mut conn = db.get().await.map_err(StoreError::from)?;
            store::page(&mut conn, &msg.0).await
        })
    }
}

impl Handler<Snapshot> for HistoryWriter {
    type Result = MessageResult<Snapshot>;

    fn handle(&mut self, _: Snapshot, _: &mut Context<Self>) -> Self::Result {
        let mut s = self.stats.clone();
        s.buffered = self.buffer.len() + self.queue.len();
        s.refused = self.held.refused.load(Ordering::Relaxed);
        s.postgres_skipped = self.skip_postgres_until.is_some_and(|t| Instant::now() < t);
        MessageResult(s)
    }
}

impl Handler<Panic> for HistoryWriter {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: history writer panics on request");
    }
}
