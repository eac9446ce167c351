//! Reading the signals topic for the dashboard: no consumer group and no commits (a dashboard
//! only looks), every partition assigned at startup, starting `replay_records` before each
//! partition's end so the charts have history at once without reading a long topic from its
//! beginning. Each record becomes a bar in the [`Book`]; one that is not a signal is counted
//! in `sink_skipped_total{kind}` and skipped.
//!
//! Whether Kafka answers comes from librdkafka's own statistics (every second): the state of
//! each broker connection. That is what the health strip shows, within about a second of the
//! broker going away or coming back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};
use service::backoff::Backoff;
use service::kafka::KafkaSettings;
use service::metrics::Counter;
use service::ratelimit::LogLimiter;
use service::shutdown::Shutdown;

use super::book::Book;
use crate::forward::ConsumerError;
use crate::line::{self, Skipped};

/// librdkafka settings the dashboard sets itself, refused in `--kafka-option`.
pub(crate) const OWNED_KEYS: &[(&str, &str)] = &[
    ("group.id", "the dashboard reads without a consumer group"),
    ("enable.auto.commit", "the dashboard commits nothing"),
    ("statistics.interval.ms", "feeds the Kafka health indicator"),
];

/// What the health report needs to know about the Kafka side.
#[derive(Debug, Default, Clone)]
pub struct KafkaState {
    /// When librdkafka last reported statistics, and how many brokers were up then.
    pub stats: Option<(Instant, usize)>,
    /// The broker connections' states at the last statistics, for the banner.
    pub brokers: String,
    /// Why the topic could not be read, until it can.
    pub error: Option<String>,
    /// When the last record arrived.
    pub last_record: Option<Instant>,
    /// The last bar's length (bar_end - bar_start): how often bars should come.
    pub bar_interval: Option<Duration>,
}

pub type SharedState = Arc<Mutex<KafkaState>>;

pub struct Context {
    state: SharedState,
}

impl ClientContext for Context {
    fn stats(&self, stats: Statistics) {
        let real = stats
            .brokers
            .values()
            .filter(|b| b.source == "learned" || b.source == "configured");
        let (mut up, mut states) = (0, Vec::new());
        for b in real {
            up += usize::from(b.state == "UP");
            states.push(format!("{} {}", b.nodename, b.state));
        }
        states.sort();
        states.dedup();
        let mut state = self.state.lock().expect("kafka state lock poisoned");
        state.stats = Some((Instant::now(), up));
        state.brokers = states.join(", ");
    }
}

impl ConsumerContext for Context {}

/// A consumer that reads without a group; nothing is assigned yet.
pub fn create(
    kafka: &KafkaSettings,
    state: SharedState,
) -> Result<StreamConsumer<Context>, ConsumerError> {
    let mut config = kafka.client_config("sink-dashboard", OWNED_KEYS)?;
    config
        .set("group.id", "sink-dashboard")
        .set("enable.auto.commit", "false")
        .set("statistics.interval.ms", "1000");
    Ok(config.create_with_context(Context { state })?)
}

/// Reads `topic` into `book` until `shutdown`; waits (with backoff) while the topic cannot be
/// found, and lets librdkafka reconnect when the broker goes away.
pub async fn run(
    consumer: StreamConsumer<Context>,
    topic: String,
    replay_records: i64,
    book: Book,
    counters: (Counter, Skipped),
    state: SharedState,
    mut shutdown: Shutdown,
) {
    let consumer = Arc::new(consumer);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
    loop {
        let assigned = {
            let (consumer, topic) = (consumer.clone(), topic.clone());
            tokio::task::spawn_blocking(move || assign(&consumer, &topic, replay_records))
                .await
                .expect("assign task")
        };
        match assigned {
            Ok(partitions) => {
                tracing::info!(%topic, partitions, replay_records, "reading signals");
                state.lock().expect("kafka state lock poisoned").error = None;
                break;
            }
            Err(e) => {
                tracing::warn!(%topic, error = %e, "cannot read the signals topic yet; retrying");
                state.lock().expect("kafka state lock poisoned").error = Some(e);
                tokio::select! {
                    _ = shutdown.recv() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
    let (bars, skipped) = counters;
    let errors = LogLimiter::new(Duration::from_secs(10));
    loop {
        let message = tokio::select! {
            _ = shutdown.recv() => return,
            m = consumer.recv() => m,
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                if let Some(not_logged) = errors.allow() {
                    tracing::warn!(error = %e, not_logged_since_last = not_logged, "Kafka error; the client retries");
                }
                continue;
            }
        };
        match line::decode(message.payload()) {
            Ok(signal) => {
                book.add_bar(&signal);
                bars.inc();
                let mut state = state.lock().expect("kafka state lock poisoned");
                state.last_record = Some(Instant::now());
                state.bar_interval = (signal.bar_end - signal.bar_start).to_std().ok();
            }
            Err(invalid) => {
                let source = format!("{}@{}", message.partition(), message.offset());
                invalid.record(&skipped, &source);
            }
        }
    }
}

/// Assigns every partition of `topic` from `replay_records` before its end; blocking. The
/// error is a sentence for the banner.
fn assign(
    consumer: &StreamConsumer<Context>,
    topic: &str,
    replay_records: i64,
) -> Result<usize, String> {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let unreachable = |e: KafkaError| format!("Kafka unreachable ({e})");
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(unreachable)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {topic} does not exist"));
    }
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(unreachable)?;
        let start = (high - replay_records).max(low);
        tpl.add_partition_offset(topic, p, Offset::Offset(start))
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    Ok(partitions.len())
}
