//! The strategy file: everything one streaming query needs, as TOML with a default for every
//! field.
//!
//! A strategy is the unit users reason about (one named query, one checkpoint, one set of
//! indicator periods and rules), so the whole file maps to one [`Strategy`]. Parsing rejects
//! unknown fields; [`Strategy::validate`] then reports every problem at once, each naming its
//! field, before anything talks to Spark. The `///` docs below are the user documentation
//! (README.md repeats them with the defaults).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::indicators::{Indicator, Instance, Kind, Named};
use crate::rules::Catalog;

/// Environment variable naming the root under which default checkpoints live.
pub const CHECKPOINT_ROOT_ENV: &str = "TRADESIGNAL_CHECKPOINT_ROOT";
/// How far back, in bars, a window's oldest empty intervals look for their close by default.
pub const DEFAULT_GAP_FILL_BARS: u32 = 20;
/// Largest lookback accepted: state grows with L² per symbol.
pub const MAX_LOOKBACK_BARS: u32 = 1000;

/// One trading strategy, run as one Spark Structured Streaming query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Strategy {
    /// Strategy name: part of every signal id (`name|symbol|bar_end`) and the default query
    /// name. Letters, digits, `_` and `-` only.
    pub name: String,
    /// Where trades come from.
    pub source: Source,
    /// How trades become bars and bars become lookback windows.
    pub bars: Bars,
    /// The indicators: the classic set's periods and thresholds, and named ones.
    pub indicators: IndicatorSet,
    /// Which rules make signals, and what goes out.
    pub rules: Rules,
    /// Where signals go.
    pub sink: Sink,
    /// How Spark runs the query.
    pub query: QuerySettings,
}

/// The Kafka source of trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Source {
    /// Kafka bootstrap servers as seen from the Spark executors.
    pub brokers: String,
    /// Topic of `contract::Trade` JSON values.
    pub topic: String,
    /// Where a query without a checkpoint starts: `earliest`, `latest`, or Spark's JSON form
    /// (`{"topic":{"0":42}}`). Ignored on resume: the checkpoint knows where it was.
    pub starting_offsets: String,
    /// Upper bound of Kafka records read per micro-batch (0 = no bound).
    pub max_offsets_per_trigger: u64,
    /// Trades stamped more than this many seconds after their receipt (`recv_ts`, the time
    /// ingest received them) are kept out of the bars and counted (`ahead_records` in
    /// `status`): one such trade would otherwise move the watermark, which every symbol
    /// shares, and every real trade until then would be dropped as late. The receipt time
    /// travels with the trade, so a backtest over the topic keeps out exactly what the live
    /// query did; a trade without one is not checked. 0 = off.
    pub max_ahead_s: u64,
    /// Fail the query when Kafka data it expected is gone (retention, topic recreated). On by
    /// default: trades lost silently make wrong bars and signals, so the query stops with
    /// Spark's error instead (`supervise` keeps retrying it and logs why) until a person
    /// decides. `false` skips what is lost and keeps running.
    pub fail_on_data_loss: bool,
    /// Extra Spark Kafka source options (e.g. `"kafka.security.protocol" = "SSL"`), passed as
    /// is. Options the typed fields above set are refused.
    pub options: BTreeMap<String, String>,
}

/// Bars and the lookback window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bars {
    /// Bar length in seconds (event time).
    pub interval_s: u64,
    /// How late (event time, seconds) a trade may arrive and still count in its bar. A bar is
    /// final, and its signal goes out, once trades `watermark_delay_s` past its end were seen.
    pub watermark_delay_s: u64,
    /// The same in milliseconds, for delays under a second (`500`); when set, it is the delay
    /// and `watermark_delay_s` must be left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_delay_ms: Option<u64>,
    /// Lookback L: indicators of a bar are computed over the L bars ending with it. Recursive
    /// indicators (EMA, RSI, MACD) restart at the window's first bar, so a larger L is closer
    /// to an unbounded series, at the cost of state growing with L² per symbol.
    pub lookback: u32,
    /// When a window's oldest intervals had no trade, they are flat bars at the last close
    /// before the window, looked for up to this many bars further back; the indicators then
    /// equal TA-Lib's on the forward-filled series. A silence reaching further back (or the
    /// start of a symbol's history) starts the window at its first real bar instead (its
    /// `bars` < L). State grows with L·(L + gap_fill) per symbol.
    pub gap_fill: u32,
}

/// The `[indicators]` section: the classic set (keys directly under `[indicators]`) and any
/// number of named indicators (`[indicators.NAME]` tables with a `kind` and its parameters).
///
/// The classic set (series `sma_fast`, `sma_slow`, `ema`, `rsi`, `macd`, `macd_signal`,
/// `macd_hist`, `bb_upper`, `bb_middle`, `bb_lower`, which the built-in rules read) is computed
/// when the file sets any of its keys or names no indicator of its own, so a file written
/// before named indicators existed runs unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "toml::Table", into = "toml::Table")]
pub struct IndicatorSet {
    /// Whether the classic set is computed.
    pub classic_on: bool,
    /// The classic set's periods and thresholds.
    pub classic: IndicatorParams,
    /// The named indicators, by name.
    pub named: Named,
}

/// The classic set's periods (in bars) and thresholds. Definitions are TA-Lib's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndicatorParams {
    /// Period of the fast simple moving average.
    pub sma_fast: u32,
    /// Period of the slow simple moving average.
    pub sma_slow: u32,
    /// Period of the exponential moving average (seeded with the SMA of its first bars).
    pub ema: u32,
    /// Period of Wilder's RSI.
    pub rsi: u32,
    /// RSI below this is oversold; leaving it upward is a BUY rule.
    pub rsi_oversold: f64,
    /// RSI above this is overbought; leaving it downward is a SELL rule.
    pub rsi_overbought: f64,
    /// MACD fast EMA period.
    pub macd_fast: u32,
    /// MACD slow EMA period.
    pub macd_slow: u32,
    /// MACD signal-line EMA period.
    pub macd_signal: u32,
    /// Bollinger bands period.
    pub bb_period: u32,
    /// Bollinger bands width in population standard deviations.
    pub bb_k: f64,
}

