//! `backtest`: a strategy's own plan run as a Spark batch job over history, and a trading
//! simulation over its bars, both on the cluster.
//!
//! The trades come from the strategy's Kafka topic between two times or from a file
//! ([`input`]), as raw rows with the trade JSON in `value` (what the live query reads from
//! Kafka) or the trade's fields as columns. The strategy's steps ([`crate::query::steps_on`],
//! built by the same code as the live query) turn them into the signal JSON; on a batch
//! DataFrame Spark ignores the watermark, and a repeated trade counts once in its bar as it
//! does live (only the bars' steps and how each bar's window is gathered differ, see
//! [`sql::Run`]), so the signals are the live query's, id for id. The run forces
//! `rules.every_bar` on, because the simulation needs every bar; the signals file (and topic)
//! gets the bars where a rule fired, as live, unless every bar is asked for.
//!
//! The signals are cached on the cluster, written (JSON lines: the signal JSON as the live
//! query writes it; Parquet: its fields as columns) and simulated ([`simulate`]); only the
//! counts and the metrics come back to the client. [`progress`] reports while Spark works.
//! With a report asked for, the bars also come back, one row per bar with its equity
//! ([`simulate::curve_sql`]), and become one self-contained HTML file ([`html`]).

pub mod html;
pub mod input;
pub mod progress;
pub mod simulate;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use spark_connect::functions::expr;
use spark_connect::row::Value;
use spark_connect::{DataFrame, SparkSession};

use crate::error::{Error, SparkContext};
use crate::strategy::Strategy;
use crate::{query, sql};
pub use input::{FileFormat, Input};
pub use simulate::{Metrics, SimSettings};

/// The Spark DDL schema of a signal's JSON (`contract::Signal`).
pub const SIGNAL_SCHEMA: &str = "id STRING, strategy STRING, symbol STRING, \
     bar_start TIMESTAMP, bar_end TIMESTAMP, open DOUBLE, high DOUBLE, low DOUBLE, \
     close DOUBLE, volume DOUBLE, trades BIGINT, bars INT, indicators MAP<STRING, DOUBLE>, \
     action STRING, reasons ARRAY<STRING>";

/// Everything a backtest needs besides the strategy and the session.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestSettings {
    pub input: Input,
    /// First trade time (inclusive); `None`: from the start of the input.
    pub from: Option<DateTime<Utc>>,
    /// Trades before this time only; `None`: to the end of the input.
    pub to: Option<DateTime<Utc>>,
    /// Where the signals go: `.parquet` for Parquet, anything else JSON lines. Spark writes
    /// a directory of that name holding one part file, on the filesystem its executors see.
    pub out: Option<PathBuf>,
    /// Kafka topic the signals also go to (the strategy's sink brokers).
    pub topic: Option<String>,
    /// Where the HTML report goes (a file, replaced).
    pub report: Option<PathBuf>,
    /// Write every bar (HOLD included), not only the bars where a rule fired.
    pub every_bar: bool,
    pub sim: SimSettings,
    /// The Spark UI (driver) base URL, polled for progress.
    pub ui_url: String,
    /// Session id of the backtest's own Spark Connect session (its jobs are found by it).
    pub session_id: String,
    /// How often progress is reported.
    pub progress_interval: Duration,
}

impl Default for BacktestSettings {
    fn default() -> Self {
        Self {
            input: Input::Kafka { topic: None },
            from: None,
            to: None,
            out: None,
            topic: None,
            report: None,
            every_bar: false,
            sim: SimSettings::default(),
            ui_url: "http://127.0.0.1:4040".into(),
            session_id: String::new(),
            progress_interval: Duration::from_secs(2),
        }
    }
}

/// What a backtest did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Records read from the input (in the time range).
    pub records: u64,
    /// Records skipped as unusable (not a trade, or a trade that fails validation), counted
    /// as the live query counts them.
    pub bad_records: u64,
    /// Valid trades skipped as stamped too far in the future (`source.max_ahead_s`).
    pub ahead_records: u64,
    /// Bars computed (every symbol).
    pub bars: u64,
    /// Bars where a rule fired.
    pub signals: u64,
    /// Where the signals were written (absolute), and how many rows.
    pub written: Option<(PathBuf, u64)>,
    /// Where the HTML report was written.
    pub html: Option<PathBuf>,
    /// Per symbol, then the portfolio's.
    pub metrics: Vec<Metrics>,
    /// Time of each phase.
    pub phases: Vec<(String, Duration)>,
}

/// The phases of a run and their times; each start tells the progress watcher.
struct Phases<'a> {
    done: Vec<(String, Duration)>,
    current: Option<(String, Instant)>,
    watcher: &'a progress::Watcher,
    ui_url: &'a str,
}

