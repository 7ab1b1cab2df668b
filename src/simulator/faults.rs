//! Fault injection and call statistics of the simulator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Simulated endpoints, as named by the fault API (`endpoint`) and the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    BillInquiry,
    ProductChange,
    ProductList,
    ProductInquiry,
    Mvno,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::BillInquiry,
        Endpoint::ProductChange,
        Endpoint::ProductList,
        Endpoint::ProductInquiry,
        Endpoint::Mvno,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::BillInquiry => "bill-inquiry",
            Endpoint::ProductChange => "product-change",
            Endpoint::ProductList => "product-list",
            Endpoint::ProductInquiry => "product-inquiry",
            Endpoint::Mvno => "mvno",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Normal,
    /// Refuse with HTTP 503 before doing anything.
    Down,
    /// Never answer (after applying the call).
    Hang,
    /// Answer `9999` without doing anything.
    Error,
    /// Answer `0000` with data of the wrong shape, without doing anything (an extension of
    /// SPEC section 5, to show that phonebill validates KOS answers).
    Malformed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub mode: Mode,
    pub latency_ms: u64,
    pub failure_rate: f64,
}

impl Fault {
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// Body of `PUT /api/v1/kos/admin/faults`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub failure_rate: f64,
    pub endpoint: Option<Endpoint>,
}

/// The fault of every endpoint. Replaced whole on each change (readers never lock).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultTable(pub HashMap<Endpoint, Fault>);

impl FaultTable {
    pub fn get(&self, e: Endpoint) -> Fault {
        self.0.get(&e).copied().unwrap_or_default()
    }

    /// Applies a request: to one endpoint, or to all when `endpoint` is absent.
    pub fn apply(&self, req: &FaultRequest) -> Result<FaultTable, &'static str> {
        if !(0.0..=1.0).contains(&req.failure_rate) {
            return Err("failureRate must be between 0.0 and 1.0");
        }
        let fault = Fault {
            mode: req.mode,
            latency_ms: req.latency_ms,
            failure_rate: req.failure_rate,
        };
        let mut next = self.clone();
        let targets: Vec<Endpoint> = req.endpoint.map_or(Endpoint::ALL.to_vec(), |e| vec![e]);
        for e in targets {
            if fault == Fault::default() {
                next.0.remove(&e);
            } else {
                next.0.insert(e, fault);
            }
        }
        Ok(next)
    }
}

/// Calls per endpoint since start or the last reset.
#[derive(Debug, Default)]
pub struct Stats {
    counts: [AtomicU64; 7],
}

/// Names of the counted endpoints, in `Stats` order.
pub const STAT_NAMES: [&str; 7] = [
    "bill-inquiry",
    "product-change",
    "product-list",
    "product-inquiry",
    "available-months",
    "mock-datas",
    "mvno",
];

impl Stats {
    pub fn count(&self, name: &str) {
        if let Some(i) = STAT_NAMES.iter().position(|n| *n == name) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> HashMap<&'static str, u64> {
        STAT_NAMES
            .iter()
            .zip(&self.counts)
            .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }
}