/// Rules and emission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Built-in rules that make signals; see [`Rule`]. Default `sma_cross`, `ema_cross`, `rsi`
    /// in a file that computes the classic indicators, none in one that only names its own.
    pub enabled: Vec<Rule>,
    /// Emit a record for every closed bar (action HOLD when no rule fired), not only bars
    /// where a rule fired.
    pub every_bar: bool,
    /// The strategy's own rules, `[[rules.custom]]` tables, after the built-in ones.
    pub custom: Vec<CustomRule>,
}

/// A rule of the strategy's own: when its condition holds at a bar, the bar gets its action
/// and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// `BUY` or `SELL`.
    pub action: contract::Action,
    /// The condition, in the rule language (README, "Rule language"), e.g.
    /// `crosses_above(close, ema) and rsi < 60`.
    pub when: String,
    /// What the signal's `reasons` lists when it fires: snake_case, unique in the strategy.
    pub reason: String,
}

/// A rule is one or two crossings between an indicator and a line, each with its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Fast SMA crosses above (BUY `sma_cross_up`) or below (SELL `sma_cross_down`) the slow SMA.
    SmaCross,
    /// Close crosses above (BUY `ema_cross_up`) or below (SELL `ema_cross_down`) the EMA.
    EmaCross,
    /// RSI leaves the oversold zone upward (BUY `rsi_exit_oversold`) or the overbought zone
    /// downward (SELL `rsi_exit_overbought`).
    Rsi,
    /// MACD crosses above (BUY `macd_cross_up`) or below (SELL `macd_cross_down`) its signal line.
    MacdCross,
    /// Close comes back up through the lower band (BUY `bb_reenter_lower`) or down through the
    /// upper band (SELL `bb_reenter_upper`).
    Bollinger,
}

impl Bars {
    /// How late a trade may arrive and still count in its bar.
    pub fn watermark_delay(&self) -> std::time::Duration {
        match self.watermark_delay_ms {
            Some(ms) => std::time::Duration::from_millis(ms),
            None => std::time::Duration::from_secs(self.watermark_delay_s),
        }
    }
}

/// The Kafka sink of signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sink {
    /// Kafka bootstrap servers as seen from the Spark executors; empty = `source.brokers`.
    pub brokers: String,
    /// Topic the `contract::Signal` JSON goes to (key = symbol).
    pub topic: String,
    /// Extra Spark Kafka sink options (e.g. `"kafka.compression.type" = "lz4"`). Options the
    /// typed fields set are refused.
    pub options: BTreeMap<String, String>,
}

/// How Spark runs the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySettings {
    /// Streaming query name, shown in the Spark UI; empty = the strategy name. Must be unique
    /// among running queries.
    pub name: String,
    /// Checkpoint directory; empty = `<root>/<query name>`, the root from [`checkpoint_root`]
    /// (`$TRADESIGNAL_CHECKPOINT_ROOT`, else `$XDG_STATE_HOME/tradesignal/checkpoints`, else
    /// `~/.local/state/tradesignal/checkpoints`, as the submitting process sees them). The
    /// Spark driver (the Connect server) and its executors read and write it: on the local
    /// stack that is this machine; on a cluster it must be storage they all share (HDFS, S3,
    /// a shared volume) given as a path or any Hadoop URI.
    pub checkpoint_location: String,
    /// Micro-batch trigger interval in milliseconds.
    pub trigger_interval_ms: u64,
    /// `spark.sql.shuffle.partitions` for this query (fixed at its first start, kept in the
    /// checkpoint); 0 = the server's setting. Size it to the cluster's cores.
    pub shuffle_partitions: u32,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy {
            name: "default".into(),
            source: Source::default(),
            bars: Bars::default(),
            indicators: IndicatorSet::default(),
            rules: Rules::default(),
            sink: Sink::default(),
            query: QuerySettings::default(),
        }
    }
}

impl Default for Source {
    fn default() -> Self {
        Source {
            brokers: "127.0.0.1:9092".into(),
            topic: "market.trades".into(),
            starting_offsets: "latest".into(),
            max_offsets_per_trigger: 200_000,
            max_ahead_s: 300,
            fail_on_data_loss: true,
            options: BTreeMap::new(),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Bars {
            interval_s: 60,
            watermark_delay_s: 5,
            watermark_delay_ms: None,
            lookback: 100,
            gap_fill: DEFAULT_GAP_FILL_BARS,
        }
    }
}

impl Default for IndicatorSet {
    fn default() -> Self {
        IndicatorSet {
            classic_on: true,
            classic: IndicatorParams::default(),
            named: BTreeMap::new(),
        }
    }
}

impl TryFrom<toml::Table> for IndicatorSet {
    type Error = String;

    /// Keys with a table value are named indicators, the others the classic set's.
    fn try_from(table: toml::Table) -> Result<Self, String> {
        let (tables, classic): (toml::Table, toml::Table) =
            table.into_iter().partition(|(_, v)| v.is_table());
        let classic_on = !classic.is_empty() || tables.is_empty();
        let classic: IndicatorParams =
            classic.try_into().map_err(|e| format!("indicators: {e}"))?;
        let mut named = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, value) in tables {
            let table = value.as_table().expect("partitioned on is_table");
            match Indicator::from_table(table) {
                Ok(indicator) => {
                    named.insert(name, indicator);
                }
                Err(e) => errors.extend(
                    e.into_iter()
                        .map(|e| format!("indicators.{name}.{}: {}", e.key, e.reason)),
                ),
            }
        }
        if errors.is_empty() {
            Ok(IndicatorSet {
                classic_on,
                classic,
                named,
            })
        } else {
            Err(errors.join("; "))
        }
    }
}

