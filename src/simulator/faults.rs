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
    /// The MVNO receiver refuses for good (HTTP 422) every notification about these lines
    /// (digits only), as a real MVNO refuses lines it does not serve; empty = none. Replaced
    /// by every request that names it. An extension of SPEC section 5, for tests.
    #[serde(default)]
    pub refuse_lines: Option<Vec<String>>,
}

/// The fault of every endpoint, and the lines the MVNO receiver refuses. Replaced whole on
/// each change (readers never lock).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultTable(pub HashMap<Endpoint, Fault>, pub Vec<String>);

impl FaultTable {
    pub fn get(&self, e: Endpoint) -> Fault {
        self.0.get(&e).copied().unwrap_or_default()
    }

    /// Whether the MVNO receiver refuses notifications about any line at all.
    pub fn refuses_lines(&self) -> bool {
        !self.1.is_empty()
    }

    /// Whether the MVNO receiver refuses notifications about `line` (any format).
    pub fn refuses_line(&self, line: &str) -> bool {
        if self.1.is_empty() {
            return false;
        }
        let digits: String = line.chars().filter(char::is_ascii_digit).collect();
        self.1.contains(&digits)
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
        if let Some(lines) = &req.refuse_lines {
            if lines.len() > 100 {
                return Err("refuseLines takes at most 100 lines");
            }
            next.1 = lines
                .iter()
                .map(|l| l.chars().filter(char::is_ascii_digit).collect())
                .collect();
            if req.mode == Mode::Normal && req.latency_ms == 0 && req.failure_rate == 0.0 {
                // Only the refused lines change.
                return Ok(next);
            }
        }
        if req.refuse_lines.is_none() && req.endpoint.is_none() && fault == Fault::default() {
            // `mode: normal` for every endpoint clears everything, refused lines too.
            next.1.clear();
        }
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
