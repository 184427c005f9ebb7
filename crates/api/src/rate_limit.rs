//! Login throttling, per account and per client address, so neither a targeted guess at one
//! account nor a spray across many accounts from one address gets far.
//!
//! State is in memory: it protects one node, and a restart forgets it, which is acceptable
//! because each window is short.

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: usize,
    pub window: Duration,
}

/// A sliding-window counter per key.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: Limit,
    hits: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

/// Keys kept before stale ones are swept, bounding memory under a flood of distinct keys.
const SWEEP_AT: usize = 10_000;

impl SlidingWindow {
    pub fn new(limit: Limit) -> Self {
        Self { limit, hits: Mutex::new(HashMap::new()) }
    }

    /// Seconds until `key` may try again, or `None` when it is under the limit now.
    pub fn blocked_for(&self, key: &str, now: DateTime<Utc>) -> Option<u64> {
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        let window = hits.get_mut(key)?;
        Self::expire(window, now, self.limit.window);
        if window.len() >= self.limit.max {
            let oldest = *window.front()?;
            let wait = (oldest + self.limit.window - now).num_seconds().max(1);
            Some(wait as u64)
        } else {
            None
        }
    }

    pub fn record(&self, key: &str, now: DateTime<Utc>) {
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if hits.len() >= SWEEP_AT {
            let window = self.limit.window;
            hits.retain(|_, w| {
                Self::expire(w, now, window);
                !w.is_empty()
            });
        }
        let window = hits.entry(key.to_owned()).or_default();
        Self::expire(window, now, self.limit.window);
        window.push_back(now);
    }

    pub fn clear(&self, key: &str) {
        self.hits.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    fn expire(window: &mut VecDeque<DateTime<Utc>>, now: DateTime<Utc>, length: Duration) {
        while window.front().is_some_and(|t| *t + length <= now) {
            window.pop_front();
        }
    }
}

/// The two limits on sign-in.
#[derive(Debug)]
pub struct LoginLimiter {
    /// Failed attempts per account (by e-mail, whether or not it exists).
    pub per_account: SlidingWindow,
    /// All attempts per client address.
    pub per_ip: SlidingWindow,
}

impl LoginLimiter {
    pub fn new(per_account: Limit, per_ip: Limit) -> Self {
        Self { per_account: SlidingWindow::new(per_account), per_ip: SlidingWindow::new(per_ip) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn the_attempt_after_the_limit_is_blocked_until_the_window_slides() {
        let w = SlidingWindow::new(Limit { max: 3, window: Duration::seconds(60) });
        for i in 0..3 {
            assert_eq!(w.blocked_for("a", t(i)), None);
            w.record("a", t(i));
        }
        assert_eq!(w.blocked_for("a", t(10)), Some(50));
        assert_eq!(w.blocked_for("b", t(10)), None, "other keys are unaffected");
        assert_eq!(w.blocked_for("a", t(60)), None, "the oldest attempt left the window");
    }

    #[test]
    fn clearing_a_key_forgives_its_failures() {
        let w = SlidingWindow::new(Limit { max: 1, window: Duration::seconds(60) });
        w.record("a", t(0));
        assert!(w.blocked_for("a", t(1)).is_some());
        w.clear("a");
        assert_eq!(w.blocked_for("a", t(1)), None);
    }
}
