//! The Kafka side: a consumer-group member that never commits on its own, its statistics
//! (for the lag gauge) and its rebalances (which invalidate the in-flight window).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::kafka::{ConflictingOption, KafkaArgs};
use common::metrics::Gauge;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Statistics};

/// librdkafka settings the forwarder relies on for its delivery guarantee.
pub const OWNED_KEYS: &[(&str, &str)] = &[
    ("group.id", "use --group-id"),
    (
        "enable.auto.commit",
        "offsets are committed only after delivery",
    ),
    (
        "enable.auto.offset.store",
        "offsets are committed only after delivery",
    ),
    ("auto.offset.reset", "use --start-from"),
    ("statistics.interval.ms", "feeds the lag metric"),
];

/// librdkafka defaults changed for a forwarder (a `--kafka-option` still wins):
/// - the prefetch queue is capped at 16 MiB instead of 64 MiB: enough to keep the endpoint
///   busy, and part of the forwarder's memory bound;
/// - when that queue is full (the endpoint is slower than Kafka, or a backlog is draining),
///   librdkafka pauses fetching for `fetch.queue.backoff.ms`, 1 s by default; once the backlog
///   is gone that pause became up to a second of extra latency for the next signals.
pub const TUNED_DEFAULTS: &[(&str, &str)] = &[
    ("queued.max.messages.kbytes", "16384"),
    ("fetch.queue.backoff.ms", "50"),
];

/// Callbacks from librdkafka's threads: lag from statistics, rebalance generations.
pub struct Context {
    topic: String,
    lag: Gauge,
    /// Bumped on every assignment change; the forwarder clears its window when it moves.
    generation: Arc<AtomicU64>,
}

impl ClientContext for Context {
    fn stats(&self, stats: Statistics) {
        if let Some(topic) = stats.topics.get(&self.topic) {
            let lag: i64 = topic
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(|p| p.consumer_lag)
                .sum();
            self.lag.set(lag);
        }
    }
}

impl ConsumerContext for Context {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// The consumer could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Option(#[from] ConflictingOption),
    #[error("creating the Kafka consumer: {0}")]
    Create(#[from] KafkaError),
}

/// A consumer of `topic` in `group_id` that stores and commits no offset by itself.
pub fn create(
    kafka: &KafkaArgs,
    group_id: &str,
    topic: &str,
    start_from: &str,
    lag: Gauge,
) -> Result<(StreamConsumer<Context>, Arc<AtomicU64>), ConsumerError> {
    let mut config = kafka.client_config("sink", OWNED_KEYS)?;
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", start_from)
        .set("statistics.interval.ms", "1000");
    for (key, value) in TUNED_DEFAULTS {
        if config.get(key).is_none() {
            config.set(*key, *value);
        }
    }
    let generation = Arc::new(AtomicU64::new(0));
    let context = Context {
        topic: topic.to_string(),
        lag,
        generation: generation.clone(),
    };
    Ok((config.create_with_context(context)?, generation))
}
