//! The Kafka side: a consumer-group member that never commits on its own, its statistics
//! (for the lag gauge) and its rebalances (which commit what was delivered of the revoked
//! partitions and tell the forwarder which partitions' in-flight records to forget).
//!
//! Rebalances may be eager (every partition revoked, then the new set assigned) or incremental
//! (`partition.assignment.strategy=cooperative-sticky`, or `group.protocol=consumer`: only the
//! partitions that move are revoked or assigned; the others keep their fetch position). Either
//! way the forwarder forgets the records of exactly the partitions it no longer owns, and of
//! those assigned anew (they are fetched again from the committed offset), and keeps the rest:
//! forgetting a kept partition's records would skip them, since its fetch position moves on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};
use service::kafka::{ConflictingOption, KafkaSettings};
use service::metrics::Gauge;

use super::StartFrom;

/// librdkafka settings the forwarder relies on for its delivery guarantee: refused in
/// [`KafkaSettings::options`].
pub(crate) const OWNED_KEYS: &[(&str, &str)] = &[
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
const TUNED_DEFAULTS: &[(&str, &str)] = &[
    ("queued.max.messages.kbytes", "16384"),
    ("fetch.queue.backoff.ms", "50"),
];

/// What changed in the assignment since the forwarder last looked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// The partitions of the topic assigned now; `None` when librdkafka could not say (the
    /// records of every partition not restarted are kept: finishing a record of a partition
    /// that moved only sends a line twice, its commit is refused).
    pub assigned: Option<BTreeSet<i32>>,
    /// Partitions assigned anew since: they are fetched from their committed offsets again,
    /// so records of them from an earlier ownership are stale.
    pub restarted: BTreeSet<i32>,
}

impl Reassignment {
    /// Whether records of `partition` in the window are still ours to finish.
    pub fn keeps(&self, partition: i32) -> bool {
        self.assigned
            .as_ref()
            .is_none_or(|a| a.contains(&partition))
            && !self.restarted.contains(&partition)
    }
}

/// What the forwarder loop and the rebalance callback share.
#[derive(Debug, Default)]
pub struct Shared {
    /// Set by every rebalance (restarted partitions accumulate), taken by the forwarder,
    /// which then forgets the in-flight records that are no longer its own.
    pub reassignment: Mutex<Option<Reassignment>>,
    /// Commit positions (partition -> next offset) of finished records, not committed yet.
    /// The loop adds to it every turn and commits it periodically; a revocation commits the
    /// revoked partitions' positions first, so the next owner does not send them again.
    pub finished: Mutex<HashMap<i32, i64>>,
}

impl Shared {
    /// Removes and returns the positions of `partitions` (all if `None`), sorted.
    pub fn take_finished(&self, partitions: Option<&[i32]>) -> Vec<(i32, i64)> {
        let mut finished = self
            .finished
            .lock()
            .expect("finished-offsets lock poisoned");
        let mut out: Vec<(i32, i64)> = match partitions {
            None => finished.drain().collect(),
            Some(ps) => ps
                .iter()
                .filter_map(|p| finished.remove(p).map(|o| (*p, o)))
                .collect(),
        };
        out.sort_unstable();
        out
    }

    /// The assignment changes since the last call, if any.
    pub fn take_reassignment(&self) -> Option<Reassignment> {
        self.reassignment
            .lock()
            .expect("reassignment lock poisoned")
            .take()
    }
}

/// Callbacks from librdkafka: lag from statistics, commits and reassignments on rebalance.
/// They run inside the forwarder's own `recv` (the consumer queue serves them).
pub struct Context {
    topic: String,
    lag: Gauge,
    partitions: Gauge,
    shared: Arc<Shared>,
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
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        let partitions = self.partitions_of(revoked);
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in self.shared.take_finished(Some(&partitions)) {
            let _ = tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset));
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "commit before revocation failed; the next owner may send those records again");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let restarted: Vec<i32> = match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions assigned");
                self.partitions_of(tpl)
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions revoked");
                Vec::new()
            }
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "rebalance error");
                Vec::new()
            }
        };
        // Positions from an earlier ownership must not be committed over the new one's.
        self.shared.take_finished(Some(&restarted));
        let assigned = match consumer.assignment() {
            Ok(tpl) => {
                let assigned: BTreeSet<i32> = self.partitions_of(&tpl).into_iter().collect();
                self.partitions.set(assigned.len() as i64);
                Some(assigned)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the assignment after a rebalance");
                None
            }
        };
        let mut pending = self
            .shared
            .reassignment
            .lock()
            .expect("reassignment lock poisoned");
        let change = pending.get_or_insert_with(Reassignment::default);
        change.assigned = assigned;
        change.restarted.extend(restarted);
    }
}

impl Context {
    fn partitions_of(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect()
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
    kafka: &KafkaSettings,
    group_id: &str,
    topic: &str,
    start_from: StartFrom,
    lag: Gauge,
    partitions: Gauge,
) -> Result<(StreamConsumer<Context>, Arc<Shared>), ConsumerError> {
    let mut config = kafka.client_config("sink", OWNED_KEYS)?;
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", start_from.as_str())
        .set("statistics.interval.ms", "1000");
    for (key, value) in TUNED_DEFAULTS {
        if config.get(key).is_none() {
            config.set(*key, *value);
        }
    }
    let shared = Arc::new(Shared::default());
    let context = Context {
        topic: topic.to_string(),
        lag,
        partitions,
        shared: shared.clone(),
    };
    Ok((config.create_with_context(context)?, shared))
}
