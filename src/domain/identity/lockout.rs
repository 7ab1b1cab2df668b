//! The account lockout rule: N consecutive failures lock the account for a while.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub duration: Duration,
}

impl LockoutPolicy {
    pub fn new(max_failures: u32, minutes: u32) -> Self {
        Self {
            max_failures,
            duration: Duration::minutes(i64::from(minutes)),
        }
    }

    /// Whether an account with `locked_until` is locked at `now`.
    pub fn is_locked(&self, locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        locked_until.is_some_and(|until| until > now)
    }

    /// After a failure that brought the consecutive count to `failures`: the time the account
    /// is locked until, if this failure locks it.
    pub fn lock_after(&self, failures: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (failures >= self.max_failures).then(|| now + self.duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifth_failure_locks_for_thirty_minutes() {
        let policy = LockoutPolicy::new(5, 30);
        let now = Utc::now();
        for n in 1..5 {
            assert_eq!(policy.lock_after(n, now), None);
        }
        let until = policy.lock_after(5, now).unwrap();
        assert_eq!(until - now, Duration::minutes(30));
        assert!(policy.is_locked(Some(until), now));
        assert!(!policy.is_locked(Some(until), until));
        assert!(!policy.is_locked(None, now));
    }
}