impl Phases<'_> {
    fn start(&mut self, name: &str) {
        self.end();
        self.watcher.phase(name, self.ui_url);
        self.current = Some((name.to_string(), Instant::now()));
    }

    fn end(&mut self) {
        if let Some((name, began)) = self.current.take() {
            self.done.push((name, began.elapsed()));
        }
    }

    fn finish(mut self) -> Vec<(String, Duration)> {
        self.end();
        self.done
    }
}

/// `path` made absolute against this process's directory: the Connect server resolves a
/// relative path against its own.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Runs the backtest of `strategy` in `spark` (a session of its own, `settings.session_id`):
/// signals, writes, simulation. `say` gets progress lines.
pub fn run(
    spark: &SparkSession,
    strategy: &Strategy,
    settings: &BacktestSettings,
    say: impl Fn(&str) + Send + 'static,
) -> Result<Report, Error> {
    let mut s = strategy.clone();
    s.rules.every_bar = true;
    query::configure(spark, &s)?;
    // The lookback windows' shuffle carries bars, not trades: small enough that adaptive
    // execution would merge it into one partition, and the windows' indicators, most of a
    // backtest's work, would run on one core (measured: 11 s on one of two cores).
    query::set_conf(
        spark,
        "spark.sql.adaptive.coalescePartitions.enabled",
        Some("false"),
    )?;
    // The bars' collect_list is a typed aggregate: by default Spark runs it as an object hash
    // aggregate that outgrows its map on a history's many bars and falls back to sorting,
    // spilling on the way (measured: 640 MiB spilled, 2 s more task time per 10M trades).
    // A sort aggregate sorts once and spills nothing.
    query::set_conf(
        spark,
        "spark.sql.execution.useObjectHashAggregateExec",
        Some("false"),
    )?;
    let input = match &settings.input {
        Input::File { path, format } => Input::File {
            path: absolute(path),
            format: format.clone(),
        },
        kafka => kafka.clone(),
    };
    let watcher = progress::Watcher::start(
        &settings.ui_url,
        &settings.session_id,
        settings.progress_interval,
        say,
    );
    let mut phases = Phases {
        done: Vec::new(),
        current: None,
        watcher: &watcher,
        ui_url: &settings.ui_url,
    };
    phases.start("bars and signals");
    let (rows, entry) = input::rows(spark, &s, &input, settings.from, settings.to)?;
    let bars = query::steps_on(rows, entry, sql::Run::Batch, &s)
        .select_expr(vec![
            "key",
            "value",
            &format!("from_json(value, '{SIGNAL_SCHEMA}') AS s"),
        ])
        .select_expr(vec![
            "key",
            "value",
            "s.symbol AS symbol",
            "s.bar_end AS bar_end",
            "s.close AS close",
            "s.action AS action",
            "size(s.reasons) > 0 AS fired",
        ])
        // Computed once and kept on the executors, with the lineage cut: the simulation's SQL
        // reads the bars several times, and the steps' plan copied into each read made the
        // optimizer take minutes (measured: 250 s for 600 bars with `cache()`).
        .local_checkpoint()
        .during(|| "compute the bars".into())?;
    // The input step's counts, from the execution that just computed the bars.
    let [records, bad_records, ahead_records] = observed(
        spark,
        sql::INPUT_METRICS,
        [sql::RECORDS, sql::BAD_RECORDS, sql::AHEAD_RECORDS],
    );
    if bad_records > 0 {
        tracing::warn!(bad_records, records, "input records skipped as unusable");
    }
    let counts = bars
        .select_expr(vec!["count(1) AS bars", "count_if(fired) AS signals"])
        .collect()
        .during(|| "compute the bars and signals".into())?;
    let count = |i| match counts.first().and_then(|r| r.get(i)) {
        Some(Value::Long(n)) => *n as u64,
        _ => 0,
    };
    let (n_bars, n_signals) = (count(0), count(1));

    let wanted = if settings.every_bar || strategy.rules.every_bar {
        bars.clone()
    } else {
        bars.filter(expr("fired"))
    };
    let mut written = None;
    if let Some(out) = &settings.out {
        phases.start("writing signals");
        let out = absolute(out);
        write_file(&wanted, &out)?;
        written = Some((
            out,
            if settings.every_bar || strategy.rules.every_bar {
                n_bars
            } else {
                n_signals
            },
        ));
    }
    if let Some(topic) = &settings.topic {
        phases.start("signals to Kafka");
        wanted
            .select_expr(vec!["key", "value"])
            .write()
            .format("kafka")
            .option("kafka.bootstrap.servers", s.sink_brokers())
            .option("topic", topic)
            .options(s.sink.options.clone().into_iter().collect())
            .save(None)
            .during(|| format!("write the signals to topic {topic}"))?;
    }

    phases.start("simulation");
    let view = format!("backtest_{}", uuid::Uuid::new_v4().simple());
    bars.create_or_replace_temp_view(&view)
        .during(|| "register the bars".into())?;
    let rows = spark
        .sql(&simulate::sql(&view, s.bars.interval_s, &settings.sim))
        .during(|| "plan the simulation".into())?
        .collect()
        .during(|| "run the simulation".into())?;
    let json: Vec<String> = rows
        .iter()
        .filter_map(|r| match r.get(0) {
            Some(Value::String(s)) => Some(s.clone()),
            other => {
                tracing::warn!(value = ?other, "simulation row is not JSON text");
                None
            }
        })
        .collect();
    tracing::debug!(rows = rows.len(), "simulation rows");
    let metrics = simulate::parse(&json)?;
    let mut html = None;
    if let Some(path) = &settings.report {
        phases.start("report");
        let points = curve(spark, &view, &settings.sim)?;
        let page = html::render(
            &html::Header {
                strategy: &s.name,
                records,
                skipped: bad_records + ahead_records,
                bars: n_bars,
                signals: n_signals,
                sim: &settings.sim,
            },
            &metrics,
            &points,
        );
        std::fs::write(path, page).map_err(|source| Error::Write {
            path: path.display().to_string(),
            source,
        })?;
        html = Some(absolute(path));
    }
    let _ = spark.sql(&format!("DROP VIEW IF EXISTS {view}"));
    let phases = phases.finish();
    drop(watcher);
    Ok(Report {
        records,
        bad_records,
        ahead_records,
        bars: n_bars,
        signals: n_signals,
        written,
        html,
        metrics,
        phases,
    })
}

