//! Which signals a user wants forwarded: by symbol, action and strategy.
//!
//! Each list is "any of these"; an empty list lets everything through; the lists combine with
//! "and". A filtered-out record is not an error: its offset is committed like a delivered one.

use common::{Action, Signal};

/// The `--symbol`, `--action` and `--strategy` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// Forward only these symbols (comma-separated or repeated), e.g. `BTC/USD,ETH/USD`.
    /// Default: all.
    #[arg(
        long = "symbol",
        env = "SINK_SYMBOLS",
        value_delimiter = ',',
        value_name = "SYMBOL"
    )]
    pub symbols: Vec<String>,

    /// Forward only these actions: BUY, SELL, HOLD (comma-separated or repeated, any case).
    /// Default: all.
    #[arg(long = "action", env = "SINK_ACTIONS", value_delimiter = ',', value_name = "ACTION",
          value_parser = parse_action)]
    pub actions: Vec<Action>,

    /// Forward only these strategies (comma-separated or repeated). Default: all.
    #[arg(
        long = "strategy",
        env = "SINK_STRATEGIES",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub strategies: Vec<String>,
}

impl Filter {
    pub fn matches(&self, s: &Signal) -> bool {
        (self.symbols.is_empty() || self.symbols.contains(&s.symbol))
            && (self.actions.is_empty() || self.actions.contains(&s.action))
            && (self.strategies.is_empty() || self.strategies.contains(&s.strategy))
    }
}

fn parse_action(s: &str) -> Result<Action, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_uppercase()))
        .map_err(|_| format!("unknown action `{s}`, expected BUY, SELL or HOLD"))
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
            actions: vec![parse_action("buy").unwrap()],
            strategies: vec![],
        };
        assert!(f.matches(&s));
        let f = Filter {
            strategies: vec!["meanrev".into()],
            ..f
        };
        assert!(!f.matches(&s));
        assert!(parse_action("Sell").is_ok());
        assert!(parse_action("maybe").is_err());
    }
}
