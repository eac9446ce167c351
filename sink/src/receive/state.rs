//! What the receiver has seen: a bounded set of recent ids for de-duplication, the counters,
//! and (for library users) the arrivals in order.
//!
//! One [`Received`] is shared by every connection, so a signal re-sent on a new connection
//! after a reconnect is recognized as the duplicate it is. An id is remembered only once its
//! signal was written: one whose write failed is new again when it is sent again.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use service::metrics::{Counter, Registry};

/// One new signal as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub id: Arc<str>,
    pub symbol: String,
    /// Wall-clock time the line was read, comparable with Kafka record timestamps.
    pub at: SystemTime,
}

/// The last `capacity` distinct ids, oldest forgotten first.
#[derive(Debug)]
struct Dedup {
    seen: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
    capacity: usize,
}

impl Dedup {
    /// Whether `id` was seen (never, without de-duplication).
    fn contains(&self, id: &str) -> bool {
        self.capacity > 0 && self.seen.contains(id)
    }

    /// True when `id` is new (and now remembered).
    fn insert(&mut self, id: &str) -> bool {
        if self.capacity == 0 || self.seen.contains(id) {
            return self.capacity == 0;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.seen.insert(id.clone());
        self.order.push_back(id);
        true
    }
}

#[derive(Debug)]
struct State {
    dedup: Dedup,
    arrivals: Option<Vec<Arrival>>,
}

/// The counters of a receiver (`sink_received_*`).
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub lines: Counter,
    pub signals: Counter,
    pub duplicates: Counter,
    pub acks: Counter,
    pub connections: Counter,
}

impl Counters {
    pub(crate) fn new(registry: &Registry) -> Self {
        Self {
            lines: registry.counter("received_lines_total", "Lines read from all connections."),
            signals: registry.counter(
                "received_signals_total",
                "Distinct signals received (duplicates not counted).",
            ),
            duplicates: registry.counter(
                "received_duplicates_total",
                "Signals received again with an id already seen, and dropped.",
            ),
            acks: registry.counter("acks_sent_total", "Acknowledgement lines sent."),
            connections: registry.counter("connections_total", "Connections accepted."),
        }
    }
}

/// Handle on what a receiver has seen; cheap to clone, readable while it runs.
#[derive(Debug, Clone)]
pub struct Received {
    state: Arc<Mutex<State>>,
    pub(crate) counters: Counters,
}

impl Received {
    pub(crate) fn new(registry: &Registry, capacity: usize, keep_arrivals: bool) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                dedup: Dedup {
                    seen: HashSet::new(),
                    order: VecDeque::new(),
                    capacity,
                },
                arrivals: keep_arrivals.then(Vec::new),
            })),
            counters: Counters::new(registry),
        }
    }

    /// Marks `id` as seen without counting it (ids loaded from the append file).
    pub(crate) fn remember(&self, id: &str) {
        self.lock().dedup.insert(id);
    }

    /// Which of a batch's `ids` are new: neither seen before nor earlier in the batch.
    /// Remembers nothing; [`Received::record`] does, once the new ones are written.
    pub(crate) fn new_among(&self, ids: &[&str]) -> Vec<bool> {
        let state = self.lock();
        if state.dedup.capacity == 0 {
            return vec![true; ids.len()];
        }
        let mut in_batch = HashSet::with_capacity(ids.len());
        ids.iter()
            .map(|id| !state.dedup.contains(id) && in_batch.insert(*id))
            .collect()
    }

    /// Remembers and counts the new signals of a batch, `(id, symbol)`, once they are
    /// written, and counts the `duplicates` it dropped.
    pub(crate) fn record<'a>(
        &self,
        new: impl IntoIterator<Item = (&'a str, &'a str)>,
        duplicates: u64,
        at: SystemTime,
    ) {
        let mut state = self.lock();
        self.counters.duplicates.add(duplicates);
        for (id, symbol) in new {
            state.dedup.insert(id);
            self.counters.signals.inc();
            if let Some(arrivals) = &mut state.arrivals {
                arrivals.push(Arrival {
                    id: Arc::from(id),
                    symbol: symbol.to_string(),
                    at,
                });
            }
        }
    }

    /// Distinct signals received so far.
    pub fn signals(&self) -> u64 {
        self.counters.signals.get()
    }

    /// Duplicates dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.counters.duplicates.get()
    }

    /// Every new signal so far, in arrival order (empty unless `keep_arrivals` was set).
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.lock().arrivals.clone().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("received-state lock poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_dropped_within_the_capacity() {
        let registry = Registry::new("t");
        let r = Received::new(&registry, 2, true);
        let now = SystemTime::now();
        assert_eq!(r.new_among(&["a", "a", "b"]), [true, false, true]);
        r.record([("a", "X"), ("b", "X")], 1, now);
        assert_eq!(r.new_among(&["a", "c"]), [false, true]);
        r.record([("c", "X")], 1, now); // forgets "a"
        assert_eq!(r.new_among(&["a", "b"]), [true, false]);
        assert_eq!((r.signals(), r.duplicates()), (3, 2));
        let ids: Vec<_> = r.arrivals().iter().map(|a| a.id.to_string()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn an_id_is_new_until_recorded_and_always_without_de_duplication() {
        let registry = Registry::new("t");
        let r = Received::new(&registry, 10, false);
        assert_eq!(r.new_among(&["a"]), [true]);
        assert_eq!(r.new_among(&["a"]), [true], "not written, not remembered");
        let off = Received::new(&Registry::new("u"), 0, false);
        off.record([("a", "X")], 0, SystemTime::now());
        assert_eq!(off.new_among(&["a", "a"]), [true, true]);
    }
}
