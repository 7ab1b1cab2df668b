//! The KOS gateway actor: the only way to KOS-Order.
//!
//! State: one pooled HTTP client, a circuit breaker for read calls and one for product
//! changes, the per-minute call budget and the bulkhead (calls in flight). One per instance.
//! Senders: the cache (bill, customer and catalogue loads), product changes and their
//! reconciler, registration (customer look-ups), `/health/ready`, tests.
//!
//! The actor never awaits a call inside its mailbox: it admits a call (breaker, budget,
//! bulkhead), lets the call run as a future, and records the outcome when it reports back,
//! so calls run concurrently while the admission state stays single-owner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::actors::shard::{Lifeline, Panic};
use crate::domain::breaker::{BreakerConfig, BreakerSnapshot, CircuitBreaker, Outcome, Permit};
use crate::domain::budget::CallBudget;
use crate::domain::identity::LineNumber;
use crate::domain::telecom::kos::{
    Answer, KosBill, KosChange, KosCustomer, KosProductList, WellFormed,
};
use crate::infra::telecom::kos::{self, CallFailure, Method};
use crate::settings::KosSettings;

/// Why a KOS call gave no answer, as the edge needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KosError {
    /// Refused here before anything was sent (breaker open, budget or bulkhead full).
    #[error("KOS call refused: {reason}")]
    Rejected {
        reason: &'static str,
        retry_after: Duration,
    },
    /// KOS is unavailable or failed; nothing happened there.
    #[error("KOS unavailable: {0}")]
    Unavailable(String),
    /// The call may have reached KOS but no answer came in time: a change may have happened.
    #[error("KOS outcome unknown: {0}")]
    UnknownOutcome(String),
}

impl KosError {
    /// Seconds a client should wait before trying again.
    pub fn retry_after_s(&self) -> u64 {
        match self {
            KosError::Rejected { retry_after, .. } => {
                retry_after.as_secs_f64().ceil().max(1.0) as u64
            }
            _ => 1,
        }
    }
}

/// A business answer of KOS: the data, or its refusal code.
pub type KosResult<T> = Result<Answer<T>, KosError>;

#[derive(Message)]
#[rtype(result = "KosResult<KosBill>")]
pub struct InquireBill {
    pub line: LineNumber,
    /// `YYYYMM`.
    pub month: String,
    pub request_id: String,
}

#[derive(Message)]
#[rtype(result = "KosResult<KosCustomer>")]
pub struct InquireCustomer {
    pub line: LineNumber,
    pub budget: Budget,
}

/// Whose per-minute KOS budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Logged-in customers' work (`[kos] max_calls_per_minute`).
    Customers,
    /// Self-registration, done before anyone is logged in
    /// (`[kos] registration_calls_per_minute`): a flood of registrations can never spend
    /// what customers' inquiries need.
    Registration,
}

#[derive(Message)]
#[rtype(result = "KosResult<KosProductList>")]
pub struct ListProducts;

#[derive(Message)]
#[rtype(result = "KosResult<KosChange>")]
pub struct ChangeProduct {
    pub line: LineNumber,
    pub current_product_code: String,
    pub target_product_code: String,
    pub request_id: String,
}

#[derive(Message)]
#[rtype(result = "GatewaySnapshot")]
pub struct Snapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    BillInquiry,
    CustomerInquiry,
    ProductList,
    ProductChange,
}

impl Operation {
    const ALL: [Operation; 4] = [
        Operation::BillInquiry,
        Operation::CustomerInquiry,
        Operation::ProductList,
        Operation::ProductChange,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The metric label (as serialized).
    pub fn label(self) -> &'static str {
        match self {
            Operation::BillInquiry => "bill-inquiry",
            Operation::CustomerInquiry => "customer-inquiry",
            Operation::ProductList => "product-list",
            Operation::ProductChange => "product-change",
        }
    }

    fn is_change(self) -> bool {
        self == Operation::ProductChange
    }
}

/// Counters of one operation.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStats {
    pub calls: u64,
    pub answered: u64,
    pub refused_by_kos: u64,
    pub failed: u64,
    pub unknown_outcome: u64,
    pub rejected: u64,
    pub total_latency_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySnapshot {
    pub read_breaker: BreakerSnapshot,
    pub change_breaker: BreakerSnapshot,
    pub in_flight: usize,
    pub max_concurrent_calls: usize,
    pub calls_this_minute: u32,
    pub max_calls_per_minute: u32,
    pub registration_calls_this_minute: u32,
    pub registration_calls_per_minute: u32,
    pub operations: Vec<(Operation, OperationStats)>,
}

impl GatewaySnapshot {
    /// Into the scrape-time metrics.
    pub fn export(&self, m: &crate::metrics::Metrics) {
        for (name, b) in [
            ("read", &self.read_breaker),
            ("change", &self.change_breaker),
        ] {
            m.set_breaker(name, b.state, b.transitions, b.not_permitted);
        }
        for (op, st) in &self.operations {
            for (outcome, v) in [
                ("answered", st.answered),
                ("refused_by_kos", st.refused_by_kos),
                ("failed", st.failed),
                ("unknown_outcome", st.unknown_outcome),
                ("rejected", st.rejected),
            ] {
                m.set_kos_calls(op.label(), outcome, v);
            }
        }
    }
}

