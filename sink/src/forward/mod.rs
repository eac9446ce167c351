//! `sink forward`: signals from a Kafka consumer group to a TCP endpoint, at least once.
//!
//! One task runs the loop: consume a batch of records, turn each into a line (or skip it),
//! write the batch, and let the `window` decide which offsets may be committed: those whose
//! line was acknowledged by the receiver's answering its id (`ack`, the default), or only
//! written, without it. A line never acknowledged is given up after `ack_tries` (dead-lettered,
//! or the forwarder stops), so it cannot hold every commit back forever.
//! While the endpoint is down the loop reconnects with exponential backoff and jitter and does
//! not consume: its position stays where it was, and everything unfinished is sent again on
//! the new connection. The window's cap bounds memory whatever the backlog. On shutdown it
//! stops consuming, waits (bounded) for outstanding acknowledgements and commits what was
//! delivered.
//!
//! ## Layout
//! - [`settings`](ForwardSettings): the settings, their defaults and their validation.
//! - `consumer`: the Kafka consumer, its lag statistics and rebalance tracking.
//! - `connection`: connecting, writing with a deadline, reading acknowledgements.
//! - `window`: records in flight and the commit positions they allow.
//! - `replay`: recently written lines re-sent after a reconnect without ack mode.
//! - `dead_letter`: the optional copy of bad records to another topic.
//! - `pipeline`: the running loop and its state.

mod connection;
mod consumer;
mod dead_letter;
mod pipeline;
mod replay;
mod settings;
mod window;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use service::exit::InvalidSettings;
use service::kafka::AuthFailed;
use service::metrics::Registry;
use service::shutdown::Shutdown;
use tokio::sync::mpsc;

pub use connection::TlsSetupError;
pub use consumer::ConsumerError;
pub use pipeline::GivenUp;
pub use settings::{ForwardSettings, StartFrom};

use connection::Endpoint;
use consumer::Context;
use dead_letter::DeadLetters;
use pipeline::Pipeline;
use window::Seq;

/// Why the forwarder could not start, or stopped by itself: once running, only a line given
/// up without a dead-letter topic ([`GivenUp`]) or Kafka refusing the consumer's login or TLS
/// ([`AuthFailed`]) stops it.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Settings(#[from] InvalidSettings),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsSetupError),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    KafkaOption(#[from] service::kafka::ConflictingOption),
    #[error("check failed: {0}")]
    Check(String),
    #[error("metrics server: {0}")]
    Metrics(std::io::Error),
    #[error(transparent)]
    Unacknowledged(#[from] GivenUp),
    /// Not retried: see [`AuthFailed`].
    #[error("the Kafka consumer stopped")]
    KafkaAuth(#[source] AuthFailed),
}

/// Counts at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub consumed: u64,
    pub forwarded: u64,
    pub acknowledged: u64,
    pub retries: u64,
    pub reconnects: u64,
    pub filtered: u64,
    pub skipped: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "consumed={} forwarded={} acknowledged={} retries={} reconnects={} filtered={} skipped={}",
            self.consumed,
            self.forwarded,
            self.acknowledged,
            self.retries,
            self.reconnects,
            self.filtered,
            self.skipped
        )
    }
}

/// Validates, connects and forwards until `shutdown`; what `sink forward` does.
pub async fn run(settings: ForwardSettings, shutdown: Shutdown) -> Result<Summary, ForwardError> {
    Forwarder::new(settings)?.run(shutdown).await
}

/// Validates, reaches the broker (the topic must exist) and the endpoint, and returns; what
/// `sink forward --check` does.
pub async fn check(settings: ForwardSettings) -> Result<(), ForwardError> {
    Forwarder::new(settings)?.check().await?;
    tracing::info!("check passed: settings valid, broker and endpoint reachable");
    Ok(())
}

/// A configured forwarder, not yet running.
pub struct Forwarder {
    settings: ForwardSettings,
    consumer: StreamConsumer<Context>,
    shared: Arc<consumer::Shared>,
    endpoint: Endpoint,
    registry: Registry,
    dead_letters: Option<(DeadLetters, mpsc::UnboundedReceiver<Seq>)>,
}

