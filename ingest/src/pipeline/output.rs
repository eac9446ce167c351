//! The Kafka side: a bounded queue in front of an idempotent, acks=all rdkafka producer.
//!
//! Sources hand records, a frame's worth at a time, to a [`Queue`] bounded in records and wait
//! when it is full, so a slow or absent broker slows the sources down instead of dropping
//! anything. One pump task moves records into librdkafka; when librdkafka's own queue is full
//! (broker away) the pump waits and retries. Messages never time out inside librdkafka
//! (`message.timeout.ms=0`); a record whose delivery report is an error anyway is counted and
//! sent again, unless Kafka rejected it for good (invalid timestamp, too large): that one goes
//! to the dead-letter topic. When there is none (or the dead-letter topic refuses it too) the
//! record would be lost, so the run fails, as Kafka Connect's default error tolerance does:
//! the sources are stopped, everything accepted before is still delivered, and the run ends
//! with [`OutputError::Refused`] naming the records. On shutdown the pump drains the queue and
//! flushes until everything is acknowledged, or gives up after the flush timeout and says how
//! many records were not delivered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use service::kafka::{AuthFailed, ConflictingOption, KafkaSettings};
use service::ratelimit::LogLimiter;
use service::shutdown::Shutdown;
use tokio::sync::{mpsc, Semaphore};

use crate::metrics::Metrics;

/// What a record is; decides its topic and which counter its acknowledgement bumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Trade,
    Ticker,
    DeadLetter,
}

impl RecordKind {
    fn to_opaque(self) -> usize {
        self as usize
    }

    fn from_opaque(n: usize) -> Self {
        match n {
            0 => RecordKind::Trade,
            1 => RecordKind::Ticker,
            _ => RecordKind::DeadLetter,
        }
    }
}

/// One Kafka record on its way out.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: RecordKind,
    pub key: String,
    pub payload: Vec<u8>,
    pub timestamp_ms: i64,
    pub headers: Vec<(String, String)>,
}

/// The queue to Kafka closed: the producer stopped (its error is reported by
/// `Output::finish`).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the Kafka producer stopped")]
pub struct Closed;

/// The sources' end of the bounded queue to Kafka. Cheap to clone; the stream ends when every
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct Queue {
    tx: mpsc::UnboundedSender<Vec<Record>>,
    /// One permit per record of room; the pump gives them back once librdkafka has them.
    room: Arc<Semaphore>,
    capacity: usize,
}

impl Queue {
    /// A queue holding at most `capacity` records, and its receiving end.
    pub fn bounded(capacity: usize) -> (Queue, mpsc::UnboundedReceiver<Vec<Record>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let room = Arc::new(Semaphore::new(capacity));
        (Queue { tx, room, capacity }, rx)
    }

    /// Whether the producer stopped (its error is reported by `Output::finish`): nothing
    /// handed over any more would be sent.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Enqueues a batch, waiting while the queue is full (backpressure).
    pub async fn send(&self, batch: Vec<Record>) -> Result<(), Closed> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = permits(batch.len(), self.capacity);
        self.room
            .acquire_many(n)
            .await
            .map_err(|_| Closed)?
            .forget();
        self.tx.send(batch).map_err(|_| Closed)
    }
}

/// Permits a batch of `len` records holds: a batch larger than the queue takes all of it.
fn permits(len: usize, capacity: usize) -> u32 {
    len.min(capacity).min(u32::MAX as usize) as u32
}

/// Topic names. A kind without a topic is never produced (its records are not created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Normalized trades (key = symbol, timestamp = trade time).
    pub trades: String,
    /// Ticker updates as received, keyed by symbol (`None`: not subscribed to).
    pub ticker: Option<String>,
    /// Bad input: the raw frame or trade as value, the reason as key and in the `reason`
    /// header, details in `detail`, `source`, `recv_ts` (`None`: only counted).
    pub dead_letter: Option<String>,
}

impl Default for Topics {
    /// `market.trades`, no ticker, no dead letters.
    fn default() -> Self {
        Self {
            trades: "market.trades".to_string(),
            ticker: None,
            dead_letter: None,
        }
    }
}