/// What was admitted, to be settled when the call reports back.
struct Admission {
    op: Operation,
    permit: Permit,
    started: Instant,
}

pub struct KosGateway {
    client: reqwest::Client,
    base_url: String,
    inquiry_timeout: Duration,
    change_timeout: Duration,
    read: CircuitBreaker,
    change: CircuitBreaker,
    in_flight: usize,
    max_concurrent: usize,
    budget: CallBudget,
    registration_budget: CallBudget,
    stats: [OperationStats; 4],
    metrics: Option<Arc<crate::metrics::Metrics>>,
    _lifeline: Lifeline,
}

impl KosGateway {
    /// Start-up only: builds the HTTP client.
    /// `client`: built once at start-up (`infra::telecom::kos::client`).
    pub fn new(
        settings: &KosSettings,
        client: reqwest::Client,
        base_url: String,
        metrics: Option<Arc<crate::metrics::Metrics>>,
        lifeline: Lifeline,
    ) -> Self {
        let b = settings.breaker;
        let config = BreakerConfig {
            sliding_window_size: b.sliding_window_size,
            minimum_calls: b.minimum_calls,
            failure_rate_threshold: b.failure_rate_threshold,
            slow_call: Duration::from_millis(b.slow_call_duration_ms),
            slow_call_rate_threshold: b.slow_call_rate_threshold,
            wait_open: Duration::from_millis(b.wait_open_ms),
            half_open_calls: b.half_open_calls,
        };
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            inquiry_timeout: Duration::from_millis(settings.inquiry_timeout_ms),
            change_timeout: Duration::from_millis(settings.change_timeout_ms),
            read: CircuitBreaker::new(config),
            change: CircuitBreaker::new(config),
            in_flight: 0,
            max_concurrent: settings.max_concurrent_calls,
            budget: CallBudget::new(settings.max_calls_per_minute, Instant::now()),
            registration_budget: CallBudget::new(
                settings.registration_calls_per_minute,
                Instant::now(),
            ),
            stats: [OperationStats::default(); 4],
            metrics,
            _lifeline: lifeline,
        }
    }

    fn breaker(&mut self, op: Operation) -> &mut CircuitBreaker {
        if op.is_change() {
            &mut self.change
        } else {
            &mut self.read
        }
    }

    /// Breaker, then bulkhead, then budget; a refusal costs KOS nothing.
    fn admit(&mut self, op: Operation, budget: Budget) -> Result<Admission, KosError> {
        let now = Instant::now();
        self.stats[op.index()].calls += 1;
        let permit = match self.breaker(op).try_acquire(now) {
            Ok(p) => p,
            Err(refused) => {
                self.stats[op.index()].rejected += 1;
                return Err(KosError::Rejected {
                    reason: "circuit breaker open",
                    retry_after: refused.retry_after,
                });
            }
        };
        if self.in_flight >= self.max_concurrent {
            self.breaker(op).release(permit);
            self.stats[op.index()].rejected += 1;
            return Err(KosError::Rejected {
                reason: "too many KOS calls in flight",
                retry_after: Duration::from_secs(1),
            });
        }
        let budget = match budget {
            Budget::Customers => &mut self.budget,
            Budget::Registration => &mut self.registration_budget,
        };
        if let Err(retry_after) = budget.take(now) {
            self.breaker(op).release(permit);
            self.stats[op.index()].rejected += 1;
            return Err(KosError::Rejected {
                reason: "KOS call budget for this minute used up",
                retry_after,
            });
        }
        self.in_flight += 1;
        Ok(Admission {
            op,
            permit,
            started: now,
        })
    }

    /// Records how an admitted call ended and turns it into the caller's answer.
    fn settle<T>(&mut self, a: Admission, result: Result<Answer<T>, CallFailure>) -> KosResult<T> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let now = Instant::now();
        let elapsed = now.duration_since(a.started);
        if let Some(m) = &self.metrics {
            let op = serde_json::to_value(a.op)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            m.kos_duration
                .with_label_values(&[op.as_str()])
                .observe(elapsed.as_secs_f64());
        }
        let stats = &mut self.stats[a.op.index()];
        stats.total_latency_ms += elapsed.as_millis() as u64;
        let (outcome, answer) = match result {
            Ok(Answer::Ok(v)) => {
                stats.answered += 1;
                (Outcome::Success, Ok(Answer::Ok(v)))
            }
            // A business refusal is a healthy KOS.
            Ok(Answer::Refused { code, message }) => {
                stats.refused_by_kos += 1;
                (Outcome::Success, Ok(Answer::Refused { code, message }))
            }
            Err(CallFailure::NotSent(m) | CallFailure::Failed(m)) => {
                stats.failed += 1;
                (Outcome::Failure, Err(KosError::Unavailable(m)))
            }
            Err(CallFailure::Unknown(m)) => {
                stats.unknown_outcome += 1;
                let error = if a.op.is_change() {
                    KosError::UnknownOutcome(m)
                } else {
                    KosError::Unavailable(m)
                };
                (Outcome::Failure, Err(error))
            }
        };
        self.breaker(a.op).record(a.permit, outcome, elapsed, now);
        answer
    }

    fn run<T, V>(
        &mut self,
        op: Operation,
        budget: Budget,
        path: String,
        method: Method,
        check: V,
    ) -> ResponseActFuture<Self, KosResult<T>>
    where
        T: serde::de::DeserializeOwned + WellFormed + 'static,
        V: FnOnce(&T) -> Result<(), String> + 'static,
    {
        let admission = match self.admit(op, budget) {
            Ok(a) => a,
            Err(e) => return Box::pin(fut::ready(Err(e))),
        };
        let timeout = if op.is_change() {
            self.change_timeout
        } else {
            self.inquiry_timeout
        };
        let client = self.client.clone();
        let url = format!("{}{path}", self.base_url);
        let call = async move {
            match kos::call::<T>(&client, url, method, timeout).await {
                Ok(Answer::Ok(v)) => match check(&v) {
                    Ok(()) => Ok(Answer::Ok(v)),
                    Err(e) => Err(CallFailure::Unknown(format!("malformed answer: {e}"))),
                },
                other => other,
            }
        };
        Box::pin(
            call.into_actor(self)
                .map(move |result, act, _| act.settle(admission, result)),
        )
    }
}

