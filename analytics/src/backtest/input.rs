//! Where a backtest's trades come from, as a batch DataFrame the strategy's steps read: raw
//! rows with the trade JSON in `value` (the shape the live query reads from Kafka), or rows
//! with the trade's fields as columns ([`Entry`]). Only the steps' first one, which makes
//! each row a trade, depends on which: one plan (the live query's steps) serves every input.
//!
//! - Kafka: the strategy's topic between two times, read by Spark's Kafka batch source from
//!   the offsets of those times (`startingTimestamp`, `endingTimestamp`), then cut exactly
//!   on the record timestamp, which is the trade time.
//! - JSON lines: our trade JSON, one per line (what `ingest` writes to Kafka), read as text.
//! - Parquet: columns named as the trade's fields, read as columns (written as JSON to be
//!   parsed again, they cost twice the time: measured with the backtest benchmark).
//! - Kraken's trade-history CSV (`unix_time,price,volume`): turned into trades of `symbol`
//!   with the same deterministic ids `ingest history --csv` gives them (`second × 10^6 + n`,
//!   `n` counting the usable lines before it in the same second).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use spark_connect::functions::expr;
use spark_connect::{DataFrame, SparkSession};

use crate::error::{Error, SparkContext};
use crate::query;
pub use crate::sql::Entry;
use crate::strategy::Strategy;

/// A file of trades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFormat {
    /// Our trade JSON, one per line.
    JsonLines,
    /// Columns named as the trade's fields.
    Parquet,
    /// Kraken's trade-history CSV of one pair.
    KrakenCsv { symbol: String },
}

impl FileFormat {
    /// The format a path's extension says: `.parquet`, `.csv` (needs the pair), else JSON
    /// lines.
    pub fn of(path: &Path, csv_symbol: Option<&str>) -> Result<FileFormat, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match ext.as_str() {
            "parquet" => Ok(FileFormat::Parquet),
            "csv" => csv_symbol
                .map(|s| FileFormat::KrakenCsv {
                    symbol: s.to_string(),
                })
                .ok_or_else(|| {
                    format!(
                        "{}: a Kraken CSV has no symbol: say which pair it holds (--symbol)",
                        path.display()
                    )
                }),
            _ => Ok(FileFormat::JsonLines),
        }
    }
}

/// Where the trades come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The strategy's Kafka topic (`source.topic`, or this one).
    Kafka { topic: Option<String> },
    /// A file (or a directory of part files) on the filesystem the Spark cluster reads.
    File { path: PathBuf, format: FileFormat },
}

