//! Exactness: Spark's signals equal the Rust reference implementation, bar for bar.
//!
//! Five symbols with series designed to exercise every path: strong up and down trends (SMA,
//! EMA and MACD crossings), an oscillation (RSI zones, Bollinger re-entries), gaps shorter and
//! longer than the lookback plus a flat stretch near 43,000 (filled bars, window restarts, ties
//! that must not fire), a flat symbol (RSI exactly 0), and a symbol with fewer bars than the
//! slowest period (warm-up nulls). The strategy emits every bar, so every indicator of every
//! bar is compared (within 1e-9 × price, RSI within 1e-9), and the reasons of every bar must
//! match exactly. A second strategy runs at the same time on the same trades, signals only,
//! and must emit exactly the reference's signals.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use analytics::reference;
use analytics::strategy::Rule;
use chrono::{DateTime, Utc};
use contract::{Signal, Trade};

use crate::support::{self, Running};

fn t0() -> DateTime<Utc> {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

/// Trades of one bar closing at `close`: 1 to 3 trades; some share a timestamp, so open and
/// close depend on the trade-id tie-break; produced out of order.
fn bar_trades(symbol: &str, bar: i64, close: f64, next_id: &mut u64) -> Vec<Trade> {
    let start = t0() + chrono::Duration::seconds(60 * bar);
    let at = |s: i64, ms: i64| start + chrono::Duration::milliseconds(s * 1000 + ms);
    let n = 1 + (bar % 3) as usize;
    let mut out = Vec::new();
    let prices = [close * 1.0007, close * 0.9991, close];
    let times = if bar % 5 == 0 {
        [at(5, 0), at(40, 250), at(40, 250)]
    } else {
        [at(5, 0), at(20, 500), at(59, 999)]
    };
    for j in 3 - n..3 {
        *next_id += 1;
        out.push(support::trade(
            symbol,
            *next_id,
            times[j],
            prices[j],
            0.001 * (1 + j as u64 + (bar as u64 % 7)) as f64,
        ));
    }
    out.reverse();
    out
}

pub fn series() -> Vec<Trade> {
    let mut id = 0;
    let mut trades = Vec::new();
    // Up 45 bars, then down: crossings of SMAs, close/EMA and MACD.
    for i in 0..90i64 {
        let x = i as f64;
        let close = if i < 45 {
            20_000.0 + 40.0 * x
        } else {
            21_800.0 - 55.0 * (x - 45.0)
        } + 15.0 * (x * 1.3).sin();
        trades.extend(bar_trades("TREND/USD", i, close, &mut id));
    }
    // Oscillation: RSI in and out of its zones, Bollinger re-entries.
    for i in 0..90i64 {
        let x = i as f64;
        let close = 6_000.0 + 300.0 * (x / 4.0).sin() + 80.0 * (x * 1.7).sin();
        trades.extend(bar_trades("OSC/USD", i, close, &mut id));
    }
    // Gaps of 4 bars and of 55 bars (longer than the lookback: the window restarts), then a
    // flat stretch at 43,000.1 (ties, RSI 0) and a rise out of it.
    for i in (0..21).chain(25..41).chain(96..135) {
        let x = i as f64;
        let close = match i {
            0..=40 => 43_000.0 + 120.0 * (x / 3.0).sin() - 4.0 * x,
            96..=99 => 42_950.0 + 50.0 * (x - 96.0),
            100..=115 => 43_000.1,
            _ => 43_000.1 + 35.0 * (x - 115.0) + 20.0 * (x * 0.9).sin(),
        };
        trades.extend(bar_trades("GAPS/USD", i, close, &mut id));
    }
    // Flat from the start: RSI reads exactly 0, no band width, nothing fires.
    for i in 0..12i64 {
        trades.extend(bar_trades("FLAT/USD", i, 43_000.1, &mut id));
    }
    // Warm-up only: fewer bars than the slowest period.
    for i in 0..8i64 {
        trades.extend(bar_trades(
            "WARM/USD",
            i,
            65_000.0 + 10.0 * i as f64,
            &mut id,
        ));
    }
    trades
}

/// Asserts agreement within `tol`; returns the difference relative to `tol` (0 to 1).
fn close_to(what: &str, id: &str, got: Option<f64>, want: Option<f64>, tol: f64) -> f64 {
    match (got, want) {
        (Some(g), Some(w)) => {
            assert!(
                (g - w).abs() <= tol,
                "{id}: {what} = {g}, reference {w} (diff {:e} > {tol:e})",
                (g - w).abs()
            );
            (g - w).abs() / tol
        }
        (g, w) => {
            assert_eq!(g, w, "{id}: {what} null-ness differs");
            0.0
        }
    }
}

#[test]
fn every_indicator_and_rule_matches_the_reference() {
    let _serial = support::serial();
    let (trades_topic, signals_topic) = support::topics("exact");
    let mut strategy = support::strategy(&trades_topic, &signals_topic);
    strategy.bars.lookback = 40;
    // The 55-bar silence must reach past what a window looks back for a fill (40 + 10 bars),
    // so the window restarts after it (the talib tests cover filled windows).
    strategy.bars.gap_fill = 10;
    strategy.rules.enabled = Rule::ALL.to_vec();
    strategy.rules.every_bar = true;
    let i = &mut strategy.indicators.classic;
    (i.sma_fast, i.sma_slow, i.ema, i.rsi, i.bb_period) = (5, 12, 8, 6, 10);
    assert!(strategy.validate().is_empty(), "{:?}", strategy.validate());

    let trades = series();
    let expected = reference::signals(&trades, &strategy);
    // The data must make every reason fire somewhere, or the test proves little.
    let fired: BTreeSet<&str> = expected
        .iter()
        .flat_map(|s| s.reasons.iter().map(String::as_str))
        .collect();
    let presets = analytics::rules::enabled_presets(&Rule::ALL, &strategy.indicators.classic);
    let all: BTreeSet<&str> = presets.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(fired, all, "the series do not fire every reason");

    support::produce_trades(&trades_topic, &trades);
    // A trade far ahead on another symbol moves the watermark past every bar above.
    let flush = support::trade(
        "FLUSH/USD",
        999_999,
        t0() + chrono::Duration::days(1),
        1.0,
        1.0,
    );
    support::produce_trades(&trades_topic, &[flush]);

    // A second strategy on the same trades at the same time: its own query, checkpoint and
    // output, signals only (default rules, different periods).
    let (_, other_topic) = support::topics("exact-other");
    let mut other = support::strategy(&trades_topic, &other_topic);
    other.bars.lookback = 40;
    // Its own shuffle partitions, which must reach the query (a session setting the client
    // library once sent to a session the plans never ran in).
    other.query.shuffle_partitions = 5;
    (
        other.indicators.classic.sma_fast,
        other.indicators.classic.sma_slow,
    ) = (4, 9);
    let other_expected = reference::signals(&trades, &other);
    assert!(other_expected.len() >= 10 && other_expected.iter().all(|s| !s.reasons.is_empty()));

    let spark = support::spark();
    analytics::control::submit(&spark, &strategy).expect("submit");
    let running = Running {
        spark,
        name: strategy.query_name().to_string(),
    };
    analytics::control::submit(&running.spark, &other).expect("submit the second strategy");
    let other_running = Running {
        spark: support::spark(),
        name: other.query_name().to_string(),
    };
    let want = expected.len();
    let got = support::await_signals(
        &running.spark,
        &running.name,
        &signals_topic,
        want,
        Duration::from_secs(240),
    );
    let progress = support::last_progress(&running.spark, &running.name);
    assert_eq!(got.len(), want, "signal count; last progress: {progress}");

    let by_id: BTreeMap<&str, &Signal> = got.iter().map(|s| (s.id.as_str(), s)).collect();
    assert_eq!(by_id.len(), got.len(), "duplicate ids in one run");
    let mut worst: BTreeMap<&str, f64> = BTreeMap::new();
    for w in &expected {
        let g = by_id
            .get(w.id.as_str())
            .unwrap_or_else(|| panic!("missing signal {}", w.id));
        let id = &w.id;
        assert_eq!(
            (g.bar_start, g.bar_end, g.trades, g.bars),
            (w.bar_start, w.bar_end, w.trades, w.bars),
            "{id}: bar"
        );
        // Prices pass through unchanged, but the JVM's double-to-text (Java 17) can print a
        // digit that parses one ulp away: equal within 1e-13 relative.
        let ulps = 1e-13 * w.close.abs();
        for (what, a, b) in [
            ("open", g.open, w.open),
            ("high", g.high, w.high),
            ("low", g.low, w.low),
            ("close", g.close, w.close),
        ] {
            close_to(what, id, Some(a), Some(b), ulps);
        }
        let price = 1e-9 * w.close.abs();
        close_to("volume", id, Some(g.volume), Some(w.volume), 1e-12);
        let (gi, wi) = (&g.indicators, &w.indicators);
        for (what, a, b, tol) in [
            ("sma_fast", gi.get("sma_fast"), wi.get("sma_fast"), price),
            ("sma_slow", gi.get("sma_slow"), wi.get("sma_slow"), price),
            ("ema", gi.get("ema"), wi.get("ema"), price),
            ("rsi", gi.get("rsi"), wi.get("rsi"), 1e-9),
            ("macd", gi.get("macd"), wi.get("macd"), price),
            (
                "macd_signal",
                gi.get("macd_signal"),
                wi.get("macd_signal"),
                price,
            ),
            ("macd_hist", gi.get("macd_hist"), wi.get("macd_hist"), price),
            ("bb_upper", gi.get("bb_upper"), wi.get("bb_upper"), price),
            ("bb_middle", gi.get("bb_middle"), wi.get("bb_middle"), price),
            ("bb_lower", gi.get("bb_lower"), wi.get("bb_lower"), price),
        ] {
            let used = close_to(what, id, a, b, tol);
            let worst = worst.entry(what).or_insert(0.0f64);
            *worst = worst.max(used);
        }
        assert_eq!(
            (&g.reasons, g.action),
            (&w.reasons, w.action),
            "{id}: rules"
        );
        assert_eq!(g.strategy, strategy.name);
    }
    eprintln!(
        "{} bars compared; largest difference per indicator, as a fraction of its tolerance: \
         {worst:?}",
        expected.len()
    );
    let other_got = support::await_signals(
        &other_running.spark,
        &other_running.name,
        &other_topic,
        other_expected.len(),
        Duration::from_secs(120),
    );
    let key = |s: &Signal| (s.id.clone(), s.reasons.clone(), format!("{:?}", s.action));
    let mut a: Vec<_> = other_got.iter().map(key).collect();
    let mut b: Vec<_> = other_expected.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "second strategy: signals only, exactly the reference's"
    );
    let shuffle_partitions = |running: &Running| -> Vec<u64> {
        let progress: serde_json::Value =
            serde_json::from_str(&support::last_progress(&running.spark, &running.name))
                .expect("the query's progress");
        progress["stateOperators"]
            .as_array()
            .expect("state operators")
            .iter()
            .map(|op| {
                op["numShufflePartitions"]
                    .as_u64()
                    .expect("numShufflePartitions")
            })
            .collect()
    };
    assert_eq!(
        shuffle_partitions(&other_running),
        [5, 5],
        "the strategy's own setting"
    );
    // Warm-up: the short symbol has SMAs but never MACD; nothing fires on it.
    let warm: Vec<&Signal> = got.iter().filter(|s| s.symbol == "WARM/USD").collect();
    assert_eq!(warm.len(), 8);
    assert!(warm
        .iter()
        .all(|s| s.indicators.get("macd").is_none() && s.reasons.is_empty()));
    let flat: Vec<&Signal> = got.iter().filter(|s| s.symbol == "FLAT/USD").collect();
    assert_eq!(flat.len(), 12);
    assert!(flat
        .iter()
        .all(|s| s.indicators.get("rsi").is_none_or(|r| r == 0.0) && s.reasons.is_empty()));
    assert_eq!(
        flat.iter()
            .filter(|s| s.indicators.get("rsi") == Some(0.0))
            .count(),
        6
    );
    // Filled bars count as history: right after the 4-bar gap the window spans it.
    let after_gap = got
        .iter()
        .find(|s| s.symbol == "GAPS/USD" && s.bar_start == t0() + chrono::Duration::minutes(25))
        .expect("bar after the short gap");
    assert_eq!(after_gap.bars, 26);
    // After the long gap (beyond gap_fill) the window restarts at the first bar after it.
    let restart = got
        .iter()
        .find(|s| s.symbol == "GAPS/USD" && s.bar_start == t0() + chrono::Duration::minutes(96))
        .expect("bar after the long gap");
    assert_eq!(restart.bars, 1);
}
