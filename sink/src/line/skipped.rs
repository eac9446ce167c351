//! Counting and logging input that is not a signal, without letting a flood of it flood the log.
//!
//! Every bad record or line is counted under its kind; the log gets the first one of each kind
//! and then at most one line per kind every [`LOG_EVERY`], saying how many went unlogged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::metrics::{Counter, Registry};

use super::decode::{Invalid, InvalidKind};

/// The quietest a kind of bad input can make the log.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The `skipped_total{kind=...}` counters of a service and their log limiter.
#[derive(Debug)]
pub struct Skipped {
    counters: Vec<(InvalidKind, Counter)>,
    /// Per kind: when it was last logged and how many were not logged since.
    last_logged: Mutex<Vec<(InvalidKind, Option<Instant>, u64)>>,
}

impl Skipped {
    /// Registers `skipped_total` for every kind, so each shows up as 0 until it happens.
    pub fn new(registry: &Registry, help: &str) -> Self {
        let counters = InvalidKind::ALL
            .iter()
            .map(|&k| {
                let c = registry.counter_with("skipped_total", &[("kind", k.as_str())], help);
                (k, c)
            })
            .collect();
        let last_logged = InvalidKind::ALL.iter().map(|&k| (k, None, 0)).collect();
        Self {
            counters,
            last_logged: Mutex::new(last_logged),
        }
    }

    /// Counts one bad input; logs it unless its kind was logged less than [`LOG_EVERY`] ago.
    /// `source` says where it came from (a partition and offset, a peer address).
    pub fn record(&self, invalid: &Invalid, source: &dyn std::fmt::Display) {
        if let Some((_, c)) = self.counters.iter().find(|(k, _)| *k == invalid.kind) {
            c.inc();
        }
        let mut last = self.last_logged.lock().expect("skip log lock poisoned");
        let Some(entry) = last.iter_mut().find(|(k, _, _)| *k == invalid.kind) else {
            return;
        };
        let now = Instant::now();
        if entry.1.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            entry.2 += 1;
            return;
        }
        tracing::warn!(
            kind = invalid.kind.as_str(),
            source = %source,
            error = %invalid.detail,
            not_logged_since_last = entry.2,
            "skipping input that is not a signal"
        );
        *entry = (invalid.kind, Some(now), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_one_by_kind() {
        let registry = Registry::new("t");
        let skipped = Skipped::new(&registry, "Skipped.");
        let bad = Invalid {
            kind: InvalidKind::NotJson,
            detail: "x".into(),
        };
        for _ in 0..5 {
            skipped.record(&bad, &"p0@1");
        }
        assert_eq!(registry.value("skipped_total"), 5.0);
        assert!(registry
            .render()
            .contains("t_skipped_total{kind=\"empty\"} 0\n"));
    }
}
