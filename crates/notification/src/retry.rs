//! When to try a failed delivery again, and when to stop.
//!
//! Exponential backoff with a cap: `base`, `base × factor`, `base × factor²`, … never more than
//! `max_delay`. After `max_attempts` failed attempts the delivery is *parked*: it stays in the
//! outbox, marked, for an operator to look at or replay, instead of retrying forever.
//!
//! Jitter spreads retries out so that the thousand e-mails that failed together during an SMTP
//! outage don't all come back in the same second. It is derived from the event id rather than a
//! random source: the schedule of one event is reproducible (a test, or an operator reading the
//! outbox, can say exactly when the next attempt is due), while different events still differ.
//! Each event gets one fixed fraction between 0 and 25 % that *shortens* all its delays, so the
//! delays of an event still never decrease and never exceed `max_delay`.

use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failure (before jitter).
    pub base: Duration,
    /// Each further failure multiplies the delay by this (1 = constant delays).
    pub factor: u32,
    /// No delay is longer than this.
    pub max_delay: Duration,
    /// The number of failed attempts after which the delivery is parked.
    pub max_attempts: u32,
}

/// Jitter shortens a delay by at most this many thousandths.
const MAX_JITTER_PERMILLE: u128 = 250;
const NANOS_PER_SECOND: u128 = 1_000_000_000;

impl Default for RetryPolicy {
    /// 1 min, 2, 4, 8, 16, 32, then hourly, 12 attempts in all: about six hours of trying, long
    /// enough to ride out greylisting and a mail server's maintenance window.
    fn default() -> Self {
        Self { base: Duration::from_secs(60), factor: 2, max_delay: Duration::from_secs(3600), max_attempts: 12 }
    }
}

impl RetryPolicy {
    /// How long to wait before the next attempt at delivering `event_id`, after `attempts_so_far`
    /// failed attempts; `None` means stop and park it. No attempt yet means no wait.
    pub fn next_attempt_after(&self, attempts_so_far: u32, event_id: Uuid) -> Option<Duration> {
        if attempts_so_far >= self.max_attempts {
            return None;
        }
        if attempts_so_far == 0 {
            return Some(Duration::ZERO);
        }
        let cap = self.max_delay.as_nanos();
        let growth = u128::from(self.factor).checked_pow(attempts_so_far - 1);
        let uncapped = growth.map_or(u128::MAX, |g| self.base.as_nanos().saturating_mul(g));
        let capped = uncapped.min(cap);
        let jittered = capped * (1000 - jitter_permille(event_id)) / 1000;
        Some(duration_from_nanos(jittered))
    }
}

/// A fixed number in `0..250` for each event id, well mixed even for ids that differ in one bit.
fn jitter_permille(event_id: Uuid) -> u128 {
    let (high, low) = event_id.as_u64_pair();
    u128::from(splitmix64(high ^ splitmix64(low))) % MAX_JITTER_PERMILLE
}

/// The SplitMix64 finaliser: a cheap, well-distributed 64-bit mix.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn duration_from_nanos(nanos: u128) -> Duration {
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND).unwrap_or(u64::MAX);
    // The remainder is below 10^9 and always fits.
    let subsec = u32::try_from(nanos % NANOS_PER_SECOND).unwrap_or(0);
    Duration::new(seconds, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn the_first_attempt_is_immediate() {
        assert_eq!(RetryPolicy::default().next_attempt_after(0, event(1)), Some(Duration::ZERO));
    }

    #[test]
    fn the_default_schedule_doubles_from_a_minute_to_an_hour_then_parks() {
        let policy = RetryPolicy::default();
        let id = event(42);
        let keep = 1000 - jitter_permille(id);
        let expected_minutes = [1u64, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60];
        for (failures, minutes) in (1..).zip(expected_minutes) {
            let expected = duration_from_nanos(u128::from(minutes * 60) * NANOS_PER_SECOND * keep / 1000);
            assert_eq!(policy.next_attempt_after(failures, id), Some(expected), "after {failures} failures");
        }
        assert_eq!(policy.next_attempt_after(12, id), None);
    }

    #[test]
    fn the_same_event_always_gets_the_same_schedule_and_events_differ() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next_attempt_after(3, event(7)), policy.next_attempt_after(3, event(7)));
        let distinct: std::collections::BTreeSet<Duration> =
            (0..50).filter_map(|n| policy.next_attempt_after(3, event(n))).collect();
        assert!(distinct.len() > 25, "jitter barely spreads: {} distinct delays", distinct.len());
    }

    #[test]
    fn huge_exponents_saturate_at_the_cap() {
        let policy = RetryPolicy {
            base: Duration::from_secs(1),
            factor: 10,
            max_delay: Duration::from_secs(60),
            max_attempts: 500,
        };
        let delay = policy.next_attempt_after(400, event(3)).unwrap();
        assert!(delay <= Duration::from_secs(60) && delay >= Duration::from_secs(45), "{delay:?}");
    }

    fn policies() -> impl Strategy<Value = RetryPolicy> {
        (1u64..=600_000, 1u32..=10, 1u64..=86_400_000, 1u32..=64).prop_map(|(base, factor, max, attempts)| {
            RetryPolicy {
                base: Duration::from_millis(base),
                factor,
                max_delay: Duration::from_millis(max),
                max_attempts: attempts,
            }
        })
    }

    proptest! {
        #[test]
        fn delays_never_decrease_and_never_exceed_the_cap(policy in policies(), id in any::<u128>()) {
            let id = Uuid::from_u128(id);
            let mut previous = Duration::ZERO;
            for failures in 0..policy.max_attempts {
                let delay = policy.next_attempt_after(failures, id);
                prop_assert!(delay.is_some(), "parked early after {} failures", failures);
                let delay = delay.unwrap_or_default();
                prop_assert!(delay >= previous, "{:?} after {:?}", delay, previous);
                prop_assert!(delay <= policy.max_delay);
                previous = delay;
            }
        }

        #[test]
        fn delivery_parks_exactly_after_max_attempts(policy in policies(), id in any::<u128>(), extra in 0u32..1000) {
            let id = Uuid::from_u128(id);
            prop_assert!(policy.next_attempt_after(policy.max_attempts - 1, id).is_some());
            prop_assert_eq!(policy.next_attempt_after(policy.max_attempts + extra, id), None);
        }

        #[test]
        fn jitter_takes_at_most_a_quarter_off(policy in policies(), id in any::<u128>(), failures in 1u32..64) {
            prop_assume!(failures < policy.max_attempts);
            let id = Uuid::from_u128(id);
            let growth = u128::from(policy.factor).checked_pow(failures - 1);
            let full = growth
                .map_or(u128::MAX, |g| policy.base.as_nanos().saturating_mul(g))
                .min(policy.max_delay.as_nanos());
            let delay = policy.next_attempt_after(failures, id).unwrap_or_default().as_nanos();
            prop_assert!(delay <= full);
            prop_assert!(delay * 4 >= full * 3, "{} is less than 3/4 of {}", delay, full);
        }
    }
}
