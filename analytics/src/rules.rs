//! What rules can read and what the five built-in rules mean.
//!
//! A rule reads [`Series`]: the fields of the bar and the values of the strategy's indicators,
//! by name, through the strategy's [`Catalog`]. The built-in rules (`rules.enabled`) are
//! presets written in the rule language ([`Rule::presets`]), compiled and evaluated exactly
//! like a strategy's own rules, so the two cannot disagree about a crossing.

use contract::Action;

use crate::indicators::Instance;
use crate::strategy::{CustomRule, IndicatorParams, Rule};

/// A field of the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarField {
    Open,
    High,
    Low,
    Close,
    Volume,
    Trades,
}

impl BarField {
    /// Every field with the name rule expressions call it by.
    pub const NAMES: [(&'static str, BarField); 6] = [
        ("open", BarField::Open),
        ("high", BarField::High),
        ("low", BarField::Low),
        ("close", BarField::Close),
        ("volume", BarField::Volume),
        ("trades", BarField::Trades),
    ];

    /// The field called `name`.
    pub fn lookup(name: &str) -> Option<BarField> {
        BarField::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// The name rule expressions call it by.
    pub fn name(self) -> &'static str {
        BarField::NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .expect("every field is in NAMES")
    }
}

/// A per-bar series a rule can look at: a field of the bar, or an indicator value by its
/// series name (`rsi`, `ema_fast`, `st.k`; see [`Catalog`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Series {
    Bar(BarField),
    Indicator(String),
}

impl Series {
    /// The close, which scales price tolerances.
    pub const CLOSE: Series = Series::Bar(BarField::Close);

    /// The name rule expressions (and the signal's `indicators`) call it by.
    pub fn name(&self) -> &str {
        match self {
            Series::Bar(f) => f.name(),
            Series::Indicator(name) => name,
        }
    }
}

/// One series a strategy's rules can read, with what comparisons and the lookback need.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub series: Series,
    /// How a comparison involving it ties.
    pub tolerance: Tolerance,
    /// Bars a window needs for it to have a value at its last bar.
    pub min_bars: u32,
}

/// Everything a strategy's rules can read: the bar's fields, then each indicator value of the
/// strategy by series name.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    entries: Vec<Entry>,
}

impl Catalog {
    /// The catalog of a strategy with these indicator instances.
    pub fn new(instances: &[Instance]) -> Catalog {
        let bars = BarField::NAMES.iter().map(|(_, f)| Entry {
            series: Series::Bar(*f),
            tolerance: match f {
                BarField::Volume | BarField::Trades => Tolerance::Absolute,
                _ => Tolerance::Price,
            },
            min_bars: 1,
        });
        let indicators = instances.iter().flat_map(|i| {
            i.series.iter().map(|(name, _)| Entry {
                series: Series::Indicator(name.clone()),
                tolerance: i.kind.tolerance(),
                min_bars: i.kind.min_bars(),
            })
        });
        Catalog {
            entries: bars.chain(indicators).collect(),
        }
    }

    /// The entry of the series called `name`.
    pub fn lookup(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.series.name() == name)
    }

    /// The entry of `series` (every series a compiled rule reads has one).
    pub fn entry(&self, series: &Series) -> &Entry {
        self.entries
            .iter()
            .find(|e| e.series == *series)
            .unwrap_or_else(|| panic!("{} is not in the catalog", series.name()))
    }

    /// Every name, in catalog order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.series.name())
    }
}

/// The scale of "too close to call": a difference within `1e-9 ×` this is a tie, never a
/// crossing, so float noise on flat stretches does not fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// `1e-9 × |close|` (prices, price differences).
    Price,
    /// `1e-9` (oscillators on their 0-100 scale, percentages, volumes, counts).
    Absolute,
}

/// Relative tie tolerance.
pub const TIE: f64 = 1e-9;

impl Rule {
    /// The rule as rules of the language, with the strategy's thresholds: a BUY and a SELL
    /// rule, each with its reason.
    pub fn presets(self, p: &IndicatorParams) -> Vec<CustomRule> {
        let rule = |action, when: String, reason: &str| CustomRule {
            action,
            when,
            reason: reason.to_string(),
        };
        let pair = |a: &str, b: &str, up: &str, down: &str| {
            vec![
                rule(Action::Buy, format!("crosses_above({a}, {b})"), up),
                rule(Action::Sell, format!("crosses_below({a}, {b})"), down),
            ]
        };
        // Thresholds printed so they parse back to the same f64.
        let level = |x: f64| format!("{x:e}");
        match self {
            Rule::SmaCross => pair("sma_fast", "sma_slow", "sma_cross_up", "sma_cross_down"),
            Rule::EmaCross => pair("close", "ema", "ema_cross_up", "ema_cross_down"),
            Rule::MacdCross => pair("macd", "macd_signal", "macd_cross_up", "macd_cross_down"),
            Rule::Rsi => vec![
                rule(
                    Action::Buy,
                    format!("crosses_above(rsi, {})", level(p.rsi_oversold)),
                    "rsi_exit_oversold",
                ),
                rule(
                    Action::Sell,
                    format!("crosses_below(rsi, {})", level(p.rsi_overbought)),
                    "rsi_exit_overbought",
                ),
            ],
            Rule::Bollinger => vec![
                rule(
                    Action::Buy,
                    "crosses_above(close, bb_lower)".into(),
                    "bb_reenter_lower",
                ),
                rule(
                    Action::Sell,
                    "crosses_below(close, bb_upper)".into(),
                    "bb_reenter_upper",
                ),
            ],
        }
    }
}

/// The rules of every enabled preset, in [`Rule::ALL`] order (the order of `reasons`).
pub fn enabled_presets(enabled: &[Rule], p: &IndicatorParams) -> Vec<CustomRule> {
    Rule::ALL
        .iter()
        .filter(|r| enabled.contains(r))
        .flat_map(|r| r.presets(p))
        .collect()
}

/// The action of a bar from the actions of the reasons that fired: BUY or SELL when all agree,
/// HOLD when none fired or they conflict.
pub fn combine(actions: impl IntoIterator<Item = Action>) -> Action {
    let (mut buy, mut sell) = (false, false);
    for a in actions {
        match a {
            Action::Buy => buy = true,
            Action::Sell => sell = true,
            Action::Hold => {}
        }
    }
    match (buy, sell) {
        (true, false) => Action::Buy,
        (false, true) => Action::Sell,
        _ => Action::Hold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_rules_of_the_language_in_rule_order() {
        let p = IndicatorParams::default();
        let all = enabled_presets(&Rule::ALL, &p);
        let mut reasons: Vec<&str> = all.iter().map(|c| c.reason.as_str()).collect();
        assert_eq!(reasons[0], "sma_cross_up");
        reasons.sort();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
        let some = enabled_presets(&[Rule::Rsi, Rule::SmaCross], &p);
        assert_eq!(some[0].reason, "sma_cross_up");
        assert_eq!(some[2].when, "crosses_above(rsi, 3e1)");
        for (name, field) in BarField::NAMES {
            assert_eq!(BarField::lookup(name), Some(field));
            assert_eq!(field.name(), name);
        }
    }

    #[test]
    fn conflicting_reasons_hold() {
        assert_eq!(combine([]), Action::Hold);
        assert_eq!(combine([Action::Buy, Action::Buy]), Action::Buy);
        assert_eq!(combine([Action::Sell]), Action::Sell);
        assert_eq!(combine([Action::Buy, Action::Sell]), Action::Hold);
    }
}
