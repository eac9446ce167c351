//! Helpers for integration tests against the real stack (a dev-dependency only).
//!
//! One place for what every crate's tests need: a fresh topic per test, waiting for a condition,
//! and reading a topic to the end; [`browser`], a headless Chromium for web pages; and
//! [`secure`], the stack's SASL_SSL settings, broken copies of them and its secrets. They
//! talk to the broker in `KAFKA_BROKERS` (default `127.0.0.1:9092`), the one `spark/stack up`
//! starts; when it is not there they fail and say so.

pub mod browser;
pub mod secure;

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::ToBytes;
use rdkafka::producer::{
    BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Broker address for tests.
pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// The local stack's state folder (secrets, logs): `STACK_DIR` (which `spark/lib.sh` exports),
/// else the repository's `.stack`. A test run from another checkout points it at the running
/// stack's.
pub fn stack_dir() -> std::path::PathBuf {
    std::env::var_os("STACK_DIR")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../.stack").into())
}

/// The stack's secrets folder (`spark/stack up` makes it): the Connect token, the Kafka
/// SASL_SSL listener's CA, password and client settings.
pub fn secrets_dir() -> std::path::PathBuf {
    stack_dir().join("secrets")
}

/// The stack's SASL_SSL listener (`KAFKA_SECURE_BROKERS`, default `127.0.0.1:9094`).
pub fn secure_brokers() -> String {
    std::env::var("KAFKA_SECURE_BROKERS").unwrap_or_else(|_| "127.0.0.1:9094".to_string())
}

/// The local stack's Spark Connect token, for tests and benchmarks that connect: from
/// `SPARK_CONNECT_AUTHENTICATE_TOKEN`, else the file `SPARK_CONNECT_TOKEN_FILE` names, else
/// `connect.token` in [`secrets_dir`]; `None` when there is none (a server without
/// authentication).
pub fn spark_token() -> Option<String> {
    if let Ok(token) = std::env::var("SPARK_CONNECT_AUTHENTICATE_TOKEN") {
        return Some(token);
    }
    let file = std::env::var_os("SPARK_CONNECT_TOKEN_FILE")
        .map(Into::into)
        .unwrap_or_else(|| secrets_dir().join("connect.token"));
    std::fs::read_to_string(file)
        .ok()
        .map(|t| t.trim().to_string())
}

/// The body of a GET on the Spark driver UI (`SPARK_UI_URL`, default http://127.0.0.1:4040)
/// at `path`; panics unless it answers 200.
pub fn spark_ui_get(path: &str) -> String {
    use std::io::{Read, Write};
    let base = std::env::var("SPARK_UI_URL").unwrap_or_else(|_| "http://127.0.0.1:4040".into());
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).expect("connect to the Spark UI");
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "GET {path}: {head}"
    );
    body.to_string()
}

/// Sends `record` on a threaded producer, waiting while its queue is full (a benchmark's
/// producer outruns the broker): backpressure, never a dropped record.
pub fn send_waiting<K, P>(
    producer: &ThreadedProducer<DefaultProducerContext>,
    mut record: BaseRecord<'_, K, P>,
) -> KafkaResult<()>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                std::thread::sleep(Duration::from_millis(1));
                record = back;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// A topic name unique to this test run: `<test>-<random>`.
pub fn rand_topic(test: &str) -> String {
    let suffix: u64 = rand::random();
    format!("test-{test}-{suffix:016x}")
}

/// Creates `topic` with `partitions` partitions and waits until it is usable.
///
/// Panics with instructions when the broker is not reachable: an integration test must never
/// pass quietly without the stack.
pub async fn create_topic(topic: &str, partitions: i32) {
    create_topic_on(&brokers(), topic, partitions).await
}

/// [`create_topic`] on the broker at `brokers` (e.g. a private broker a fault test stops).
pub async fn create_topic_on(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let result = admin
        .create_topics(
            // Test data is often dated in the past (designed paths, TA-Lib series) and the
            // stack's broker deletes records older than 48 h by their timestamps, mid-test;
            // a query that must not lose data then fails. Test topics keep everything.
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))
                .set("retention.ms", "-1")],
            &opts,
        )
        .await
        .unwrap_or_else(|e| {
            panic!("cannot reach Kafka at {brokers} ({e}); start the stack with `spark/stack up`")
        });
    for r in result {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
    wait_for(Duration::from_secs(30), || {
        partition_count(brokers, topic) == Some(partitions as usize)
    })
    .await
    .unwrap_or_else(|_| panic!("topic {topic} not ready after 30 s"));
}

fn partition_count(brokers: &str, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .ok()?;
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    md.topics()
        .first()
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().len())
}

/// Polls `condition` every 100 ms until it holds; `Err(())` after `timeout`.
pub async fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> Result<(), ()> {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produces `(key, value, timestamp_ms)` records and waits for every delivery.
pub async fn produce(topic: &str, records: &[(String, String, i64)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut pending = Vec::with_capacity(records.len());
    for (k, v, ts) in records {
        let record = FutureRecord::to(topic)
            .key(k.as_str())
            .payload(v.as_str())
            .timestamp(*ts);
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((e, _)) => panic!("enqueue to {topic}: {e}"),
        }
    }
    for delivery in pending {
        delivery
            .await
            .expect("delivery canceled")
            .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
    }
}

/// One consumed record.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub timestamp_ms: Option<i64>,
}

/// Reads every record of `topic` from the beginning until `done(records)` holds or `timeout`
/// passes, then returns what it read. Runs on a blocking thread (librdkafka polls block).
pub async fn consume_until(
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool + Send + 'static,
) -> Vec<Record> {
    consume_until_on(&brokers(), topic, timeout, done).await
}

/// [`consume_until`] from the broker at `brokers`.
pub async fn consume_until_on(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool + Send + 'static,
) -> Vec<Record> {
    let (brokers, topic) = (brokers.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || consume_until_blocking(&brokers, &topic, timeout, done))
        .await
        .expect("consumer thread")
}

fn consume_until_blocking(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("test-reader-{:016x}", rand::random::<u64>()),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while Instant::now() < deadline && !done(&out) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                value: m.payload().map(|v| String::from_utf8_lossy(v).into_owned()),
                timestamp_ms: m.timestamp().to_millis(),
            }),
            Some(Err(e)) => tracing::warn!(error = %e, "test consumer"),
            None => {}
        }
    }
    out
}
