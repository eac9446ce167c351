//! Warming a freshly started Spark Connect server before the real queries arrive.
//!
//! A Connect server just started runs its first minutes of micro-batches several times slower
//! than a warm one: classes load, the JIT has not compiled Spark's expression evaluation (our
//! indicators are interpreted higher-order functions), Janino compiles each generated class for
//! the first time. Measured with the pipeline benchmark at 10k trades/s right after a restart:
//! bar close -> signal p99 18.8 s over the first minute, against 4.1 s warm. Running the
//! strategy's own steps for a few seconds beforehand takes most of that out of the real query.
//!
//! The warm-up is a streaming query of the strategy's steps (1-second bars, so every stateful
//! operator, the windows and the indicators run within seconds) over Spark's `rate` source made
//! into trade JSON, written to the `noop` sink: nothing is read from or written to Kafka, and
//! the strategy's own query and checkpoint are not touched.

use std::time::{Duration, Instant};

use spark_connect::streaming::Trigger;
use spark_connect::SparkSession;

use crate::error::{Error, SparkContext};
use crate::progress::BatchProgress;
use crate::query;
use crate::sql::Entry;
use crate::strategy::Strategy;

/// How long and how hard to warm.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmSettings {
    /// How long the warm-up query runs.
    pub duration: Duration,
    /// Synthetic trades per second.
    pub rate: u32,
}

impl Default for WarmSettings {
    fn default() -> Self {
        WarmSettings {
            duration: Duration::from_secs(20),
            rate: 2000,
        }
    }
}

/// What the warm-up did: its micro-batches with input and their durations, first and last.
#[derive(Debug, Clone, PartialEq)]
pub struct Warmed {
    pub elapsed: Duration,
    pub batches: usize,
    pub first_batch_ms: i64,
    pub last_batch_ms: i64,
}

/// The `rate` source's rows as trade JSON of 10 symbols, event time = the row's time.
const SYNTHETIC_TRADE: &str = "to_json(named_struct('exchange', 'warm', \
     'symbol', concat('WARM', CAST(value % 10 AS STRING), '/USD'), 'trade_id', value, \
     'price', 100D + (value % 97) / 10D, 'qty', 0.5D, 'side', 'buy', 'ord_type', 'market', \
     'ts', timestamp, 'recv_ts', timestamp)) AS value";

/// Runs `strategy`'s steps as a throwaway streaming query for `settings.duration`, then stops
/// it.
pub fn run(
    spark: &SparkSession,
    strategy: &Strategy,
    settings: &WarmSettings,
) -> Result<Warmed, Error> {
    let mut s = strategy.clone();
    s.bars.interval_s = 1;
    s.bars.watermark_delay_ms = Some(0);
    s.rules.every_bar = true;
    query::configure(spark, &s)?;
    let start = Instant::now();
    let name = format!("warm-{}", uuid::Uuid::new_v4().simple());
    let source = spark
        .read_stream()
        .format("rate")
        .option("rowsPerSecond", &settings.rate.to_string())
        .load(None)
        .select_expr(vec![SYNTHETIC_TRADE]);
    let q = query::steps_on(source, Entry::Json, &s)
        .write_stream()
        .format("noop")
        .output_mode("append")
        .query_name(&name)
        .trigger(Trigger::ProcessingTime(format!(
            "{} milliseconds",
            s.query.trigger_interval_ms
        )))
        .start("")
        .during(|| format!("start the warm-up query {name}"))?;
    std::thread::sleep(settings.duration);
    let progress = q
        .recent_progress()
        .during(|| format!("read the progress of {name}"));
    q.stop()
        .during(|| format!("stop the warm-up query {name}"))?;
    let durations: Vec<i64> = progress?
        .iter()
        .filter_map(|j| BatchProgress::parse(j).ok())
        .filter(|b| b.input_rows > 0)
        .map(|b| b.batch_duration_ms)
        .collect();
    Ok(Warmed {
        elapsed: start.elapsed(),
        batches: durations.len(),
        first_batch_ms: durations.first().copied().unwrap_or(0),
        last_batch_ms: durations.last().copied().unwrap_or(0),
    })
}
