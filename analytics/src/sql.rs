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
//! Indicator expressions ([`crate::indicators`]) are functions of the window's arrays (`w`, its
//! bars, and `closes`), applied to the window and to the same window without its last bars
//! (`w_prev`, `closes_prev`) when a rule reads an indicator at an earlier bar: a crossing
//! compares the last bar with the one before, both computed inside one window.

use contract::records::TRADE_SPARK_SCHEMA;

use contract::Action;

use std::collections::BTreeSet;

use crate::indicators::{bind, Instance, Source, Window};
use crate::lang;
use crate::rules::{BarField, Series};
use crate::strategy::Strategy;

/// Name of the observed metrics (bad and total input records) in the query's progress.
pub const INPUT_METRICS: &str = "input";
/// Observed metric: records kept out because they did not parse or failed validation.
pub const BAD_RECORDS: &str = "bad_records";
/// Observed metric: all records read from Kafka.
pub const RECORDS: &str = "records";
/// Observed metric: valid trades kept out because their time is further ahead of their
/// receipt (`recv_ts`) than `source.max_ahead_s`.
pub const AHEAD_RECORDS: &str = "ahead_records";

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

/// A step with what it does, for `explain`.
fn d(what: &'static str, step: Step) -> Described {
    Described { what, step }
}

/// How the rows the steps start from hold a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The trade JSON in `value`: Kafka's raw rows (the live query), or lines of text.
    Json,
    /// The trade's fields as columns (a Parquet file): no JSON to write and parse again.
    Columns,
}

/// How the steps run: as the live streaming query, or as one batch job over history (a
/// backtest).
///
/// Two things differ, both measured (docs/performance.md). The bars: a stream keeps each open
/// bar's set of trades in its state, where a batch job, which sees every trade of a bar at
/// once, collects a cheaper list and drops repeats at the end; both count a trade sent twice
/// once. Each bar's lookback window: a stream copies every bar into each sliding window it
/// falls in, a batch job takes a frame over the bars in time order. The indicators, rules and
/// signal after them are the same steps, and the backtest's equivalence test holds both runs
/// to the same signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Stream,
    Batch,
}

/// Every step from the raw Kafka rows (`key`, `value`, ...) to the sink's `key`, `value`.
///
/// Panics on a strategy whose rules do not compile: [`Strategy::validate`] reports those, and
/// every strategy from a file or `--set` is validated.
pub fn steps(s: &Strategy) -> Vec<Described> {
    steps_from(s, Entry::Json, Run::Stream)
}

