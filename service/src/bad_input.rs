//! Counting and logging input that a service skips, without letting a flood of it flood the
//! log: every bad frame, trade, record or line is counted under its kind (a metric label, so an
//! operator sees *why*, not just how many); the log gets the first one of each kind and then at
//! most one line per kind every [`LOG_EVERY`], saying how many went unlogged.

use std::fmt::Display;
use std::time::Duration;

use crate::metrics::{Counter, Registry};
use crate::ratelimit::LogLimiter;

/// The quietest a kind of bad input can make the log.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The reasons a service rejects input: a closed set, each with a metric label.
pub trait InputKind: Copy + Eq + 'static {
    /// Every kind, so each counter shows up as 0 before it first happens.
    const ALL: &'static [Self];
    /// The `kind` label, e.g. `not_json`.
    fn label(self) -> &'static str;
}

/// The `<metric>{kind=...}` counters of a service and one log limiter per kind.
#[derive(Debug)]
pub struct BadInput<K: InputKind> {
    kinds: Vec<(K, Counter, LogLimiter)>,
}

impl<K: InputKind> BadInput<K> {
    /// Registers `metric{kind=...}` for every kind, with `help` as its description.
    pub fn new(registry: &Registry, metric: &str, help: &str) -> Self {
        let kinds = K::ALL
            .iter()
            .map(|&k| {
                let counter = registry.counter_with(metric, &[("kind", k.label())], help);
                (k, counter, LogLimiter::new(LOG_EVERY))
            })
            .collect();
        Self { kinds }
    }

    /// The counter of `kind`.
    pub fn counter(&self, kind: K) -> &Counter {
        &self.entry(kind).1
    }

    /// Counts one bad input of `kind` and logs `message` with its `detail` and `source` (a
    /// partition and offset, a peer address) unless that kind was logged less than
    /// [`LOG_EVERY`] ago.
    pub fn record(&self, kind: K, detail: &dyn Display, source: &dyn Display, message: &str) {
        let (_, counter, limiter) = self.entry(kind);
        counter.inc();
        if let Some(not_logged) = limiter.allow() {
            tracing::warn!(
                kind = kind.label(),
                source = %source,
                error = %detail,
                not_logged_since_last = not_logged,
                "{message}"
            );
        }
    }

    fn entry(&self, kind: K) -> &(K, Counter, LogLimiter) {
        self.kinds
            .iter()
            .find(|(k, _, _)| *k == kind)
            .expect("InputKind::ALL lists every kind")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Empty,
        NotJson,
    }

    impl InputKind for Kind {
        const ALL: &'static [Self] = &[Kind::Empty, Kind::NotJson];
        fn label(self) -> &'static str {
            match self {
                Kind::Empty => "empty",
                Kind::NotJson => "not_json",
            }
        }
    }

    #[test]
    fn counts_every_one_by_kind_and_registers_all_kinds() {
        let registry = Registry::new("t");
        let bad = BadInput::<Kind>::new(&registry, "skipped_total", "Skipped.");
        for _ in 0..5 {
            bad.record(Kind::NotJson, &"x", &"p0@1", "skipping");
        }
        assert_eq!(bad.counter(Kind::NotJson).get(), 5);
        assert_eq!(registry.value("skipped_total"), 5.0);
        assert!(registry
            .render()
            .contains("t_skipped_total{kind=\"empty\"} 0\n"));
    }
}
