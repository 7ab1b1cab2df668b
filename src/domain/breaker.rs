//! A count-based circuit breaker as a pure state machine. Time is passed in (`now`), so the
//! tests drive it with a fake clock.
//!
//! * **Closed**: calls pass; the outcomes of the last `sliding_window_size` calls are kept.
//!   Once at least `minimum_calls` are recorded, a failure rate ≥ `failure_rate_threshold`
//!   or a slow-call rate ≥ `slow_call_rate_threshold` (slower than `slow_call`) opens it.
//! * **Open**: calls are refused at once with the time left until the next probe.
//! * **Half-open** (after `wait_open`): at most `half_open_calls` probes pass; the first
//!   failed or slow probe opens it again, and when all probes succeed it closes.
//!
//! Outcomes of calls admitted in an earlier state (a "generation") do not move the state:
//! a slow call that started before the breaker opened cannot close it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    pub sliding_window_size: usize,
    pub minimum_calls: usize,
    /// Percent, 1–100.
    pub failure_rate_threshold: u8,
    pub slow_call: Duration,
    /// Percent, 1–100.
    pub slow_call_rate_threshold: u8,
    pub wait_open: Duration,
    pub half_open_calls: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Leave to make one call; hand it back with the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    generation: u64,
}

/// Refused: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotPermitted {
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failed: bool,
    slow: bool,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    generation: u64,
    window: VecDeque<Record>,
    opened_at: Option<Instant>,
    probes_admitted: usize,
    probes_succeeded: usize,
    transitions: u64,
    not_permitted: u64,
}

