//! Exponential backoff with full jitter, for reconnect loops.
//!
//! Jitter keeps many clients that lost the same server from reconnecting in lock-step. A
//! success only resets the delays once the connection has stayed up for a healthy period: a
//! peer that accepts and then drops at once must not turn the loop into a tight one.

use std::time::{Duration, Instant};

use rand::Rng;

/// Delays that double from `initial` up to `max`, each drawn uniformly from `[delay/2, delay]`.
///
/// Use [`Backoff::up`] on every sign that the connection works (connected, a frame or an
/// acknowledgement received) and [`Backoff::next_delay`] after each failure: the delays start
/// over only when the connection had been up for `healthy_after` (see
/// [`Backoff::with_healthy_after`]) before it failed.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
    attempts: u32,
    healthy_after: Duration,
    /// When the connection came up, since the last failure.
    up_since: Option<Instant>,
}

impl Backoff {
    /// A backoff whose healthy period is zero: any [`Backoff::up`] resets it at the next failure.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: initial,
            attempts: 0,
            healthy_after: Duration::ZERO,
            up_since: None,
        }
    }

    /// How long a connection must stay up before its failure starts the delays over.
    pub fn with_healthy_after(mut self, healthy_after: Duration) -> Self {
        self.healthy_after = healthy_after;
        self
    }

    /// The connection works now. The healthy period runs from the first call after a failure;
    /// later calls do not move it, so calling this on every message is fine.
    pub fn up(&mut self) {
        self.up_at(Instant::now());
    }

    /// The next delay to sleep before retrying, after a failure. Starts over from `initial`
    /// first when the connection had been up for the healthy period.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_at(Instant::now())
    }

    /// Starts over from the initial delay now, whatever the healthy period.
    pub fn reset(&mut self) {
        self.current = self.initial;
        self.attempts = 0;
        self.up_since = None;
    }

    /// Failures since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn up_at(&mut self, now: Instant) {
        self.up_since.get_or_insert(now);
    }

    fn next_delay_at(&mut self, now: Instant) -> Duration {
        if self
            .up_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.healthy_after)
        {
            self.reset();
        }
        self.up_since = None;
        let ceiling = self.current;
        self.current = (self.current * 2).min(self.max);
        self.attempts += 1;
        let half = ceiling / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn assert_within_ceiling(d: Duration, ceiling_ms: u64) {
        assert!(
            d >= ms(ceiling_ms / 2) && d <= ms(ceiling_ms),
            "{d:?} for {ceiling_ms} ms"
        );
    }

    #[test]
    fn doubles_up_to_max_with_jitter_and_resets() {
        let mut b = Backoff::new(ms(100), ms(800));
        let ceilings = [100, 200, 400, 800, 800];
        for ceiling in ceilings {
            assert_within_ceiling(b.next_delay(), ceiling);
        }
        assert_eq!(b.attempts(), 5);
        b.reset();
        assert!(b.next_delay() <= ms(100));
    }

    #[test]
    fn up_resets_only_after_the_healthy_period() {
        let mut b = Backoff::new(ms(100), ms(800)).with_healthy_after(ms(5000));
        let t0 = Instant::now();
        b.next_delay_at(t0);
        // Up, then down again before the healthy period: the delays keep growing.
        b.up_at(t0);
        b.up_at(t0 + ms(3000)); // later signs of life do not move the start
        assert_within_ceiling(b.next_delay_at(t0 + ms(4999)), 200);
        assert_eq!(b.attempts(), 2);
        // A failure without any up in between keeps growing too.
        assert_within_ceiling(b.next_delay_at(t0 + ms(20_000)), 400);
        // Up for the healthy period: starts over.
        b.up_at(t0 + ms(30_000));
        assert_within_ceiling(b.next_delay_at(t0 + ms(35_000)), 100);
        assert_eq!(b.attempts(), 1);
    }

    #[test]
    fn without_a_healthy_period_any_up_resets() {
        let mut b = Backoff::new(ms(100), ms(800));
        let t0 = Instant::now();
        b.next_delay_at(t0);
        b.next_delay_at(t0);
        b.up_at(t0);
        assert_within_ceiling(b.next_delay_at(t0), 100);
    }
}
