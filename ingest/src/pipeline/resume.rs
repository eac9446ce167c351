//! Picking up where the last run left off: reads the tail of the trades topic at startup, so
//! the snapshot Kraken sends on the first subscription of a restarted ingest does not put
//! trades into Kafka a second time. Only trades of the same exchange are taken into account.
//!
//! The read-back is per symbol, not a fixed tail per partition: a quiet symbol's last trades
//! can lie far behind a busy symbol's in the same partition, and its snapshot (its last 50
//! trades, however old) would be sent again. So each partition is read back in growing steps
//! until every subscribed symbol's last 50 trades are known, bounded by a number of records
//! per partition (`resume_lookback`): a symbol never traded, or traded only beyond the bound,
//! costs reading that much at startup, and its snapshot then goes out (the Spark query drops
//! the repeats it still sees within its watermark).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use service::kafka::KafkaSettings;

use super::emit::Emitter;
use super::output::OutputSettings;
use crate::source::kraken::protocol;

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Option(#[from] service::kafka::ConflictingOption),
    #[error("reading back {topic}: {error}")]
    Kafka { topic: String, error: KafkaError },
    #[error("reading back {topic}: not done after {timeout:?}")]
    Timeout { topic: String, timeout: Duration },
}

/// Trades per symbol a Kraken snapshot repeats (the last 50): the read-back wants as many of
/// each subscribed symbol.
const SNAPSHOT_DEPTH: usize = 50;

/// Ids kept per symbol, the most recent: far more than a snapshot can repeat, and a bound on
/// memory when a busy symbol fills the read-back.
const KEEP_PER_SYMBOL: usize = 10_000;

/// How long one attempt to read the topic's metadata waits, between checks whether the run
/// stopped.
const METADATA_ATTEMPT: Duration = Duration::from_secs(2);

/// Records read from each partition in the first step back; each further step reads four
/// times as many, so a busy partition costs few steps and a quiet topic little reading.
const FIRST_STEP: i64 = 1000;

/// The fields of a trade the read-back needs, borrowed from the record.
#[derive(serde::Deserialize)]
struct Sent<'a> {
    #[serde(borrow)]
    exchange: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    symbol: std::borrow::Cow<'a, str>,
    trade_id: u64,
}

/// One partition's read-back: `[floor, end)` is what is left to read, newest first.
struct Back {
    partition: i32,
    floor: i64,
    end: i64,
}