/// A view for `/admin/actors`, `/health/ready` and metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub calls_in_window: usize,
    pub failure_rate: f64,
    pub slow_call_rate: f64,
    pub transitions: u64,
    pub not_permitted: u64,
    pub retry_after_ms: u64,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed,
            generation: 0,
            window: VecDeque::with_capacity(config.sliding_window_size),
            opened_at: None,
            probes_admitted: 0,
            probes_succeeded: 0,
            transitions: 0,
            not_permitted: 0,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to make a call now.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, NotPermitted> {
        if self.state == BreakerState::Open {
            let until = self.next_probe_at();
            if now < until {
                self.not_permitted += 1;
                return Err(NotPermitted {
                    retry_after: until - now,
                });
            }
            self.transition(BreakerState::HalfOpen, now);
        }
        if self.state == BreakerState::HalfOpen {
            if self.probes_admitted >= self.config.half_open_calls {
                self.not_permitted += 1;
                // Probes are out; their outcome decides within a call's time-out.
                return Err(NotPermitted {
                    retry_after: Duration::from_secs(1),
                });
            }
            self.probes_admitted += 1;
        }
        Ok(Permit {
            generation: self.generation,
        })
    }

    /// Records the outcome of a call admitted by `permit` that took `elapsed`.
    pub fn record(&mut self, permit: Permit, outcome: Outcome, elapsed: Duration, now: Instant) {
        if permit.generation != self.generation {
            return;
        }
        let record = Record {
            failed: outcome == Outcome::Failure,
            slow: elapsed >= self.config.slow_call,
        };
        match self.state {
            BreakerState::Closed => {
                if self.window.len() == self.config.sliding_window_size {
                    self.window.pop_front();
                }
                self.window.push_back(record);
                if self.window.len() >= self.config.minimum_calls.max(1) && self.over_threshold() {
                    self.transition(BreakerState::Open, now);
                }
            }
            BreakerState::HalfOpen => {
                if record.failed || record.slow {
                    self.transition(BreakerState::Open, now);
                } else {
                    self.probes_succeeded += 1;
                    if self.probes_succeeded >= self.config.half_open_calls {
                        self.transition(BreakerState::Closed, now);
                    }
                }
            }
            BreakerState::Open => {}
        }
    }

    /// Gives back a permit whose call was never made (refused by another limit first).
    pub fn release(&mut self, permit: Permit) {
        if permit.generation == self.generation && self.state == BreakerState::HalfOpen {
            self.probes_admitted = self.probes_admitted.saturating_sub(1);
        }
    }

    pub fn snapshot(&self, now: Instant) -> BreakerSnapshot {
        let (failure_rate, slow_call_rate) = self.rates();
        let retry_after_ms = match self.state {
            BreakerState::Open => self
                .next_probe_at()
                .saturating_duration_since(now)
                .as_millis() as u64,
            _ => 0,
        };
        BreakerSnapshot {
            state: self.state,
            calls_in_window: self.window.len(),
            failure_rate,
            slow_call_rate,
            transitions: self.transitions,
            not_permitted: self.not_permitted,
            retry_after_ms,
        }
    }

    fn next_probe_at(&self) -> Instant {
        self.opened_at
            .map_or_else(Instant::now, |at| at + self.config.wait_open)
    }

    fn rates(&self) -> (f64, f64) {
        let n = self.window.len();
        if n == 0 {
            return (0.0, 0.0);
        }
        let failed = self.window.iter().filter(|r| r.failed).count();
        let slow = self.window.iter().filter(|r| r.slow).count();
        (
            100.0 * failed as f64 / n as f64,
            100.0 * slow as f64 / n as f64,
        )
    }

    fn over_threshold(&self) -> bool {
        let (failure_rate, slow_rate) = self.rates();
        failure_rate >= f64::from(self.config.failure_rate_threshold)
            || slow_rate >= f64::from(self.config.slow_call_rate_threshold)
    }

    fn transition(&mut self, to: BreakerState, now: Instant) {
        self.state = to;
        self.generation += 1;
        self.transitions += 1;
        self.probes_admitted = 0;
        self.probes_succeeded = 0;
        match to {
            BreakerState::Open => self.opened_at = Some(now),
            BreakerState::Closed => {
                self.window.clear();
                self.opened_at = None;
            }
            BreakerState::HalfOpen => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            sliding_window_size: 10,
            minimum_calls: 4,
            failure_rate_threshold: 50,
            slow_call: Duration::from_millis(100),
            slow_call_rate_threshold: 60,
            wait_open: Duration::from_secs(5),
            half_open_calls: 2,
        }
    }

    const FAST: Duration = Duration::from_millis(5);
    const SLOW: Duration = Duration::from_millis(150);

    fn call(b: &mut CircuitBreaker, now: Instant, outcome: Outcome, took: Duration) {
        let p = b.try_acquire(now).unwrap();
        b.record(p, outcome, took, now);
    }

    #[test]
    fn stays_closed_below_minimum_calls_however_bad() {
        let mut b = CircuitBreaker::new(config());
        let t = Instant::now();
        for _ in 0..3 {
            call(&mut b, t, Outcome::Failure, FAST);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        call(&mut b, t, Outcome::Failure, FAST);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn opens_at_the_failure_rate_threshold() {
        let mut b = CircuitBreaker::new(config());
        let t = Instant::now();
        for outcome in [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Success,
            Outcome::Success,
        ] {
            call(&mut b, t, outcome, FAST);
        }
        assert_eq!(b.state(), BreakerState::Closed, "25% < 50%");
        call(&mut b, t, Outcome::Failure, FAST);
        call(&mut b, t, Outcome::Failure, FAST);
        assert_eq!(b.state(), BreakerState::Open, "3/6 = 50%");
    }

    #[test]
    fn opens_at_the_slow_call_rate_threshold() {
        let mut b = CircuitBreaker::new(config());
        let t = Instant::now();
        call(&mut b, t, Outcome::Success, FAST);
        call(&mut b, t, Outcome::Success, SLOW);
        call(&mut b, t, Outcome::Success, SLOW);
        call(&mut b, t, Outcome::Success, FAST);
        assert_eq!(b.state(), BreakerState::Closed, "50% < 60%");
        call(&mut b, t, Outcome::Success, SLOW);
        assert_eq!(b.state(), BreakerState::Open, "3/5 = 60%");
    }

    #[test]
    fn the_window_forgets_old_calls() {
        let mut b = CircuitBreaker::new(config());
        let t = Instant::now();
        for _ in 0..4 {
            call(&mut b, t, Outcome::Success, FAST);
        }
        call(&mut b, t, Outcome::Failure, FAST);
        for _ in 0..9 {
            call(&mut b, t, Outcome::Success, FAST);
        }
        // The failure has slid out; four failures now make 40% of ten.
        for _ in 0..4 {
            call(&mut b, t, Outcome::Failure, FAST);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        call(&mut b, t, Outcome::Failure, FAST);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn open_refuses_with_the_time_until_the_probe() {
        let mut b = CircuitBreaker::new(config());
        let t = Instant::now();
        for _ in 0..4 {
            call(&mut b, t, Outcome::Failure, FAST);
        }
        let refused = b.try_acquire(t + Duration::from_secs(2)).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(3));
        assert_eq!(b.snapshot(t).not_permitted, 1);
    }

    #[test]
    fn half_open_admits_only_the_configured_probes_and_closes_on_success() {
        let mut b = CircuitBreaker::new(config());
        let t = Instant::now();
        for _ in 0..4 {
            call(&mut b, t, Outcome::Failure, FAST);
        }
        let later = t + Duration::from_secs(5);
        let p1 = b.try_acquire(later).unwrap();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let p2 = b.try_acquire(later).unwrap();
        assert!(b.try_acquire(later).is_err(), "a third probe is refused");
        b.record(p1, Outcome::Success, FAST, later);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(p2, Outcome::Success, FAST, later);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire(later).is_ok());
    }

    #[test]
    fn a_failed_or_slow_probe_reopens() {
        for (outcome, took) in [(Outcome::Failure, FAST), (Outcome::Success, SLOW)] {
            let mut b = CircuitBreaker::new(config());
            let t = Instant::now();
            for _ in 0..4 {
                call(&mut b, t, Outcome::Failure, FAST);
            }
            let later = t + Duration::from_secs(6);
            let p = b.try_acquire(later).unwrap();
            b.record(p, outcome, took, later);
            assert_eq!(b.state(), BreakerState::Open);
            assert_eq!(
                b.try_acquire(later + Duration::from_secs(1))
                    .unwrap_err()
                    .retry_after,
                Duration::from_secs(4)
            );
        }
    }

    #[test]
    fn outcomes_from_an_earlier_state_do_not_move_it() {
        let mut b = CircuitBreaker::new(config());
        let t = Instant::now();
        let early = b.try_acquire(t).unwrap();
        for _ in 0..4 {
            call(&mut b, t, Outcome::Failure, FAST);
        }
        let later = t + Duration::from_secs(5);
        let probe = b.try_acquire(later).unwrap();
        b.record(early, Outcome::Failure, FAST, later);
        assert_eq!(b.state(), BreakerState::HalfOpen, "stale failure ignored");
        b.release(probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(
            b.try_acquire(later).is_ok(),
            "released probe slot is free again"
        );
    }
}