/// The counts `keys` of the observed metrics `name` in the session's last execution; 0 for
/// a count the server did not send.
fn observed<const N: usize>(spark: &SparkSession, name: &str, keys: [&str; N]) -> [u64; N] {
    use spark_connect_proto::expression::literal::LiteralType;
    let info = spark.last_execution_info();
    let metrics = info
        .iter()
        .flat_map(|i| &i.observed_metrics)
        .find(|m| m.name == name);
    keys.map(|key| {
        let value = metrics.and_then(|m| {
            let i = m.keys.iter().position(|k| k == key)?;
            m.values.get(i)?.literal_type.clone()
        });
        match value {
            Some(LiteralType::Long(n)) => u64::try_from(n).unwrap_or(0),
            _ => 0,
        }
    })
}

/// Every bar of the `view` of bars with its equity, from [`simulate::curve_sql`].
fn curve(
    spark: &SparkSession,
    view: &str,
    sim: &SimSettings,
) -> Result<Vec<html::CurvePoint>, Error> {
    let rows = spark
        .sql(&simulate::curve_sql(view, sim))
        .during(|| "plan the report's equity curves".into())?
        .collect()
        .during(|| "compute the report's equity curves".into())?;
    rows.iter()
        .map(|r| match (r.get(0), r.get(1), r.get(2)) {
            (Some(Value::String(json)), Some(Value::Double(equity)), Some(Value::Double(bh))) => {
                Ok(html::CurvePoint {
                    signal: serde_json::from_str(json)
                        .map_err(|e| Error::Rows(format!("a bar is not a signal ({e}): {json}")))?,
                    equity: *equity,
                    buy_hold: *bh,
                })
            }
            other => Err(Error::Rows(format!(
                "an equity curve row is not (signal, equity, buy_hold): {other:?}"
            ))),
        })
        .collect()
}

/// Writes the bars of `df` to `out`, replacing what is there: Parquet (the signal's fields
/// as columns) for a `.parquet` path, else JSON lines of the signal JSON; one part file.
fn write_file(df: &DataFrame, out: &Path) -> Result<(), Error> {
    let path = out.to_string_lossy();
    let parquet = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let (df, format) = if parquet {
        (
            df.select_expr(vec![&format!("from_json(value, '{SIGNAL_SCHEMA}') AS s")])
                .select_expr(vec!["s.*"]),
            "parquet",
        )
    } else {
        (df.select_expr(vec!["value"]), "text")
    };
    df.coalesce(1)
        .write()
        .format(format)
        .mode("overwrite")
        .save(Some(&path))
        .during(|| format!("write the signals to {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_schema_names_exactly_the_signal_fields() {
        let signal = contract::Signal {
            id: "s|X|t".into(),
            strategy: "s".into(),
            symbol: "X".into(),
            bar_start: Utc::now(),
            bar_end: Utc::now(),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
            trades: 1,
            bars: 1,
            indicators: Default::default(),
            action: contract::Action::Hold,
            reasons: vec![],
        };
        let json = serde_json::to_value(&signal).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut ddl: Vec<&str> = SIGNAL_SCHEMA
            .split(", ")
            .filter_map(|c| c.split_whitespace().next())
            .filter(|c| !c.ends_with('>') && !c.starts_with("DOUBLE"))
            .collect();
        fields.sort();
        ddl.sort();
        assert_eq!(fields, ddl);
    }
}
