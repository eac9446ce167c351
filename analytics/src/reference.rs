//! An independent, plain-Rust implementation of what the Spark query computes: bars from
//! trades, filled lookback windows, TA-Lib indicators, rules and the resulting signals.
//!
//! It exists so that tests (and anyone doubting a signal) can check Spark's output value for
//! value. The indicator functions follow TA-Lib's C code (running sums, explicit loops) rather
//! than the fold-over-an-array shape of the SQL in [`crate::sql`], so the two implementations
//! share the definitions in DESIGN.md but not their code. Outputs are aligned with the input:
//! `None` where TA-Lib emits nothing yet (warm-up).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use contract::records::Indicators;
use contract::{Action, Signal, Trade};

use crate::indicators::{Instance, Kind, Source};
use crate::lang::{Arith, Cmp, Cond, Num};
use crate::rules::{self, BarField, Series, Tolerance, TIE};
use crate::strategy::Strategy;

/// TA-Lib `SMA`: mean of the last `p` values.
pub fn sma(x: &[f64], p: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if p == 0 || x.len() < p {
        return out;
    }
    let mut total: f64 = x[..p - 1].iter().sum();
    for i in p - 1..x.len() {
        total += x[i];
        out[i] = Some(total / p as f64);
        total -= x[i + 1 - p];
    }
    out
}

/// TA-Lib `EMA`: `k = 2/(p+1)`, seeded at position `p-1` with the mean of the first `p` values.
pub fn ema(x: &[f64], p: usize) -> Vec<Option<f64>> {
    ema_from(x, p, 0)
}

/// EMA of `x[start..]`, aligned with `x`.
fn ema_from(x: &[f64], p: usize, start: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if p == 0 || x.len() < start + p {
        return out;
    }
    let k = 2.0 / (p as f64 + 1.0);
    let mut prev = 0.0;
    for v in &x[start..start + p] {
        prev += v;
    }
    prev /= p as f64;
    out[start + p - 1] = Some(prev);
    for i in start + p..x.len() {
        prev = (x[i] - prev) * k + prev;
        out[i] = Some(prev);
    }
    out
}

/// TA-Lib `RSI` (Wilder): first value at position `p`; 0 when there was no movement at all.
pub fn rsi(x: &[f64], p: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if p == 0 || x.len() <= p {
        return out;
    }
    let value = |gain: f64, loss: f64| {
        let total = gain + loss;
        if total == 0.0 {
            0.0
        } else {
            100.0 * (gain / total)
        }
    };
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 1..=p {
        let diff = x[i] - x[i - 1];
        if diff < 0.0 {
            loss -= diff;
        } else {
            gain += diff;
        }
    }
    gain /= p as f64;
    loss /= p as f64;
    out[p] = Some(value(gain, loss));
    let m = (p - 1) as f64;
    for i in p + 1..x.len() {
        let diff = x[i] - x[i - 1];
        gain *= m;
        loss *= m;
        if diff < 0.0 {
            loss -= diff;
        } else {
            gain += diff;
        }
        gain /= p as f64;
        loss /= p as f64;
        out[i] = Some(value(gain, loss));
    }
    out
}

/// Bollinger bands `(upper, middle, lower)`: SMA(p) ± k·σ, σ the two-pass population standard
/// deviation of the last `p` values.
pub type Bands = (Vec<Option<f64>>, Vec<Option<f64>>, Vec<Option<f64>>);

/// See [`Bands`].
pub fn bbands(x: &[f64], p: usize, k: f64) -> Bands {
    let middle = sma(x, p);
    let mut upper = vec![None; x.len()];
    let mut lower = vec![None; x.len()];
    for (i, m) in middle.iter().enumerate() {
        if let Some(m) = *m {
            let window = &x[i + 1 - p..=i];
            let mean = window.iter().sum::<f64>() / p as f64;
            let var = window.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / p as f64;
            let sd = var.sqrt();
            upper[i] = Some(m + k * sd);
            lower[i] = Some(m - k * sd);
        }
    }
    (upper, middle, lower)
}

