//! Warming a freshly started Spark Connect server before the real queries arrive.
//!
//! A Connect server just started runs its first minutes of micro-batches several times slower
//! than a warm one: classes load, the JIT has not compiled Spark's expression evaluation (our
//! indicators are interpreted higher-order functions), Janino compiles each generated class for
//! the first time. Measured with the pipeline benchmark at 10k trades/s right after a restart:
//! bar close -> signal p99 18.8 s over the first minute, against 4.1 s warm. Running the
//! strategy's own steps for a few seconds beforehand takes most of that out of the real query.
//!
//! The warm-up runs the path of a real query, not only its steps: a feeder query turns Spark's
//! `rate` source into trade JSON and writes it to a Kafka topic (`warm.trades`), and the
//! strategy's own query (its steps with 1-second bars, so every stateful operator, the windows
//! and the indicators run within seconds) reads that topic and writes its signals to another
//! (`warm.signals`). A warm-up that skipped Kafka (rate source into the `noop` sink) left the
//! Kafka source, the JSON parsing of its records and the Kafka sink cold: the first minute after
//! it still had bar close -> signal p99 9.0 s, against 2.6 s for a new query on a server that
//! had run the real path. The strategy's own topics, query and checkpoint are not touched; the
//! warm-up's checkpoints go under `checkpoint_dir`, which the caller may delete afterwards.

use std::time::{Duration, Instant};

use spark_connect::streaming::Trigger;
use spark_connect::SparkSession;

use crate::error::{Error, SparkContext};
use crate::progress::BatchProgress;
use crate::query;
use crate::strategy::Strategy;

/// How long and how hard to warm, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmSettings {
    /// How long the warm-up queries run.
    pub duration: Duration,
    /// Synthetic trades per second.
    pub rate: u32,
    /// The topic the synthetic trades go through (on the strategy's source brokers).
    pub trades_topic: String,
    /// The topic the warm-up's signals go to (on the strategy's sink brokers).
    pub signals_topic: String,
    /// Where the warm-up queries keep their checkpoints (a directory on the server);
    /// empty: `warm-<random>` under the checkpoint root.
    pub checkpoint_dir: String,
}

/// The topic of the warm-up's synthetic trades.
pub const TRADES_TOPIC: &str = "warm.trades";
/// The topic of the warm-up's signals.
pub const SIGNALS_TOPIC: &str = "warm.signals";
/// How long the warm-up runs by default, in seconds (45 s left the first minute's p99 over 5 s
/// in three of ten runs: docs/performance.md, "Warm start").
pub const DEFAULT_SECONDS: u64 = 90;
/// Synthetic trades per second by default.
pub const DEFAULT_RATE: u32 = 10_000;

impl Default for WarmSettings {
    fn default() -> Self {
        WarmSettings {
            duration: Duration::from_secs(DEFAULT_SECONDS),
            rate: DEFAULT_RATE,
            trades_topic: TRADES_TOPIC.into(),
            signals_topic: SIGNALS_TOPIC.into(),
            checkpoint_dir: String::new(),
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

/// Runs `strategy`'s query over synthetic trades through Kafka for `settings.duration`, then
/// stops it (see the module's doc).
pub fn run(
    spark: &SparkSession,
    strategy: &Strategy,
    settings: &WarmSettings,
) -> Result<Warmed, Error> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = if settings.checkpoint_dir.is_empty() {
        format!(
            "{}/warm-{id}",
            crate::strategy::checkpoint_root(|name| std::env::var(name).ok())
        )
    } else {
        settings.checkpoint_dir.trim_end_matches('/').to_string()
    };
    let mut s = strategy.clone();
    s.query.name = format!("warm-{id}");
    s.query.checkpoint_location = format!("{dir}/signals");
    s.source.topic = settings.trades_topic.clone();
    s.source.starting_offsets = "latest".into();
    s.sink.topic = settings.signals_topic.clone();
    s.bars.interval_s = 1;
    s.rules.every_bar = true;

    let start = Instant::now();
    let feeder_name = format!("{}-trades", s.query.name);
    let feeder = spark
        .read_stream()
        .format("rate")
        .option("rowsPerSecond", &settings.rate.to_string())
        .load(None)
        .select_expr(vec![SYNTHETIC_TRADE])
        .write_stream()
        .format("kafka")
        // The source's Kafka client settings (security included): the feeder writes where the
        // strategy's query reads.
        .options(
            s.source
                .options
                .iter()
                .filter(|(k, _)| k.starts_with("kafka."))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
        .option("kafka.bootstrap.servers", &s.source.brokers)
        .option("topic", &s.source.topic)
        .option("checkpointLocation", &format!("{dir}/trades"))
        .query_name(&feeder_name)
        .trigger(Trigger::ProcessingTime(format!(
            "{} milliseconds",
            s.query.trigger_interval_ms
        )))
        .start("")
        .during(|| format!("start the warm-up's feeder query {feeder_name}"))?;
    let durations = warm_query(spark, &s, settings.duration);
    // Stopped whatever the strategy's query did: nothing of the warm-up is left running.
    let stopped = feeder
        .stop()
        .during(|| format!("stop the warm-up's feeder query {feeder_name}"));
    let durations = durations?;
    stopped?;
    Ok(Warmed {
        elapsed: start.elapsed(),
        batches: durations.len(),
        first_batch_ms: durations.first().copied().unwrap_or(0),
        last_batch_ms: durations.last().copied().unwrap_or(0),
    })
}

/// Runs the warm-up's strategy query for `duration`; the durations of its batches with data.
fn warm_query(spark: &SparkSession, s: &Strategy, duration: Duration) -> Result<Vec<i64>, Error> {
    let q = query::start(spark, s)?;
    std::thread::sleep(duration);
    let progress = q
        .recent_progress()
        .during(|| format!("read the progress of {}", s.query.name));
    q.stop()
        .during(|| format!("stop the warm-up query {}", s.query.name))?;
    Ok(progress?
        .iter()
        .filter_map(|j| BatchProgress::parse(j).ok())
        .filter(|b| b.input_rows > 0)
        .map(|b| b.batch_duration_ms)
        .collect())
}
