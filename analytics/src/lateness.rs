//! How late trades reach the query, to choose the watermark delay (`bars.watermark_delay_ms`)
//! from one's own data instead of by guess.
//!
//! A bar is final when the watermark, the newest trade time seen minus the delay D, passes its
//! end; a trade that arrives after the watermark passed its time is dropped (counted as
//! LATE DROPPED in `status`). So a trade is late for a delay D when, at the moment it was
//! received, a trade more than D newer (of any symbol: the watermark is the query's, not the
//! symbol's) had already been received. Every trade carries both times (`ts`, the exchange's;
//! `recv_ts`, ingest's), so a day of the strategy's topic tells how many trades each D would
//! have dropped. Spark's watermark moves only between micro-batches, so these counts are an
//! upper bound: a trade in the same batch as the newer one still counts.
//!
//! The computation runs on Spark over the whole range in arrival order (one partition: it is
//! one running maximum); one row comes back.

use chrono::{DateTime, Utc};
use contract::TRADE_SPARK_SCHEMA;
use serde::Deserialize;
use spark_connect::functions::expr;
use spark_connect::SparkSession;

use crate::backtest::input::{self, FileFormat, Input};
use crate::error::{Error, SparkContext};
use crate::sql::Entry;
use crate::strategy::Strategy;

/// The delays (ms) reported by default.
pub const DEFAULT_DELAYS_MS: [u64; 8] = [0, 100, 250, 500, 1000, 2000, 5000, 10000];

/// What `lateness` measured over a range of trades.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Lateness {
    /// Trades with both times.
    pub trades: u64,
    /// How far behind the newest trade time received before it, in ms (0 for a trade in
    /// order): median, 99th and 99.9th percentile (approximate), maximum.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// For each delay (ms), the trades later than it.
    pub late: Vec<(u64, u64)>,
}

impl Lateness {
    /// The smallest of the delays measured (in whatever order they were given) that would
    /// have dropped at most `max_share` of the trades (0.0001 = one in ten thousand); `None`
    /// when none does.
    pub fn smallest_delay(&self, max_share: f64) -> Option<u64> {
        self.late
            .iter()
            .filter(|(_, late)| (*late as f64) <= max_share * self.trades as f64)
            .map(|(d, _)| *d)
            .min()
    }
}

/// Measures the trades of `input` in `[from, to)` (the strategy's topic, or a file of trades
/// as ingest wrote them) against each of `delays_ms`.
pub fn run(
    spark: &SparkSession,
    s: &Strategy,
    input: &Input,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    delays_ms: &[u64],
) -> Result<Lateness, Error> {
    if let Input::File {
        format: FileFormat::KrakenCsv { .. },
        path,
    } = input
    {
        return Err(Error::Rows(format!(
            "{}: Kraken's trade-history CSV has no receive times; measure the trades as \
             ingest wrote them (--input kafka, or our JSON lines or Parquet)",
            path.display()
        )));
    }
    let (rows, entry) = input::rows(spark, s, input, from, to)?;
    let trades = match entry {
        Entry::Json => rows
            .select_expr(vec![&format!(
                "from_json(CAST(value AS STRING), '{TRADE_SPARK_SCHEMA}') AS t"
            )])
            .select_expr(vec![
                "t.symbol AS symbol",
                "t.trade_id AS trade_id",
                "t.ts AS ts",
                "t.recv_ts AS recv_ts",
            ]),
        Entry::Columns => rows.select_expr(vec![
            "symbol",
            "trade_id",
            "CAST(ts AS TIMESTAMP) AS ts",
            "CAST(recv_ts AS TIMESTAMP) AS recv_ts",
        ]),
    };
    let late: Vec<String> = delays_ms
        .iter()
        .map(|d| format!("named_struct('d', {d}L, 'n', count_if(l > {d}))"))
        .collect();
    let row = trades
        .filter(expr("ts IS NOT NULL AND recv_ts IS NOT NULL"))
        .select_expr(vec![
            "ts",
            // The newest trade time received before this trade (ties in arrival broken the
            // same way every run).
            "max(ts) OVER (ORDER BY recv_ts, ts, symbol, trade_id \
             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS newest",
        ])
        .select_expr(vec![
            "greatest(coalesce(unix_micros(newest) - unix_micros(ts), 0), 0) / 1000D AS l",
        ])
        .select_expr(vec![&format!(
            "to_json(named_struct('trades', count(1), \
             'q', percentile_approx(l, array(0.5D, 0.99D, 0.999D), 10000), \
             'max_ms', coalesce(max(l), 0D), 'late', array({}))) AS j",
            late.join(", ")
        )])
        .collect()
        .during(|| "measure the trades' lateness".into())?;
    let json = match row.first().and_then(|r| r.get(0)) {
        Some(spark_connect::row::Value::String(json)) => json.clone(),
        other => {
            return Err(Error::Rows(format!(
                "lateness: not one JSON row: {other:?}"
            )))
        }
    };
    parse(&json)
}

/// The one row Spark returns, as [`Lateness`].
fn parse(json: &str) -> Result<Lateness, Error> {
    #[derive(Deserialize)]
    struct Late {
        d: u64,
        n: u64,
    }
    #[derive(Deserialize)]
    struct Row {
        trades: u64,
        q: Option<Vec<f64>>,
        max_ms: f64,
        late: Vec<Late>,
    }
    let r: Row =
        serde_json::from_str(json).map_err(|e| Error::Rows(format!("lateness: {e}: {json}")))?;
    let q = r.q.unwrap_or_default();
    let at = |i: usize| q.get(i).copied().unwrap_or(0.0);
    Ok(Lateness {
        trades: r.trades,
        p50_ms: at(0),
        p99_ms: at(1),
        p999_ms: at(2),
        max_ms: r.max_ms,
        late: r.late.into_iter().map(|l| (l.d, l.n)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_delay_is_the_first_within_the_share() {
        let m = Lateness {
            trades: 10_000,
            p50_ms: 0.0,
            p99_ms: 80.0,
            p999_ms: 400.0,
            max_ms: 1500.0,
            late: vec![(0, 900), (100, 60), (500, 1), (2000, 0)],
        };
        assert_eq!(m.smallest_delay(0.0001), Some(500));
        assert_eq!(m.smallest_delay(0.0), Some(2000));
        assert_eq!(m.smallest_delay(0.01), Some(100));
        let worse = Lateness {
            late: vec![(0, 900)],
            ..m
        };
        assert_eq!(worse.smallest_delay(0.0001), None);
        let unsorted = Lateness {
            late: vec![(2000, 0), (0, 900), (500, 1), (100, 60)],
            ..worse
        };
        assert_eq!(unsorted.smallest_delay(0.0001), Some(500));
    }

    #[test]
    fn spark_row_parses_with_and_without_trades() {
        let m = parse(
            r#"{"trades":3,"q":[0.0,250.0,250.0],"max_ms":250.0,"late":[{"d":0,"n":1},{"d":500,"n":0}]}"#,
        )
        .unwrap();
        assert_eq!(m.trades, 3);
        assert_eq!((m.p99_ms, m.max_ms), (250.0, 250.0));
        assert_eq!(m.late, vec![(0, 1), (500, 0)]);
        let empty = parse(r#"{"trades":0,"max_ms":0.0,"late":[{"d":0,"n":0}]}"#).unwrap();
        assert_eq!((empty.trades, empty.p50_ms), (0, 0.0));
    }
}