/// TA-Lib `MACD(f, s, g)` as `(macd, signal, hist)`: both EMAs seeded at position `s-1` (slow
/// with the mean of values `0..s`, fast with the mean of values `s-f..s`), the signal an EMA(g)
/// of the MACD line; all three from position `s+g-2`.
pub fn macd(x: &[f64], f: usize, s: usize, g: usize) -> Bands {
    let n = x.len();
    let none = || vec![None; n];
    if f == 0 || f >= s || g == 0 || n < s + g - 1 {
        return (none(), none(), none());
    }
    let slow = ema_from(x, s, 0);
    let fast = ema_from(x, f, s - f);
    let line: Vec<f64> = (s - 1..n)
        .map(|i| fast[i].unwrap() - slow[i].unwrap())
        .collect();
    let signal_on_line = ema(&line, g);
    let (mut m, mut sig, mut hist) = (none(), none(), none());
    for j in g - 1..line.len() {
        let i = j + s - 1;
        let sv = signal_on_line[j].unwrap();
        m[i] = Some(line[j]);
        sig[i] = Some(sv);
        hist[i] = Some(line[j] - sv);
    }
    (m, sig, hist)
}

/// Every indicator of a strategy over one window of bars, by series name.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSeries {
    pub bars: Vec<Bar>,
    values: BTreeMap<String, Vec<Option<f64>>>,
}

impl IndicatorSeries {
    /// Panics on a kind this reference does not implement: it has the classic kinds (SMA,
    /// EMA, RSI, MACD, Bollinger bands); every kind is checked against TA-Lib's own values by
    /// the `talib` test.
    pub fn compute(bars: &[Bar], instances: &[Instance]) -> Self {
        let u = |v: u32| v as usize;
        let mut values = BTreeMap::new();
        for i in instances {
            let close: &[f64] = &bars
                .iter()
                .map(|b| source(b, i.source))
                .collect::<Vec<f64>>();
            let outputs: Vec<Vec<Option<f64>>> = match i.kind {
                Kind::Sma { period } => vec![sma(close, u(period))],
                Kind::Ema { period } => vec![ema(close, u(period))],
                Kind::Rsi { period } => vec![rsi(close, u(period))],
                Kind::Macd { fast, slow, signal } => {
                    let (m, s, h) = macd(close, u(fast), u(slow), u(signal));
                    vec![m, s, h]
                }
                Kind::Bbands { period, k } => {
                    let (up, mid, low) = bbands(close, u(period), k);
                    vec![up, mid, low]
                }
                ref other => panic!(
                    "the reference has no {} (see IndicatorSeries::compute)",
                    other.name()
                ),
            };
            for ((name, _), v) in i.series.iter().zip(outputs) {
                values.insert(name.clone(), v);
            }
        }
        IndicatorSeries {
            bars: bars.to_vec(),
            values,
        }
    }

    /// A series' value at position `i`.
    pub fn value(&self, series: &Series, i: usize) -> Option<f64> {
        let bar = self.bars.get(i)?;
        match series {
            Series::Bar(BarField::Open) => Some(bar.open),
            Series::Bar(BarField::High) => Some(bar.high),
            Series::Bar(BarField::Low) => Some(bar.low),
            Series::Bar(BarField::Close) => Some(bar.close),
            Series::Bar(BarField::Volume) => Some(bar.volume),
            Series::Bar(BarField::Trades) => Some(bar.trades as f64),
            Series::Indicator(name) => self.values[name][i],
        }
    }

    /// The record of position `i`.
    pub fn at(&self, i: usize) -> Indicators {
        self.values
            .iter()
            .map(|(name, v)| (name.as_str(), v[i]))
            .collect()
    }
}

/// The value of `source` for bar `b`, as TA-Lib's MEDPRICE, TYPPRICE and AVGPRICE compute
/// the combinations.
fn source(b: &Bar, source: Source) -> f64 {
    match source {
        Source::Close => b.close,
        Source::Open => b.open,
        Source::High => b.high,
        Source::Low => b.low,
        Source::Volume => b.volume,
        Source::Hl2 => (b.high + b.low) / 2.0,
        Source::Hlc3 => (b.high + b.low + b.close) / 3.0,
        Source::Ohlc4 => (b.open + b.high + b.low + b.close) / 4.0,
    }
}

