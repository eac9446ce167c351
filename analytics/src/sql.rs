//! The strategy as Spark SQL: every step of the streaming query after the Kafka source, as
//! plain SQL expression strings.
//!
//! A Rust client cannot ship Rust code to the executors, so the whole computation (parsing,
//! bars, lookback windows, indicators, rules, the signal JSON) is declarative Spark SQL with
//! higher-order functions (`aggregate`, `transform`, `zip_with`, `filter`, `sequence`). Keeping
//! it as data ([`Step`]s of strings) rather than inline builder calls lets `explain` print
//! exactly what is submitted and lets unit tests check its shape without a server;
//! [`crate::query`] turns the steps into a DataFrame.
//!
//! Indicator expressions are written once as functions of an array of closes, then applied to
//! the window (`closes`) and to the same window without its last bar (`closes_prev`): a
//! crossing compares the last bar with the one before, both computed inside one window.

use contract::records::TRADE_SPARK_SCHEMA;

use contract::Action;

use crate::lang;
use crate::rules::{self, Crossing, Direction, Line, Series, Tolerance, TIE};
use crate::strategy::{IndicatorParams, Strategy};

/// Name of the observed metrics (bad and total input records) in the query's progress.
pub const INPUT_METRICS: &str = "input";
/// Observed metric: records kept out because they did not parse or failed validation.
pub const BAD_RECORDS: &str = "bad_records";
/// Observed metric: all records read from Kafka.
pub const RECORDS: &str = "records";
/// Observed metric: valid trades kept out because their time is further ahead of the
/// processing time than `source.max_ahead_s`.
pub const AHEAD_RECORDS: &str = "ahead_records";

/// The columns that make two rows the same trade: a repeat is dropped before the bars.
pub const TRADE_KEY: [&str; 2] = ["symbol", "trade_id"];

/// One transformation of the streaming DataFrame.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `selectExpr(exprs)`.
    Select(Vec<String>),
    /// `filter(expr)`.
    Filter(String),
    /// `observe(name, aggregates)`: per-batch metrics in the query progress.
    Observe { name: String, exprs: Vec<String> },
    /// `withWatermark(column, delay)`.
    Watermark { column: String, delay: String },
    /// `dropDuplicatesWithinWatermark(columns)`: the first row of each key within the
    /// watermark delay (a plain `dropDuplicates` in a batch query).
    Dedup(Vec<String>),
    /// `groupBy(keys).agg(aggregates)`.
    Aggregate {
        keys: Vec<String>,
        aggs: Vec<String>,
    },
}

/// A step with a one-line reason, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub what: &'static str,
    pub step: Step,
}