impl From<IndicatorSet> for toml::Table {
    fn from(set: IndicatorSet) -> toml::Table {
        let mut table = if set.classic_on {
            toml::Table::try_from(&set.classic).expect("the classic set is a table")
        } else {
            toml::Table::new()
        };
        for (name, kind) in &set.named {
            table.insert(name.clone(), toml::Value::Table(kind.to_table()));
        }
        table
    }
}

impl IndicatorSet {
    /// Every indicator computed, the classic set first, then the named ones by name.
    pub fn instances(&self) -> Vec<Instance> {
        let mut out = Vec::new();
        if self.classic_on {
            let c = &self.classic;
            let flat = |name: &str, kind: Kind, series: &[(&str, &'static str)]| Instance {
                series: series.iter().map(|(s, o)| (s.to_string(), *o)).collect(),
                ..Instance::named(name, kind.into())
            };
            out.push(Instance::named(
                "sma_fast",
                Kind::Sma { period: c.sma_fast }.into(),
            ));
            out.push(Instance::named(
                "sma_slow",
                Kind::Sma { period: c.sma_slow }.into(),
            ));
            out.push(Instance::named("ema", Kind::Ema { period: c.ema }.into()));
            out.push(Instance::named("rsi", Kind::Rsi { period: c.rsi }.into()));
            out.push(flat(
                "macd",
                Kind::Macd {
                    fast: c.macd_fast,
                    slow: c.macd_slow,
                    signal: c.macd_signal,
                },
                &[
                    ("macd", "macd"),
                    ("macd_signal", "signal"),
                    ("macd_hist", "hist"),
                ],
            ));
            out.push(flat(
                "bb",
                Kind::Bbands {
                    period: c.bb_period,
                    k: c.bb_k,
                },
                &[
                    ("bb_upper", "upper"),
                    ("bb_middle", "middle"),
                    ("bb_lower", "lower"),
                ],
            ));
        }
        out.extend(
            self.named
                .iter()
                .map(|(name, kind)| Instance::named(name, kind.clone())),
        );
        out
    }
}

impl Default for IndicatorParams {
    fn default() -> Self {
        IndicatorParams {
            sma_fast: 10,
            sma_slow: 30,
            ema: 21,
            rsi: 14,
            rsi_oversold: 30.0,
            rsi_overbought: 70.0,
            macd_fast: 12,
            macd_slow: 26,
            macd_signal: 9,
            bb_period: 20,
            bb_k: 2.0,
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            enabled: vec![Rule::SmaCross, Rule::EmaCross, Rule::Rsi],
            every_bar: false,
            custom: Vec::new(),
        }
    }
}

impl Default for Sink {
    fn default() -> Self {
        Sink {
            brokers: String::new(),
            topic: "signals".into(),
            options: BTreeMap::new(),
        }
    }
}

impl Default for QuerySettings {
    fn default() -> Self {
        QuerySettings {
            name: String::new(),
            checkpoint_location: String::new(),
            trigger_interval_ms: 1000,
            shuffle_partitions: 0,
        }
    }
}

/// One problem in a strategy file, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `indicators.sma_fast`.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Why a strategy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("cannot read strategy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax, a wrong type or an unknown field: toml's message names the field and line.
    #[error("invalid strategy file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid strategy file {path}:\n  {}", join(.errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<FieldError>,
    },
    /// A `--set KEY=VALUE` that cannot be applied.
    #[error("--set {key}: {reason}")]
    Override { key: String, reason: String },
    /// Each strategy is its own query, found by name: two of one name would fight over it.
    #[error(
        "two strategies have the query name `{0}`; give one a different `name` or `query.name`"
    )]
    DuplicateQueryName(String),
}

/// Where a strategy comes from when no file is given: the built-in defaults.
pub const BUILT_IN: &str = "(built-in defaults)";

/// The strategies of `paths` (the built-in defaults when there is none), each with `overrides`
/// applied. Their query names must differ.
pub fn load_all(paths: &[PathBuf], overrides: &[Override]) -> Result<Vec<Strategy>, StrategyError> {
    let strategies: Vec<Strategy> = if paths.is_empty() {
        vec![Strategy::from_toml_with(
            "",
            Path::new(BUILT_IN),
            overrides,
        )?]
    } else {
        paths
            .iter()
            .map(|p| Strategy::load_with(p, overrides))
            .collect::<Result<_, _>>()?
    };
    let mut names: Vec<&str> = strategies.iter().map(Strategy::query_name).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(StrategyError::DuplicateQueryName(w[0].to_string()));
    }
    Ok(strategies)
}

/// One `KEY=VALUE` override of a strategy field (`--set bars.interval_s=5`): KEY is the
/// field's dotted path, VALUE a TOML value (`5`, `true`, `"x"`, `["a", "b"]`) or else taken as
/// a plain string (`--set source.brokers=kafka:9092`).
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: toml::Value,
}

impl std::str::FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((key, raw)) = s.split_once('=') else {
            return Err(format!("expected KEY=VALUE, got `{s}`"));
        };
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!(
                "`{key}` is not a dotted field path like bars.interval_s"
            ));
        }
        let raw = raw.trim();
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        Ok(Override {
            key: key.to_string(),
            value,
        })
    }
}

impl Override {
    fn apply(&self, table: &mut toml::Table) -> Result<(), StrategyError> {
        let mut parts: Vec<&str> = self.key.split('.').collect();
        let last = parts.pop().expect("FromStr refuses an empty key");
        let mut current = table;
        for part in parts {
            let next = current
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = next.as_table_mut().ok_or_else(|| StrategyError::Override {
                key: self.key.clone(),
                reason: format!("`{part}` is a value, not a section"),
            })?;
        }
        current.insert(last.to_string(), self.value.clone());
        Ok(())
    }
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Source options set from typed fields, refused in `source.options`.
const SOURCE_OWNED: &[&str] = &[
    "kafka.bootstrap.servers",
    "subscribe",
    "subscribePattern",
    "assign",
    "startingOffsets",
    "maxOffsetsPerTrigger",
    "failOnDataLoss",
];
/// Sink options set from typed fields, refused in `sink.options`.
const SINK_OWNED: &[&str] = &["kafka.bootstrap.servers", "topic", "checkpointLocation"];

impl Strategy {
    /// Parses and validates TOML text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Strategy, StrategyError> {
        Strategy::from_toml_with(text, path, &[])
    }