/// Settings of the Kafka side: brokers, topics and the producer's tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSettings {
    /// How to reach the brokers, plus raw librdkafka options (those in [`OWNED_OPTIONS`]
    /// are refused).
    pub kafka: KafkaSettings,
    /// Where each kind of record goes.
    pub topics: Topics,
    /// Records the channel between sources and Kafka holds before sources wait. librdkafka's
    /// own queue is given the same bound, so at most about twice this is held in memory.
    pub queue_capacity: usize,
    /// How long the producer waits to fill a batch (librdkafka `linger.ms`).
    pub linger_ms: u64,
    /// Largest batch per partition in bytes (librdkafka `batch.size`).
    pub batch_bytes: usize,
    /// Batch compression, one of [`COMPRESSIONS`].
    pub compression: String,
    /// How long shutdown may spend flushing before giving up.
    pub flush_timeout: Duration,
}

impl Default for OutputSettings {
    /// The local broker, [`Topics::default`], and a producer tuned for throughput.
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            topics: Topics::default(),
            queue_capacity: 100_000,
            linger_ms: 5,
            batch_bytes: 1_000_000,
            compression: "lz4".to_string(),
            flush_timeout: Duration::from_secs(30),
        }
    }
}

/// librdkafka settings the service owns, and why; `--kafka-option` may not override them.
pub const OWNED_OPTIONS: &[(&str, &str)] = &[
    ("enable.idempotence", "no duplicates on producer retries"),
    (
        "acks",
        "acks=all: a trade counts as sent once every in-sync replica has it",
    ),
    ("message.timeout.ms", "0: a record is never given up on"),
    ("delivery.timeout.ms", "0: a record is never given up on"),
    ("linger.ms", "use --linger-ms"),
    ("queue.buffering.max.ms", "use --linger-ms"),
    ("batch.size", "use --batch-bytes"),
    ("compression.type", "use --compression"),
    ("compression.codec", "use --compression"),
    ("queue.buffering.max.messages", "use --queue-capacity"),
];

/// The values `compression` may take.
pub const COMPRESSIONS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Option(#[from] ConflictingOption),
    #[error("cannot create the Kafka producer: {0}")]
    Create(KafkaError),
    #[error("Kafka producer failed fatally: {0}")]
    Fatal(String),
    /// Not retried: see [`AuthFailed`].
    #[error("the Kafka producer stopped")]
    Auth(#[source] AuthFailed),
    #[error("gave up flushing after {timeout:?}: {undelivered} records not acknowledged by Kafka")]
    Undelivered { timeout: Duration, undelivered: u64 },
    #[error("cannot reach Kafka at {brokers}: {error}")]
    Unreachable { brokers: String, error: KafkaError },
    #[error("the Kafka pump task failed: {0}")]
    Task(String),
    #[error(
        "Kafka refused {count} record(s) for good and no dead-letter topic keeps them \
         (--dead-letter-topic does): {}{}",
        examples.join(", "),
        if *count > examples.len() as u64 { ", ..." } else { "" }
    )]
    Refused { count: u64, examples: Vec<String> },
}

/// Refused records named in [`OutputError::Refused`]; the rest are counted.
const REFUSED_EXAMPLES: usize = 5;

impl OutputSettings {
    fn client_config(&self) -> Result<rdkafka::ClientConfig, OutputError> {
        let mut cfg = self.kafka.client_config("ingest", OWNED_OPTIONS)?;
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "0")
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("batch.num.messages", "100000")
            .set("compression.type", &self.compression)
            .set(
                "queue.buffering.max.messages",
                self.queue_capacity.clamp(1, 10_000_000).to_string(),
            )
            .set("queue.buffering.max.kbytes", "1048576");
        Ok(cfg)
    }

    /// `--check`: reaches the brokers and returns (topic, partitions or an error) per topic.
    pub(crate) async fn check(&self) -> Result<Vec<(String, Result<usize, String>)>, OutputError> {
        let producer: ThreadedProducer<_> = self
            .client_config()?
            .create()
            .map_err(OutputError::Create)?;
        let topics: Vec<String> = [
            Some(self.topics.trades.clone()),
            self.topics.ticker.clone(),
            self.topics.dead_letter.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let brokers = self.kafka.brokers.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for topic in topics {
                let md = producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10))
                    .map_err(|error| OutputError::Unreachable {
                        brokers: brokers.clone(),
                        error,
                    })?;
                let status = match md.topics().first() {
                    Some(t) if t.error().is_none() => Ok(t.partitions().len()),
                    Some(t) => Err(format!("{:?}", t.error())),
                    None => Err("not found".to_string()),
                };
                out.push((topic, status));
            }
            Ok(out)
        })
        .await
        .map_err(|e| OutputError::Task(e.to_string()))?
    }
}

