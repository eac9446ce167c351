//! The indicator kinds a strategy can name, one module each, and what they share: their
//! parameters as written in a strategy file, their outputs, how many bars they need, how
//! their values tie in a comparison, and their Spark SQL.
//!
//! Every kind is TA-Lib's function of the same name with TA-Lib's defaults (compatibility
//! mode default, unstable period 0), computed for the last bar of the lookback window over the
//! window alone: recursive kinds (EMA, RSI, MACD, ATR, ADX, OBV) start at the window's first
//! bar, exactly as TA-Lib called on the window's arrays would. VWAP is ours (see [`vwap`]).
//!
//! The SQL of a kind is an expression over the window's columns ([`Window`]): `input`, an
//! array of doubles (the closes, or the instance's `source`), and `bars`, an array of the
//! query's bars (`struct<bar_end, bar_start, open, high, low, close, volume, trades>`, prices
//! and volume doubles), oldest first, empty intervals already filled with flat bars. It is
//! evaluated in
//! two passes ([`Kind::base`], then [`Kind::output`]) so that the Bollinger bands, whose
//! deviation needs the mean inside a fold, read the mean as a column instead of recomputing it
//! for every element (other kinds bind such values inside their own expression).

mod adx;
mod atr;
mod bbands;
mod cci;
mod ema;
mod macd;
mod mfi;
mod mom;
mod obv;
mod roc;
mod rsi;
mod sma;
mod stoch;
mod vwap;
mod wma;

use std::collections::BTreeMap;
use std::fmt;

use crate::rules::Tolerance;

/// Largest period a parameter accepts (the window cannot hold more bars anyway).
pub const MAX_PERIOD: u32 = crate::strategy::MAX_LOOKBACK_BARS;

/// One indicator with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Sma { period: u32 },
    Ema { period: u32 },
    Wma { period: u32 },
    Rsi { period: u32 },
    Roc { period: u32 },
    Mom { period: u32 },
    Macd { fast: u32, slow: u32, signal: u32 },
    Bbands { period: u32, k: f64 },
    Atr { period: u32 },
    Natr { period: u32 },
    Adx { period: u32 },
    Cci { period: u32 },
    Mfi { period: u32 },
    Stoch { fastk: u32, slowk: u32, slowd: u32 },
    Obv,
    Vwap { period: Option<u32> },
}

/// A parameter of a kind: its name in the file, TA-Lib's default, the smallest value allowed.
struct Param {
    name: &'static str,
    default: Option<f64>,
    min: f64,
    integer: bool,
}

const fn period(default: u32, min: u32) -> Param {
    Param {
        name: "period",
        default: Some(default as f64),
        min: min as f64,
        integer: true,
    }
}

const fn int(name: &'static str, default: u32, min: u32) -> Param {
    Param {
        name,
        default: Some(default as f64),
        min: min as f64,
        integer: true,
    }
}

/// Every kind by its name in strategy files, with its parameters.
const KINDS: &[(&str, &[Param])] = &[
    ("sma", &[period(30, 2)]),
    ("ema", &[period(30, 2)]),
    ("wma", &[period(30, 2)]),
    ("rsi", &[period(14, 2)]),
    ("roc", &[period(10, 1)]),
    ("mom", &[period(10, 1)]),
    (
        "macd",
        &[int("fast", 12, 2), int("slow", 26, 2), int("signal", 9, 1)],
    ),
    (
        "bbands",
        &[
            period(5, 2),
            Param {
                name: "k",
                default: Some(2.0),
                min: f64::MIN_POSITIVE,
                integer: false,
            },
        ],
    ),
    ("atr", &[period(14, 1)]),
    ("natr", &[period(14, 1)]),
    ("adx", &[period(14, 2)]),
    ("cci", &[period(14, 2)]),
    ("mfi", &[period(14, 2)]),
    (
        "stoch",
        &[int("fastk", 5, 1), int("slowk", 3, 1), int("slowd", 3, 1)],
    ),
    ("obv", &[]),
    (
        "vwap",
        &[Param {
            name: "period",
            default: None,
            min: 1.0,
            integer: true,
        }],
    ),
];