impl Forwarder {
    /// Validates the settings and builds the clients; no connection is attempted yet.
    pub fn new(settings: ForwardSettings) -> Result<Self, ForwardError> {
        settings.validate()?;
        let registry = Registry::new("sink");
        let lag = registry.gauge(
            "lag",
            "Records in the topic after the group's committed offsets (from librdkafka statistics).",
        );
        let partitions = registry.gauge(
            "partitions",
            "Partitions of the topic assigned to this forwarder.",
        );
        let (consumer, shared) = consumer::create(
            &settings.kafka,
            &settings.group_id,
            &settings.topic,
            settings.start_from,
            lag,
            partitions,
        )?;
        let host = settings.endpoint_host().expect("validated").to_string();
        let tls = match &settings.tls_ca {
            Some(ca) => Some(connection::tls(
                ca,
                settings.tls_server_name.as_deref().unwrap_or(&host),
                settings
                    .tls_cert
                    .as_deref()
                    .zip(settings.tls_key.as_deref()),
            )?),
            None => None,
        };
        let endpoint = Endpoint {
            addr: settings.endpoint.clone(),
            tls,
            connect_timeout: settings.connect_timeout,
            write_timeout: settings.write_timeout,
            ack_capacity: settings.ack.then_some(settings.max_in_flight + 16),
        };
        let dead_letters = match &settings.dead_letter_topic {
            Some(topic) => Some(DeadLetters::new(
                &settings.kafka,
                topic,
                registry.counter(
                    "dead_lettered_total",
                    "Bad records copied to the dead-letter topic.",
                ),
                registry.counter(
                    "dead_letter_failures_total",
                    "Bad records whose dead-letter copy failed (skipped anyway).",
                ),
            )?),
            None => None,
        };
        Ok(Self {
            settings,
            consumer,
            shared,
            endpoint,
            registry,
            dead_letters,
        })
    }

    /// The forwarder's metrics, readable while it runs.
    pub fn metrics(&self) -> Registry {
        self.registry.clone()
    }

    /// Reaches the broker (the topic must exist) and the endpoint.
    pub async fn check(&self) -> Result<(), ForwardError> {
        let config = self.settings.kafka.client_config("sink-check", &[])?;
        let topic = self.settings.topic.clone();
        let md = tokio::task::spawn_blocking(move || {
            let consumer: rdkafka::consumer::BaseConsumer = config.create()?;
            consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))
        })
        .await
        .map_err(|e| ForwardError::Check(e.to_string()))??;
        match md.topics().first() {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {}
            _ => {
                return Err(ForwardError::Check(format!(
                    "topic `{}` not found on {}",
                    self.settings.topic, self.settings.kafka.brokers
                )))
            }
        }
        self.endpoint.connect().await.map_err(|e| {
            ForwardError::Check(format!("endpoint {}: {e}", self.settings.endpoint))
        })?;
        Ok(())
    }

    /// Forwards until `shutdown`, then commits what was delivered and reports the counts.
    pub async fn run(self, shutdown: Shutdown) -> Result<Summary, ForwardError> {
        let metric_tasks = self
            .settings
            .metrics
            .start(&self.registry, &shutdown)
            .await
            .map_err(ForwardError::Metrics)?;
        self.consumer.subscribe(&[&self.settings.topic])?;
        tracing::info!(
            topic = %self.settings.topic,
            group = %self.settings.group_id,
            endpoint = %self.settings.endpoint,
            ack = self.settings.ack,
            tls = self.endpoint.tls.is_some(),
            "forwarding signals"
        );
        let Forwarder {
            settings,
            consumer,
            shared,
            endpoint,
            registry,
            dead_letters,
        } = self;
        let (dead_letters, dead_letter_done) = match dead_letters {
            Some((d, rx)) => (Some(d), Some(rx)),
            None => (None, None),
        };
        let mut pipeline = Pipeline::new(settings, endpoint, shared, &registry, dead_letters);
        let stopped = pipeline.run(&consumer, shutdown, dead_letter_done).await;
        for task in metric_tasks {
            if stopped.is_err() {
                // Stopped by itself: the metric tasks wait for a shutdown that will not come.
                task.abort();
            }
            let _ = task.await;
        }
        let summary = pipeline.summary(&registry);
        tracing::info!(%summary, uncommitted = pipeline.in_flight(), "forwarder stopped");
        stopped?;
        Ok(summary)
    }
}