/// A time as a Spark SQL literal.
fn literal(t: DateTime<Utc>) -> String {
    format!(
        "TIMESTAMP'{}'",
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

/// `column` within `[from, to)`, or `None` when neither is set.
fn range(column: &str, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<String> {
    let parts: Vec<String> = from
        .map(|f| format!("{column} >= {}", literal(f)))
        .into_iter()
        .chain(to.map(|t| format!("{column} < {}", literal(t))))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// Kafka batch source options: the strategy's source (brokers, the raw options) from the
/// offsets of `from` to those of `to` (earliest and latest without them).
pub fn kafka_options(
    s: &Strategy,
    topic: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> HashMap<String, String> {
    let mut o = query::source_options(s);
    // Streaming-only settings.
    o.remove("maxOffsetsPerTrigger");
    o.remove("startingOffsets");
    if let Some(topic) = topic {
        o.insert("subscribe".into(), topic.into());
    }
    match from {
        Some(f) => {
            o.insert("startingTimestamp".into(), f.timestamp_millis().to_string());
            // A partition with nothing that late reads nothing, instead of failing.
            o.insert("startingOffsetsByTimestampStrategy".into(), "latest".into());
        }
        None => {
            o.insert("startingOffsets".into(), "earliest".into());
        }
    }
    match to {
        Some(t) => {
            o.insert("endingTimestamp".into(), t.timestamp_millis().to_string());
        }
        None => {
            o.insert("endingOffsets".into(), "latest".into());
        }
    }
    o
}

/// The trades of `input` in `[from, to)`, held as the [`Entry`] says.
pub fn rows(
    spark: &SparkSession,
    s: &Strategy,
    input: &Input,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(DataFrame, Entry), Error> {
    let cut = |df: DataFrame, ts: &str| match range(ts, from, to) {
        Some(cut) => df.filter(expr(&cut)),
        None => df,
    };
    match input {
        Input::Kafka { topic } => {
            let df = spark
                .read()
                .format("kafka")
                .options(kafka_options(s, topic.as_deref(), from, to))
                .load(None);
            // The offsets of a time are per partition and approximate: cut exactly.
            Ok((cut(df, "timestamp"), Entry::Json))
        }
        Input::File { path, format } => {
            let path = path.to_string_lossy();
            Ok(match format {
                FileFormat::JsonLines => (
                    cut(
                        spark.read().format("text").load(Some(&path)),
                        "CAST(get_json_object(value, '$.ts') AS TIMESTAMP)",
                    ),
                    Entry::Json,
                ),
                FileFormat::Parquet => {
                    let df = spark.read().format("parquet").load(Some(&path));
                    let columns = df
                        .columns()
                        .during(|| format!("read the columns of {path}"))?;
                    // Trades from elsewhere may lack the receipt time: then none is checked
                    // as stamped ahead of it, as a trade without one in Kafka.
                    let df = if columns.iter().any(|c| c == "recv_ts") {
                        df
                    } else {
                        df.with_column("recv_ts", expr("CAST(NULL AS TIMESTAMP)"))
                    };
                    (cut(df, "CAST(ts AS TIMESTAMP)"), Entry::Columns)
                }
                FileFormat::KrakenCsv { symbol } => {
                    (cut(kraken_csv(spark, &path, symbol), "ts"), Entry::Columns)
                }
            })
        }
    }
}

/// Writes a file of our trade JSON lines as Parquet in the shape a backtest reads (columns
/// named as the trade's fields), replacing what is at `parquet`; Spark does the writing, so
/// both paths are on the filesystem the cluster reads.
pub fn jsonl_as_parquet(spark: &SparkSession, jsonl: &Path, parquet: &Path) -> Result<(), Error> {
    spark
        .read()
        .format("text")
        .load(Some(&jsonl.to_string_lossy()))
        .select_expr(vec![&format!(
            "from_json(value, '{}') AS t",
            contract::TRADE_SPARK_SCHEMA
        )])
        .select_expr(vec!["t.*"])
        .write()
        .format("parquet")
        .mode("overwrite")
        .save(Some(&parquet.to_string_lossy()))
        .during(|| format!("write {} as Parquet", jsonl.display()))
}

/// Kraken's CSV as trades of `symbol`, the trade's fields as columns: lines that do not
/// parse as a positive price and volume at a time are left out before the ids are counted,
/// as `ingest history --csv` does. Side and order type are not in the file and not read by
/// the strategy, so they are left out.
fn kraken_csv(spark: &SparkSession, path: &str, symbol: &str) -> DataFrame {
    let symbol = symbol.replace('\'', "");
    spark
        .read()
        .format("csv")
        .schema("unix_time STRING, price STRING, volume STRING".into())
        .load(Some(path))
        .select_expr(vec![
            "CAST(unix_time AS DECIMAL(20, 9)) AS t",
            "CAST(price AS DOUBLE) AS price",
            "CAST(volume AS DOUBLE) AS qty",
            "monotonically_increasing_id() AS line",
        ])
        .filter(expr("t IS NOT NULL AND price > 0 AND qty > 0"))
        .select_expr(vec![
            "timestamp_micros(CAST(t * 1000000 AS BIGINT)) AS ts",
            "CAST(floor(t) AS BIGINT) AS second",
            "price",
            "qty",
            "line",
        ])
        .select_expr(vec![
            &format!("'{symbol}' AS symbol"),
            "second * 1000000 + row_number() OVER (PARTITION BY second ORDER BY line) - 1 \
             AS trade_id",
            "price",
            "qty",
            "ts",
            // The file has no receipt time: none is checked as stamped ahead of it.
            "CAST(NULL AS TIMESTAMP) AS recv_ts",
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_between_two_times() {
        let s = Strategy::default();
        let from: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
        let o = kafka_options(&s, Some("history"), Some(from), None);
        assert_eq!(o["subscribe"], "history");
        assert_eq!(o["startingTimestamp"], "1767571200000");
        assert_eq!(o["endingOffsets"], "latest");
        assert!(!o.contains_key("startingOffsets") && !o.contains_key("maxOffsetsPerTrigger"));
        let o = kafka_options(&s, None, None, Some(from));
        assert_eq!(o["subscribe"], "market.trades");
        assert_eq!(o["startingOffsets"], "earliest");
        assert_eq!(o["endingTimestamp"], "1767571200000");
        assert_eq!(
            range("timestamp", Some(from), Some(from)).unwrap(),
            "timestamp >= TIMESTAMP'2026-01-05T00:00:00.000000Z' AND \
             timestamp < TIMESTAMP'2026-01-05T00:00:00.000000Z'"
        );
    }

    #[test]
    fn file_formats_by_extension() {
        let f = |p: &str, s| FileFormat::of(Path::new(p), s);
        assert_eq!(f("a/b.parquet", None), Ok(FileFormat::Parquet));
        assert_eq!(f("t.jsonl", None), Ok(FileFormat::JsonLines));
        assert!(f("XBTUSD.csv", None).is_err());
        assert_eq!(
            f("XBTUSD.csv", Some("BTC/USD")),
            Ok(FileFormat::KrakenCsv {
                symbol: "BTC/USD".into()
            })
        );
    }
}