    /// [`Strategy::from_toml`] with `overrides` applied to the parsed file before it is read
    /// as a strategy, so an override is checked exactly like the field in the file.
    pub fn from_toml_with(
        text: &str,
        path: &Path,
        overrides: &[Override],
    ) -> Result<Strategy, StrategyError> {
        let parse_error = |e: &dyn fmt::Display| StrategyError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_error(&e))?;
        for o in overrides {
            o.apply(&mut table)?;
        }
        let enabled_given = table.get("rules").and_then(|r| r.get("enabled")).is_some();
        let bars = table_keys(&table, "bars");
        let both_delays = ["watermark_delay_s", "watermark_delay_ms"]
            .iter()
            .all(|k| bars.iter().any(|b| b == k));
        let mut strategy: Strategy = table.try_into().map_err(|e| parse_error(&e))?;
        // The presets read the classic set: a file that names its own indicators instead gets
        // none of them unless it asks.
        if !strategy.indicators.classic_on && !enabled_given {
            strategy.rules.enabled.clear();
        }
        let mut errors = strategy.validate();
        if both_delays {
            errors.push(FieldError {
                field: "bars.watermark_delay_ms".into(),
                reason: "and bars.watermark_delay_s both set the delay; keep one".into(),
            });
        }
        if errors.is_empty() {
            Ok(strategy)
        } else {
            Err(StrategyError::Invalid {
                path: path.to_path_buf(),
                errors,
            })
        }
    }

    /// Reads, parses and validates a strategy file.
    pub fn load(path: &Path) -> Result<Strategy, StrategyError> {
        Strategy::load_with(path, &[])
    }

    /// [`Strategy::load`] with `overrides` applied.
    pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Strategy, StrategyError> {
        let text = std::fs::read_to_string(path).map_err(|source| StrategyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Strategy::from_toml_with(&text, path, overrides)
    }

    /// Every problem of this strategy, each naming its field; empty when it is usable.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, field: &str, reason: String| {
            if !ok {
                errors.push(FieldError {
                    field: field.to_string(),
                    reason,
                });
            }
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        check(
            name_ok(&self.name),
            "name",
            format!("`{}` must be 1-100 letters, digits, `_` or `-`", self.name),
        );
        check(
            self.query.name.is_empty() || name_ok(&self.query.name),
            "query.name",
            format!(
                "`{}` must be 1-100 letters, digits, `_` or `-`",
                self.query.name
            ),
        );
        check(
            !self.source.brokers.trim().is_empty(),
            "source.brokers",
            "must name at least one host:port".into(),
        );
        check(
            !self.source.topic.trim().is_empty(),
            "source.topic",
            "must not be empty".into(),
        );
        let so = self.source.starting_offsets.trim();
        check(
            so == "earliest" || so == "latest" || so.starts_with('{'),
            "source.starting_offsets",
            format!("`{so}` must be `earliest`, `latest` or a JSON object of offsets"),
        );
        check(
            !self.sink.topic.trim().is_empty(),
            "sink.topic",
            "must not be empty".into(),
        );
        check(
            self.sink.topic != self.source.topic,
            "sink.topic",
            "must differ from source.topic".into(),
        );
        for key in self.source.options.keys() {
            check(
                !SOURCE_OWNED.contains(&key.as_str()),
                &format!("source.options.{key}"),
                "is set by a typed field of [source]; use that field".into(),
            );
        }
        for key in self.sink.options.keys() {
            check(
                !SINK_OWNED.contains(&key.as_str()),
                &format!("sink.options.{key}"),
                "is set by a typed field of [sink] or [query]; use that field".into(),
            );
        }

        let b = &self.bars;
        check(
            b.interval_s >= 1 && b.interval_s <= 7 * 24 * 3600,
            "bars.interval_s",
            format!("{} must be between 1 and 604800 seconds", b.interval_s),
        );
        check(
            b.watermark_delay_s <= 7 * 24 * 3600,
            "bars.watermark_delay_s",
            format!("{} must be at most 604800 seconds", b.watermark_delay_s),
        );
        if let Some(ms) = b.watermark_delay_ms {
            check(
                ms <= 7 * 24 * 3600 * 1000,
                "bars.watermark_delay_ms",
                format!("{ms} must be at most 604800000 ms"),
            );
        }
        check(
            (2..=MAX_LOOKBACK_BARS).contains(&b.lookback),
            "bars.lookback",
            format!(
                "{} must be between 2 and {MAX_LOOKBACK_BARS} bars",
                b.lookback
            ),
        );
        check(
            b.gap_fill <= MAX_LOOKBACK_BARS,
            "bars.gap_fill",
            format!("{} must be at most {MAX_LOOKBACK_BARS} bars", b.gap_fill),
        );

        let i = &self.indicators.classic;
        if self.indicators.classic_on {
            for (field, value) in [
                ("indicators.sma_fast", i.sma_fast),
                ("indicators.sma_slow", i.sma_slow),
                ("indicators.ema", i.ema),
                ("indicators.rsi", i.rsi),
                ("indicators.macd_fast", i.macd_fast),
                ("indicators.macd_slow", i.macd_slow),
                ("indicators.bb_period", i.bb_period),
            ] {
                check(
                    (2..=MAX_LOOKBACK_BARS).contains(&value),
                    field,
                    format!("{value} must be between 2 and {MAX_LOOKBACK_BARS} bars"),
                );
            }
            check(
                (1..=MAX_LOOKBACK_BARS).contains(&i.macd_signal),
                "indicators.macd_signal",
                format!(
                    "{} must be between 1 and {MAX_LOOKBACK_BARS} bars",
                    i.macd_signal
                ),
            );
            check(
                i.sma_fast < i.sma_slow,
                "indicators.sma_fast",
                format!(
                    "{} must be less than indicators.sma_slow ({})",
                    i.sma_fast, i.sma_slow
                ),
            );
            check(
                i.macd_fast < i.macd_slow,
                "indicators.macd_fast",
                format!(
                    "{} must be less than indicators.macd_slow ({})",
                    i.macd_fast, i.macd_slow
                ),
            );
            check(
                i.rsi_oversold > 0.0 && i.rsi_oversold < 100.0,
                "indicators.rsi_oversold",
                format!("{} must be strictly between 0 and 100", i.rsi_oversold),
            );
            check(
                i.rsi_overbought > 0.0 && i.rsi_overbought < 100.0,
                "indicators.rsi_overbought",
                format!("{} must be strictly between 0 and 100", i.rsi_overbought),
            );
            check(
                i.rsi_oversold < i.rsi_overbought,
                "indicators.rsi_oversold",
                format!(
                    "{} must be less than indicators.rsi_overbought ({})",
                    i.rsi_oversold, i.rsi_overbought
                ),
            );
            check(
                i.bb_k.is_finite() && i.bb_k > 0.0,
                "indicators.bb_k",
                format!("{} must be a positive number", i.bb_k),
            );
        }

        let catalog = self.catalog();
        let classic_names: Vec<String> = IndicatorSet {
            named: BTreeMap::new(),
            ..self.indicators.clone()
        }
        .instances()
        .into_iter()
        .flat_map(|i| i.series.into_iter().map(|(name, _)| name))
        .collect();
        for (name, kind) in &self.indicators.named {
            let field = format!("indicators.{name}");
            if let Err(reason) = crate::indicators::valid_name(name) {
                check(false, &field, reason);
            }
            let clash = Instance::named(name, kind.clone())
                .series
                .into_iter()
                .find(|(s, _)| classic_names.contains(s));
            if let Some((series, _)) = clash {
                check(
                    false,
                    &field,
                    format!(
                        "`{series}` is a series of the classic set, which this file computes \
                         (it sets classic keys under [indicators]); choose another name"
                    ),
                );
            }
        }

        check(
            !self.rules.enabled.is_empty() || !self.rules.custom.is_empty() || self.rules.every_bar,
            "rules.enabled",
            "is empty, so is rules.custom, and rules.every_bar is false: the query would never \
             emit anything"
                .into(),
        );
        // Presets read the classic set: without it their names are unknown.
        for rule in &self.rules.enabled {
            if !self.indicators.classic_on {
                check(
                    false,
                    "rules.enabled",
                    format!(
                        "`{}` reads the classic indicators, which this file does not compute \
                         (it names its own and sets no classic key): set `enabled = []` or \
                         write the rule with your indicators under [[rules.custom]]",
                        rule.name()
                    ),
                );
                continue;
            }
            let need = rule
                .presets(i)
                .iter()
                .map(|r| {
                    let when = crate::lang::compile(&r.when, &catalog)
                        .unwrap_or_else(|e| panic!("preset {}: {e:?}", r.when));
                    needed_bars(&when, &catalog).0
                })
                .max()
                .unwrap_or(1);
            check(
                b.lookback >= need,
                "bars.lookback",
                format!(
                    "{} is too short for rule `{}`: it needs {need} bars (its indicators at \
                     the bar before the last)",
                    b.lookback,
                    rule.name()
                ),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for rule in &self.rules.enabled {
            check(
                seen.insert(*rule),
                "rules.enabled",
                format!("`{}` is listed twice", rule.name()),
            );
        }
        let mut reasons: Vec<String> = if self.indicators.classic_on {
            crate::rules::enabled_presets(&self.rules.enabled, i)
                .into_iter()
                .map(|r| r.reason)
                .collect()
        } else {
            Vec::new()
        };
        for (n, rule) in self.rules.custom.iter().enumerate() {
            let field = |f: &str| format!("rules.custom[{n}].{f}");
            check(
                rule.action != contract::Action::Hold,
                &field("action"),
                "must be BUY or SELL (HOLD is what a bar gets when no rule fired)".into(),
            );
            match crate::lang::compile(&rule.when, &catalog) {
                Err(e) => check(false, &field("when"), e.render(&rule.when)),
                Ok(when) => {
                    // A series the window can never hold is a mistake.
                    let (need, name) = needed_bars(&when, &catalog);
                    check(
                        b.lookback >= need,
                        "bars.lookback",
                        format!(
                            "{} is too short for rules.custom[{n}]: `{name}` as far back as it \
                             reads needs {need} bars",
                            b.lookback,
                        ),
                    );
                }
            }
            let snake = |r: &str| {
                r.len() <= 64
                    && r.starts_with(|c: char| c.is_ascii_lowercase())
                    && r.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            };
            check(
                snake(&rule.reason),
                &field("reason"),
                format!(
                    "`{}` must be 1-64 lowercase letters, digits or `_`, starting with a letter",
                    rule.reason
                ),
            );
            check(
                !reasons.contains(&rule.reason),
                &field("reason"),
                format!("`{}` is the reason of another rule", rule.reason),
            );
            reasons.push(rule.reason.clone());
        }

        let q = &self.query;
        check(
            q.trigger_interval_ms >= 100,
            "query.trigger_interval_ms",
            format!("{} must be at least 100 ms", q.trigger_interval_ms),
        );
        check(
            q.shuffle_partitions <= 10_000,
            "query.shuffle_partitions",
            format!("{} must be at most 10000", q.shuffle_partitions),
        );
        errors
    }

    /// What this strategy's rules can read: the bar's fields and its indicators' values.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(&self.indicators.instances())
    }

    /// Every rule of the strategy, compiled: the enabled presets (in [`Rule::ALL`] order), then
    /// `rules.custom` in file order (the order of a signal's `reasons`). Panics on a rule that
    /// does not compile: [`Strategy::validate`] reports those, and every strategy from a file
    /// or `--set` is validated.
    pub fn compiled_rules(&self) -> Vec<crate::lang::Rule> {
        let presets = if self.indicators.classic_on {
            crate::rules::enabled_presets(&self.rules.enabled, &self.indicators.classic)
        } else {
            Vec::new()
        };
        let all: Vec<CustomRule> = presets
            .into_iter()
            .chain(self.rules.custom.iter().cloned())
            .collect();
        crate::lang::compile_rules(&all, &self.catalog())
            .unwrap_or_else(|(i, e)| panic!("rule {i} of a validated strategy: {e:?}"))
    }

    /// The reasons of BUY and SELL rules that may fire on the same bar (see
    /// [`crate::lang::conflict`]), in rule order. Such a bar is HOLD, with both reasons listed.
    pub fn conflicts(&self) -> Vec<(String, String)> {
        let rules = self.compiled_rules();
        let side = |a: contract::Action| rules.iter().filter(move |r| r.action == a);
        side(contract::Action::Buy)
            .flat_map(|b| {
                side(contract::Action::Sell)
                    .filter(|s| !crate::lang::conflict::exclusive(&b.when, &s.when))
                    .map(|s| (b.reason.clone(), s.reason.clone()))
            })
            .collect()
    }

    /// The streaming query name: `query.name`, else the strategy name.
    pub fn query_name(&self) -> &str {
        if self.query.name.is_empty() {
            &self.name
        } else {
            &self.query.name
        }
    }

    /// Sink brokers: `sink.brokers`, else `source.brokers`.
    pub fn sink_brokers(&self) -> &str {
        if self.sink.brokers.is_empty() {
            &self.source.brokers
        } else {
            &self.sink.brokers
        }
    }

    /// The checkpoint directory: `query.checkpoint_location`, else
    /// `<checkpoint root>/<query name>` (see [`checkpoint_root`]).
    pub fn checkpoint_location(&self) -> String {
        if !self.query.checkpoint_location.is_empty() {
            return self.query.checkpoint_location.clone();
        }
        let root = checkpoint_root(|name| std::env::var(name).ok());
        format!("{}/{}", root.trim_end_matches('/'), self.query_name())
    }
}