/// A custom rule's condition at position `last`, in SQL's three-valued logic: `None` when
/// an operand is missing (see [`crate::lang`] for the semantics).
pub fn holds(c: &Cond, s: &IndicatorSeries, last: usize) -> Option<bool> {
    match c {
        Cond::Compare {
            left,
            op,
            right,
            tolerance,
            back,
        } => {
            let d = number(left, s, last)? - number(right, s, last)?;
            let tol = match tolerance {
                Tolerance::Price => {
                    TIE * s
                        .value(&Series::CLOSE, last.checked_sub(*back as usize)?)?
                        .abs()
                }
                Tolerance::Absolute => TIE,
            };
            Some(match op {
                Cmp::Lt => d < -tol,
                Cmp::Le => d <= tol,
                Cmp::Gt => d > tol,
                Cmp::Ge => d >= -tol,
                Cmp::Eq => d.abs() <= tol,
                Cmp::Ne => d.abs() > tol,
            })
        }
        Cond::And(a, b) => match (holds(a, s, last), holds(b, s, last)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Cond::Or(a, b) => match (holds(a, s, last), holds(b, s, last)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Cond::Not(a) => holds(a, s, last).map(|v| !v),
    }
}

/// A number of a custom rule at position `last`; `None` when missing or divided by zero.
fn number(n: &Num, s: &IndicatorSeries, last: usize) -> Option<f64> {
    let both = |a: &Num, b: &Num| Some((number(a, s, last)?, number(b, s, last)?));
    match n {
        Num::Literal(x) => Some(*x),
        Num::Series { series, back } => s.value(series, last.checked_sub(*back as usize)?),
        Num::Neg(a) => number(a, s, last).map(|v| -v),
        Num::Abs(a) => number(a, s, last).map(f64::abs),
        Num::Arith(op, a, b) => {
            let (a, b) = both(a, b)?;
            match op {
                Arith::Add => Some(a + b),
                Arith::Sub => Some(a - b),
                Arith::Mul => Some(a * b),
                Arith::Div => (b != 0.0).then(|| a / b),
            }
        }
        Num::Min(a, b) => both(a, b).map(|(a, b)| a.min(b)),
        Num::Max(a, b) => both(a, b).map(|(a, b)| a.max(b)),
    }
}

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub trades: u64,
}

/// Bars per symbol, in time order, from trades in any order. Open and close are the first and
/// last trade by `(ts, trade_id)`. Only intervals with trades have a bar. A trade given twice
/// (the same symbol, id, time, price and quantity: a re-sent snapshot) counts once, as the
/// query drops repeats among the trades of a bar; a repeat after its bar was emitted is late
/// for the query, and not given to this.
pub fn bars(trades: &[Trade], interval_s: u64) -> BTreeMap<String, Vec<Bar>> {
    let step = interval_s as i64 * 1_000_000;
    let mut seen = std::collections::HashSet::new();
    let mut sorted: Vec<&Trade> = trades
        .iter()
        .filter(|t| {
            seen.insert((
                t.symbol.as_str(),
                t.trade_id,
                t.ts,
                t.price.to_bits(),
                t.qty.to_bits(),
            ))
        })
        .collect();
    sorted.sort_by_key(|t| (t.ts, t.trade_id));
    let mut out: BTreeMap<String, BTreeMap<i64, Bar>> = BTreeMap::new();
    for t in sorted {
        let micros = t.ts.timestamp_micros();
        let slot = micros.div_euclid(step) * step;
        let start = DateTime::from_timestamp_micros(slot).expect("in range");
        out.entry(t.symbol.clone())
            .or_default()
            .entry(slot)
            .and_modify(|b| {
                b.high = b.high.max(t.price);
                b.low = b.low.min(t.price);
                b.close = t.price;
                b.volume += t.qty;
                b.trades += 1;
            })
            .or_insert(Bar {
                start,
                end: start + Duration::microseconds(step),
                open: t.price,
                high: t.price,
                low: t.price,
                close: t.price,
                volume: t.qty,
                trades: 1,
            });
    }
    out.into_iter()
        .map(|(s, m)| (s, m.into_values().collect()))
        .collect()
}

/// The filled lookback window ending with `bars[last]`: the `lookback` intervals ending at
/// its end, an empty one as a flat bar at the previous close with volume 0. The close that
/// fills the oldest intervals is looked for up to `gap_fill` bars before them; without one the
/// window starts at its first real bar.
pub fn window(
    bars: &[Bar],
    last: usize,
    lookback: u32,
    gap_fill: u32,
    interval_s: u64,
) -> Vec<Bar> {
    let step = Duration::seconds(interval_s as i64);
    let end = bars[last].end;
    let window_start = end - step * lookback as i32;
    let reach = window_start - step * gap_fill as i32;
    let first = bars[..=last]
        .iter()
        .position(|b| b.start >= reach)
        .expect("the last bar is inside its own window");
    let mut out: Vec<Bar> = Vec::new();
    for b in &bars[first..=last] {
        while let Some(prev) = out.last().cloned() {
            if prev.end >= b.start {
                break;
            }
            out.push(Bar {
                start: prev.end,
                end: prev.end + step,
                open: prev.close,
                high: prev.close,
                low: prev.close,
                close: prev.close,
                volume: 0.0,
                trades: 0,
            });
        }
        out.push(b.clone());
    }
    out.retain(|b| b.start >= window_start);
    out
}

/// Indicators, action and reasons of the last bar of a window (the enabled presets, then
/// `rules.custom`). Panics on rules that do not compile (a strategy not validated).
pub fn evaluate(window: &[Bar], strategy: &Strategy) -> (Indicators, Action, Vec<String>) {
    let series = IndicatorSeries::compute(window, &strategy.indicators.instances());
    let last = window.len() - 1;
    let fired: Vec<(Action, String)> = strategy
        .compiled_rules()
        .into_iter()
        .filter(|r| holds(&r.when, &series, last) == Some(true))
        .map(|r| (r.action, r.reason))
        .collect();
    let action = rules::combine(fired.iter().map(|f| f.0));
    let reasons = fired.into_iter().map(|f| f.1).collect();
    (series.at(last), action, reasons)
}

/// The signals the query should emit for these trades, in (symbol, bar_end) order, assuming
/// every bar is final (the watermark passed all of them) and no trade was late.
pub fn signals(trades: &[Trade], strategy: &Strategy) -> Vec<Signal> {
    let interval_s = strategy.bars.interval_s;
    let mut out = Vec::new();
    for (symbol, bars) in bars(trades, interval_s) {
        for i in 0..bars.len() {
            let (lookback, gap_fill) = (strategy.bars.lookback, strategy.bars.gap_fill);
            let w = window(&bars, i, lookback, gap_fill, interval_s);
            let (indicators, action, reasons) = evaluate(&w, strategy);
            if reasons.is_empty() && !strategy.rules.every_bar {
                continue;
            }
            let b = &bars[i];
            out.push(Signal {
                id: Signal::make_id(&strategy.name, &symbol, b.end),
                strategy: strategy.name.clone(),
                symbol: symbol.clone(),
                bar_start: b.start,
                bar_end: b.end,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.volume,
                trades: b.trades,
                bars: w.len() as u32,
                indicators,
                action,
                reasons,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_to(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
    }

    #[test]
    fn sma_is_the_mean_of_the_last_p() {
        let s = sma(&[1.0, 2.0, 3.0, 4.0], 3);
        assert_eq!(s, vec![None, None, Some(2.0), Some(3.0)]);
        assert!(sma(&[1.0], 3).iter().all(Option::is_none));
    }

    #[test]
    fn ema_is_seeded_with_the_sma() {
        let e = ema(&[1.0, 2.0, 3.0, 4.0, 10.0], 3);
        assert_eq!(e[..2], [None, None]);
        assert_eq!(e[2], Some(2.0));
        assert_eq!(e[3], Some(3.0)); // (4-2)*0.5+2
        assert_eq!(e[4], Some(6.5)); // (10-3)*0.5+3
    }

    #[test]
    fn rsi_follows_wilder_and_reads_zero_when_flat() {
        // TA-Lib RSI(3) of 44,44.5,44,45,46,45.5: gains .5,0,1 -> 0.5; losses 0,.5,0 -> 1/6.
        let x = [44.0, 44.5, 44.0, 45.0, 46.0, 45.5];
        let r = rsi(&x, 3);
        assert_eq!(r[..3], [None, None, None]);
        assert!(close_to(r[3], 100.0 * 0.5 / (0.5 + 1.0 / 6.0)));
        let (g, l) = ((0.5 * 2.0 + 1.0) / 3.0, (1.0 / 6.0 * 2.0) / 3.0);
        assert!(close_to(r[4], 100.0 * g / (g + l)));
        let (g2, l2) = (g * 2.0 / 3.0, (l * 2.0 + 0.5) / 3.0);
        assert!(close_to(r[5], 100.0 * g2 / (g2 + l2)));
        assert_eq!(rsi(&[5.0; 6], 3)[5], Some(0.0));
    }

    #[test]
    fn bollinger_uses_two_pass_population_sigma() {
        let (u, m, l) = bbands(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 8, 2.0);
        assert_eq!(m[7], Some(5.0));
        assert_eq!(u[7], Some(9.0)); // sigma = 2
        assert_eq!(l[7], Some(1.0));
        // Flat near 43,000: the width is float noise far below 1e-9 x price (the one-pass
        // E[x^2] - mean^2 form is off by up to 0.003 there).
        let (u, m, _) = bbands(&[43_000.1; 20], 20, 2.0);
        assert!(u[19].unwrap() - m[19].unwrap() < 1e-9);
    }

    #[test]
    fn macd_has_talib_alignment() {
        let x: Vec<f64> = (0..40)
            .map(|i| 100.0 + (i as f64 * 0.7).sin() * 5.0)
            .collect();
        let (m, s, h) = macd(&x, 12, 26, 9);
        assert!(m[32].is_none() && m[33].is_some());
        assert!(s[32].is_none() && s[33].is_some());
        // At the first output the signal is the mean of the first 9 MACD values.
        let slow = ema(&x, 26);
        let fast12 = ema_from(&x, 12, 14);
        let line: Vec<f64> = (25..=33)
            .map(|i| fast12[i].unwrap() - slow[i].unwrap())
            .collect();
        assert!(close_to(s[33], line.iter().sum::<f64>() / 9.0));
        assert!(close_to(h[33], m[33].unwrap() - s[33].unwrap()));
        // Fewer than s+g-1 values: nothing.
        assert!(macd(&x[..33], 12, 26, 9).0.iter().all(Option::is_none));
    }

    fn trade(symbol: &str, id: u64, secs: i64, price: f64) -> Trade {
        let ts = DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
        Trade {
            exchange: "test".into(),
            symbol: symbol.into(),
            trade_id: id,
            price,
            qty: 1.0,
            side: contract::Side::Buy,
            ord_type: "market".into(),
            ts,
            recv_ts: ts,
        }
    }

    #[test]
    fn bars_take_open_and_close_by_time_then_trade_id() {
        // 1_700_000_000 is a multiple of 20.
        let t = [
            trade("A", 2, 1, 11.0),
            trade("A", 1, 1, 10.0),
            trade("A", 3, 5, 9.0),
            trade("A", 4, 25, 12.0),
        ];
        let b = &bars(&t, 20)["A"];
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].open, b[0].high, b[0].low, b[0].close),
            (10.0, 11.0, 9.0, 9.0)
        );
        assert_eq!((b[0].volume, b[0].trades), (3.0, 3));
        assert_eq!(b[1].start, b[0].end);
    }

    #[test]
    fn a_trade_twice_counts_once_per_symbol() {
        let t = [
            trade("A", 1, 1, 10.0),
            trade("A", 1, 1, 10.0),
            trade("B", 1, 1, 10.0),
        ];
        let b = bars(&t, 20);
        assert_eq!((b["A"][0].volume, b["A"][0].trades), (1.0, 1));
        assert_eq!(b["B"][0].trades, 1);
    }

    #[test]
    fn windows_fill_gaps_and_start_at_the_first_real_bar() {
        let t = [
            trade("A", 1, 0, 1.0),
            trade("A", 2, 10, 2.0),
            trade("A", 3, 40, 3.0),
            trade("A", 4, 50, 4.0),
        ];
        let b = &bars(&t, 10)["A"];
        assert_eq!(b.len(), 4);
        let w = window(b, 3, 4, 0, 10);
        // Window covers [20, 60): slots 20 (empty, before the first real bar), 30 (empty), 40, 50.
        assert_eq!(w.len(), 2);
        // Looking one bar further back finds the close of [10, 20) for the empty 20 and 30.
        let w = window(b, 3, 4, 1, 10);
        let closes: Vec<f64> = w.iter().map(|b| b.close).collect();
        assert_eq!(closes, [2.0, 2.0, 3.0, 4.0]);
        assert_eq!((w[0].start, w[0].volume, w[0].trades), (b[1].end, 0.0, 0));
        let w = window(b, 3, 6, 0, 10);
        // [0, 60): bars 0, 10, then 20 and 30 filled flat at 2.0, then 40, 50.
        let closes: Vec<f64> = w.iter().map(|b| b.close).collect();
        assert_eq!(closes, [1.0, 2.0, 2.0, 2.0, 3.0, 4.0]);
        assert_eq!((w[2].volume, w[2].trades, w[2].open), (0.0, 0, 2.0));
    }

    /// One-trade bars a minute apart at these closes.
    fn closes(x: &[f64]) -> Vec<Bar> {
        let t: Vec<Trade> = x
            .iter()
            .enumerate()
            .map(|(i, c)| trade("A", i as u64, 60 * i as i64, *c))
            .collect();
        bars(&t, 60).remove("A").unwrap()
    }

    #[test]
    fn custom_rules_use_three_valued_logic_and_fire_after_the_built_in_ones() {
        let mut s = Strategy::default();
        s.indicators.classic.ema = 2;
        let rule = |action, when: &str, reason: &str| crate::strategy::CustomRule {
            action,
            when: when.into(),
            reason: reason.into(),
        };
        s.rules.custom = vec![
            rule(Action::Buy, "close > prev(close, 4)", "up_from_4"),
            // Five bars: prev(close, 5) is before the window, so null: `not` of it is null too.
            rule(Action::Sell, "not (close > prev(close, 5))", "never"),
            // null or true is true.
            rule(
                Action::Sell,
                "close > prev(close, 5) or volume == 1",
                "unit_volume",
            ),
            rule(Action::Buy, "close / (volume - 1) > 0", "divided_by_zero"),
        ];
        let up = closes(&[100.0, 100.0, 100.0, 100.0, 101.0]);
        let (_, action, reasons) = evaluate(&up, &s);
        assert_eq!(reasons, ["ema_cross_up", "up_from_4", "unit_volume"]);
        assert_eq!(action, Action::Hold);
    }

    #[test]
    fn ties_within_tolerance_never_cross() {
        let mut s = Strategy::default();
        s.indicators.classic.ema = 2;
        let flat = closes(&[100.0; 5]);
        assert!(evaluate(&flat, &s).2.is_empty());
        // Close moves by less than 1e-9 relative: still a tie with the EMA.
        let noisy = closes(&[100.0, 100.0, 100.0, 100.0, 100.0 * (1.0 + 1e-12)]);
        assert!(evaluate(&noisy, &s).2.is_empty());
        let up = closes(&[100.0, 100.0, 100.0, 100.0, 101.0]);
        let (_, action, reasons) = evaluate(&up, &s);
        assert_eq!(reasons, ["ema_cross_up"]);
        assert_eq!(action, Action::Buy);
    }
}