/// Counts deliveries and sends failed records back to the pump.
struct Delivery {
    metrics: Metrics,
    brokers: String,
    /// Authentication and TLS failures, which stop the pump.
    auth: mpsc::UnboundedSender<AuthFailed>,
    /// Whether a dead-letter topic is configured.
    dead_letters: bool,
    retries: mpsc::UnboundedSender<Record>,
    /// Records refused for good with nowhere to keep them, described for the error.
    refused: mpsc::UnboundedSender<String>,
    log: LogLimiter,
}

impl ClientContext for Delivery {
    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics.kafka_errors.inc();
        if let Some(failed) = AuthFailed::from_error(&self.brokers, &error, reason) {
            tracing::error!(error = %error, reason, "Kafka refused the producer: stopping");
            let _ = self.auth.send(failed);
            return;
        }
        if let Some(suppressed) = self.log.allow() {
            tracing::warn!(error = %error, reason, suppressed, "Kafka client error (retrying)");
        }
    }
}

impl ProducerContext for Delivery {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let kind = RecordKind::from_opaque(opaque);
        match result {
            Ok(_) => match kind {
                RecordKind::Trade => self.metrics.trades_produced.inc(),
                RecordKind::Ticker => self.metrics.tickers_produced.inc(),
                RecordKind::DeadLetter => self.metrics.dead_letters_produced.inc(),
            },
            Err((error, msg)) => {
                let rejected = matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::InvalidTimestamp
                            | RDKafkaErrorCode::MessageSizeTooLarge
                            | RDKafkaErrorCode::InvalidMessageSize
                            | RDKafkaErrorCode::InvalidMessage
                            | RDKafkaErrorCode::InvalidRecord
                    )
                );
                if rejected {
                    self.metrics.rejected.inc();
                } else {
                    self.metrics.delivery_errors.inc();
                }
                if let Some(suppressed) = self.log.allow() {
                    if rejected {
                        tracing::error!(error = %error, suppressed, "Kafka rejected a record for good");
                    } else {
                        tracing::warn!(error = %error, suppressed, "delivery failed, sending again");
                    }
                }
                let headers = msg
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                let v = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                                (h.key.to_string(), v.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut record = Record {
                    kind,
                    key: String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned(),
                    payload: msg.payload().unwrap_or_default().to_vec(),
                    timestamp_ms: msg.timestamp().to_millis().unwrap_or_default(),
                    headers,
                };
                if rejected {
                    // Sending it again would fail again: it goes to the dead-letter topic,
                    // stamped now, with the reason; without one it would be lost, which ends
                    // the run.
                    if !self.dead_letters || kind == RecordKind::DeadLetter {
                        let _ = self.refused.send(describe(&record, error));
                        return;
                    }
                    let mut headers = vec![
                        ("reason".to_string(), "rejected_by_kafka".to_string()),
                        ("detail".to_string(), error.to_string()),
                    ];
                    headers.extend(record.headers);
                    record = Record {
                        kind: RecordKind::DeadLetter,
                        key: "rejected_by_kafka".into(),
                        timestamp_ms: chrono::Utc::now().timestamp_millis(),
                        headers,
                        ..record
                    };
                }
                // The pump outlives the producer's deliveries except after a fatal error, when
                // nothing can be sent any more anyway.
                let _ = self.retries.send(record);
            }
        }
    }
}

/// A refused record for the error message: a trade by symbol and id, the others by kind and
/// key, and Kafka's reason.
fn describe(record: &Record, error: &KafkaError) -> String {
    #[derive(serde::Deserialize)]
    struct Id {
        trade_id: u64,
    }
    let what = match record.kind {
        RecordKind::Trade => match serde_json::from_slice::<Id>(&record.payload) {
            Ok(id) => format!("trade {} {}", record.key, id.trade_id),
            Err(_) => format!("trade {}", record.key),
        },
        RecordKind::Ticker => format!("ticker {}", record.key),
        RecordKind::DeadLetter => format!("dead letter {}", record.key),
    };
    format!("{what} ({error})")
}

/// The running pump: await it after the sources are done and the sender is dropped.
pub struct Output {
    task: tokio::task::JoinHandle<Result<(), OutputError>>,
}

