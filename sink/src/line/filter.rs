//! Which signals a user wants forwarded: by symbol, action and strategy.
//!
//! Each list is "any of these"; an empty list lets everything through; the lists combine with
//! "and". A filtered-out record is not an error: its offset is committed like a delivered one.

use contract::{Action, Signal};

/// The selection of `--symbol`, `--action` and `--strategy`; the default lets everything
/// through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Forward only these symbols, e.g. `BTC/USD`; empty: all.
    pub symbols: Vec<String>,
    /// Forward only these actions; empty: all.
    pub actions: Vec<Action>,
    /// Forward only these strategies; empty: all.
    pub strategies: Vec<String>,
}

impl Filter {
    /// Whether `s` passes every list.
    pub fn matches(&self, s: &Signal) -> bool {
        (self.symbols.is_empty() || self.symbols.contains(&s.symbol))
            && (self.actions.is_empty() || self.actions.contains(&s.action))
            && (self.strategies.is_empty() || self.strategies.contains(&s.strategy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::decode::tests::signal_json;

    #[test]
    fn lists_are_any_of_and_combine_with_and() {
        let s: Signal = serde_json::from_str(&signal_json("trend", "BTC/USD", 5)).unwrap();
        assert!(Filter::default().matches(&s));
        let f = Filter {
            symbols: vec!["ETH/USD".into(), "BTC/USD".into()],
            actions: vec![Action::Buy],
            strategies: vec![],
        };
        assert!(f.matches(&s));
        let f = Filter {
            strategies: vec!["meanrev".into()],
            ..f
        };
        assert!(!f.matches(&s));
    }
}
