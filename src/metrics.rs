//! Prometheus metrics (`GET /metrics`). One registry per application instance.
//!
//! Request durations and KOS call durations are recorded as they happen; everything the
//! actors count (mailboxes, breakers, caches, history writer, outbox, hashing pool) is read
//! from their snapshots when `/metrics` is scraped. Names and labels follow Prometheus
//! conventions; `docs/OPERATIONS.md` lists them with what to tune when they move.

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::actors::ActorsSnapshot;
use crate::domain::breaker::BreakerState;

pub struct Metrics {
    registry: Registry,
    pub http_duration: HistogramVec,
    pub kos_duration: HistogramVec,
    actor_capacity: IntGaugeVec,
    actor_depth: IntGaugeVec,
    actor_processed: IntCounterVec,
    actor_rejected: IntCounterVec,
    actor_restarts: IntCounterVec,
    breaker_state: IntGaugeVec,
    breaker_transitions: IntCounterVec,
    breaker_not_permitted: IntCounterVec,
    kos_calls: IntCounterVec,
    cache_lookups: IntCounterVec,
    cache_redis_errors: IntCounterVec,
    history: IntGaugeVec,
    history_records: IntCounterVec,
    outbox: IntGaugeVec,
    outbox_deliveries: IntCounterVec,
    outbox_vacuums: IntCounterVec,
    hashing: IntGaugeVec,
    changes: IntGaugeVec,
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

/// Sets a counter read from a snapshot (monotonic at its source).
fn set_counter(c: &IntCounterVec, labels: &[&str], value: u64) {
    let m = c.with_label_values(labels);
    m.reset();
    m.inc_by(value);
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Start-up only.
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "phonebill_http_request_duration_seconds",
                "HTTP request duration by route, method and status.",
            )
            .buckets(buckets.clone()),
            &["route", "method", "status"],
        )?;
        r.register(Box::new(http_duration.clone()))?;
        let kos_duration = HistogramVec::new(
            HistogramOpts::new(
                "phonebill_kos_call_duration_seconds",
                "Duration of KOS calls that were sent, by operation.",
            )
            .buckets(buckets),
            &["operation"],
        )?;
        r.register(Box::new(kos_duration.clone()))?;
        Ok(Self {
            actor_capacity: gauge(
                &r,
                "phonebill_actor_mailbox_capacity",
                "Mailbox capacity of an actor shard.",
                &["kind", "shard"],
            )?,
            actor_depth: gauge(
                &r,
                "phonebill_actor_mailbox_depth",
                "Messages sent to a shard and not yet answered.",
                &["kind", "shard"],
            )?,
            actor_processed: counter(
                &r,
                "phonebill_actor_messages_processed_total",
                "Messages answered by a shard.",
                &["kind", "shard"],
            )?,
            actor_rejected: counter(
                &r,
                "phonebill_actor_messages_rejected_total",
                "Messages refused because the shard's mailbox was full.",
                &["kind", "shard"],
            )?,
            actor_restarts: counter(
                &r,
                "phonebill_actor_restarts_total",
                "Actors of a shard replaced after dying.",
                &["kind", "shard"],
            )?,
            breaker_state: gauge(
                &r,
                "phonebill_kos_breaker_state",
                "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
                &["breaker"],
            )?,
            breaker_transitions: counter(
                &r,
                "phonebill_kos_breaker_transitions_total",
                "Circuit breaker state changes.",
                &["breaker"],
            )?,
            breaker_not_permitted: counter(
                &r,
                "phonebill_kos_breaker_not_permitted_total",
                "Calls refused by an open or saturated breaker.",
                &["breaker"],
            )?,
            kos_calls: counter(
                &r,
                "phonebill_kos_calls_total",
                "KOS calls by operation and outcome.",
                &["operation", "outcome"],
            )?,
            cache_lookups: counter(
                &r,
                "phonebill_cache_lookups_total",
                "Cache lookups by tier that answered (memory, redis, coalesced, kos).",
                &["tier"],
            )?,
            cache_redis_errors: counter(
                &r,
                "phonebill_cache_errors_total",
                "Cache errors by kind (redis, load).",
                &["kind"],
            )?,
            history: gauge(
                &r,
                "phonebill_history_writer",
                "History writer state: buffered records, last batch size, last flush milliseconds.",
                &["measure"],
            )?,
            history_records: counter(
                &r,
                "phonebill_history_records_total",
                "History records by fate (written, spooled, replayed).",
                &["fate"],
            )?,
            outbox: gauge(
                &r,
                "phonebill_mvno_outbox",
                "MVNO outbox: pending notifications and age of the oldest, seconds.",
                &["measure"],
            )?,
            outbox_deliveries: counter(
                &r,
                "phonebill_mvno_deliveries_total",
                "MVNO delivery attempts by result.",
                &["result"],
            )?,
            outbox_vacuums: counter(
                &r,
                "phonebill_mvno_outbox_vacuums_total",
                "Vacuums of the MVNO outbox run by the notifier ([mvno] vacuum_every).",
                &[],
            )?,
            hashing: gauge(
                &r,
                "phonebill_login_hashing",
                "Login password hashing pool: in flight, capacity, concurrency.",
                &["measure"],
            )?,
            changes: gauge(
                &r,
                "phonebill_product_changes_unsettled",
                "Product changes still PROCESSING: count and age of the oldest, seconds.",
                &["measure"],
            )?,
            registry: r,
            http_duration,
            kos_duration,
        })
    }

    /// The text exposition, after reading `s` into the scrape-time metrics.
    pub fn render(&self, s: &ActorsSnapshot) -> String {
        for kind in &s.actors {
            for shard in &kind.per_shard {
                let labels = [kind.kind, &shard.shard.to_string()];
                self.actor_capacity
                    .with_label_values(&labels)
                    .set(shard.mailbox_capacity as i64);
                self.actor_depth
                    .with_label_values(&labels)
                    .set(shard.depth as i64);
                set_counter(&self.actor_processed, &labels, shard.processed);
                set_counter(&self.actor_rejected, &labels, shard.rejected);
                set_counter(&self.actor_restarts, &labels, shard.restarts);
            }
        }
        if let Some(g) = &s.kos_gateway {
            for (name, b) in [("read", &g.read_breaker), ("change", &g.change_breaker)] {
                let state = match b.state {
                    BreakerState::Closed => 0,
                    BreakerState::HalfOpen => 1,
                    BreakerState::Open => 2,
                };
                self.breaker_state.with_label_values(&[name]).set(state);
                set_counter(&self.breaker_transitions, &[name], b.transitions);
                set_counter(&self.breaker_not_permitted, &[name], b.not_permitted);
            }
            for (op, st) in &g.operations {
                let op = serde_json::to_value(op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                for (outcome, v) in [
                    ("answered", st.answered),
                    ("refused_by_kos", st.refused_by_kos),
                    ("failed", st.failed),
                    ("unknown_outcome", st.unknown_outcome),
                    ("rejected", st.rejected),
                ] {
                    set_counter(&self.kos_calls, &[&op, outcome], v);
                }
            }
        }
        let c = &s.cache;
        for (tier, v) in [
            ("memory", c.memory_hits),
            ("redis", c.redis_hits),
            ("coalesced", c.coalesced),
            ("kos", c.misses),
        ] {
            set_counter(&self.cache_lookups, &[tier], v);
        }
        set_counter(&self.cache_redis_errors, &["redis"], c.redis_errors);
        set_counter(&self.cache_redis_errors, &["load"], c.load_errors);
        if let Some(h) = &s.history_writer {
            self.history
                .with_label_values(&["buffered"])
                .set(h.buffered as i64);
            self.history
                .with_label_values(&["last_batch_size"])
                .set(h.last_batch_size as i64);
            self.history
                .with_label_values(&["last_flush_ms"])
                .set(to_i64(h.last_flush_ms));
            set_counter(&self.history_records, &["written"], h.written);
            set_counter(&self.history_records, &["spooled"], h.spooled);
            set_counter(&self.history_records, &["replayed"], h.replayed);
        }
        if let Some(n) = &s.mvno_notifier {
            self.outbox
                .with_label_values(&["pending"])
                .set(n.lag.pending);
            self.outbox
                .with_label_values(&["oldest_pending_seconds"])
                .set(n.lag.oldest_pending_s as i64);
            set_counter(&self.outbox_deliveries, &["delivered"], n.delivered);
            set_counter(&self.outbox_deliveries, &["failed"], n.failed_attempts);
            set_counter(&self.outbox_vacuums, &[], n.vacuums);
        }
        let hp = &s.password_hasher;
        self.hashing
            .with_label_values(&["in_flight"])
            .set(hp.in_flight as i64);
        self.hashing
            .with_label_values(&["capacity"])
            .set(hp.capacity as i64);
        self.hashing
            .with_label_values(&["concurrency"])
            .set(hp.concurrency as i64);
        if let Some(r) = &s.reconciler {
            self.changes.with_label_values(&["count"]).set(r.unsettled);
            self.changes
                .with_label_values(&["oldest_seconds"])
                .set(r.oldest_unsettled_s as i64);
        }
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
