//! A price path designed so that known BUY and SELL signals must fire on known bars, and the
//! strategy that reads it.
//!
//! Two symbols move in opposite directions through the same shape, one bar per second of event
//! time: a flat start (warm-up: no rule can fire while the slow SMA is still null), a steady
//! climb, a plateau, a steep fall, and a recovery, with a one-bar gap (a filled, empty bar)
//! inside the climb. Crossings of the fast over the slow SMA and of the close over the EMA
//! happen where the trend turns; RSI leaves its zones after the steep legs. Two trailing trades
//! far ahead close every designed bar (they move the watermark) and are not themselves expected
//! to produce signals.

use analytics::reference;
use analytics::Strategy;
use chrono::{DateTime, Duration, TimeZone, Utc};
use contract::{Action, Side, Signal, Trade};

/// Event time of the first bar.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
}

pub const SYMBOLS: [&str; 2] = ["BTC/USD", "ETH/USD"];

/// Relative move per bar of each leg: (bars, move). BTC follows it, ETH its mirror image.
const LEGS: [(usize, f64); 5] = [(10, 0.0), (12, 0.004), (4, 0.0), (12, -0.006), (10, 0.005)];

/// The bar (index from [`start`]) that has no trade at all.
pub const GAP_BAR: usize = 16;

/// Bars in the designed path.
pub fn bars() -> usize {
    LEGS.iter().map(|(n, _)| n).sum()
}

/// The strategy of the end-to-end runs: 1-second bars, short periods so every rule can fire
/// within a minute of event time.
pub fn strategy() -> Strategy {
    let mut s = Strategy::default();
    s.bars.interval_s = 1;
    s.bars.watermark_delay_s = 1;
    s.bars.lookback = 40;
    s.indicators.classic.sma_fast = 3;
    s.indicators.classic.sma_slow = 8;
    s.indicators.classic.ema = 5;
    s.indicators.classic.rsi = 5;
    s.query.trigger_interval_ms = 500;
    s
}

/// The trades of the path: 3 per bar (none in [`GAP_BAR`]), then the two closing trades.
pub fn trades() -> Vec<Trade> {
    let mut out = Vec::new();
    for (n, symbol) in SYMBOLS.iter().enumerate() {
        let (base, sign) = if n == 0 {
            (43_000.0, 1.0)
        } else {
            (2_300.0, -1.0)
        };
        let mut price = base;
        let mut bar = 0usize;
        let mut id = 1u64;
        for (len, step) in LEGS {
            for _ in 0..len {
                price *= 1.0 + sign * step;
                if bar != GAP_BAR {
                    for k in 0..3u32 {
                        // Small wiggle inside the bar, the close being the bar's price.
                        let wiggle = [0.999_8, 1.000_3, 1.0][k as usize];
                        let ts = start()
                            + Duration::seconds(bar as i64)
                            + Duration::milliseconds(100 + 300 * k as i64);
                        out.push(trade(symbol, id, ts, price * wiggle));
                        id += 1;
                    }
                }
                bar += 1;
            }
        }
        // Far ahead: moves the watermark past every designed bar.
        out.push(trade(
            symbol,
            id,
            start() + Duration::seconds(bar as i64 + 30),
            price,
        ));
    }
    out.sort_by_key(|t| t.ts);
    out
}

fn trade(symbol: &str, trade_id: u64, ts: DateTime<Utc>, price: f64) -> Trade {
    Trade {
        exchange: "kraken".into(),
        symbol: symbol.into(),
        trade_id,
        price,
        qty: 0.1 + (trade_id % 7) as f64 * 0.05,
        side: if trade_id % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        },
        ord_type: "market".into(),
        ts,
        recv_ts: ts,
    }
}

/// The signals the pipeline must deliver for [`trades`] under `strategy`: the independent
/// reference implementation's, for the designed bars only.
pub fn expected_signals(strategy: &Strategy) -> Vec<Signal> {
    let last_bar_end = start() + Duration::seconds(bars() as i64);
    reference::signals(&trades(), strategy)
        .into_iter()
        .filter(|s| s.bar_end <= last_bar_end)
        .collect()
}

/// (symbol, bar index, action) of every expected signal, for readable assertions.
pub fn summary(signals: &[Signal]) -> Vec<(String, i64, Action)> {
    signals
        .iter()
        .map(|s| {
            (
                s.symbol.clone(),
                (s.bar_start - start()).num_seconds(),
                s.action,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The designed path's signals as the reference computes them: the turns of the path,
    /// where the design puts them. Bar 10 starts the climb (the flat start reads RSI 0, so RSI
    /// leaves "oversold" at once), bar 26 starts the fall, bar 38 the recovery (the EMA, still
    /// high after the fall, is crossed one bar later).
    #[test]
    fn path_fires_on_the_designed_bars() {
        let s = expected_signals(&strategy());
        let fired = |symbol: &str| -> Vec<(i64, Action, Vec<String>)> {
            s.iter()
                .filter(|s| s.symbol == symbol)
                .map(|s| {
                    (
                        (s.bar_start - start()).num_seconds(),
                        s.action,
                        s.reasons.clone(),
                    )
                })
                .collect()
        };
        let r = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            fired("BTC/USD"),
            vec![
                (
                    10,
                    Action::Buy,
                    r(&["sma_cross_up", "ema_cross_up", "rsi_exit_oversold"])
                ),
                (
                    26,
                    Action::Sell,
                    r(&["ema_cross_down", "rsi_exit_overbought"])
                ),
                (27, Action::Sell, r(&["sma_cross_down"])),
                (39, Action::Buy, r(&["ema_cross_up", "rsi_exit_oversold"])),
                (41, Action::Buy, r(&["sma_cross_up"])),
            ]
        );
        let eth: Vec<(i64, Action)> = fired("ETH/USD")
            .into_iter()
            .map(|(b, a, _)| (b, a))
            .collect();
        assert_eq!(
            eth,
            vec![
                (10, Action::Sell),
                (26, Action::Buy),
                (27, Action::Buy),
                (39, Action::Sell),
                (41, Action::Sell)
            ]
        );
    }
}
