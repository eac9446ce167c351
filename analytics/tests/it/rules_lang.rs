//! The rule language through Spark: custom rules using every operator and function fire on
//! exactly the designed bars, and on every bar equal the reference's evaluation of the same
//! typed tree.
//!
//! `HAND/USD` is small enough to work out by hand (one to three trades per bar, an empty
//! interval, ties): its expected reasons per bar are written out below, and checked against
//! both the reference and Spark. The series of the `exact` test (trends, oscillation, gaps,
//! flat stretches, warm-up) run indicator rules, compared with the reference on every bar.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use analytics::reference;
use analytics::strategy::CustomRule;
use chrono::{DateTime, Utc};
use contract::{Action, Signal, Trade};

use crate::support;

fn t0() -> DateTime<Utc> {
    "2026-02-02T00:00:00Z".parse().unwrap()
}

/// `(price, qty)` of each bar's trades, 5, 20 and 40 s into the bar; bar 7 has none.
const HAND: [&[(f64, f64)]; 12] = [
    &[(100.0, 1.0)],
    &[(100.0, 1.0)],
    &[(100.0, 1.0)],
    &[(106.0, 1.0)],
    &[(106.0, 1.5), (106.0, 1.5)],
    &[(100.0, 1.0)],
    &[(100.0, 1.0), (110.0, 1.0), (99.0, 1.0)],
    &[],
    &[(99.0, 1.0), (99.5, 2.0)],
    &[(104.5, 1.0)],
    &[(104.5, 1.0)],
    &[(104.4, 1.0)],
];

fn hand_trades() -> Vec<Trade> {
    let mut id = 0;
    let mut out = Vec::new();
    for (bar, trades) in HAND.iter().enumerate() {
        for (j, (price, qty)) in trades.iter().enumerate() {
            id += 1;
            let ts = t0() + chrono::Duration::seconds(60 * bar as i64 + [5, 20, 40][j]);
            out.push(support::trade("HAND/USD", id, ts, *price, *qty));
        }
    }
    out
}

fn rule(action: Action, when: &str, reason: &str) -> CustomRule {
    CustomRule {
        action,
        when: when.into(),
        reason: reason.into(),
    }
}

/// Rules worked out by hand on `HAND/USD` (reasons listed in this order).
fn hand_rules() -> Vec<CustomRule> {
    vec![
        // `*`, `>=`, prev(x, n); bar 10 reaches back to the empty interval (a flat bar at 99).
        rule(Action::Buy, "close >= prev(close, 3) * 1.05", "jump"),
        // prev(volume) of bar 8 is the empty interval's 0.
        rule(
            Action::Buy,
            "volume > 2 * prev(volume) and trades == 2",
            "volume_spike",
        ),
        // abs, `-`, `/`, `>`.
        rule(Action::Sell, "abs(high - low) / close > 0.01", "wide_bar"),
        // `==` within the price tolerance; bar 0 has no bar before (null: does not fire).
        rule(Action::Sell, "close == prev(close)", "unchanged"),
        // not, `!=`, and.
        rule(
            Action::Buy,
            "not (trades != 2) and high > low",
            "two_trades",
        ),
    ]
}

/// What `hand_rules` give on each bar of `HAND/USD` (bar 7 is empty: no signal).
fn hand_expected() -> BTreeMap<usize, (Vec<&'static str>, Action)> {
    use Action::{Buy, Hold, Sell};
    BTreeMap::from([
        (0, (vec![], Hold)),
        (1, (vec!["unchanged"], Sell)),
        (2, (vec!["unchanged"], Sell)),
        (3, (vec!["jump"], Buy)),
        // A BUY and a SELL on one bar: HOLD, both reasons listed.
        (4, (vec!["jump", "volume_spike", "unchanged"], Hold)),
        // Close 100 falls under the EMA(4) of (high + low + close) / 3: 101.5, 103.3, 101.98.
        (5, (vec!["below_typical"], Sell)),
        (6, (vec!["wide_bar"], Sell)),
        (8, (vec!["volume_spike", "two_trades"], Buy)),
        (9, (vec!["jump"], Buy)),
        (10, (vec!["jump", "unchanged"], Hold)),
        (11, (vec![], Hold)),
    ])
}

