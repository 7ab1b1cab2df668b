//! Prometheus metrics (`GET /metrics`). One registry per application instance.
//!
//! Request durations and KOS call durations are recorded as they happen; everything the
//! actors count (mailboxes, breakers, caches, history writer, outbox, hashing pool) is
//! exported from their snapshots into the setters below when `/metrics` is scraped (each
//! snapshot knows its own figures; this module knows no actor). Names and labels follow Prometheus
//! conventions; `docs/OPERATIONS.md` lists them with what to tune when they move.

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

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
    store_charges: IntCounterVec,
    store_coupon_claims: IntCounterVec,
    store_coupon_batches: IntCounterVec,
    store_orders: IntCounterVec,
    store_pending: IntGaugeVec,
    /// From an order's creation to its settlement by the recovery, seconds.
    pub store_recovery_seconds: prometheus::Histogram,
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
                "MVNO notifications: pending (bill-result stream and outbox), age of the oldest in seconds, set aside (refused for good).",
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
            store_charges: counter(
                &r,
                "phonebill_store_charges_total",
                "Store points charges by outcome (charged, over_limit, replayed).",
                &["outcome"],
            )?,
            store_coupon_claims: counter(
                &r,
                "phonebill_store_coupon_claims_total",
                "Coupon claims by outcome (issued, sold_out_from_memory, sold_out, duplicate, not_eligible).",
                &["outcome"],
            )?,
            store_coupon_batches: counter(
                &r,
                "phonebill_store_coupon_batches_total",
                "Transactions that issued coupons (claims per transaction = issued / batches).",
                &[],
            )?,
            store_orders: counter(
                &r,
                "phonebill_store_orders_total",
                "Orders placed by outcome (paid, refused, pending, replayed, in_flight, error), and pending orders canceled by this instance's recovery (recovered).",
                &["outcome"],
            )?,
            store_pending: gauge(
                &r,
                "phonebill_store_orders_pending",
                "Orders PENDING in the database: count and age of the oldest, milliseconds.",
                &["measure"],
            )?,
            store_recovery_seconds: {
                let h = prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "phonebill_store_recovery_seconds",
                        "From a pending order's creation to its settlement by the recovery.",
                    )
                    .buckets(vec![
                        1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 61.0, 62.0, 65.0, 90.0, 120.0, 300.0,
                    ]),
                )?;
                r.register(Box::new(h.clone()))?;
                h
            },
            registry: r,
            http_duration,
            kos_duration,
        })
    }

    /// One shard's mailbox figures.
    #[allow(clippy::too_many_arguments)]
    pub fn set_shard(
        &self,
        kind: &str,
        shard: usize,
        capacity: usize,
        depth: usize,
        processed: u64,
        rejected: u64,
        restarts: u64,
    ) {
        let labels = [kind, &shard.to_string()];
        self.actor_capacity
            .with_label_values(&labels)
            .set(capacity as i64);
        self.actor_depth
            .with_label_values(&labels)
            .set(depth as i64);
        set_counter(&self.actor_processed, &labels, processed);
        set_counter(&self.actor_rejected, &labels, rejected);
        set_counter(&self.actor_restarts, &labels, restarts);
    }

    /// One circuit breaker (`read` or `change`).
    pub fn set_breaker(
        &self,
        name: &str,
        state: BreakerState,
        transitions: u64,
        not_permitted: u64,
    ) {
        let state = match state {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        };
        self.breaker_state.with_label_values(&[name]).set(state);
        set_counter(&self.breaker_transitions, &[name], transitions);
        set_counter(&self.breaker_not_permitted, &[name], not_permitted);
    }

    /// KOS calls of one operation by outcome.
    pub fn set_kos_calls(&self, op: &str, outcome: &str, count: u64) {
        set_counter(&self.kos_calls, &[op, outcome], count);
    }

    /// Cache lookups answered by `tier` (memory, redis, coalesced, kos).
    pub fn set_cache_lookups(&self, tier: &str, count: u64) {
        set_counter(&self.cache_lookups, &[tier], count);
    }

    /// Cache errors by source (redis, load).
    pub fn set_cache_errors(&self, source: &str, count: u64) {
        set_counter(&self.cache_redis_errors, &[source], count);
    }

    /// The history writer's gauge `measure` (buffered, last_batch_size, last_flush_ms).
    pub fn set_history(&self, measure: &str, value: u64) {
        self.history
            .with_label_values(&[measure])
            .set(to_i64(value));
    }

    /// History records by outcome (written, spooled, replayed).
    pub fn set_history_records(&self, outcome: &str, count: u64) {
        set_counter(&self.history_records, &[outcome], count);
    }

    /// MVNO notifications not delivered yet (the bill-result stream and the outbox), the
    /// oldest one's age, and how many were set aside (refused for good).
    pub fn set_outbox(&self, pending: i64, oldest_pending_s: i64, set_aside: i64) {
        self.outbox.with_label_values(&["pending"]).set(pending);
        self.outbox.with_label_values(&["set_aside"]).set(set_aside);
        self.outbox
            .with_label_values(&["oldest_pending_seconds"])
            .set(oldest_pending_s);
    }

    /// MVNO deliveries (delivered, failed, set aside) and outbox vacuums.
    pub fn set_outbox_deliveries(&self, delivered: u64, failed: u64, set_aside: u64, vacuums: u64) {
        set_counter(&self.outbox_deliveries, &["delivered"], delivered);
        set_counter(&self.outbox_deliveries, &["failed"], failed);
        set_counter(&self.outbox_deliveries, &["set_aside"], set_aside);
        set_counter(&self.outbox_vacuums, &[], vacuums);
    }

    /// The password-hashing pool.
    pub fn set_hashing(&self, in_flight: usize, capacity: usize, concurrency: usize) {
        for (measure, v) in [
            ("in_flight", in_flight),
            ("capacity", capacity),
            ("concurrency", concurrency),
        ] {
            self.hashing.with_label_values(&[measure]).set(v as i64);
        }
    }

    /// Product changes still being settled, and the oldest one's age.
    pub fn set_unsettled_changes(&self, count: i64, oldest_s: i64) {
        self.changes.with_label_values(&["count"]).set(count);
        self.changes
            .with_label_values(&["oldest_seconds"])
            .set(oldest_s);
    }

    /// Points charges by outcome (charged, over_limit, replayed).
    pub fn set_store_charges(&self, outcome: &str, count: u64) {
        set_counter(&self.store_charges, &[outcome], count);
    }

    /// Coupon claims by outcome.
    pub fn set_store_coupon_claims(&self, outcome: &str, count: u64) {
        set_counter(&self.store_coupon_claims, &[outcome], count);
    }

    /// Transactions that issued coupons.
    pub fn set_store_coupon_batches(&self, count: u64) {
        set_counter(&self.store_coupon_batches, &[], count);
    }

    /// Orders by outcome.
    pub fn set_store_orders(&self, outcome: &str, count: u64) {
        set_counter(&self.store_orders, &[outcome], count);
    }

    /// Pending orders and the oldest one's age.
    pub fn set_store_pending(&self, count: u64, oldest_ms: u64) {
        self.store_pending
            .with_label_values(&["count"])
            .set(to_i64(count));
        self.store_pending
            .with_label_values(&["oldest_ms"])
            .set(to_i64(oldest_ms));
    }

    /// The text exposition (the actors' snapshot exported into it first).
    pub fn render(&self) -> String {
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