impl Output {
    /// Creates the producer and starts the pump. Sources send into the returned queue;
    /// dropping every clone of it ends the stream, after which [`Output::finish`] flushes.
    pub fn start(
        config: OutputSettings,
        metrics: Metrics,
        shutdown: Shutdown,
    ) -> Result<(Queue, Output), OutputError> {
        let (retry_tx, retry_rx) = mpsc::unbounded_channel();
        let (refused_tx, refused_rx) = mpsc::unbounded_channel();
        let (auth_tx, auth_rx) = mpsc::unbounded_channel();
        let context = Delivery {
            metrics: metrics.clone(),
            brokers: config.kafka.brokers.clone(),
            auth: auth_tx,
            dead_letters: config.topics.dead_letter.is_some(),
            retries: retry_tx,
            refused: refused_tx,
            log: LogLimiter::new(Duration::from_secs(1)),
        };
        let producer: ThreadedProducer<Delivery> = config
            .client_config()?
            .create_with_context(context)
            .map_err(OutputError::Create)?;
        let (queue, rx) = Queue::bounded(config.queue_capacity);
        let topic = |t: Option<&String>| t.map(|t| Arc::<str>::from(t.as_str()));
        let pump = Pump {
            producer: Arc::new(producer),
            topics: [
                topic(Some(&config.topics.trades)),
                topic(config.topics.ticker.as_ref()),
                topic(config.topics.dead_letter.as_ref()),
            ],
            flush_timeout: config.flush_timeout,
            room: queue.room.clone(),
            capacity: queue.capacity,
            metrics,
            shutdown,
            deadline: None,
            refused_rx,
            refused: Vec::new(),
            refused_count: 0,
            auth_rx,
        };
        let task = tokio::spawn(pump.run(rx, retry_rx));
        Ok((queue, Output { task }))
    }

    /// Waits until every record is acknowledged (or the flush timeout after shutdown passed).
    pub async fn finish(self) -> Result<(), OutputError> {
        self.task
            .await
            .map_err(|e| OutputError::Task(e.to_string()))?
    }
}

struct Pump {
    producer: Arc<ThreadedProducer<Delivery>>,
    /// Topic per [`RecordKind`], in its order.
    topics: [Option<Arc<str>>; 3],
    flush_timeout: Duration,
    room: Arc<Semaphore>,
    capacity: usize,
    metrics: Metrics,
    shutdown: Shutdown,
    /// Set once shutdown is requested: when flushing has to stop.
    deadline: Option<Instant>,
    /// Records refused for good with nowhere to keep them (see [`Delivery`]).
    refused_rx: mpsc::UnboundedReceiver<String>,
    /// The first of them, for the error, and how many there were.
    refused: Vec<String>,
    refused_count: u64,
    /// Authentication and TLS failures seen by the client (see [`Delivery`]).
    auth_rx: mpsc::UnboundedReceiver<AuthFailed>,
}

const RETRY_BATCH: usize = 1024;

