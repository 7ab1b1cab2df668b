//! A per-minute call budget (fixed one-minute windows), the KOS gateway's protection of
//! KOS's ~100 calls a minute. Pure: the caller passes the time.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct CallBudget {
    /// Calls allowed per minute; 0 = unlimited.
    per_minute: u32,
    window_started: Instant,
    used: u32,
}

impl CallBudget {
    pub fn new(per_minute: u32, now: Instant) -> Self {
        Self {
            per_minute,
            window_started: now,
            used: 0,
        }
    }

    /// Takes one call, or says how long until the next window.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        self.roll(now);
        if self.used >= self.per_minute {
            return Err(MINUTE.saturating_sub(now.duration_since(self.window_started)));
        }
        self.used += 1;
        Ok(())
    }

    /// Calls taken in the current window.
    pub fn used(&self, now: Instant) -> u32 {
        if now.duration_since(self.window_started) >= MINUTE {
            0
        } else {
            self.used
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.window_started) >= MINUTE {
            self.window_started = now;
            self.used = 0;
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_calls_until_the_next_minute() {
        let t0 = Instant::now();
        let mut b = CallBudget::new(2, t0);
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0 + Duration::from_secs(1)).is_ok());
        let wait = b.take(t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(b.used(t0 + Duration::from_secs(10)), 2);
        assert!(b.take(t0 + Duration::from_secs(61)).is_ok());
        assert_eq!(b.used(t0 + Duration::from_secs(61)), 1);
    }

    #[test]
    fn zero_is_unlimited() {
        let t0 = Instant::now();
        let mut b = CallBudget::new(0, t0);
        for _ in 0..10_000 {
            assert!(b.take(t0).is_ok());
        }
    }
}