/// Every step from the raw Kafka rows (`key`, `value`, ...) to the sink's `key`, `value`.
///
/// Panics on a strategy whose `rules.custom` does not compile: [`Strategy::validate`] reports
/// those, and every strategy from a file or `--set` is validated.
pub fn steps(s: &Strategy) -> Vec<Described> {
    let custom = lang::compile_rules(&s.rules.custom)
        .unwrap_or_else(|(i, e)| panic!("rules.custom[{i}] of a validated strategy: {e:?}"));
    let back = Offsets::of(&custom);
    let bar_s = s.bars.interval_s;
    let lookback = s.bars.lookback as u64;
    // The window reaches `gap_fill` bars further back than the L intervals it evaluates, only
    // to find the close that fills its oldest intervals when they had no trade.
    let lookback_s = bar_s * (lookback + s.bars.gap_fill as u64);
    let d = |what, step| Described { what, step };
    let mut out = vec![
        d(
            "parse each Kafka value as a trade; flag what is unusable",
            Step::Select(vec![format!(
                "from_json(CAST(value AS STRING), '{}') AS t",
                parsed_schema()
            )]),
        ),
        d(
            "",
            Step::Select(vec![
                "t.symbol AS symbol".into(),
                "t.trade_id AS trade_id".into(),
                "t.price AS price".into(),
                "t.qty AS qty".into(),
                "t.ts AS ts".into(),
                format!("coalesce({}, false) AS valid", valid_trade("t")),
                format!("{} AS ahead", too_far_ahead("t.ts", s.source.max_ahead_s)),
            ]),
        ),
        d(
            "count bad records and trades too far ahead per batch \
             (progress.observedMetrics.input)",
            Step::Observe {
                name: INPUT_METRICS.into(),
                exprs: vec![
                    format!("count_if(NOT valid) AS {BAD_RECORDS}"),
                    format!("count(1) AS {RECORDS}"),
                    format!("count_if(valid AND ahead) AS {AHEAD_RECORDS}"),
                ],
            },
        ),
        d(
            "keep bad records out of the math, and trades stamped in the future out of the \
             watermark",
            Step::Filter("valid AND NOT ahead".into()),
        ),
        d(
            "event time = the trade's exchange time",
            Step::Watermark {
                column: "ts".into(),
                delay: format!("{} seconds", s.bars.watermark_delay_s),
            },
        ),
        d(
            "a trade sent twice (a re-sent snapshot) counts once",
            Step::Dedup(TRADE_KEY.map(String::from).to_vec()),
        ),
        d(
            "OHLCV bars: tumbling event-time windows per symbol",
            Step::Aggregate {
                keys: vec![
                    format!("window(ts, '{bar_s} seconds') AS bar"),
                    "symbol".into(),
                ],
                aggs: vec![
                    "min_by(price, struct(ts, trade_id)) AS open".into(),
                    "max(price) AS high".into(),
                    "min(price) AS low".into(),
                    "max_by(price, struct(ts, trade_id)) AS close".into(),
                    "sum(qty) AS volume".into(),
                    "count(1) AS trades".into(),
                ],
            },
        ),
        d(
            "a bar's event time is its window_time, for the chained window",
            Step::Select(vec![
                "symbol".into(),
                "window_time(bar) AS bar_time".into(),
                "named_struct('bar_end', bar.end, 'bar_start', bar.start, 'open', open, \
                 'high', high, 'low', low, 'close', close, 'volume', volume, 'trades', trades) \
                 AS b"
                    .into(),
            ]),
        ),
        d(
            "lookback: sliding windows of L + gap_fill bars, one per bar, the bars sorted by end",
            Step::Aggregate {
                keys: vec![
                    format!("window(bar_time, '{lookback_s} seconds', '{bar_s} seconds') AS lw"),
                    "symbol".into(),
                ],
                aggs: vec!["array_sort(collect_list(b)) AS raw".into()],
            },
        ),
        d(
            "",
            Step::Select(vec![
                "symbol".into(),
                "lw.end AS window_end".into(),
                "raw".into(),
            ]),
        ),
        d(
            "a window belongs to the bar it ends with; windows ending on an empty interval \
             emit nothing",
            Step::Filter("element_at(raw, -1).bar_end = window_end".into()),
        ),
        d(
            "closes of the last L intervals (from the first real bar on), an empty interval \
             filled with the close before it, found up to gap_fill bars before the L",
            Step::Select(
                vec![
                    "symbol".into(),
                    "element_at(raw, -1) AS bar".into(),
                    format!(
                        "transform(sequence(greatest(element_at(raw, 1).bar_end, \
                     window_end - INTERVAL {back} SECONDS), window_end, \
                     INTERVAL {bar_s} SECONDS), e -> element_at(filter(raw, r -> r.bar_end <= e), \
                     -1).close) AS closes",
                        back = bar_s * (lookback - 1),
                    ),
                ]
                .into_iter()
                .chain(back.bars.iter().map(|k| {
                    format!(
                        "{} AS {}",
                        bar_back(*k, bar_s, bar_s * (lookback - 1)),
                        at_back("bar", *k)
                    )
                }))
                .collect(),
            ),
        ),
        d(
            "",
            Step::Select(
                [
                    "symbol".into(),
                    "bar".into(),
                    "closes".into(),
                    "slice(closes, 1, size(closes) - 1) AS closes_prev".into(),
                ]
                .into_iter()
                .chain((2..=back.indicators).map(|k| {
                    format!(
                        "slice(closes, 1, greatest(size(closes) - {k}, 0)) AS {}",
                        at_back("closes", k)
                    )
                }))
                .chain(back.carried())
                .collect(),
            ),
        ),
        d(
            "indicators at the last bar and at the bar before, inside the same window",
            Step::Select(
                [
                    "symbol".into(),
                    "bar".into(),
                    "closes".into(),
                    format!("{} AS base", base_indicators("closes", &s.indicators)),
                ]
                .into_iter()
                .chain((1..=back.indicators.max(1)).flat_map(|k| {
                    let closes = at_back("closes", k);
                    [
                        closes.clone(),
                        format!(
                            "{} AS {}",
                            base_indicators(&closes, &s.indicators),
                            at_back("base", k)
                        ),
                    ]
                }))
                .chain(back.carried())
                .collect(),
            ),
        ),
        d(
            "",
            Step::Select(
                [
                    "symbol".into(),
                    "bar".into(),
                    "size(closes) AS bars".into(),
                    format!("{} AS ind", indicators("closes", "base", &s.indicators)),
                ]
                .into_iter()
                .chain((1..=back.closes.max(1)).map(|k| {
                    format!(
                        "try_element_at(closes, -{}) AS {}",
                        k + 1,
                        at_back("close", k)
                    )
                }))
                .chain((1..=back.indicators.max(1)).map(|k| {
                    format!(
                        "{} AS {}",
                        indicators(&at_back("closes", k), &at_back("base", k), &s.indicators),
                        at_back("ind", k)
                    )
                }))
                .chain(back.carried())
                .collect(),
            ),
        ),
    ];
    let crossings = rules::enabled_crossings(&s.rules.enabled, &s.indicators);
    let fired: Vec<Fired> = crossings
        .iter()
        .map(|c| Fired {
            condition: fired(c),
            action: c.action,
            reason: c.reason.to_string(),
        })
        .chain(custom.iter().map(|r| Fired {
            condition: format!("coalesce({}, false)", lang::sql::condition(&r.when)),
            action: r.action,
            reason: r.reason.clone(),
        }))
        .collect();
    out.push(d(
        "rules: which crossings and custom rules fired, and the action",
        Step::Select(vec![
            "symbol".into(),
            "bar".into(),
            "bars".into(),
            "ind".into(),
            format!("{} AS reasons", reasons(&fired)),
            format!("{} AS action", action(&fired)),
        ]),
    ));
    let json = format!("to_json({})", signal_struct(&s.name));
    out.push(if s.rules.every_bar {
        d(
            "every bar: the signal as contract::Signal JSON, keyed by symbol",
            Step::Select(vec!["symbol AS key".into(), format!("{json} AS value")]),
        )
    } else {
        // Not a WHERE: Spark pushes a filter below the projections by inlining them, which
        // here would copy every indicator fold into the condition several times over
        // (measured: 4x the folds, ~12 s instead of <1 s per batch). A generator is not
        // rewritten that way.
        d(
            "signals only (bars where a rule fired): the signal as contract::Signal JSON, keyed \
             by symbol",
            Step::Select(vec![
                "symbol AS key".into(),
                format!("explode(IF(size(reasons) > 0, array({json}), array())) AS value"),
            ]),
        )
    });
    out
}