/// The kinds computed from one series of the bar (the close unless `source` says otherwise);
/// the others read the bar's high, low, close and volume as TA-Lib defines them.
const REAL_INPUT: [&str; 8] = ["sma", "ema", "wma", "rsi", "roc", "mom", "macd", "bbands"];

/// What a single-input kind is computed from: a field of the bar or a TA-Lib price
/// combination (`hl2` = MEDPRICE, `hlc3` = TYPPRICE, `ohlc4` = AVGPRICE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Close,
    Open,
    High,
    Low,
    Volume,
    Hl2,
    Hlc3,
    Ohlc4,
}

impl Source {
    const NAMES: [(&'static str, Source); 8] = [
        ("close", Source::Close),
        ("open", Source::Open),
        ("high", Source::High),
        ("low", Source::Low),
        ("volume", Source::Volume),
        ("hl2", Source::Hl2),
        ("hlc3", Source::Hlc3),
        ("ohlc4", Source::Ohlc4),
    ];

    pub fn name(self) -> &'static str {
        Source::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .expect("every source is in NAMES")
    }

    /// Its value for the bar `b` of the window, as SQL (TA-Lib's order of additions).
    pub fn of(self, b: &str) -> String {
        match self {
            Source::Hl2 => format!("({b}.high + {b}.low) / 2D"),
            Source::Hlc3 => format!("({b}.high + {b}.low + {b}.close) / 3D"),
            Source::Ohlc4 => format!("({b}.open + {b}.high + {b}.low + {b}.close) / 4D"),
            other => format!("{b}.{}", other.name()),
        }
    }
}

/// One indicator of a strategy file: its kind and parameters, and what it is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub kind: Kind,
    pub source: Source,
}

impl Indicator {
    /// The indicator a strategy file's `[indicators.NAME]` table describes (see
    /// [`Kind::from_table`]; `source`, for the kinds computed from one series, defaults to
    /// the close).
    pub fn from_table(table: &toml::Table) -> Result<Indicator, Vec<ParamError>> {
        let kind = Kind::from_table(table)?;
        let source = match table.get("source") {
            None => Source::Close,
            Some(toml::Value::String(s)) => Source::NAMES
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, src)| *src)
                .ok_or_else(|| {
                    let names: Vec<&str> = Source::NAMES.iter().map(|(n, _)| *n).collect();
                    vec![ParamError {
                        key: "source",
                        reason: format!(
                            "`{s}` is not a source; the sources are {}",
                            names.join(", ")
                        ),
                    }]
                })?,
            Some(other) => {
                return Err(vec![ParamError {
                    key: "source",
                    reason: format!("{other} must be a string"),
                }])
            }
        };
        Ok(Indicator { kind, source })
    }

    /// The table [`Indicator::from_table`] reads back to this indicator.
    pub fn to_table(&self) -> toml::Table {
        let mut t = self.kind.to_table();
        if self.source != Source::Close {
            t.insert("source".into(), self.source.name().into());
        }
        t
    }
}

impl From<Kind> for Indicator {
    fn from(kind: Kind) -> Indicator {
        Indicator {
            kind,
            source: Source::Close,
        }
    }
}

/// A problem with one indicator table: the key it is about (`period`, `kind`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub key: &'static str,
    pub reason: String,
}