impl Actor for KosGateway {
    type Context = Context<Self>;
}

impl Supervised for KosGateway {}

impl Handler<InquireBill> for KosGateway {
    type Result = ResponseActFuture<Self, KosResult<KosBill>>;

    fn handle(&mut self, msg: InquireBill, _: &mut Context<Self>) -> Self::Result {
        let line = msg.line.digits().to_string();
        let month = msg.month.clone();
        let body =
            json!({ "lineNumber": line, "billingMonth": msg.month, "requestId": msg.request_id });
        self.run(
            Operation::BillInquiry,
            Budget::Customers,
            "/api/v1/kos/bill/inquiry".into(),
            Method::Post(body),
            move |b: &KosBill| {
                if b.line_number.replace('-', "") != line || b.billing_month != month {
                    return Err("bill of another line or month".into());
                }
                Ok(())
            },
        )
    }
}

impl Handler<InquireCustomer> for KosGateway {
    type Result = ResponseActFuture<Self, KosResult<KosCustomer>>;

    fn handle(&mut self, msg: InquireCustomer, _: &mut Context<Self>) -> Self::Result {
        let line = msg.line.digits().to_string();
        let body = json!({ "lineNumber": line });
        self.run(
            Operation::CustomerInquiry,
            msg.budget,
            "/api/v1/kos/product/inquiry".into(),
            Method::Post(body),
            move |c: &KosCustomer| {
                if c.line_number.replace('-', "") != line {
                    return Err("customer of another line".into());
                }
                Ok(())
            },
        )
    }
}

impl Handler<ListProducts> for KosGateway {
    type Result = ResponseActFuture<Self, KosResult<KosProductList>>;

    fn handle(&mut self, _: ListProducts, _: &mut Context<Self>) -> Self::Result {
        self.run(
            Operation::ProductList,
            Budget::Customers,
            "/api/v1/kos/product/list".into(),
            Method::Get,
            |_: &KosProductList| Ok(()),
        )
    }
}

impl Handler<ChangeProduct> for KosGateway {
    type Result = ResponseActFuture<Self, KosResult<KosChange>>;

    fn handle(&mut self, msg: ChangeProduct, _: &mut Context<Self>) -> Self::Result {
        let body = json!({
            "lineNumber": msg.line.digits(),
            "currentProductCode": msg.current_product_code,
            "targetProductCode": msg.target_product_code,
            "requestId": msg.request_id,
        });
        let (request_id, target) = (msg.request_id, msg.target_product_code);
        self.run(
            Operation::ProductChange,
            Budget::Customers,
            "/api/v1/kos/product/change".into(),
            Method::Post(body),
            move |c: &KosChange| {
                if c.request_id != request_id || c.product_code != target {
                    return Err("change of another request or product".into());
                }
                Ok(())
            },
        )
    }
}

impl Handler<Snapshot> for KosGateway {
    type Result = MessageResult<Snapshot>;

    fn handle(&mut self, _: Snapshot, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        MessageResult(GatewaySnapshot {
            read_breaker: self.read.snapshot(now),
            change_breaker: self.change.snapshot(now),
            in_flight: self.in_flight,
            max_concurrent_calls: self.max_concurrent,
            calls_this_minute: self.budget.used(now),
            max_calls_per_minute: self.budget.per_minute(),
            registration_calls_this_minute: self.registration_budget.used(now),
            registration_calls_per_minute: self.registration_budget.per_minute(),
            operations: Operation::ALL
                .iter()
                .map(|op| (*op, self.stats[op.index()]))
                .collect(),
        })
    }
}

impl Handler<Panic> for KosGateway {
    type Result = ();

    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("fault injection: KOS gateway panics on request");
    }
}