/// Trade fields the query reads.
const USED_FIELDS: [&str; 5] = ["symbol", "trade_id", "price", "qty", "ts"];

/// The part of `contract::TRADE_SPARK_SCHEMA` the query reads: the JSON parser then skips the
/// other fields instead of converting them (`recv_ts` is a second timestamp to parse per row).
fn parsed_schema() -> String {
    TRADE_SPARK_SCHEMA
        .split(',')
        .map(str::trim)
        .filter(|col| {
            col.split_whitespace()
                .next()
                .is_some_and(|name| USED_FIELDS.contains(&name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The condition for a usable trade, over the parsed struct `t`.
fn valid_trade(t: &str) -> String {
    let finite = |c: &str| format!("NOT isnan({t}.{c}) AND abs({t}.{c}) < double('infinity')");
    format!(
        "{t} IS NOT NULL AND {t}.symbol IS NOT NULL AND length({t}.symbol) > 0 \
         AND {t}.trade_id IS NOT NULL AND {t}.ts IS NOT NULL \
         AND {t}.price > 0 AND {pf} AND {t}.qty >= 0 AND {qf}",
        pf = finite("price"),
        qf = finite("qty"),
    )
}

/// Whether event time `ts` is more than `max_ahead_s` ahead of the processing time (the
/// micro-batch's time in a streaming query, the query's in a batch one, so a backtest over
/// history keeps every trade); `false` when `max_ahead_s` is 0.
fn too_far_ahead(ts: &str, max_ahead_s: u64) -> String {
    if max_ahead_s == 0 {
        return "false".into();
    }
    format!("coalesce({ts} > current_timestamp() + INTERVAL {max_ahead_s} SECONDS, false)")
}

/// How far back the custom rules look, in bars before the last: which columns the query
/// computes besides the last bar's and the one before's (which the built-in rules use).
struct Offsets {
    /// Indicators up to this many bars back (each offset one more evaluation of them all).
    indicators: u32,
    /// Closes up to this many bars back.
    closes: u32,
    /// Offsets (1 or more) at which a bar field other than the close is read.
    bars: Vec<u32>,
}

impl Offsets {
    fn of(rules: &[lang::Rule]) -> Offsets {
        let mut o = Offsets {
            indicators: 1,
            closes: 1,
            bars: Vec::new(),
        };
        for r in rules {
            r.when.reads(&mut |s, back| match s {
                Series::Close => o.closes = o.closes.max(back),
                s if s.is_bar_field() => {
                    if back > 0 && !o.bars.contains(&back) {
                        o.bars.push(back);
                    }
                }
                _ => o.indicators = o.indicators.max(back),
            });
        }
        o.bars.sort_unstable();
        o
    }

    /// The earlier bars' columns, carried from the step that makes them to the rules.
    fn carried(&self) -> impl Iterator<Item = String> + '_ {
        self.bars.iter().map(|k| at_back("bar", *k))
    }
}

/// The column of `base` (`close`, `ind`, `closes`, ...) `k` bars before the last:
/// `close_prev` for the bar before, `close_prev2` for the one before that.
fn at_back(base: &str, k: u32) -> String {
    if k == 1 {
        format!("{base}_prev")
    } else {
        format!("{base}_prev{k}")
    }
}

/// The bar `k` intervals before the last as a struct of doubles (`open`, `high`, `low`,
/// `volume`, `trades`), in the step where `raw` and `window_end` are: the real bar of that
/// interval, or a flat bar at the close before it with volume 0 when it had no trade (as the
/// closes are filled); null before the window's first bar (`back_s` is how far the window
/// reaches back from its last bar).
fn bar_back(k: u32, bar_s: u64, back_s: u64) -> String {
    let e = format!("window_end - INTERVAL {} SECONDS", bar_s * k as u64);
    format!(
        "IF({e} >= greatest(element_at(raw, 1).bar_end, window_end - INTERVAL {back_s} SECONDS), \
         element_at(transform(filter(raw, r -> r.bar_end <= {e}), f -> IF(f.bar_end = {e}, \
         named_struct('open', f.open, 'high', f.high, 'low', f.low, 'volume', f.volume, \
         'trades', CAST(f.trades AS DOUBLE)), named_struct('open', f.close, 'high', f.close, \
         'low', f.close, 'volume', 0D, 'trades', 0D))), -1), NULL)"
    )
}

/// A double literal Spark parses back to exactly `x`.
pub(crate) fn dbl(x: f64) -> String {
    format!("{x:e}D")
}

/// EMA smoothing factor, computed in Rust once: `2/(p+1)`.
fn alpha(p: u32) -> String {
    dbl(2.0 / (p as f64 + 1.0))
}

fn sum(arr: &str) -> String {
    format!("aggregate({arr}, 0D, (acc, x) -> acc + x)")
}

/// The last `p` elements of `arr` (all of them when shorter).
fn last_n(arr: &str, p: u32) -> String {
    format!("slice({arr}, greatest(size({arr}) - {p} + 1, 1), {p})")
}

/// SMA(p) of the last element: null with fewer than `p` values.
fn sma(a: &str, p: u32) -> String {
    format!("IF(size({a}) >= {p}, {} / {p}, NULL)", sum(&last_n(a, p)))
}

/// EMA(p) of the last element: seeded with the mean of the first `p` values.
fn ema(a: &str, p: u32) -> String {
    format!(
        "IF(size({a}) >= {p}, aggregate(slice({a}, {p1}, greatest(size({a}) - {p}, 0)), \
         {seed} / {p}, (e, x) -> (x - e) * {k} + e), NULL)",
        p1 = p + 1,
        seed = sum(&format!("slice({a}, 1, {p})")),
        k = alpha(p),
    )
}

/// Wilder's RSI(p) of the last element, one fold over the changes: sums for the first `p`,
/// their means at the `p`-th, smoothing after.
fn rsi(a: &str, p: u32) -> String {
    let len = format!("greatest(size({a}) - 1, 0)");
    let changes = format!("zip_with(slice({a}, 2, {len}), slice({a}, 1, {len}), (x, y) -> x - y)");
    let avg = |part: &str, sign: &str| {
        format!(
            "CASE WHEN s.n < {pm1} THEN s.{part} + greatest({sign}x, 0D) \
             WHEN s.n = {pm1} THEN (s.{part} + greatest({sign}x, 0D)) / {p} \
             ELSE (s.{part} * {pm1} + greatest({sign}x, 0D)) / {p} END",
            pm1 = p - 1,
        )
    };
    format!(
        "aggregate({changes}, named_struct('n', 0, 'g', 0D, 'l', 0D), \
         (s, x) -> named_struct('n', s.n + 1, 'g', {g}, 'l', {l}), \
         s -> IF(s.n >= {p}, IF(s.g + s.l = 0D, 0D, 100D * (s.g / (s.g + s.l))), NULL))",
        g = avg("g", ""),
        l = avg("l", "-"),
    )
}

/// TA-Lib MACD(f, sl, g) of the last element, one fold: slow EMA summed over positions
/// `0..sl`, fast over `sl-f..sl`, both seeded at `sl-1`; the signal line summed over the first
/// `g` MACD values, then an EMA. A struct (`macd`, `signal`, `hist`), null before position
/// `sl+g-2`.
fn macd(a: &str, f: u32, sl: u32, g: u32) -> String {
    let seed = sl - 1;
    let slow = format!(
        "CASE WHEN s.n < {seed} THEN s.slow + x WHEN s.n = {seed} THEN (s.slow + x) / {sl} \
         ELSE (x - s.slow) * {k} + s.slow END",
        k = alpha(sl)
    );
    let fast = format!(
        "CASE WHEN s.n < {start} THEN 0D WHEN s.n < {seed} THEN s.fast + x \
         WHEN s.n = {seed} THEN (s.fast + x) / {f} ELSE (x - s.fast) * {k} + s.fast END",
        start = sl - f,
        k = alpha(f)
    );
    let m = format!("(({fast}) - ({slow}))");
    let sig_seed = seed + g - 1;
    let sig = format!(
        "CASE WHEN s.n < {seed} THEN 0D WHEN s.n < {sig_seed} THEN s.sig + {m} \
         WHEN s.n = {sig_seed} THEN (s.sig + {m}) / {g} ELSE ({m} - s.sig) * {k} + s.sig END",
        k = alpha(g)
    );
    format!(
        "aggregate({a}, named_struct('n', 0, 'slow', 0D, 'fast', 0D, 'sig', 0D), \
         (s, x) -> named_struct('n', s.n + 1, 'slow', {slow}, 'fast', {fast}, 'sig', {sig}), \
         s -> IF(s.n >= {need}, named_struct('macd', s.fast - s.slow, 'signal', s.sig, \
         'hist', (s.fast - s.slow) - s.sig), NULL))",
        need = sl + g - 1,
    )
}

/// First pass over closes `a`: everything but the Bollinger width, which needs the mean.
fn base_indicators(a: &str, p: &IndicatorParams) -> String {
    format!(
        "named_struct('sma_fast', {}, 'sma_slow', {}, 'ema', {}, 'rsi', {}, 'macd', {}, \
         'bb_middle', {})",
        sma(a, p.sma_fast),
        sma(a, p.sma_slow),
        ema(a, p.ema),
        rsi(a, p.rsi),
        macd(a, p.macd_fast, p.macd_slow, p.macd_signal),
        sma(a, p.bb_period),
    )
}

/// Second pass: the indicator record (field names of `contract::Indicators`), Bollinger bands
/// from the mean of the first pass and the two-pass population standard deviation.
fn indicators(a: &str, base: &str, p: &IndicatorParams) -> String {
    let bp = p.bb_period;
    let sd = format!(
        "sqrt(aggregate({tail}, 0D, (acc, x) -> acc + (x - {base}.bb_middle) * \
         (x - {base}.bb_middle)) / {bp})",
        tail = last_n(a, bp)
    );
    let k = dbl(p.bb_k);
    format!(
        "named_struct('sma_fast', {base}.sma_fast, 'sma_slow', {base}.sma_slow, \
         'ema', {base}.ema, 'rsi', {base}.rsi, 'macd', {base}.macd.macd, \
         'macd_signal', {base}.macd.signal, 'macd_hist', {base}.macd.hist, \
         'bb_upper', {base}.bb_middle + {k} * {sd}, 'bb_middle', {base}.bb_middle, \
         'bb_lower', {base}.bb_middle - {k} * {sd})"
    )
}

/// A series `back` bars before the last, in the rules step: the bar's fields (`bar`, or the
/// `bar_prev{k}` structs of [`bar_back`]), the closes (`close_prev{k}`) and the indicator
/// records (`ind`, `ind_prev{k}`), all doubles.
pub(crate) fn series(s: Series, back: u32) -> String {
    match (s, back) {
        (Series::Trades, 0) => "CAST(bar.trades AS DOUBLE)".into(),
        (Series::Close, 0) => "bar.close".into(),
        (Series::Close, k) => at_back("close", k),
        (s, 0) if s.is_bar_field() => format!("bar.{}", s.name()),
        (s, k) if s.is_bar_field() => format!("{}.{}", at_back("bar", k), s.name()),
        (s, 0) => format!("ind.{}", s.name()),
        (s, k) => format!("{}.{}", at_back("ind", k), s.name()),
    }
}

/// -1, 0 (a tie) or 1: which side of its line the crossing's series is on; null when either
/// is null.
fn side(c: &Crossing, prev: bool) -> String {
    let line = match c.line {
        Line::Series(s) => series(s, u32::from(prev)),
        Line::Level(l) => dbl(l),
    };
    let tol = match c.tolerance {
        Tolerance::Price => format!(
            "{} * abs({})",
            dbl(TIE),
            series(Series::Close, u32::from(prev))
        ),
        Tolerance::Absolute => dbl(TIE),
    };
    let d = format!("({} - {line})", series(c.series, u32::from(prev)));
    format!(
        "(CASE WHEN {d} > {tol} THEN 1 WHEN {d} < -{tol} THEN -1 WHEN {d} IS NOT NULL THEN 0 END)"
    )
}

/// Whether a crossing fired at the last bar.
fn fired(c: &Crossing) -> String {
    let (before, now) = (side(c, true), side(c, false));
    match c.direction {
        Direction::Up => format!("coalesce({before} <= 0 AND {now} > 0, false)"),
        Direction::Down => format!("coalesce({before} >= 0 AND {now} < 0, false)"),
    }
}

/// A rule's condition (never null) with the action and reason it adds when true.
struct Fired {
    condition: String,
    action: Action,
    reason: String,
}

/// The reasons that fired, in rule order (built-in rules first, then `rules.custom`).
fn reasons(fired: &[Fired]) -> String {
    if fired.is_empty() {
        return "CAST(array() AS ARRAY<STRING>)".into();
    }
    let items: Vec<String> = fired
        .iter()
        .map(|f| format!("IF({}, '{}', NULL)", f.condition, f.reason))
        .collect();
    format!("filter(array({}), r -> r IS NOT NULL)", items.join(", "))
}

/// BUY or SELL when the fired reasons agree, else HOLD (see [`rules::combine`]).
fn action(fired: &[Fired]) -> String {
    let any = |a: Action| {
        let conditions: Vec<&str> = fired
            .iter()
            .filter(|f| f.action == a)
            .map(|f| f.condition.as_str())
            .collect();
        if conditions.is_empty() {
            "false".to_string()
        } else {
            format!("({})", conditions.join(" OR "))
        }
    };
    let (buy, sell) = (any(Action::Buy), any(Action::Sell));
    format!(
        "CASE WHEN {buy} AND NOT {sell} THEN 'BUY' WHEN {sell} AND NOT {buy} THEN 'SELL' \
         ELSE 'HOLD' END"
    )
}

/// RFC 3339 in UTC with milliseconds, as `Signal::make_id` formats it (session time zone UTC).
fn rfc3339_millis(ts: &str) -> String {
    format!("concat(date_format({ts}, 'yyyy-MM-dd'), 'T', date_format({ts}, 'HH:mm:ss.SSS'), 'Z')")
}

/// The `contract::Signal` record.
fn signal_struct(strategy: &str) -> String {
    let end = rfc3339_millis("bar.bar_end");
    format!(
        "named_struct('id', concat('{strategy}|', symbol, '|', {end}), 'strategy', '{strategy}', \
         'symbol', symbol, 'bar_start', {start}, 'bar_end', {end}, 'open', bar.open, \
         'high', bar.high, 'low', bar.low, 'close', bar.close, 'volume', bar.volume, \
         'trades', bar.trades, 'bars', bars, 'indicators', ind, 'action', action, \
         'reasons', reasons)",
        start = rfc3339_millis("bar.bar_start"),
    )
}

/// Human-readable listing of the steps (for `explain`).
pub fn describe(steps: &[Described]) -> String {
    let mut out = String::new();
    for (i, d) in steps.iter().enumerate() {
        if !d.what.is_empty() {
            out.push_str(&format!("-- {}\n", d.what));
        }
        let text = match &d.step {
            Step::Select(exprs) => format!("SELECT\n    {}", exprs.join(",\n    ")),
            Step::Filter(e) => format!("WHERE {e}"),
            Step::Observe { name, exprs } => {
                format!("OBSERVE {name}: {}", exprs.join(", "))
            }
            Step::Watermark { column, delay } => format!("WATERMARK {column} DELAY {delay}"),
            Step::Dedup(columns) => {
                format!("DROP DUPLICATES WITHIN WATERMARK {}", columns.join(", "))
            }
            Step::Aggregate { keys, aggs } => format!(
                "GROUP BY {}\nAGGREGATE\n    {}",
                keys.join(", "),
                aggs.join(",\n    ")
            ),
        };
        out.push_str(&format!("[{}] {text}\n", i + 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Rule;

    fn all_sql(s: &Strategy) -> String {
        describe(&steps(s))
    }

    #[test]
    fn parsed_schema_is_the_contract_restricted_to_used_fields() {
        let schema = parsed_schema();
        for field in USED_FIELDS {
            let column = TRADE_SPARK_SCHEMA
                .split(',')
                .map(str::trim)
                .find(|c| c.split_whitespace().next() == Some(field))
                .unwrap_or_else(|| panic!("{field} is not in TRADE_SPARK_SCHEMA"));
            assert!(schema.contains(column), "{schema}");
        }
        assert_eq!(schema.split(',').count(), USED_FIELDS.len());
    }

    #[test]
    fn double_literals_round_trip() {
        for x in [2.0 / 13.0, 1e-9, 30.0, 2.0, 0.1, 43_000.123_456_789] {
            let text = dbl(x);
            assert!(text.ends_with('D'), "{text}");
            let parsed: f64 = text.trim_end_matches('D').parse().unwrap();
            assert_eq!(parsed.to_bits(), x.to_bits(), "{text}");
        }
    }

    #[test]
    fn steps_follow_the_design_shape() {
        let s = Strategy::default();
        let steps = steps(&s);
        let kinds: Vec<&str> = steps
            .iter()
            .map(|d| match d.step {
                Step::Select(_) => "select",
                Step::Filter(_) => "filter",
                Step::Observe { .. } => "observe",
                Step::Watermark { .. } => "watermark",
                Step::Dedup(_) => "dedup",
                Step::Aggregate { .. } => "aggregate",
            })
            .collect();
        let order = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
        assert!(order("observe") < order("filter"));
        assert!(order("filter") < order("watermark"));
        // The repeats go before the bars, and need the watermark to forget keys.
        assert!(order("watermark") < order("dedup"));
        assert!(order("dedup") < order("aggregate"));
        assert_eq!(kinds.iter().filter(|k| **k == "aggregate").count(), 2);
        let text = all_sql(&s);
        assert!(text.contains("window(ts, '60 seconds') AS bar"), "{text}");
        // L = 100 bars evaluated, 20 more (gap_fill) only to fill empty oldest intervals.
        assert!(
            text.contains("window(bar_time, '7200 seconds', '60 seconds') AS lw"),
            "{text}"
        );
        assert!(
            text.contains("window_end - INTERVAL 5940 SECONDS"),
            "{text}"
        );
        assert!(text.contains("WATERMARK ts DELAY 5 seconds"));
        assert!(text
            .contains("'symbol STRING, trade_id BIGINT, price DOUBLE, qty DOUBLE, ts TIMESTAMP'"));
        // Signals only by default (without a WHERE, see `steps`); every_bar emits all.
        assert!(text.contains("explode(IF(size(reasons) > 0, array(to_json("));
        assert!(!text.contains("WHERE size(reasons)"));
        let mut every = s.clone();
        every.rules.every_bar = true;
        assert!(!all_sql(&every).contains("size(reasons) > 0"));
    }

    #[test]
    fn trades_too_far_ahead_are_counted_and_kept_out_unless_off() {
        let mut s = Strategy::default();
        let text = all_sql(&s);
        assert!(
            text.contains(
                "coalesce(t.ts > current_timestamp() + INTERVAL 300 SECONDS, false) AS ahead"
            ),
            "{text}"
        );
        assert!(text.contains("count_if(valid AND ahead) AS ahead_records"));
        assert!(text.contains("WHERE valid AND NOT ahead"));
        assert!(text.contains("DROP DUPLICATES WITHIN WATERMARK symbol, trade_id"));
        s.source.max_ahead_s = 0;
        let text = all_sql(&s);
        assert!(text.contains("false AS ahead"), "{text}");
        assert!(!text.contains("current_timestamp()"));
    }

    #[test]
    fn only_enabled_rules_appear() {
        let mut s = Strategy::default();
        s.rules.enabled = vec![Rule::MacdCross];
        let text = all_sql(&s);
        assert!(text.contains("'macd_cross_up'"));
        assert!(!text.contains("'sma_cross_up'"));
        s.rules.enabled.clear();
        s.rules.every_bar = true;
        let text = all_sql(&s);
        assert!(text.contains("CAST(array() AS ARRAY<STRING>) AS reasons"));
        assert!(text.contains("WHEN false AND NOT false"));
    }

    fn with_custom(when: &str) -> Strategy {
        let mut s = Strategy::default();
        s.rules.custom = vec![crate::strategy::CustomRule {
            action: Action::Sell,
            when: when.into(),
            reason: "mine".into(),
        }];
        s
    }

    #[test]
    fn custom_rules_get_the_earlier_bars_they_read_and_nothing_more() {
        let text = all_sql(&with_custom(
            "prev(rsi, 3) < 30 and prev(volume, 2) > volume",
        ));
        for column in [
            "AS closes_prev3",
            "AS base_prev3",
            "AS ind_prev3",
            "AS bar_prev2",
            "AS ind_prev2",
            "bar_prev2.volume",
        ] {
            assert!(text.contains(column), "{column} missing: {text}");
        }
        for column in ["ind_prev4", "bar_prev3", "bar_prev.", "close_prev2"] {
            assert!(!text.contains(column), "{column}: {text}");
        }
        // After the built-in rules, in file order; coalesced: a null condition does not fire.
        assert!(
            text.contains(
                "'rsi_exit_overbought', NULL), IF(coalesce((((ind_prev3.rsi - 3e1D) < -1e-9D) AND"
            ),
            "{text}"
        );
        // Without custom rules the query is what it was: the bar before only.
        let text = all_sql(&Strategy::default());
        assert!(!text.contains("_prev2") && text.contains("AS ind_prev"));
    }

    #[test]
    fn parentheses_balance_in_every_expression() {
        let mut s = with_custom(
            "crosses_above(prev(high, 2), max(bb_upper, -open / 2)) or not (trades == 1)",
        );
        s.rules.enabled = Rule::ALL.to_vec();
        for d in steps(&s) {
            let exprs = match d.step {
                Step::Select(e) => e,
                Step::Filter(e) => vec![e],
                Step::Observe { exprs, .. } => exprs,
                Step::Aggregate { keys, aggs } => keys.into_iter().chain(aggs).collect(),
                Step::Watermark { .. } | Step::Dedup(_) => vec![],
            };
            for e in exprs {
                let mut depth = 0i32;
                for ch in e.chars() {
                    depth += match ch {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    assert!(depth >= 0, "{e}");
                }
                assert_eq!(depth, 0, "{e}");
            }
        }
    }

    #[test]
    fn ids_are_formatted_like_make_id() {
        let text = rfc3339_millis("x");
        assert_eq!(
            text,
            "concat(date_format(x, 'yyyy-MM-dd'), 'T', date_format(x, 'HH:mm:ss.SSS'), 'Z')"
        );
        assert!(signal_struct("s1").contains("concat('s1|', symbol, '|', "));
    }
}