/// The keys of section `name` of a strategy table.
fn table_keys(table: &toml::Table, name: &str) -> Vec<String> {
    table
        .get(name)
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Bars a window needs for everything `when` reads, as far back as it reads it, and the name
/// of the series that needs the most.
fn needed_bars(when: &crate::lang::Cond, catalog: &Catalog) -> (u32, String) {
    let mut need = (0, String::new());
    when.reads(&mut |s, back| {
        let n = catalog.entry(s).min_bars + back;
        if n > need.0 {
            need = (n, s.name().to_string());
        }
    });
    need
}

/// The root of default checkpoints, given the environment `var`: [`CHECKPOINT_ROOT_ENV`], else
/// `$XDG_STATE_HOME/tradesignal/checkpoints`, else `$HOME/.local/state/tradesignal/checkpoints`,
/// else `/var/lib/tradesignal/checkpoints`. Not /tmp: a reboot or a tmp cleaner empties it, and
/// a query whose checkpoint is gone starts over (`starting_offsets`) with its state lost. The
/// XDG state directory is for exactly this: state that must outlive a restart.
pub fn checkpoint_root(var: impl Fn(&str) -> Option<String>) -> String {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(root) = var(CHECKPOINT_ROOT_ENV) {
        return root;
    }
    // The XDG spec ignores a relative XDG_STATE_HOME.
    if let Some(state) = var("XDG_STATE_HOME").filter(|s| s.starts_with('/')) {
        return format!("{}/tradesignal/checkpoints", state.trim_end_matches('/'));
    }
    match var("HOME") {
        Some(home) => format!(
            "{}/.local/state/tradesignal/checkpoints",
            home.trim_end_matches('/')
        ),
        None => "/var/lib/tradesignal/checkpoints".into(),
    }
}

impl Rule {
    /// All rules, in the order reasons are listed.
    pub const ALL: [Rule; 5] = [
        Rule::SmaCross,
        Rule::EmaCross,
        Rule::Rsi,
        Rule::MacdCross,
        Rule::Bollinger,
    ];

    /// The name used in strategy files.
    pub fn name(self) -> &'static str {
        match self {
            Rule::SmaCross => "sma_cross",
            Rule::EmaCross => "ema_cross",
            Rule::Rsi => "rsi",
            Rule::MacdCross => "macd_cross",
            Rule::Bollinger => "bollinger",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Strategy, StrategyError> {
        Strategy::from_toml(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_is_the_default_strategy() {
        let s = parse("").unwrap();
        assert_eq!(s, Strategy::default());
        assert_eq!(s.query_name(), "default");
        assert_eq!(s.sink_brokers(), "127.0.0.1:9092");
        assert!(s.validate().is_empty());
    }

    #[test]
    fn shipped_default_file_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/default.toml");
        let s = Strategy::load(&path).unwrap();
        assert_eq!(s, Strategy::default());
    }

    #[test]
    fn fields_override_defaults() {
        let s = parse(
            r#"
            name = "fast"
            [bars]
            interval_s = 5
            lookback = 50
            [rules]
            enabled = ["macd_cross", "bollinger"]
            every_bar = true
            [query]
            name = "fast_q"
            checkpoint_location = "/data/ck"
            "#,
        )
        .unwrap();
        assert_eq!(s.bars.interval_s, 5);
        assert_eq!(s.bars.watermark_delay_s, 5);
        let fast = parse("[bars]\nwatermark_delay_ms = 300\n").unwrap();
        assert_eq!(
            fast.bars.watermark_delay(),
            std::time::Duration::from_millis(300)
        );
        let both = parse("[bars]\nwatermark_delay_ms = 300\nwatermark_delay_s = 1\n");
        assert!(both.unwrap_err().to_string().contains("both set the delay"));
        assert_eq!(s.rules.enabled, vec![Rule::MacdCross, Rule::Bollinger]);
        assert_eq!(s.query_name(), "fast_q");
        assert_eq!(s.checkpoint_location(), "/data/ck");
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse("[bars]\nlookbak = 3\n").unwrap_err().to_string();
        assert!(err.contains("lookbak"), "{err}");
        let err = parse("[rules]\nenabled = [\"golden_cross\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("golden_cross"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = parse("[bars]\nlookback = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lookback"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let err = parse(
            r#"
            name = "bad name"
            [source]
            starting_offsets = "yesterday"
            options = { subscribe = "x" }
            [bars]
            interval_s = 0
            lookback = 20
            [indicators]
            sma_fast = 40
            rsi_oversold = 80.0
            bb_k = -1.0
            [sink]
            topic = "market.trades"
            [query]
            trigger_interval_ms = 10
            "#,
        )
        .unwrap_err();
        let StrategyError::Invalid { errors, .. } = &err else {
            panic!("{err}")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for field in [
            "name",
            "source.starting_offsets",
            "source.options.subscribe",
            "bars.interval_s",
            "bars.lookback",
            "indicators.sma_fast",
            "indicators.rsi_oversold",
            "indicators.bb_k",
            "sink.topic",
            "query.trigger_interval_ms",
        ] {
            assert!(fields.contains(&field), "{field} missing in {err}");
        }
        // The message lists each problem on its own line.
        assert!(
            err.to_string().contains("\n  bars.interval_s: 0 must be"),
            "{err}"
        );
    }

    #[test]
    fn lookback_must_cover_every_enabled_rule() {
        let mut s = Strategy::default();
        s.rules.enabled = vec![Rule::MacdCross];
        s.bars.lookback = 34;
        let errors = s.validate();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].reason.contains("macd_cross"));
        s.bars.lookback = 35;
        assert!(s.validate().is_empty());
    }

    #[test]
    fn custom_rules_sit_next_to_the_presets_and_are_checked() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/trend_rsi.toml");
        let s = Strategy::load(&path).unwrap();
        assert!(s.rules.enabled.is_empty());
        assert_eq!(s.rules.custom[0].reason, "trend_entry");
        assert_eq!(s.rules.custom[1].action, contract::Action::Sell);

        let err = parse(
            r#"
            [rules]
            every_bar = true
            [[rules.custom]]
            action = "HOLD"
            when = "rsi and 3"
            reason = "Bad Reason"
            [[rules.custom]]
            action = "SELL"
            when = "rsi > 70"
            reason = "sma_cross_up"
            "#,
        )
        .unwrap_err();
        let StrategyError::Invalid { errors, .. } = &err else {
            panic!("{err}")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "rules.custom[0].action",
                "rules.custom[0].when",
                "rules.custom[0].reason",
                "rules.custom[1].reason"
            ],
            "{err}"
        );
        assert!(
            errors[1].reason.starts_with("1:1: `and` needs a condition"),
            "{err}"
        );
        let err =
            parse("[[rules.custom]]\naction = \"BUY\"\nwhen = \"x\"\nreason = \"r\"\nif = 1\n");
        assert!(err.unwrap_err().to_string().contains("if"));
        // The window must hold what a rule reads, as far back as it reads it.
        let err = parse(
            "[bars]\nlookback = 40\n[[rules.custom]]\naction = \"BUY\"\n\
             when = \"rsi < 30 or prev(macd, 7 - 2) > 0\"\nreason = \"r\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("prev(macd, 7 - 2)"), "{err}");
        let err = parse(
            "[bars]\nlookback = 38\n[[rules.custom]]\naction = \"BUY\"\n\
             when = \"rsi < 30 or prev(macd, 5) > 0\"\nreason = \"r\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "bars.lookback: 38 is too short for rules.custom[0]: `macd` as far back \
                 as it reads needs 39 bars"
            ),
            "{err}"
        );
        // Custom rules alone are something to emit.
        let mut s = Strategy::default();
        s.rules.enabled.clear();
        s.rules.custom = vec![CustomRule {
            action: contract::Action::Buy,
            when: "rsi < 30".into(),
            reason: "oversold".into(),
        }];
        assert!(s.validate().is_empty(), "{:?}", s.validate());
    }

    #[test]
    fn named_indicators_sit_beside_or_instead_of_the_classic_set() {
        let s = parse(
            r#"
            [indicators.ema_fast]
            kind = "ema"
            period = 12
            [indicators.st]
            kind = "stoch"
            [[rules.custom]]
            action = "BUY"
            when = "crosses_above(st.k, st.d) and close > ema_fast"
            reason = "stoch_up"
            "#,
        )
        .unwrap();
        // Only named indicators: no classic set, so no preset rules by default.
        assert!(!s.indicators.classic_on);
        assert!(s.rules.enabled.is_empty());
        let names: Vec<String> = s.catalog().names().map(String::from).collect();
        assert_eq!(
            names[6..],
            ["ema_fast", "st.k", "st.d"].map(String::from),
            "{names:?}"
        );
        // A classic key brings the classic set (and its default presets) back.
        let s = parse(
            "[indicators]
rsi = 9
[indicators.w]
kind = \"wma\"\n",
        )
        .unwrap();
        assert!(s.indicators.classic_on);
        assert_eq!(s.rules.enabled.len(), 3);
        assert!(s.catalog().lookup("w").is_some() && s.catalog().lookup("rsi").is_some());
        // A file that names its own and asks for a preset is told what to do.
        let err = parse("[indicators.w]\nkind = \"wma\"\n[rules]\nenabled = [\"rsi\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rules.enabled: `rsi` reads the classic indicators"),
            "{err}"
        );
        // Bad tables and names are named with their key.
        let err = parse("[indicators.x]\nkind = \"ema\"\nperiod = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("indicators.x.period: 1 must be between 2 and 1000"),
            "{err}"
        );
        let err = parse(
            "[indicators]\nrsi = 9\n[indicators.macd_signal]\nkind = \"sma\"\n\
             [indicators.Close]\nkind = \"sma\"\n[rules]\nevery_bar = true\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("indicators.macd_signal: `macd_signal` is a series of the classic set"),
            "{err}"
        );
        assert!(err.contains("indicators.Close: `Close` must be"), "{err}");
        // A multi-output indicator is read by its outputs.
        let err = parse(
            "[indicators.st]\nkind = \"stoch\"\n[[rules.custom]]\naction = \"BUY\"\n\
             when = \"st > 20\"\nreason = \"r\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`st` has several outputs; name one: st.k, st.d"),
            "{err}"
        );
        // The lookback must hold what the rules read: ADX(14) needs 28 bars, 29 for a crossing.
        let err = parse(
            "[bars]\nlookback = 28\n[indicators.adx]\nkind = \"adx\"\n[[rules.custom]]\n\
             action = \"BUY\"\nwhen = \"crosses_above(adx, 25)\"\nreason = \"trend\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`adx` as far back as it reads needs 29 bars"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_example_strategies_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            Strategy::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 6, "{n} strategies");
    }

    #[test]
    fn conflicts_pair_buy_and_sell_rules_that_may_fire_together() {
        let s = Strategy::default();
        let c = s.conflicts();
        assert_eq!(c.len(), 6, "{c:?}");
        assert!(c.contains(&("sma_cross_up".into(), "ema_cross_down".into())));
        assert!(!c.contains(&("sma_cross_up".into(), "sma_cross_down".into())));
        assert!(!c.contains(&("rsi_exit_oversold".into(), "rsi_exit_overbought".into())));
    }

    #[test]
    fn nothing_to_emit_is_refused() {
        let mut s = Strategy::default();
        s.rules.enabled.clear();
        assert_eq!(s.validate()[0].field, "rules.enabled");
        s.rules.every_bar = true;
        assert!(s.validate().is_empty());
    }

    #[test]
    fn default_checkpoints_live_in_the_state_directory_not_tmp() {
        fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
            |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        }
        let home = [("HOME", "/home/u")];
        assert_eq!(
            checkpoint_root(env(&home)),
            "/home/u/.local/state/tradesignal/checkpoints"
        );
        let xdg = [("HOME", "/home/u"), ("XDG_STATE_HOME", "/state/")];
        assert_eq!(checkpoint_root(env(&xdg)), "/state/tradesignal/checkpoints");
        let relative_xdg = [("HOME", "/home/u"), ("XDG_STATE_HOME", "state")];
        assert_eq!(
            checkpoint_root(env(&relative_xdg)),
            "/home/u/.local/state/tradesignal/checkpoints"
        );
        let all = [
            ("HOME", "/home/u"),
            ("XDG_STATE_HOME", "/state"),
            (CHECKPOINT_ROOT_ENV, "/data/ck"),
        ];
        assert_eq!(checkpoint_root(env(&all)), "/data/ck");
        assert_eq!(
            checkpoint_root(env(&[])),
            "/var/lib/tradesignal/checkpoints"
        );
        let s = Strategy::default();
        assert!(s.checkpoint_location().ends_with("/checkpoints/default"));
        assert!(!s.checkpoint_location().starts_with("/tmp"));
    }

    #[test]
    fn overrides_set_fields_and_are_validated_like_the_file() {
        let set = |v: &[&str]| -> Vec<Override> { v.iter().map(|s| s.parse().unwrap()).collect() };
        let s = Strategy::from_toml_with(
            "name = \"x\"\n[bars]\nlookback = 40\n",
            Path::new("f.toml"),
            &set(&[
                "bars.interval_s=5",
                "source.brokers=kafka:9092",
                "rules.enabled=[\"rsi\"]",
            ]),
        )
        .unwrap();
        assert_eq!((s.bars.interval_s, s.bars.lookback), (5, 40));
        assert_eq!(s.source.brokers, "kafka:9092");
        assert_eq!(s.rules.enabled, vec![Rule::Rsi]);

        let typo = Strategy::from_toml_with("", Path::new("f.toml"), &set(&["bars.intervall_s=5"]));
        assert!(typo.unwrap_err().to_string().contains("intervall_s"));
        let invalid = Strategy::from_toml_with("", Path::new("f.toml"), &set(&["bars.lookback=0"]));
        assert!(invalid.unwrap_err().to_string().contains("bars.lookback"));
        let through =
            Strategy::from_toml_with("name = \"x\"", Path::new("f.toml"), &set(&["name.x=1"]));
        assert!(through.unwrap_err().to_string().contains("--set name.x"));
        assert!("novalue".parse::<Override>().is_err());
        assert!("a..b=1".parse::<Override>().is_err());
    }

    #[test]
    fn strategies_of_one_query_name_are_refused() {
        let dir = std::env::temp_dir().join(format!("strategy-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
        std::fs::write(&a, "name = \"one\"\n").unwrap();
        std::fs::write(&b, "name = \"two\"\n[query]\nname = \"one\"\n").unwrap();
        let err = load_all(&[a.clone(), b], &[]).unwrap_err();
        assert!(
            matches!(err, StrategyError::DuplicateQueryName(ref n) if n == "one"),
            "{err}"
        );
        assert_eq!(load_all(&[a], &[]).unwrap()[0].name, "one");
        assert_eq!(load_all(&[], &[]).unwrap(), vec![Strategy::default()]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