/// [`steps`] from rows that hold the trades as `entry` says (only the first step differs), run
/// as `run` says (the bars and how each window is gathered differ).
pub fn steps_from(s: &Strategy, entry: Entry, run: Run) -> Vec<Described> {
    let rules = s.compiled_rules();
    let instances = s.indicators.instances();
    // Indicators at this many bars before the last, besides the last bar's (each offset one
    // more evaluation of them all, over the window without its last bars).
    let mut back = 0;
    // The series the rules read at an earlier bar, with that offset: only those are computed
    // there (MACD's fold at the bar before, unread by the default rules, was a fifth of a
    // backtest's window time).
    let mut read_earlier: BTreeSet<(String, u32)> = BTreeSet::new();
    for r in &rules {
        r.when.reads(&mut |series, k| {
            if let Series::Indicator(name) = series {
                back = back.max(k);
                if k > 0 {
                    read_earlier.insert((name.clone(), k));
                }
            }
        });
    }
    let wanted = |name: &str, k: u32| k == 0 || read_earlier.contains(&(name.to_string(), k));
    let bar_s = s.bars.interval_s;
    let lookback = s.bars.lookback as u64;
    // The window reaches `gap_fill` bars further back than the L intervals it evaluates, only
    // to find the close that fills its oldest intervals when they had no trade.
    let lookback_s = bar_s * (lookback + s.bars.gap_fill as u64);
    let mut out = vec![
        match entry {
            Entry::Json => d(
                "parse each Kafka value as a trade; flag what is unusable",
                Step::Select(vec![format!(
                    "from_json(CAST(value AS STRING), '{}') AS t",
                    parsed_schema()
                )]),
            ),
            Entry::Columns => d(
                "each row's trade fields as a trade; flag what is unusable",
                Step::Select(vec![format!("{} AS t", columns_as_trade())]),
            ),
        },
        d(
            "",
            Step::Select(vec![
                "t.symbol AS symbol".into(),
                "t.trade_id AS trade_id".into(),
                "t.price AS price".into(),
                "t.qty AS qty".into(),
                "t.ts AS ts".into(),
                format!("coalesce({}, false) AS valid", valid_trade("t")),
                format!("{} AS ahead", too_far_ahead("t", s.source.max_ahead_s)),
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
                delay: format!("{} milliseconds", s.bars.watermark_delay().as_millis()),
            },
        ),
    ];
    out.extend(bars(bar_s, run));
    out.extend(lookback_windows(bar_s, lookback_s, run));
    // The series the single-input indicators read (the closes, and any other `source`).
    let sources: BTreeSet<Source> = instances.iter().map(|i| i.source).collect();
    let src = |source: Source, k: u32| at_back(&format!("src_{}", source.name()), k);
    // Each bar followed by flat copies up to the next bar's interval: one pass over the sorted
    // bars, where looking up each interval's bar would cost L x (L + gap_fill) comparisons per
    // window (measured: most of a backtest's time). A window without an empty interval, the
    // usual case, is its bars as they are: Spark 4.2 reads each field of a bar inside such an
    // expression through a fresh copy of the session's configuration, and the fill read ten
    // per bar (measured: half of a backtest's window stage).
    let filled = format!(
        "IF(unix_micros(element_at(raw, -1).bar_end) - unix_micros(element_at(raw, 1).bar_end) \
         = (size(raw) - 1) * {bar_us}L, raw, \
         flatten(transform(raw, (r, i) -> transform(sequence(r.bar_end, \
         IF(i + 1 < size(raw), element_at(raw, i + 2).bar_end - INTERVAL {bar_s} SECONDS, \
         r.bar_end), INTERVAL {bar_s} SECONDS), \
         e -> IF(e = r.bar_end, r, named_struct('bar_end', e, \
         'bar_start', e - INTERVAL {bar_s} SECONDS, 'open', r.close, 'high', r.close, \
         'low', r.close, 'close', r.close, 'volume', 0D, 'trades', 0L))))))",
        bar_us = bar_s * 1_000_000,
    );
    // The series are taken from the bars in the same expression that makes them: read back
    // from the row a step writes, every bar costs one more of those configuration copies
    // (measured: the backtest's window stage 5.3-6.9 s of CPU against 6.6-7.2 s).
    let series = struct_of(
        std::iter::once(("w".to_string(), "w".to_string())).chain(
            sources
                .iter()
                .map(|s| (src(*s, 0), format!("transform(w, b -> {})", s.of("b")))),
        ),
    );
    out.extend([
        d(
            "the window: the bars of the last L intervals (from the first real bar on), an \
             empty interval a flat bar at the close before it (found up to gap_fill bars \
             before the L) with volume 0; and the series single-input indicators read",
            Step::Select(vec![
                "symbol".into(),
                "element_at(raw, -1) AS bar".into(),
                format!(
                    "{} AS win",
                    bind(
                        &filled,
                        "f",
                        &bind(
                            &format!("slice(f, greatest(size(f) - {lookback}, 0) + 1, {lookback})"),
                            "w",
                            &series
                        )
                    )
                ),
            ]),
        ),
        d(
            "",
            Step::Select(
                ["symbol", "bar", "win.w AS w"]
                    .map(String::from)
                    .into_iter()
                    .chain(
                        sources
                            .iter()
                            .map(|s| format!("win.{0} AS {0}", src(*s, 0))),
                    )
                    .collect(),
            ),
        ),
    ]);
    // Every column of the window at offset k (the window itself at 0).
    let columns = |k: u32| -> Vec<String> {
        std::iter::once(at_back("w", k))
            .chain(sources.iter().map(|s| src(*s, k)))
            .collect()
    };
    let earlier = || (1..=back).flat_map(columns);
    if back > 0 {
        out.push(d(
            "the same window without its last bars, for indicators at earlier bars",
            Step::Select(
                ["symbol".to_string(), "bar".into()]
                    .into_iter()
                    .chain(columns(0))
                    .chain((1..=back).flat_map(|k| {
                        columns(0)
                            .into_iter()
                            .zip(columns(k))
                            .map(move |(now, then)| {
                                format!("slice({now}, 1, greatest(size({now}) - {k}, 0)) AS {then}")
                            })
                    }))
                    .collect(),
            ),
        ));
    }
    let window = |i: &Instance, k: u32| Window {
        input: src(i.source, k),
        bars: at_back("w", k),
    };
    let base = |k: u32| {
        struct_of(
            instances
                .iter()
                .enumerate()
                .filter(|(_, i)| i.series.iter().any(|(name, _)| wanted(name, k)))
                .map(|(n, i)| (format!("i{n}"), i.kind.base(&window(i, k)))),
        )
    };
    out.push(d(
        "indicators, first pass (each kind's value, or what its outputs need)",
        Step::Select(
            ["symbol".to_string(), "bar".into()]
                .into_iter()
                .chain(columns(0))
                .chain(earlier())
                .chain((0..=back).map(|k| format!("{} AS {}", base(k), at_back("base", k))))
                .collect(),
        ),
    ));
    let ind = |k: u32| {
        let base_col = at_back("base", k);
        struct_of(instances.iter().enumerate().flat_map(|(n, i)| {
            let base_col = &base_col;
            i.series
                .iter()
                .filter(move |(name, _)| wanted(name, k))
                .map(move |(name, output)| {
                    (
                        name.clone(),
                        i.kind
                            .output(&window(i, k), &format!("{base_col}.i{n}"), output),
                    )
                })
        }))
    };
    out.push(d(
        "indicators at the last bar and at the earlier bars the rules read, by series name",
        Step::Select(
            [
                "symbol".into(),
                "bar".into(),
                "w".into(),
                "size(w) AS bars".into(),
            ]
            .into_iter()
            .chain((0..=back).map(|k| format!("{} AS {}", ind(k), at_back("ind", k))))
            .collect(),
        ),
    ));
    // Each condition once, in an array: reasons and action read its elements (written into
    // both, every condition would be planned five times over).
    let conditions: Vec<String> = rules
        .iter()
        .map(|r| format!("coalesce({}, false)", lang::sql::condition(&r.when)))
        .collect();
    out.push(d(
        "rules: whether each fired (built-in presets, then rules.custom)",
        Step::Select(vec![
            "symbol".into(),
            "bar".into(),
            "bars".into(),
            "ind".into(),
            if conditions.is_empty() {
                "CAST(array() AS ARRAY<BOOLEAN>) AS fired".into()
            } else {
                format!("array({}) AS fired", conditions.join(", "))
            },
        ]),
    ));
    let fired: Vec<Fired> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| Fired {
            condition: format!("fired[{i}]"),
            action: r.action,
            reason: r.reason.clone(),
        })
        .collect();
    out.push(d(
        "the reasons that fired, and the action",
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

/// The steps from trades to OHLCV bars (`symbol`, `bar_time`, `b`) of `bar_s` seconds.
fn bars(bar_s: u64, run: Run) -> Vec<Described> {
    let bar_us = bar_s * 1_000_000;
    let trades = "struct(ts, trade_id, price, qty)";
    let mut out = match run {
        // De-duplicating in the bar rather than in a stateful step of its own saves a shuffle
        // of every trade and a state store per micro-batch (measured: see
        // docs/performance.md); a repeat is the same trade, so it falls in the same bar.
        Run::Stream => vec![d(
            "bars: the set of trades of tumbling event-time windows per symbol; a trade sent \
             twice (a re-sent snapshot) counts once",
            // A set (hashed, linear) rather than a sorted list: open and close are the least
            // and greatest trades by (time, trade id), found in one pass each.
            Step::Aggregate {
                keys: vec![
                    format!("window(ts, '{bar_s} seconds') AS bar"),
                    "symbol".into(),
                ],
                aggs: vec![format!("collect_set({trades}) AS t")],
            },
        )],
        // A list costs less per trade than a set, and a batch job reads it once, at the end;
        // in the stream, where an open bar's trades go back to the state store every batch,
        // it measured slower than the set. Keyed by the bar's start as a number (the same
        // boundaries as `window`): the aggregate sorts its input by key, and a number sorts
        // by prefix where the window struct is compared whole (measured: 9% of the stage).
        Run::Batch => vec![
            d(
                "bars: the list of trades of tumbling event-time windows per symbol",
                Step::Aggregate {
                    keys: vec![
                        format!("unix_micros(ts) - pmod(unix_micros(ts), {bar_us}) AS bar_us"),
                        "symbol".into(),
                    ],
                    aggs: vec![format!("collect_list({trades}) AS t")],
                },
            ),
            d(
                "a trade sent twice (a re-sent snapshot) counts once",
                // Comparing whole trades is quadratic in the bar's trades: done only for a
                // bar whose trade ids repeat, found by a hashed pass over the ids.
                Step::Select(vec![
                    format!(
                        "named_struct('start', timestamp_micros(bar_us), \
                         'end', timestamp_micros(bar_us + {bar_us})) AS bar"
                    ),
                    "symbol".into(),
                    "IF(size(array_distinct(t.trade_id)) = size(t), t, array_distinct(t)) AS t"
                        .into(),
                ]),
            ),
        ],
    };
    out.push(d(
        "OHLCV (open and close by time, then trade id); a bar's event time is its \
         window_time, for the chained window",
        Step::Select(vec![
            "symbol".into(),
            match run {
                Run::Stream => "window_time(bar) AS bar_time".into(),
                Run::Batch => "timestamp_micros(unix_micros(bar.end) - 1) AS bar_time".into(),
            },
            "named_struct('bar_end', bar.end, 'bar_start', bar.start, \
             'open', array_min(t).price, 'high', array_max(t.price), \
             'low', array_min(t.price), 'close', array_max(t).price, \
             'volume', aggregate(t.qty, 0D, (v, q) -> v + q), \
             'trades', CAST(size(t) AS BIGINT)) AS b"
                .into(),
        ]),
    ));
    out
}

/// The steps from bars to each bar's lookback window (`symbol`, `window_end`, `raw`: the bars
/// ending in the `lookback_s` seconds up to and including the bar, sorted by end).
fn lookback_windows(bar_s: u64, lookback_s: u64, run: Run) -> Vec<Described> {
    let mut out = match run {
        // A stream has no frame over rows to come: each bar goes into every sliding window
        // it falls in, and a window is final when the watermark passes its end.
        Run::Stream => vec![
            d(
                "lookback: sliding windows of L + gap_fill bars, one per bar, the bars sorted \
                 by end",
                Step::Aggregate {
                    keys: vec![
                        format!(
                            "window(bar_time, '{lookback_s} seconds', '{bar_s} seconds') AS lw"
                        ),
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
        ],
        // The same bars from a frame over each symbol's bars in time order: no copy of every
        // bar into each of its L + gap_fill windows, and no shuffle of those copies
        // (measured: see docs/performance.md). The frames are computed per span of
        // `lookback_s` (each bar also copied, marked not its own, into the next span, where
        // the first frames reach back), so that one symbol's bars spread over every core.
        Run::Batch => {
            let span = format!("floor(unix_micros(b.bar_end) / {})", lookback_s * 1_000_000);
            vec![
                d(
                    "lookback: each bar in its span of the timeline, and a copy in the next",
                    Step::Select(vec![
                        "symbol".into(),
                        "b".into(),
                        "explode(array(true, false)) AS own".into(),
                    ]),
                ),
                d(
                    "",
                    Step::Select(vec![
                        "symbol".into(),
                        "b".into(),
                        "own".into(),
                        format!("{span} + IF(own, 0, 1) AS span"),
                    ]),
                ),
                d(
                    "the bars of the L + gap_fill intervals up to each bar, sorted by end",
                    Step::Select(vec![
                        "symbol".into(),
                        "own".into(),
                        "b.bar_end AS window_end".into(),
                        format!(
                            "array_sort(collect_list(b) OVER (PARTITION BY symbol, span \
                             ORDER BY unix_micros(b.bar_end) \
                             RANGE BETWEEN {} PRECEDING AND CURRENT ROW)) AS raw",
                            (lookback_s - bar_s) * 1_000_000
                        ),
                    ]),
                ),
                d(
                    "one window per bar, from its own span",
                    Step::Filter("own".into()),
                ),
            ]
        }
    };
    out.push(d(
        "a window belongs to the bar it ends with; windows ending on an empty interval \
         emit nothing",
        Step::Filter("element_at(raw, -1).bar_end = window_end".into()),
    ));
    out
}

/// Trade fields the query reads.
const USED_FIELDS: [&str; 6] = ["symbol", "trade_id", "price", "qty", "ts", "recv_ts"];

/// The part of `contract::TRADE_SPARK_SCHEMA` the query reads: the JSON parser then skips the
/// other fields instead of converting them.
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

/// The trade struct of [`parsed_schema`] from columns of those names, cast to its types.
fn columns_as_trade() -> String {
    let fields: Vec<String> = parsed_schema()
        .split(", ")
        .filter_map(|col| col.split_once(' '))
        .map(|(name, ty)| format!("'{name}', CAST({name} AS {ty})"))
        .collect();
    format!("named_struct({})", fields.join(", "))
}

/// A symbol in Kraken's notation (`BTC/USD`, `ETH2.S/ETH`): anything else (a newline that
/// would forge a line in a text sink, markup, an empty name) is a bad record.
pub const SYMBOL_PATTERN: &str = "^[A-Z0-9.]{1,20}/[A-Z0-9.]{1,20}$";

/// The condition for a usable trade, over the parsed struct `t`.
fn valid_trade(t: &str) -> String {
    let finite = |c: &str| format!("NOT isnan({t}.{c}) AND abs({t}.{c}) < double('infinity')");
    format!(
        "{t} IS NOT NULL AND {t}.symbol IS NOT NULL AND {t}.symbol RLIKE '{SYMBOL_PATTERN}' \
         AND {t}.trade_id IS NOT NULL AND {t}.ts IS NOT NULL \
         AND {t}.price > 0 AND {pf} AND {t}.qty >= 0 AND {qf}",
        pf = finite("price"),
        qf = finite("qty"),
    )
}

/// Whether the trade `t` is stamped more than `max_ahead_s` after its receipt (`recv_ts`);
/// `false` when `max_ahead_s` is 0 or the receipt time is missing.
///
/// Not the processing time (`current_timestamp()`): a streaming query inlines each batch's
/// time as a constant into the generated code of the stage that parses the trades, so Spark
/// compiled that stage anew every batch and the JVM ran it interpreted until the JIT compiled
/// it again (measured at 30k trades/s: batch p90 15-35% lower on `recv_ts`, the JIT compiling
/// less than half as much; docs/performance.md). The receipt time is also the same in a replay
/// of the topic as it was live, so a backtest keeps out exactly what the live query did.
fn too_far_ahead(t: &str, max_ahead_s: u64) -> String {
    if max_ahead_s == 0 {
        return "false".into();
    }
    format!("coalesce({t}.ts > {t}.recv_ts + INTERVAL {max_ahead_s} SECONDS, false)")
}

/// The column of `base` (`ind`, `closes`, `w`, ...) `k` bars before the last: `base` itself
/// for the last bar, `ind_prev` for the bar before, `ind_prev2` for the one before that.
fn at_back(base: &str, k: u32) -> String {
    if k == 0 {
        base.to_string()
    } else if k == 1 {
        format!("{base}_prev")
    } else {
        format!("{base}_prev{k}")
    }
}

/// `named_struct` of `fields` (name, expression); a struct with one null field when there are
/// none (Spark has no empty struct literal).
fn struct_of(fields: impl Iterator<Item = (String, String)>) -> String {
    let items: Vec<String> = fields.map(|(n, e)| format!("'{n}', {e}")).collect();
    if items.is_empty() {
        "named_struct('none', CAST(NULL AS DOUBLE))".into()
    } else {
        format!("named_struct({})", items.join(", "))
    }
}

/// A series `back` bars before the last, in the rules step: a field of the last bar (`bar`)
/// or of an earlier bar of the window (`w`), or an indicator value (`ind`, `ind_prev{k}`,
/// whose field names are the series names), all doubles; null before the window's first bar.
pub(crate) fn series(s: &Series, back: u32) -> String {
    match s {
        Series::Bar(f) => {
            let bar = match back {
                0 => "bar".to_string(),
                k => format!("try_element_at(w, -{})", k + 1),
            };
            // The bars keep their trade count a BIGINT, as the signal carries it.
            match f {
                BarField::Trades => format!("CAST({bar}.trades AS DOUBLE)"),
                f => format!("{bar}.{}", f.name()),
            }
        }
        Series::Indicator(name) => format!("{}.`{name}`", at_back("ind", back)),
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
    fn columns_enter_as_the_parsed_trade() {
        assert_eq!(
            columns_as_trade(),
            "named_struct('symbol', CAST(symbol AS STRING), 'trade_id', CAST(trade_id AS BIGINT), \
             'price', CAST(price AS DOUBLE), 'qty', CAST(qty AS DOUBLE), \
             'ts', CAST(ts AS TIMESTAMP), 'recv_ts', CAST(recv_ts AS TIMESTAMP))"
        );
        let s = Strategy::default();
        let (json, columns) = (steps(&s), steps_from(&s, Entry::Columns, Run::Stream));
        assert_eq!(json[1..], columns[1..]);
        assert_ne!(json[0], columns[0]);
    }

    #[test]
    fn a_batch_differs_only_in_its_bars_and_how_it_gathers_windows() {
        let s = Strategy::default();
        let (stream, batch) = (steps(&s), steps_from(&s, Entry::Json, Run::Batch));
        let at = |steps: &[Described], what: &str| {
            steps.iter().position(|d| d.what.starts_with(what)).unwrap()
        };
        let bars = at(&stream, "bars");
        assert_eq!(stream[..bars], batch[..bars]);
        let window = "the window: the bars of the last L intervals";
        assert_eq!(stream[at(&stream, window)..], batch[at(&batch, window)..]);
        assert!(describe(&stream).contains("collect_set"));
        let text = describe(&batch[bars..at(&batch, window)]);
        assert!(
            text.contains("collect_list(struct(ts, trade_id, price, qty))"),
            "{text}"
        );
        assert!(text.contains("array_distinct(t)"), "{text}");
        assert!(
            text.contains("unix_micros(ts) - pmod(unix_micros(ts), 60000000) AS bar_us"),
            "{text}"
        );
        // The default strategy's window: 120 one-minute intervals, the last one the bar's own.
        assert!(
            text.contains("RANGE BETWEEN 7140000000 PRECEDING AND CURRENT ROW"),
            "{text}"
        );
        assert!(
            text.contains("floor(unix_micros(b.bar_end) / 7200000000)"),
            "{text}"
        );
        assert!(!text.contains("window(bar_time"), "{text}");
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
                Step::Aggregate { .. } => "aggregate",
            })
            .collect();
        let order = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
        assert!(order("observe") < order("filter"));
        assert!(order("filter") < order("watermark"));
        assert!(order("watermark") < order("aggregate"));
        assert_eq!(kinds.iter().filter(|k| **k == "aggregate").count(), 2);
        let text = all_sql(&s);
        assert!(text.contains("window(ts, '60 seconds') AS bar"), "{text}");
        // L = 100 bars evaluated, 20 more (gap_fill) only to fill empty oldest intervals.
        assert!(
            text.contains("window(bar_time, '7200 seconds', '60 seconds') AS lw"),
            "{text}"
        );
        assert!(
            text.contains("slice(f, greatest(size(f) - 100, 0) + 1, 100)"),
            "{text}"
        );
        assert!(text.contains("WATERMARK ts DELAY 5000 milliseconds"));
        let mut fast = s.clone();
        fast.bars.watermark_delay_ms = Some(250);
        assert!(all_sql(&fast).contains("WATERMARK ts DELAY 250 milliseconds"));
        assert!(text.contains(
            "'symbol STRING, trade_id BIGINT, price DOUBLE, qty DOUBLE, ts TIMESTAMP, \
                       recv_ts TIMESTAMP'"
        ));
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
            text.contains("coalesce(t.ts > t.recv_ts + INTERVAL 300 SECONDS, false) AS ahead"),
            "{text}"
        );
        assert!(text.contains("count_if(valid AND ahead) AS ahead_records"));
        assert!(text.contains("WHERE valid AND NOT ahead"));
        assert!(text.contains("collect_set(struct(ts, trade_id, price, qty)) AS t"));
        s.source.max_ahead_s = 0;
        let text = all_sql(&s);
        assert!(text.contains("false AS ahead"), "{text}");
        assert!(!text.contains("recv_ts +"));
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
        assert!(text.contains("CAST(array() AS ARRAY<BOOLEAN>) AS fired"));
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
            "AS src_close_prev3",
            "AS w_prev3",
            "AS base_prev3",
            "AS ind_prev3",
            "AS ind_prev2",
            "try_element_at(w, -3).volume",
        ] {
            assert!(text.contains(column), "{column} missing: {text}");
        }
        for column in ["ind_prev4", "w_prev4"] {
            assert!(!text.contains(column), "{column}: {text}");
        }
        // After the built-in rules (6 of them), in file order; coalesced: a null condition does
        // not fire; each condition once, its reason read from the array.
        assert!(
            text.contains(", coalesce((((ind_prev3.`rsi` - 3e1D) < -1e-9D) AND"),
            "{text}"
        );
        assert!(text.contains("IF(fired[6], 'mine', NULL)"), "{text}");
        assert_eq!(text.matches("ind_prev3.`rsi` - 3e1D").count(), 1, "{text}");
        // Only what is read there: `rsi` at 3 bars back, nothing else.
        assert!(
            text.contains("named_struct('rsi', base_prev3.i3) AS ind_prev3"),
            "{text}"
        );
        // Without custom rules the query is what it was: the bar before only, and there only
        // the series the presets read (MACD and Bollinger are not enabled by default).
        let text = all_sql(&Strategy::default());
        assert!(!text.contains("_prev2") && text.contains("AS ind_prev"));
        assert_eq!(text.matches("'slow', 0D").count(), 1, "{text}");
        assert!(
            !text.contains("base_prev.i4") && text.contains("base_prev.i3"),
            "{text}"
        );
        // Rules that read no earlier indicator value need no earlier window.
        let mut s = with_custom("close > prev(close, 3)");
        s.rules.enabled.clear();
        let text = all_sql(&s);
        assert!(!text.contains("_prev"), "{text}");
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
                Step::Watermark { .. } => vec![],
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
