//! Remembers which (symbol, trade_id) pairs were already sent, so a snapshot after a reconnect
//! (or a recording that contains several) never puts the same trade into Kafka twice.
//!
//! Exchange trade ids grow per symbol, but not every source delivers them strictly in order, so
//! a plain high-water mark could drop a late trade. Each symbol keeps its last `window` ids,
//! sorted; an id below everything the window has forgotten counts as seen. Memory is bounded
//! by symbols x window whatever the run length. Ids almost always arrive in order, so the
//! common case is an O(1) append; a late id costs a binary search and an insert.

use std::collections::{HashMap, VecDeque};

/// Per-symbol sets of recently sent trade ids.
#[derive(Debug)]
pub struct Dedup {
    window: usize,
    symbols: HashMap<String, Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Ascending.
    ids: VecDeque<u64>,
    /// The largest id evicted from `ids`; anything at or below it is taken as seen.
    floor: Option<u64>,
}

impl Dedup {
    /// `window`: ids remembered exactly per symbol (at least 1).
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            symbols: HashMap::new(),
        }
    }

    /// Takes every id of `symbol` up to `trade_id` as seen (a history load resumes after what
    /// the topic holds: it sends each symbol's trades in id order).
    pub fn seen_up_to(&mut self, symbol: &str, trade_id: u64) {
        let seen = self.symbols.entry(symbol.to_string()).or_default();
        seen.floor = seen.floor.max(Some(trade_id));
        let kept = seen.ids.partition_point(|&id| id <= trade_id);
        seen.ids.drain(..kept);
    }

    /// Records the pair; `true` when it is new and should be sent.
    pub fn first_time(&mut self, symbol: &str, trade_id: u64) -> bool {
        let seen = match self.symbols.get_mut(symbol) {
            Some(s) => s,
            None => self.symbols.entry(symbol.to_string()).or_default(),
        };
        if seen.floor.is_some_and(|f| trade_id <= f) {
            return false;
        }
        match seen.ids.back() {
            Some(&last) if trade_id <= last => match seen.ids.binary_search(&trade_id) {
                Ok(_) => return false,
                Err(at) => seen.ids.insert(at, trade_id),
            },
            _ => seen.ids.push_back(trade_id),
        }
        if seen.ids.len() > self.window {
            seen.floor = seen.ids.pop_front();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_per_symbol() {
        let mut d = Dedup::new(100);
        assert!(d.first_time("A", 1));
        assert!(d.first_time("A", 2));
        assert!(d.first_time("B", 1));
        assert!(!d.first_time("A", 1));
        assert!(!d.first_time("B", 1));
        // Out of order but new: accepted.
        assert!(d.first_time("A", 10));
        assert!(d.first_time("A", 5));
        assert!(!d.first_time("A", 5));
    }

    #[test]
    fn memory_is_bounded_and_old_ids_stay_seen() {
        let mut d = Dedup::new(3);
        for id in 1..=10 {
            assert!(d.first_time("A", id));
        }
        assert_eq!(d.symbols["A"].ids.len(), 3);
        for id in 1..=10 {
            assert!(!d.first_time("A", id), "{id}");
        }
        assert!(d.first_time("A", 11));
    }

    #[test]
    fn everything_up_to_a_floor_counts_as_seen() {
        let mut d = Dedup::new(100);
        assert!(d.first_time("A", 3));
        assert!(d.first_time("A", 8));
        d.seen_up_to("A", 5);
        for id in 1..=5 {
            assert!(!d.first_time("A", id), "{id}");
        }
        assert!(!d.first_time("A", 8));
        assert!(d.first_time("A", 6));
        d.seen_up_to("B", 2);
        assert!(!d.first_time("B", 2));
        assert!(d.first_time("B", 3));
    }
}
