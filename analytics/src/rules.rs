//! What each rule means, defined once as data: a list of crossings between an indicator and a
//! line, each with the action and reason it produces.
//!
//! Both the Spark SQL generator ([`crate::sql`]) and the Rust reference implementation
//! ([`crate::reference`]) read these definitions, so the two cannot disagree about which
//! indicator a rule compares or which way it fires; what they compute independently is the
//! indicators themselves.

use contract::Action;

use crate::strategy::{IndicatorParams, Rule};

/// A per-bar series a rule can look at: a field of the bar or an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    Open,
    High,
    Low,
    Close,
    Volume,
    Trades,
    SmaFast,
    SmaSlow,
    Ema,
    Rsi,
    Macd,
    MacdSignal,
    MacdHist,
    BbUpper,
    BbMiddle,
    BbLower,
}

impl Series {
    /// Every series with the name rule expressions call it by: the one lookup table from
    /// names to series (named indicator instances will add their rows here).
    pub const NAMES: [(&'static str, Series); 16] = [
        ("open", Series::Open),
        ("high", Series::High),
        ("low", Series::Low),
        ("close", Series::Close),
        ("volume", Series::Volume),
        ("trades", Series::Trades),
        ("sma_fast", Series::SmaFast),
        ("sma_slow", Series::SmaSlow),
        ("ema", Series::Ema),
        ("rsi", Series::Rsi),
        ("macd", Series::Macd),
        ("macd_signal", Series::MacdSignal),
        ("macd_hist", Series::MacdHist),
        ("bb_upper", Series::BbUpper),
        ("bb_middle", Series::BbMiddle),
        ("bb_lower", Series::BbLower),
    ];

    /// The series called `name`.
    pub fn lookup(name: &str) -> Option<Series> {
        Series::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    }

    /// The name rule expressions (and the `indicators` record) call it by.
    pub fn name(self) -> &'static str {
        Series::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .expect("every series is in NAMES")
    }

    /// Whether it is a field of the bar rather than an indicator.
    pub fn is_bar_field(self) -> bool {
        matches!(
            self,
            Series::Open
                | Series::High
                | Series::Low
                | Series::Close
                | Series::Volume
                | Series::Trades
        )
    }

    /// Bars a window needs for the series to have a value at its last bar.
    pub fn min_bars(self, p: &IndicatorParams) -> u32 {
        match self {
            Series::SmaFast => p.sma_fast,
            Series::SmaSlow => p.sma_slow,
            Series::Ema => p.ema,
            Series::Rsi => p.rsi + 1,
            Series::Macd | Series::MacdSignal | Series::MacdHist => p.macd_slow + p.macd_signal - 1,
            Series::BbUpper | Series::BbMiddle | Series::BbLower => p.bb_period,
            _ => 1,
        }
    }

    /// The scale of a tie when this series is compared: prices and everything in price units
    /// tie within `1e-9 × |close|`; RSI (0-100), volume and trade counts within `1e-9`.
    pub fn tolerance(self) -> Tolerance {
        match self {
            Series::Rsi | Series::Volume | Series::Trades => Tolerance::Absolute,
            _ => Tolerance::Price,
        }
    }
}

/// What a series is compared against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Line {
    Series(Series),
    Level(f64),
}

/// The scale of "too close to call": a difference within `1e-9 ×` this is a tie, never a
/// crossing, so float noise on flat stretches does not fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// `1e-9 × |close|` (prices, price differences).
    Price,
    /// `1e-9` (RSI, on its 0-100 scale).
    Absolute,
}

/// Relative tie tolerance.
pub const TIE: f64 = 1e-9;

/// Which way a crossing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From at-or-below the line to above it.
    Up,
    /// From at-or-above the line to below it.
    Down,
}

/// One crossing that fires a reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    pub series: Series,
    pub line: Line,
    pub direction: Direction,
    pub tolerance: Tolerance,
    pub action: Action,
    pub reason: &'static str,
}

impl Rule {
    /// The crossings that make up this rule, with the strategy's thresholds.
    pub fn crossings(self, p: &IndicatorParams) -> Vec<Crossing> {
        use Direction::{Down, Up};
        use Series::*;
        let pair = |series, line, tolerance, up: &'static str, down: &'static str| {
            vec![
                Crossing {
                    series,
                    line,
                    direction: Up,
                    tolerance,
                    action: Action::Buy,
                    reason: up,
                },
                Crossing {
                    series,
                    line,
                    direction: Down,
                    tolerance,
                    action: Action::Sell,
                    reason: down,
                },
            ]
        };
        match self {
            Rule::SmaCross => pair(
                SmaFast,
                Line::Series(SmaSlow),
                Tolerance::Price,
                "sma_cross_up",
                "sma_cross_down",
            ),
            Rule::EmaCross => pair(
                Close,
                Line::Series(Ema),
                Tolerance::Price,
                "ema_cross_up",
                "ema_cross_down",
            ),
            Rule::MacdCross => pair(
                Macd,
                Line::Series(MacdSignal),
                Tolerance::Price,
                "macd_cross_up",
                "macd_cross_down",
            ),
            Rule::Rsi => vec![
                Crossing {
                    series: Rsi,
                    line: Line::Level(p.rsi_oversold),
                    direction: Up,
                    tolerance: Tolerance::Absolute,
                    action: Action::Buy,
                    reason: "rsi_exit_oversold",
                },
                Crossing {
                    series: Rsi,
                    line: Line::Level(p.rsi_overbought),
                    direction: Down,
                    tolerance: Tolerance::Absolute,
                    action: Action::Sell,
                    reason: "rsi_exit_overbought",
                },
            ],
            Rule::Bollinger => vec![
                Crossing {
                    series: Close,
                    line: Line::Series(BbLower),
                    direction: Up,
                    tolerance: Tolerance::Price,
                    action: Action::Buy,
                    reason: "bb_reenter_lower",
                },
                Crossing {
                    series: Close,
                    line: Line::Series(BbUpper),
                    direction: Down,
                    tolerance: Tolerance::Price,
                    action: Action::Sell,
                    reason: "bb_reenter_upper",
                },
            ],
        }
    }
}

/// The crossings of every enabled rule, in [`Rule::ALL`] order (the order of `reasons`).
pub fn enabled_crossings(enabled: &[Rule], p: &IndicatorParams) -> Vec<Crossing> {
    Rule::ALL
        .iter()
        .filter(|r| enabled.contains(r))
        .flat_map(|r| r.crossings(p))
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
    fn reasons_are_unique_and_follow_rule_order() {
        let p = IndicatorParams::default();
        let all = enabled_crossings(&Rule::ALL, &p);
        for (name, series) in Series::NAMES {
            assert_eq!(Series::lookup(name), Some(series));
            assert_eq!(series.name(), name);
        }
        let mut reasons: Vec<&str> = all.iter().map(|c| c.reason).collect();
        assert_eq!(reasons[0], "sma_cross_up");
        reasons.sort();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
        let some = enabled_crossings(&[Rule::Rsi, Rule::SmaCross], &p);
        assert_eq!(some[0].reason, "sma_cross_up");
        assert_eq!(some[2].line, Line::Level(30.0));
    }

    #[test]
    fn conflicting_reasons_hold() {
        assert_eq!(combine([]), Action::Hold);
        assert_eq!(combine([Action::Buy, Action::Buy]), Action::Buy);
        assert_eq!(combine([Action::Sell]), Action::Sell);
        assert_eq!(combine([Action::Buy, Action::Sell]), Action::Hold);
    }
}