/// The low and high offsets of a partition. A topic created a moment ago may have no leader
/// yet (`NotLeaderForPartition`, `LeaderNotAvailable`): asked again until `deadline`.
fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    deadline: Instant,
) -> Result<(i64, i64), rdkafka::error::KafkaError> {
    use rdkafka::types::RDKafkaErrorCode::{LeaderNotAvailable, NotLeaderForPartition};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_watermarks(topic, partition, left) {
            Err(e)
                if matches!(
                    e.rdkafka_error_code(),
                    Some(NotLeaderForPartition | LeaderNotAvailable)
                ) && Instant::now() + Duration::from_millis(200) < deadline =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// The recent trades per symbol of `exchange` on `topic`, as (trade id, Kafka timestamp in
/// ms, which is the trade time). Reads back from the end of every
/// partition, in growing steps, until each of `symbols` has [`SNAPSHOT_DEPTH`] trades, or
/// `max_per_partition` records of each partition (or all of it) were read: a symbol's trades
/// all sit in one partition (the key is the symbol) but which one is not known up front. A
/// missing topic has nothing to resume. Blocking; reaching the brokers is tried again until
/// `timeout` unless `given_up()` says the run stopped meanwhile (Kafka refused the producer's
/// login: this consumer's would be refused too).
fn recent_trades(
    kafka: &KafkaSettings,
    topic: &str,
    exchange: &str,
    symbols: &[String],
    max_per_partition: i64,
    timeout: Duration,
    given_up: impl Fn() -> bool,
) -> Result<HashMap<String, Vec<(u64, i64)>>, ResumeError> {
    let err = |error| ResumeError::Kafka {
        topic: topic.to_string(),
        error,
    };
    let consumer: BaseConsumer = kafka
        .client_config("ingest-resume", &[])?
        .set("group.id", "ingest-resume")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .map_err(err)?;
    let deadline = Instant::now() + timeout;
    let md = loop {
        match consumer.fetch_metadata(Some(topic), METADATA_ATTEMPT) {
            Ok(md) => break md,
            Err(_) if Instant::now() < deadline && !given_up() => {}
            Err(e) => return Err(err(e)),
        }
    };
    let mut found: HashMap<String, Vec<(u64, i64)>> = HashMap::new();
    let Some(t) = md.topics().first().filter(|t| t.error().is_none()) else {
        return Ok(found);
    };
    let mut backs = Vec::new();
    for p in t.partitions() {
        let (lo, hi) = watermarks(&consumer, topic, p.id(), deadline).map_err(err)?;
        backs.push(Back {
            partition: p.id(),
            floor: lo.max(hi - max_per_partition),
            end: hi,
        });
    }
    let mut step = FIRST_STEP;
    loop {
        let enough = |found: &HashMap<String, Vec<(u64, i64)>>| {
            symbols
                .iter()
                .all(|s| found.get(s).is_some_and(|ids| ids.len() >= SNAPSHOT_DEPTH))
        };
        if enough(&found) {
            break;
        }
        // This step: the `step` records before what was read, in every partition with more.
        let mut tpl = TopicPartitionList::new();
        let mut until: HashMap<i32, i64> = HashMap::new();
        for b in backs.iter_mut().filter(|b| b.end > b.floor) {
            let from = b.floor.max(b.end - step);
            tpl.add_partition_offset(topic, b.partition, Offset::Offset(from))
                .map_err(err)?;
            until.insert(b.partition, b.end);
            b.end = from;
        }
        if until.is_empty() {
            break;
        }
        // Symbols that already have enough ids keep only the newer ones, read before.
        let full: Vec<String> = found
            .iter()
            .filter(|(_, ids)| ids.len() >= KEEP_PER_SYMBOL)
            .map(|(s, _)| s.clone())
            .collect();
        consumer.assign(&tpl).map_err(err)?;
        while !until.is_empty() {
            if Instant::now() >= deadline {
                return Err(ResumeError::Timeout {
                    topic: topic.to_string(),
                    timeout,
                });
            }
            let m = match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(err(e)),
                None => continue,
            };
            let Some(&end) = until.get(&m.partition()) else {
                continue;
            };
            // Past the step's end: read in an earlier step.
            if m.offset() >= end {
                continue;
            }
            if m.offset() >= end - 1 {
                until.remove(&m.partition());
            }
            let Some(sent) = m
                .payload()
                .and_then(|p| serde_json::from_slice::<Sent>(p).ok())
            else {
                continue;
            };
            if sent.exchange != exchange || full.iter().any(|s| *s == sent.symbol) {
                continue;
            }
            let seen = (sent.trade_id, m.timestamp().to_millis().unwrap_or(0));
            match found.get_mut(sent.symbol.as_ref()) {
                Some(ids) => ids.push(seen),
                None => {
                    found.insert(sent.symbol.into_owned(), vec![seen]);
                }
            }
        }
        step = step.saturating_mul(4);
    }
    Ok(found)
}

/// Marks the trades already on the trades topic as sent, so that the first snapshot of a
/// restarted `kraken` source does not repeat them: the last trades of every one of `symbols`,
/// read back through at most `lookback` records per partition. Failing to read them back
/// only costs that protection (the query drops repeats within its watermark), so it is
/// logged, not fatal.
pub(crate) async fn prime(
    output: &OutputSettings,
    symbols: &[String],
    lookback: i64,
    emitter: &mut Emitter,
) {
    let (kafka, topic) = (output.kafka.clone(), output.topics.trades.clone());
    let wanted = symbols.to_vec();
    let output_closed = {
        let queue = emitter.queue();
        move || queue.is_closed()
    };
    let read = tokio::task::spawn_blocking(move || {
        recent_trades(
            &kafka,
            &topic,
            protocol::EXCHANGE,
            &wanted,
            lookback,
            Duration::from_secs(60),
            output_closed,
        )
    })
    .await;
    match read {
        Ok(Ok(found)) => {
            let short: Vec<&str> = symbols
                .iter()
                .filter(|s| found.get(*s).is_none_or(|ids| ids.len() < SNAPSHOT_DEPTH))
                .map(String::as_str)
                .collect();
            tracing::info!(
                trades = found.values().map(Vec::len).sum::<usize>(),
                symbols = found.len(),
                "resuming after the trades already in Kafka"
            );
            if !short.is_empty() {
                // New symbols, or quiet ones whose last trades lie further back.
                tracing::info!(
                    symbols = %short.join(","),
                    lookback,
                    "fewer than {SNAPSHOT_DEPTH} earlier trades found within the read-back"
                );
            }
            for (symbol, mut ids) in found {
                ids.sort_unstable();
                for (id, _) in ids {
                    emitter.already_sent(&symbol, id);
                }
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read back recent trades; a restart snapshot may repeat some")
        }
        Err(e) => tracing::warn!(error = %e, "reading back recent trades failed"),
    }
}

/// The newest trade of a symbol already on the trades topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newest {
    pub trade_id: u64,
    /// Its Kafka timestamp: the trade time, in milliseconds.
    pub timestamp_ms: i64,
}

/// The newest trade (highest id) of each of `symbols` of `exchange` on the trades topic, read
/// back through at most `lookback` records per partition: where a history load resumes. A
/// missing topic has none.
pub(crate) async fn newest(
    output: &OutputSettings,
    exchange: &str,
    symbols: &[String],
    lookback: i64,
) -> Result<HashMap<String, Newest>, ResumeError> {
    let (kafka, topic) = (output.kafka.clone(), output.topics.trades.clone());
    let (exchange, wanted) = (exchange.to_string(), symbols.to_vec());
    let found = tokio::task::spawn_blocking(move || {
        recent_trades(
            &kafka,
            &topic,
            &exchange,
            &wanted,
            lookback,
            Duration::from_secs(60),
            || false,
        )
    })
    .await
    .expect("the read-back does not panic")?;
    Ok(found
        .into_iter()
        .filter_map(|(symbol, ids)| {
            let (trade_id, timestamp_ms) = ids.into_iter().max()?;
            Some((
                symbol,
                Newest {
                    trade_id,
                    timestamp_ms,
                },
            ))
        })
        .collect())
}