impl Kind {
    /// Every kind name, for messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        KINDS.iter().map(|(n, _)| *n)
    }

    /// The kind a strategy file's `[indicators.NAME]` table describes: `kind` plus its
    /// parameters, each defaulting to TA-Lib's. Every problem is reported.
    pub fn from_table(table: &toml::Table) -> Result<Kind, Vec<ParamError>> {
        let err = |key, reason: String| vec![ParamError { key, reason }];
        let kind = match table.get("kind") {
            None => {
                return Err(err(
                    "kind",
                    format!(
                        "is missing: say which indicator this is ({})",
                        Kind::names().collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
            Some(toml::Value::String(s)) => s.as_str(),
            Some(other) => return Err(err("kind", format!("{other} must be a string"))),
        };
        let Some((kind, params)) = KINDS.iter().find(|(n, _)| *n == kind) else {
            return Err(err(
                "kind",
                format!(
                    "`{kind}` is not a kind; the kinds are {}",
                    Kind::names().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let mut errors = Vec::new();
        let takes_source = REAL_INPUT.contains(kind);
        for key in table
            .keys()
            .filter(|k| *k != "kind" && !(takes_source && *k == "source"))
        {
            if !params.iter().any(|p| p.name == key) {
                let takes: Vec<&str> = params.iter().map(|p| p.name).collect();
                errors.push(ParamError {
                    key: "kind",
                    reason: format!(
                        "`{key}` is not a parameter of `{kind}` (it takes: {})",
                        if takes.is_empty() {
                            "nothing".to_string()
                        } else {
                            takes.join(", ")
                        }
                    ),
                });
            }
        }
        let mut values = Vec::new();
        for p in params.iter() {
            let value = match table.get(p.name) {
                None => p.default,
                Some(toml::Value::Integer(i)) => Some(*i as f64),
                Some(toml::Value::Float(f)) if !p.integer => Some(*f),
                Some(other) => {
                    errors.push(ParamError {
                        key: p.name,
                        reason: format!(
                            "{other} must be {}",
                            if p.integer {
                                "a whole number"
                            } else {
                                "a number"
                            }
                        ),
                    });
                    continue;
                }
            };
            if let Some(v) = value {
                let max = if p.integer { MAX_PERIOD as f64 } else { 1e6 };
                if !(v.is_finite() && v >= p.min && v <= max) {
                    errors.push(ParamError {
                        key: p.name,
                        reason: if p.integer {
                            format!("{v} must be between {} and {max}", p.min)
                        } else {
                            format!("{v} must be a positive number")
                        },
                    });
                }
            }
            values.push(value);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let n =
            |i: usize| values[i].expect("every integer parameter but vwap's has a default") as u32;
        let kind = match *kind {
            "sma" => Kind::Sma { period: n(0) },
            "ema" => Kind::Ema { period: n(0) },
            "wma" => Kind::Wma { period: n(0) },
            "rsi" => Kind::Rsi { period: n(0) },
            "roc" => Kind::Roc { period: n(0) },
            "mom" => Kind::Mom { period: n(0) },
            "macd" => Kind::Macd {
                fast: n(0),
                slow: n(1),
                signal: n(2),
            },
            "bbands" => Kind::Bbands {
                period: n(0),
                k: values[1].expect("k has a default"),
            },
            "atr" => Kind::Atr { period: n(0) },
            "natr" => Kind::Natr { period: n(0) },
            "adx" => Kind::Adx { period: n(0) },
            "cci" => Kind::Cci { period: n(0) },
            "mfi" => Kind::Mfi { period: n(0) },
            "stoch" => Kind::Stoch {
                fastk: n(0),
                slowk: n(1),
                slowd: n(2),
            },
            "obv" => Kind::Obv,
            "vwap" => Kind::Vwap {
                period: values[0].map(|v| v as u32),
            },
            other => unreachable!("{other} is in KINDS"),
        };
        if let Kind::Macd { fast, slow, .. } = kind {
            if fast >= slow {
                return Err(err(
                    "fast",
                    format!("{fast} must be less than slow ({slow})"),
                ));
            }
        }
        Ok(kind)
    }

    /// The table [`Kind::from_table`] reads back to this kind.
    pub fn to_table(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("kind".into(), self.name().into());
        let mut int = |k: &str, v: u32| {
            t.insert(k.into(), toml::Value::Integer(v.into()));
        };
        match *self {
            Kind::Sma { period }
            | Kind::Ema { period }
            | Kind::Wma { period }
            | Kind::Rsi { period }
            | Kind::Roc { period }
            | Kind::Mom { period }
            | Kind::Atr { period }
            | Kind::Natr { period }
            | Kind::Adx { period }
            | Kind::Cci { period }
            | Kind::Mfi { period } => int("period", period),
            Kind::Macd { fast, slow, signal } => {
                int("fast", fast);
                int("slow", slow);
                int("signal", signal);
            }
            Kind::Bbands { period, k } => {
                int("period", period);
                t.insert("k".into(), toml::Value::Float(k));
            }
            Kind::Stoch {
                fastk,
                slowk,
                slowd,
            } => {
                int("fastk", fastk);
                int("slowk", slowk);
                int("slowd", slowd);
            }
            Kind::Obv | Kind::Vwap { period: None } => {}
            Kind::Vwap { period: Some(p) } => int("period", p),
        }
        t
    }

    /// The kind's name in strategy files.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Sma { .. } => "sma",
            Kind::Ema { .. } => "ema",
            Kind::Wma { .. } => "wma",
            Kind::Rsi { .. } => "rsi",
            Kind::Roc { .. } => "roc",
            Kind::Mom { .. } => "mom",
            Kind::Macd { .. } => "macd",
            Kind::Bbands { .. } => "bbands",
            Kind::Atr { .. } => "atr",
            Kind::Natr { .. } => "natr",
            Kind::Adx { .. } => "adx",
            Kind::Cci { .. } => "cci",
            Kind::Mfi { .. } => "mfi",
            Kind::Stoch { .. } => "stoch",
            Kind::Obv => "obv",
            Kind::Vwap { .. } => "vwap",
        }
    }

    /// The outputs of a multi-output kind (TA-Lib's order), addressed as `NAME.OUTPUT`; empty
    /// for a kind with one value, addressed as `NAME`.
    pub fn outputs(&self) -> &'static [&'static str] {
        match self {
            Kind::Macd { .. } => &macd::OUTPUTS,
            Kind::Bbands { .. } => &bbands::OUTPUTS,
            Kind::Stoch { .. } => &stoch::OUTPUTS,
            _ => &[],
        }
    }

    /// Bars a window needs for a value at its last bar: TA-Lib's lookback + 1.
    pub fn min_bars(&self) -> u32 {
        match *self {
            Kind::Sma { period }
            | Kind::Ema { period }
            | Kind::Wma { period }
            | Kind::Bbands { period, .. }
            | Kind::Cci { period } => period,
            Kind::Rsi { period }
            | Kind::Roc { period }
            | Kind::Mom { period }
            | Kind::Atr { period }
            | Kind::Natr { period }
            | Kind::Mfi { period } => period + 1,
            Kind::Adx { period } => 2 * period,
            Kind::Macd { slow, signal, .. } => slow + signal - 1,
            Kind::Stoch {
                fastk,
                slowk,
                slowd,
            } => fastk + slowk + slowd - 2,
            Kind::Obv => 1,
            Kind::Vwap { period } => period.unwrap_or(1),
        }
    }

    /// How a comparison involving this kind's values ties: price-like values within
    /// `1e-9 × |close|`, oscillators, percentages and volumes within `1e-9`.
    pub fn tolerance(&self) -> Tolerance {
        match self {
            Kind::Sma { .. }
            | Kind::Ema { .. }
            | Kind::Wma { .. }
            | Kind::Mom { .. }
            | Kind::Macd { .. }
            | Kind::Bbands { .. }
            | Kind::Atr { .. }
            | Kind::Vwap { .. } => Tolerance::Price,
            Kind::Rsi { .. }
            | Kind::Roc { .. }
            | Kind::Natr { .. }
            | Kind::Adx { .. }
            | Kind::Cci { .. }
            | Kind::Mfi { .. }
            | Kind::Stoch { .. }
            | Kind::Obv => Tolerance::Absolute,
        }
    }

    /// First pass: the kind's value at the window's last bar (a struct for multi-output
    /// kinds), or what [`Kind::output`] builds on; null during warm-up.
    pub fn base(&self, w: &Window) -> String {
        let c = w.input.as_str();
        match *self {
            Kind::Sma { period } => sma::sql(c, period),
            Kind::Ema { period } => ema::sql(c, period),
            Kind::Wma { period } => wma::sql(c, period),
            Kind::Rsi { period } => rsi::sql(c, period),
            Kind::Roc { period } => roc::sql(c, period),
            Kind::Mom { period } => mom::sql(c, period),
            Kind::Macd { fast, slow, signal } => macd::sql(c, fast, slow, signal),
            Kind::Bbands { period, .. } => sma::sql(c, period),
            Kind::Atr { period } => atr::atr(&w.bars, period),
            Kind::Natr { period } => atr::natr(&w.bars, period),
            Kind::Adx { period } => adx::sql(&w.bars, period),
            Kind::Cci { period } => cci::sql(&w.bars, period),
            Kind::Mfi { period } => mfi::sql(&w.bars, period),
            Kind::Stoch {
                fastk,
                slowk,
                slowd,
            } => stoch::sql(&w.bars, fastk, slowk, slowd),
            Kind::Obv => obv::sql(&w.bars),
            Kind::Vwap { period } => vwap::sql(&w.bars, period),
        }
    }

    /// Second pass: output `output` (`""` for a one-value kind) from `base`, the column of
    /// the first pass's value.
    pub fn output(&self, w: &Window, base: &str, output: &str) -> String {
        match *self {
            Kind::Bbands { period, k } => bbands::output(&w.input, base, period, k, output),
            _ if output.is_empty() => base.to_string(),
            _ => format!("{base}.{output}"),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.to_table();
        let params: Vec<String> = table
            .iter()
            .filter(|(k, _)| *k != "kind")
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        write!(f, "{}({})", self.name(), params.join(", "))
    }
}

/// The columns of one lookback window an indicator reads, as the query names them (the
/// window itself, or the same window without its last bars for values at earlier bars).
pub struct Window {
    /// `array<double>`: the indicator's source series (the closes, unless it says otherwise).
    pub input: String,
    /// `array<struct<bar_end, bar_start, open, high, low, close, volume, trades>>`: the bars,
    /// prices and volume doubles.
    pub bars: String,
}

/// One indicator a strategy computes, with the names its values go by.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The name in the file (`ema_fast`), or the classic group's (`macd`, `bb`).
    pub name: String,
    pub kind: Kind,
    pub source: Source,
    /// `(series name, output)` for each value: `("ema_fast", "")`, `("st.k", "k")`; the
    /// classic set's flat names (`macd_signal`) for its instances.
    pub series: Vec<(String, &'static str)>,
}

impl Instance {
    /// A named instance: `NAME` for a one-value kind, `NAME.OUTPUT` for each output of a
    /// multi-output one.
    pub fn named(name: &str, indicator: Indicator) -> Instance {
        let Indicator { kind, source } = indicator;
        let series = if kind.outputs().is_empty() {
            vec![(name.to_string(), "")]
        } else {
            kind.outputs()
                .iter()
                .map(|o| (format!("{name}.{o}"), *o))
                .collect()
        };
        Instance {
            name: name.to_string(),
            kind,
            source,
            series,
        }
    }
}

/// Whether `name` can name an indicator: a lowercase letter, then lowercase letters, digits or
/// `_`, at most 64 characters, and not a bar field or a function of the rule language.
pub fn valid_name(name: &str) -> Result<(), String> {
    let shape = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !shape {
        return Err(format!(
            "`{name}` must be 1-64 lowercase letters, digits or `_`, starting with a letter"
        ));
    }
    if crate::rules::BarField::lookup(name).is_some() || crate::lang::is_reserved(name) {
        return Err(format!(
            "`{name}` is a name of the rule language; choose another"
        ));
    }
    Ok(())
}

/// The named instances of a strategy file's `[indicators.NAME]` tables, in name order.
pub type Named = BTreeMap<String, Indicator>;

// SQL building blocks shared by the kinds.

/// A double literal Spark parses back to exactly `x`.
pub(crate) fn dbl(x: f64) -> String {
    format!("{x:e}D")
}

/// EMA smoothing factor, computed in Rust once: `2/(p+1)`.
fn alpha(p: u32) -> String {
    dbl(2.0 / (p as f64 + 1.0))
}

/// Sum of an array of doubles, left to right.
fn sum(arr: &str) -> String {
    format!("aggregate({arr}, 0D, (acc, x) -> acc + x)")
}

/// The last `p` elements of `arr` (all of them when shorter).
fn last_n(arr: &str, p: u32) -> String {
    format!("slice({arr}, greatest(size({arr}) - {p} + 1, 1), {p})")
}

/// `arr` without its first `k` elements (empty when it has no more).
fn drop_first(arr: &str, k: u32) -> String {
    format!("slice({arr}, {}, greatest(size({arr}) - {k}, 0))", k + 1)
}

/// Pairs of consecutive bars `(p, b)` (the bar before and the bar) as an array of
/// `struct<p, b>`, one per bar from the second on.
fn consecutive(bars: &str) -> String {
    format!(
        "zip_with(slice({bars}, 1, greatest(size({bars}) - 1, 0)), {rest}, \
         (p, b) -> named_struct('p', p, 'b', b))",
        rest = drop_first(bars, 1)
    )
}

/// TA-Lib's true range of bar `b` after bar `p`: the largest of high - low, |high - previous
/// close| and |low - previous close|, in TA-Lib's order of comparisons.
fn true_range(p: &str, b: &str) -> String {
    format!("greatest({b}.high - {b}.low, abs({b}.high - {p}.close), abs({b}.low - {p}.close))")
}

/// `body` with `var` bound to the value of `value`, computed once (SQL has no `let`: a
/// one-element array transformed, then read back).
pub(crate) fn bind(value: &str, var: &str, body: &str) -> String {
    format!("element_at(transform(array({value}), {var} -> {body}), 1)")
}

/// TA-Lib 0.8's epsilon in its tests for zero (some scaled by the values compared), as a
/// double literal.
const EPSILON: &str = "1e-14D";

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
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
    fn kinds_read_their_parameters_with_talib_defaults() {
        assert_eq!(
            Kind::from_table(&table("kind = \"ema\"\nperiod = 12")),
            Ok(Kind::Ema { period: 12 })
        );
        assert_eq!(
            Kind::from_table(&table("kind = \"stoch\"")),
            Ok(Kind::Stoch {
                fastk: 5,
                slowk: 3,
                slowd: 3
            })
        );
        assert_eq!(
            Kind::from_table(&table("kind = \"vwap\"")),
            Ok(Kind::Vwap { period: None })
        );
        assert_eq!(
            Kind::from_table(&table("kind = \"bbands\"\nperiod = 20\nk = 2")),
            Ok(Kind::Bbands { period: 20, k: 2.0 })
        );
        for name in Kind::names() {
            let kind = Kind::from_table(&table(&format!("kind = \"{name}\""))).unwrap();
            assert_eq!(kind.name(), name);
            assert_eq!(Kind::from_table(&kind.to_table()), Ok(kind.clone()));
            assert!(kind.min_bars() >= 1);
        }
    }

    #[test]
    fn bad_tables_say_what_to_write() {
        let e = |text: &str| Kind::from_table(&table(text)).unwrap_err();
        assert!(e("period = 3")[0].reason.contains("is missing"));
        assert!(e("kind = \"emma\"")[0]
            .reason
            .contains("the kinds are sma, ema"));
        let errs = e("kind = \"ema\"\nperiod = 1\nfast = 3");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0]
            .reason
            .contains("`fast` is not a parameter of `ema` (it takes: period)"));
        assert_eq!(errs[1].key, "period");
        assert!(e("kind = \"rsi\"\nperiod = 2.5")[0]
            .reason
            .contains("must be a whole number"));
        assert!(e("kind = \"macd\"\nfast = 30")[0]
            .reason
            .contains("must be less than slow (26)"));
        assert!(e("kind = \"obv\"\nperiod = 3")[0]
            .reason
            .contains("takes: nothing"));
    }

    #[test]
    fn names_are_identifiers_outside_the_language() {
        assert!(valid_name("ema_fast").is_ok());
        assert!(valid_name("Ema").is_err());
        assert!(valid_name("close").is_err());
        assert!(valid_name("prev").is_err());
        assert!(valid_name("and").is_err());
        let st = Instance::named(
            "st",
            Kind::Stoch {
                fastk: 5,
                slowk: 3,
                slowd: 3,
            }
            .into(),
        );
        assert_eq!(
            st.series,
            [("st.k".to_string(), "k"), ("st.d".to_string(), "d")]
        );
    }
}
