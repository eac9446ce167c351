//! Picking up where the last run left off: reads the tail of the trades topic at startup, so
//! the snapshot Kraken sends on the first subscription of a restarted ingest does not put
//! trades into Kafka a second time. Only trades of the same exchange are taken into account.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use contract::records::Trade;
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

/// The `(symbol, trade_id)` of the last `per_partition` records of every partition of `topic`
/// whose exchange is `exchange`. A missing topic has nothing to resume. Blocking.
fn recent_trades(
    kafka: &KafkaSettings,
    topic: &str,
    exchange: &str,
    per_partition: i64,
    timeout: Duration,
) -> Result<Vec<(String, u64)>, ResumeError> {
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
    let md = consumer.fetch_metadata(Some(topic), timeout).map_err(err)?;
    let Some(t) = md.topics().first().filter(|t| t.error().is_none()) else {
        return Ok(Vec::new());
    };
    let mut tpl = TopicPartitionList::new();
    // Per partition: the offset of its last record, which ends the read-back.
    let mut last: HashMap<i32, i64> = HashMap::new();
    for p in t.partitions() {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, p.id(), timeout)
            .map_err(err)?;
        if hi > lo {
            let from = lo.max(hi - per_partition);
            tpl.add_partition_offset(topic, p.id(), Offset::Offset(from))
                .map_err(err)?;
            last.insert(p.id(), hi - 1);
        }
    }
    if last.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&tpl).map_err(err)?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while !last.is_empty() {
        if Instant::now() >= deadline {
            return Err(ResumeError::Timeout {
                topic: topic.to_string(),
                timeout,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let Some(trade) = m
                    .payload()
                    .and_then(|p| serde_json::from_slice::<Trade>(p).ok())
                {
                    if trade.exchange == exchange {
                        out.push((trade.symbol, trade.trade_id));
                    }
                }
                if last
                    .get(&m.partition())
                    .is_some_and(|&end| m.offset() >= end)
                {
                    last.remove(&m.partition());
                }
            }
            Some(Err(e)) => return Err(err(e)),
            None => {}
        }
    }
    Ok(out)
}

/// Marks the trades already on the trades topic as sent, so that the first snapshot of a
/// restarted `kraken` source does not repeat them. Failing to read them back only costs that
/// protection, so it is logged, not fatal.
pub(crate) async fn prime(output: &OutputSettings, lookback: i64, emitter: &mut Emitter) {
    let (kafka, topic) = (output.kafka.clone(), output.topics.trades.clone());
    let read = tokio::task::spawn_blocking(move || {
        recent_trades(
            &kafka,
            &topic,
            protocol::EXCHANGE,
            lookback,
            Duration::from_secs(30),
        )
    })
    .await;
    match read {
        Ok(Ok(trades)) => {
            tracing::info!(
                trades = trades.len(),
                "resuming after the trades already in Kafka"
            );
            for (symbol, id) in trades {
                emitter.already_sent(&symbol, id);
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read back recent trades; a restart snapshot may repeat some")
        }
        Err(e) => tracing::warn!(error = %e, "reading back recent trades failed"),
    }
}