impl Pump {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Vec<Record>>,
        mut retry_rx: mpsc::UnboundedReceiver<Record>,
    ) -> Result<(), OutputError> {
        let result = self.pump(&mut rx, &mut retry_rx).await;
        // Wake any source still waiting for room: nothing will make room any more.
        self.room.close();
        result?;
        self.flush(&mut retry_rx).await?;
        self.take_refused();
        if self.refused_count > 0 {
            return Err(OutputError::Refused {
                count: self.refused_count,
                examples: std::mem::take(&mut self.refused),
            });
        }
        Ok(())
    }

    /// Notes the records refused with nowhere to keep them; after the first one the sources
    /// are stopped (room closed: their next hand-over fails), what they handed over before
    /// still goes out.
    fn take_refused(&mut self) {
        while let Ok(what) = self.refused_rx.try_recv() {
            self.note_refused(what);
        }
    }

    fn note_refused(&mut self, what: String) {
        self.refused_count += 1;
        if self.refused.len() < REFUSED_EXAMPLES {
            tracing::error!(
                record = %what,
                "Kafka refused a record for good and no dead-letter topic keeps it: stopping"
            );
            self.refused.push(what);
        }
        self.room.close();
    }

    async fn pump(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Vec<Record>>,
        retry_rx: &mut mpsc::UnboundedReceiver<Record>,
    ) -> Result<(), OutputError> {
        let mut retries = Vec::new();
        let mut stop = self.shutdown.clone();
        loop {
            tokio::select! {
                biased;
                _ = stop.recv(), if self.deadline.is_none() => {
                    self.deadline_passed();
                }
                Some(what) = self.refused_rx.recv() => self.note_refused(what),
                Some(failed) = self.auth_rx.recv() => return Err(OutputError::Auth(failed)),
                n = retry_rx.recv_many(&mut retries, RETRY_BATCH) => {
                    if n > 0 {
                        // Only records librdkafka itself gave up on come here: do not spin.
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        for record in retries.drain(..) {
                            self.send(record).await?;
                        }
                    }
                }
                batch = rx.recv() => {
                    let Some(batch) = batch else {
                        return Ok(());
                    };
                    let n = permits(batch.len(), self.capacity);
                    for record in batch {
                        self.send(record).await?;
                    }
                    self.room.add_permits(n as usize);
                }
            }
            self.check_fatal()?;
            self.update_depth();
        }
    }

    /// Hands one record to librdkafka, waiting while its queue is full.
    async fn send(&mut self, record: Record) -> Result<(), OutputError> {
        let Some(topic) = self.topics[record.kind as usize].clone() else {
            return Ok(());
        };
        let mut headers = None;
        for (k, v) in &record.headers {
            headers = Some(headers.unwrap_or_else(OwnedHeaders::new).insert(Header {
                key: k.as_str(),
                value: Some(v.as_str()),
            }));
        }
        let mut base = BaseRecord::with_opaque_to(&topic, record.kind.to_opaque())
            .key(record.key.as_str())
            .payload(record.payload.as_slice())
            .timestamp(record.timestamp_ms);
        if let Some(h) = headers {
            base = base.headers(h);
        }
        let mut waits = 0u64;
        loop {
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    base = back;
                    waits += 1;
                    if waits % 1000 == 0 {
                        self.check_fatal()?;
                        self.update_depth();
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((error, back)) => {
                    base = back;
                    self.metrics.delivery_errors.inc();
                    tracing::warn!(error = %error, topic = %topic, "cannot enqueue record, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            if self.deadline_passed() {
                return Err(self.undelivered(1));
            }
        }
    }

    /// Records waiting in the queue (room taken) plus those librdkafka has not delivered.
    fn queued(&self) -> usize {
        self.capacity - self.room.available_permits().min(self.capacity)
    }

    fn update_depth(&self) {
        self.metrics
            .queue_depth
            .set(self.queued() as i64 + i64::from(self.producer.in_flight_count()));
    }

    /// A fatal producer error, or the brokers refused the client: nothing can be sent any more.
    fn check_fatal(&mut self) -> Result<(), OutputError> {
        if let Ok(failed) = self.auth_rx.try_recv() {
            return Err(OutputError::Auth(failed));
        }
        match self.producer.client().fatal_error() {
            Some((code, reason)) => Err(OutputError::Fatal(format!("{code:?}: {reason}"))),
            None => Ok(()),
        }
    }

    fn deadline_passed(&mut self) -> bool {
        if self.deadline.is_none() && self.shutdown.is_stopped() {
            self.deadline = Some(Instant::now() + self.flush_timeout);
        }
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// `extra`: records in hand that are in neither count.
    fn undelivered(&self, extra: usize) -> OutputError {
        OutputError::Undelivered {
            timeout: self.flush_timeout,
            undelivered: (self.queued() + extra) as u64
                + self.producer.in_flight_count().max(0) as u64,
        }
    }

    /// After the last record: wait for every acknowledgement, re-sending failed deliveries.
    async fn flush(
        &mut self,
        retry_rx: &mut mpsc::UnboundedReceiver<Record>,
    ) -> Result<(), OutputError> {
        loop {
            while let Ok(record) = retry_rx.try_recv() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.send(record).await?;
            }
            self.check_fatal()?;
            self.update_depth();
            if self.producer.in_flight_count() == 0 && retry_rx.is_empty() {
                tracing::info!("every record acknowledged by Kafka");
                return Ok(());
            }
            if self.deadline_passed() {
                return Err(self.undelivered(0));
            }
            let producer = self.producer.clone();
            // flush() blocks; a short one keeps the deadline and retries responsive.
            let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_millis(200)))
                .await;
        }
    }
}