/// Rules over the indicators: crossings, `+` and unary minus, min/max, `or`, `<` and `<=`.
fn indicator_rules() -> Vec<CustomRule> {
    vec![
        rule(
            Action::Buy,
            "crosses_above(close, ema) and rsi < 60 and volume > prev(volume)",
            "trend_entry",
        ),
        rule(
            Action::Sell,
            "crosses_below(sma_fast, sma_slow)",
            "fast_below_slow",
        ),
        rule(
            Action::Buy,
            "crosses_above(macd_hist, 0) or (macd > prev(macd_signal, 2) and macd <= 0)",
            "macd_turn",
        ),
        rule(
            Action::Sell,
            "(bb_upper - bb_lower) / bb_middle < 0.004 and -rsi + 100 > 50",
            "narrow_bands",
        ),
        rule(
            Action::Sell,
            "max(rsi, prev(rsi)) >= 75 and min(rsi, prev(rsi, 2)) != rsi and rsi < prev(rsi)",
            "rsi_turn_down",
        ),
        // Named indicators: an output of a multi-output one, other sources than the close.
        rule(
            Action::Buy,
            "crosses_above(m.macd, m.signal) and volume > vol_mean",
            "named_macd_up",
        ),
        rule(
            Action::Sell,
            "close < typ_ema and prev(close) >= prev(typ_ema)",
            "below_typical",
        ),
    ]
}

/// The named indicators `indicator_rules` read, beside the classic set.
fn named_indicators() -> analytics::indicators::Named {
    let table = |text: &str| toml::from_str::<toml::Table>(text).unwrap();
    [
        ("m", "kind = \"macd\"\nfast = 4\nslow = 9\nsignal = 3"),
        (
            "vol_mean",
            "kind = \"sma\"\nperiod = 5\nsource = \"volume\"",
        ),
        ("typ_ema", "kind = \"ema\"\nperiod = 4\nsource = \"hlc3\""),
    ]
    .into_iter()
    .map(|(name, t)| {
        let indicator = analytics::indicators::Indicator::from_table(&table(t)).unwrap();
        (name.to_string(), indicator)
    })
    .collect()
}

#[test]
fn custom_rules_fire_on_the_designed_bars_and_equal_the_reference() {
    let _serial = support::serial();
    let (trades_topic, signals_topic) = support::topics("rules-lang");
    let mut strategy = support::strategy(&trades_topic, &signals_topic);
    strategy.bars.lookback = 40;
    strategy.bars.gap_fill = 10;
    strategy.rules.enabled = vec![];
    strategy.rules.every_bar = true;
    strategy.rules.custom = hand_rules().into_iter().chain(indicator_rules()).collect();
    let i = &mut strategy.indicators.classic;
    (i.sma_fast, i.sma_slow, i.ema, i.rsi, i.bb_period) = (5, 12, 8, 6, 10);
    strategy.indicators.named = named_indicators();
    assert!(strategy.validate().is_empty(), "{:?}", strategy.validate());

    let mut trades = hand_trades();
    trades.extend(crate::exact::series());
    let expected = reference::signals(&trades, &strategy);

    // The reference agrees with the hand-worked bars...
    let per_bar = |signals: &[Signal]| -> BTreeMap<usize, (Vec<String>, Action)> {
        signals
            .iter()
            .filter(|s| s.symbol == "HAND/USD")
            .map(|s| {
                let bar = ((s.bar_start - t0()).num_seconds() / 60) as usize;
                (bar, (s.reasons.clone(), s.action))
            })
            .collect()
    };
    let hand: BTreeMap<usize, (Vec<String>, Action)> = hand_expected()
        .into_iter()
        .map(|(bar, (r, a))| (bar, (r.iter().map(|r| r.to_string()).collect(), a)))
        .collect();
    assert_eq!(per_bar(&expected), hand, "reference on HAND/USD");
    // ...and every rule fires somewhere, or the comparison proves little.
    let fired: BTreeSet<&str> = expected
        .iter()
        .flat_map(|s| s.reasons.iter().map(String::as_str))
        .collect();
    let all: BTreeSet<&str> = strategy
        .rules
        .custom
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(fired, all, "the series do not fire every rule");

    support::produce_trades(&trades_topic, &trades);
    let flush = support::trade(
        "FLUSH/USD",
        999_999,
        t0() + chrono::Duration::days(60),
        1.0,
        1.0,
    );
    support::produce_trades(&trades_topic, &[flush]);
    let running = support::submit(&strategy);
    let got = support::await_signals(
        &running.spark,
        &running.name,
        &signals_topic,
        expected.len(),
        Duration::from_secs(240),
    );
    let progress = support::last_progress(&running.spark, &running.name);
    assert_eq!(
        got.len(),
        expected.len(),
        "signal count; last progress: {progress}"
    );

    assert_eq!(per_bar(&got), hand, "Spark on HAND/USD");
    let key = |s: &Signal| (s.id.clone(), s.reasons.clone(), s.action);
    let mut a: Vec<_> = got.iter().map(key).collect();
    let mut b: Vec<_> = expected.iter().map(key).collect();
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    let differ: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
    assert!(
        differ.is_empty(),
        "bars whose rules differ from the reference: {differ:?}"
    );
}
