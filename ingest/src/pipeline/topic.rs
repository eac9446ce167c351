//! The trades topic of a history load must keep what it is given. The stack's broker (like
//! most) deletes records older than its retention by their timestamp, and a trade's record
//! timestamp is its trade time: history older than the retention would be deleted minutes
//! after it was loaded, and a backtest would silently miss it. So a missing topic is created
//! keeping everything (`retention.ms=-1`), and an existing one whose retention is shorter than
//! the age of the oldest trade to load is refused with what to do about it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use service::kafka::KafkaSettings;

/// Why the topic cannot take the history.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error(transparent)]
    Option(#[from] service::kafka::ConflictingOption),
    #[error("topic {topic}: {error}")]
    Kafka { topic: String, error: KafkaError },
    #[error(
        "topic {topic} deletes records older than {hours:.1} h (retention.ms={retention_ms}) by \
         their timestamp, which is the trade time: history from {oldest} would be deleted soon \
         after loading. Load into a new topic (created keeping everything), or make this one \
         keep everything: kafka-configs.sh --bootstrap-server BROKERS --alter --entity-type \
         topics --entity-name {topic} --add-config retention.ms=-1"
    )]
    Retention {
        topic: String,
        retention_ms: i64,
        hours: f64,
        oldest: DateTime<Utc>,
    },
}

/// What [`ensure_keeps`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicState {
    /// Created now, keeping every record.
    Created,
    /// There already, with a retention long enough (`-1`: forever).
    Keeps { retention_ms: i64 },
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Makes sure `topic` keeps records stamped as old as `oldest`: creates it with `partitions`
/// partitions and `retention.ms=-1` when it does not exist; refuses one that would delete them.
pub async fn ensure_keeps(
    kafka: &KafkaSettings,
    topic: &str,
    partitions: i32,
    oldest: DateTime<Utc>,
) -> Result<TopicState, TopicError> {
    let err = |error| TopicError::Kafka {
        topic: topic.to_string(),
        error,
    };
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config("ingest-history-admin", &[])?
        .create()
        .map_err(err)?;
    let options = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(err)?;
    match described.into_iter().next() {
        // A missing topic describes as no configuration at all (or as an unknown topic).
        Some(Ok(resource)) if !resource.entries.is_empty() => {
            let retention_ms = resource
                .get("retention.ms")
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(-1);
            let age_ms = (Utc::now() - oldest).num_milliseconds();
            if retention_ms >= 0 && age_ms >= retention_ms {
                return Err(TopicError::Retention {
                    topic: topic.to_string(),
                    retention_ms,
                    hours: retention_ms as f64 / 3.6e6,
                    oldest,
                });
            }
            Ok(TopicState::Keeps { retention_ms })
        }
        Some(Err(code)) if code != RDKafkaErrorCode::UnknownTopicOrPartition => {
            Err(err(KafkaError::AdminOp(code)))
        }
        _ => {
            // -1: the broker's default replication factor.
            let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1))
                .set("retention.ms", "-1");
            for result in admin.create_topics([&new], &options).await.map_err(err)? {
                match result {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => return Err(err(KafkaError::AdminOp(code))),
                }
            }
            Ok(TopicState::Created)
        }
    }
}
