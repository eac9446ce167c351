//! The whole pipeline in one process, as the end-to-end tests, the fault runs and the pipeline
//! benchmark need it: the local Kraken-speaking exchange, `ingest`, Kafka, the Spark query
//! submitted over Spark Connect, `sink forward` and `sink receive`.
//!
//! Everything but Kafka and Spark runs in this process through the crates' own `run` functions
//! (the same ones their binaries call), so a test can drop the exchange's connections, stop the
//! receiver, or resubmit the query at a moment it chooses. Kafka and the Spark Connect server are
//! the real ones of the local stack; [`stack`] restarts them through `spark/stack`.
//!
//! Threading: the Spark Connect client is synchronous and must not be called from inside an
//! async task, so a [`Pipeline`] owns a tokio runtime for the async services and makes its Spark
//! calls from the caller's (plain) thread.

pub mod path;
pub mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use analytics::connect::{Connection, Token};
use analytics::supervise::{self, SuperviseSettings};
use analytics::{control, Strategy};
use contract::Signal;
use ingest::fake_exchange::{FakeExchange, FakeExchangeSettings};
use ingest::metrics::Metrics as IngestMetrics;
use ingest::pipeline::{OutputSettings, Topics};
use ingest::source::KrakenSettings;
use ingest::{IngestSettings, Source};
use service::kafka::KafkaSettings;
use service::metrics::MetricsSettings;
use service::metrics::Registry;
use service::shutdown::{self, ShutdownTrigger};
use sink::forward::{ForwardSettings, Forwarder};
use sink::receive::{Arrival, ReceiveSettings, Received, Receiver};
use spark_connect::SparkSession;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// What differs between pipeline runs.
pub struct Options {
    /// Names the topics, the query, its checkpoint and the consumer group of this run.
    pub name: String,
    /// The market the fake exchange plays.
    pub exchange: FakeExchangeSettings,
    /// The strategy; its source, sink, name and checkpoint are set by [`Pipeline::start`].
    pub strategy: Strategy,
    /// Partitions of the trades topic.
    pub trades_partitions: i32,
    /// Acknowledgement mode between forwarder and receiver.
    pub ack: bool,
    /// Run the query under `analytics supervise` (which submits it and starts it again when it
    /// stops) instead of one submit.
    pub supervise: bool,
    /// Every hop authenticated and encrypted (`None`: plaintext on loopback).
    pub security: Option<Security>,
}

/// Every hop authenticated and encrypted: ingest, the Spark query and the forwarder reach
/// Kafka over the stack's SASL_SSL listener (TLS checked against the stack's CA, a SCRAM
/// login; the Spark JVMs log in through the JAAS file the stack starts them with, so no
/// password is in the query's options), and the forwarder reaches the receiver over mutual
/// TLS with certificates from a CA of the test's own.
#[derive(Debug, Clone)]
pub struct Security {
    /// The SASL_SSL listener.
    pub brokers: String,
    /// librdkafka settings for it (the stack's `kafka-client.properties`).
    pub kafka_options: Vec<(String, String)>,
    /// The Kafka options of the strategy's source and sink.
    pub spark_options: BTreeMap<String, String>,
    /// The CA both ends of the receiver hop trust, and each end's certificate and key.
    pub tls_ca: PathBuf,
    pub receiver: (PathBuf, PathBuf),
    pub forwarder: (PathBuf, PathBuf),
}

/// The name in the receiver's certificate, which the forwarder checks.
const RECEIVER_NAME: &str = "receiver.test";

impl Security {
    /// The local stack's SASL_SSL listener and settings, and a fresh CA with certificates for
    /// the receiver and the forwarder, written to `dir`.
    pub fn of_stack(dir: &Path) -> Security {
        let ca = testkit::secure::Ca::new(dir, "e2e-ca");
        let spark_options = [
            ("kafka.security.protocol", "SASL_SSL"),
            ("kafka.sasl.mechanism", "SCRAM-SHA-512"),
            ("kafka.ssl.truststore.type", "PEM"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([(
            "kafka.ssl.truststore.location".to_string(),
            testkit::secure::ca().to_string_lossy().into_owned(),
        )])
        .collect();
        Security {
            brokers: testkit::secure_brokers(),
            kafka_options: testkit::secure::options(),
            spark_options,
            receiver: ca.issue(dir, RECEIVER_NAME),
            forwarder: ca.issue(dir, "forwarder.test"),
            tls_ca: ca.pem,
        }
    }
}

/// How the pipeline's services reach Kafka: the stack's plaintext listener, or its secure one.
fn kafka_settings(security: Option<&Security>) -> KafkaSettings {
    match security {
        Some(s) => KafkaSettings {
            brokers: s.brokers.clone(),
            options: s.kafka_options.clone(),
        },
        None => KafkaSettings {
            brokers: testkit::brokers(),
            ..KafkaSettings::default()
        },
    }
}

/// Log lines at info and above of everything in this process while [`capture_logs`] is on,
/// besides what the test writer shows: what a test greps for secrets.
static CAPTURED: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Starts (`true`, empty) or stops capturing this process's log lines.
pub fn capture_logs(on: bool) {
    *CAPTURED.lock().unwrap_or_else(|p| p.into_inner()) = on.then(Vec::new);
}

/// The log lines captured so far.
pub fn captured_logs() -> String {
    let captured = CAPTURED.lock().unwrap_or_else(|p| p.into_inner());
    String::from_utf8_lossy(captured.as_deref().unwrap_or_default()).into_owned()
}

/// The writer of the capturing log layer.
struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(v) = CAPTURED.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs to the test writer (`RUST_LOG`, default warn) and, at info, to [`captured_logs`].
fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{fmt, EnvFilter, Layer as _};
    let shown = EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::registry()
        .with(fmt::layer().with_test_writer().with_filter(shown))
        .with(
            fmt::layer()
                .with_ansi(false)
                .with_writer(|| Capture)
                .with_filter(EnvFilter::new("info")),
        )
        .try_init();
}

/// Where the pipeline's services serve their Prometheus metrics (free ports picked at start),
/// as `sink dashboard` reads them.
#[derive(Debug, Clone, Copy)]
pub struct MetricsAddrs {
    pub ingest: SocketAddr,
    pub forwarder: SocketAddr,
    pub receiver: SocketAddr,
}

impl MetricsAddrs {
    fn free() -> Self {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
        };
        Self {
            ingest: free(),
            forwarder: free(),
            receiver: free(),
        }
    }
}

/// Metrics served on `addr`, never logged.
fn served(addr: SocketAddr) -> MetricsSettings {
    MetricsSettings {
        addr: Some(addr),
        log_interval: None,
    }
}

/// A running pipeline. Dropping it stops the query and every service.
pub struct Pipeline {
    pub rt: Runtime,
    pub trades_topic: String,
    pub signals_topic: String,
    pub strategy: Strategy,
    pub connection: Connection,
    pub spark: SparkSession,
    pub exchange: FakeExchange,
    /// Each service's Prometheus endpoint.
    pub metrics_addrs: MetricsAddrs,
    ingest_metrics: IngestMetrics,
    options_ack: bool,
    /// Every receiver of the run appends what it received here, as a trading system would
    /// keep it: what the tests compare, field by field.
    received_file: std::path::PathBuf,
    receiver_addr: SocketAddr,
    /// Every receiver this run had (a restarted receiver is a new one on the same address).
    receivers: Vec<Received>,
    receiver: Option<Service<()>>,
    forwarder: Option<Service<()>>,
    ingest: Option<Service<()>>,
    supervisor: Option<Supervisor>,
    security: Option<Security>,
}

/// `analytics supervise` on its own thread (the Spark client must not run in an async task).
struct Supervisor {
    stop: ShutdownTrigger,
    thread: std::thread::JoinHandle<()>,
    registry: Registry,
}

struct Service<T> {
    stop: ShutdownTrigger,
    task: JoinHandle<T>,
}

impl Pipeline {
    /// Creates fresh topics and starts, in order: receiver, forwarder, the Spark query, the
    /// exchange and ingest. Panics with instructions when the stack is not running.
    pub fn start(options: Options) -> Pipeline {
        init_logs();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let security = options.security.clone();
        let brokers = kafka_settings(security.as_ref()).brokers;
        let trades_topic = testkit::rand_topic(&format!("{}-trades", options.name));
        let signals_topic = testkit::rand_topic(&format!("{}-signals", options.name));
        rt.block_on(async {
            testkit::create_topic(&trades_topic, options.trades_partitions).await;
            testkit::create_topic(&signals_topic, 2).await;
        });
        let query_name = signals_topic.replace("-signals-", "-").replace('-', "_");
        let checkpoint = std::env::temp_dir().join(format!("tradesignal-e2e/{query_name}"));
        let received_file =
            std::env::temp_dir().join(format!("tradesignal-e2e/{query_name}-received.ndjson"));
        std::fs::create_dir_all(received_file.parent().unwrap()).expect("e2e temp dir");
        let _ = std::fs::remove_file(&received_file);
        let mut strategy = options.strategy.clone();
        strategy.name = query_name;
        strategy.source.brokers = brokers.clone();
        strategy.source.topic = trades_topic.clone();
        strategy.source.starting_offsets = "earliest".into();
        strategy.sink.brokers = brokers.clone();
        strategy.sink.topic = signals_topic.clone();
        if let Some(s) = &security {
            strategy.source.options.extend(s.spark_options.clone());
            strategy.sink.options.extend(s.spark_options.clone());
        }
        strategy.query.checkpoint_location = checkpoint.to_string_lossy().into_owned();
        let problems = strategy.validate();
        assert!(problems.is_empty(), "e2e strategy: {problems:?}");

        let connection = Connection {
            remote: std::env::var("SPARK_REMOTE").unwrap_or_else(|_| "sc://127.0.0.1:15002".into()),
            session_id: uuid::Uuid::new_v4().to_string(),
            token: testkit::spark_token().map(|t| Token::new(&t).expect("the stack's token")),
            ..Connection::default()
        };
        let spark = connection.connect().unwrap_or_else(|e| panic!("{e}"));

        let exchange = rt
            .block_on(FakeExchange::start(
                "127.0.0.1:0".parse().unwrap(),
                options.exchange.clone(),
            ))
            .expect("fake exchange");

        let mut pipeline = Pipeline {
            trades_topic,
            signals_topic,
            strategy,
            connection,
            spark,
            exchange,
            metrics_addrs: MetricsAddrs::free(),
            ingest_metrics: IngestMetrics::new(Registry::new("ingest")),
            options_ack: options.ack,
            received_file,
            receiver_addr: "127.0.0.1:0".parse().unwrap(),
            receivers: Vec::new(),
            receiver: None,
            forwarder: None,
            ingest: None,
            supervisor: None,
            security,
            rt,
        };
        pipeline.start_receiver();
        pipeline.start_forwarder();
        if options.supervise {
            pipeline.start_supervisor();
        } else {
            pipeline.submit();
        }
        pipeline.start_ingest(&options.exchange);
        pipeline
    }

    /// Submits the strategy's query (a resubmit resumes from its checkpoint).
    pub fn submit(&self) {
        control::submit(&self.spark, &self.strategy)
            .unwrap_or_else(|e| panic!("submit {}: {e}", self.strategy.query_name()));
    }

    fn start_supervisor(&mut self) {
        let settings = SuperviseSettings {
            connection: self.connection.clone(),
            poll_interval: Duration::from_millis(500),
            resubmit_backoff_initial: Duration::from_millis(500),
            reconnect_backoff_initial: Duration::from_millis(500),
            reconnect_backoff_max: Duration::from_secs(5),
            ..SuperviseSettings::default()
        };
        let strategies = vec![self.strategy.clone()];
        let registry = Registry::new("analytics");
        let (stop, shutdown) = shutdown::channel();
        let metrics = registry.clone();
        let thread = std::thread::spawn(move || {
            let report = supervise::run(&settings, strategies, &metrics, shutdown)
                .expect("supervise settings");
            assert!(report.given_up.is_empty(), "supervise gave up: {report:?}");
        });
        self.supervisor = Some(Supervisor {
            stop,
            thread,
            registry,
        });
    }

    /// How often the supervisor started the query again (0 without a supervisor).
    pub fn resubmits(&self) -> f64 {
        self.supervisor
            .as_ref()
            .map_or(0.0, |s| s.registry.value("resubmits_total"))
    }

    /// A new session to the Connect server (after it restarted, the old one is gone).
    pub fn reconnect_spark(&mut self) {
        self.connection.session_id = uuid::Uuid::new_v4().to_string();
        self.spark = self.connection.connect().unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn query_active(&self) -> bool {
        matches!(
            control::find(&self.spark, self.strategy.query_name()),
            Ok(Some(_))
        )
    }

    /// Spark's last progress report of the query, for failure messages.
    pub fn last_progress(&self) -> String {
        match control::find(&self.spark, self.strategy.query_name()) {
            Ok(Some(q)) => q
                .last_progress()
                .ok()
                .flatten()
                .unwrap_or_else(|| "no progress yet".into()),
            Ok(None) => "query not active".into(),
            Err(e) => format!("cannot ask Spark: {e}"),
        }
    }

    pub fn start_receiver(&mut self) {
        let settings = ReceiveSettings {
            ack: self.options_ack,
            keep_arrivals: true,
            append_file: Some(self.received_file.clone()),
            metrics: served(self.metrics_addrs.receiver),
            tls_cert: self.security.as_ref().map(|s| s.receiver.0.clone()),
            tls_key: self.security.as_ref().map(|s| s.receiver.1.clone()),
            tls_client_ca: self.security.as_ref().map(|s| s.tls_ca.clone()),
            ..ReceiveSettings::quiet(self.receiver_addr)
        };
        let receiver = self
            .rt
            .block_on(Receiver::bind(settings))
            .expect("bind the receiver");
        self.receiver_addr = receiver.local_addr();
        self.receivers.push(receiver.received());
        let (stop, shutdown) = shutdown::channel();
        let task = self.rt.spawn(async move {
            receiver.run(shutdown).await.expect("receiver run");
        });
        self.receiver = Some(Service { stop, task });
    }

    pub fn stop_receiver(&mut self) {
        if let Some(s) = self.receiver.take() {
            self.rt.block_on(s.stop());
        }
    }

    pub fn stop_forwarder(&mut self) {
        if let Some(s) = self.forwarder.take() {
            self.rt.block_on(s.stop());
        }
    }

    /// Starts the forwarder (again): a restarted one resumes from the group's committed offsets.
    pub fn start_forwarder(&mut self) {
        let security = self.security.as_ref();
        let settings = ForwardSettings {
            kafka: kafka_settings(security),
            tls_ca: security.map(|s| s.tls_ca.clone()),
            tls_server_name: security.map(|_| RECEIVER_NAME.to_string()),
            tls_cert: security.map(|s| s.forwarder.0.clone()),
            tls_key: security.map(|s| s.forwarder.1.clone()),
            topic: self.signals_topic.clone(),
            group_id: format!("e2e-{}", self.signals_topic),
            endpoint: self.receiver_addr.to_string(),
            ack: self.options_ack,
            commit_interval: Duration::from_millis(200),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            metrics: served(self.metrics_addrs.forwarder),
            ..ForwardSettings::default()
        };
        // The consumer spawns onto the current runtime as it is made.
        let _in_runtime = self.rt.enter();
        let forwarder = Forwarder::new(settings).expect("forwarder settings");
        let (stop, shutdown) = shutdown::channel();
        let task = self.rt.spawn(async move {
            forwarder.run(shutdown).await.expect("forwarder run");
        });
        self.forwarder = Some(Service { stop, task });
    }

    fn start_ingest(&mut self, exchange: &FakeExchangeSettings) {
        let config = IngestSettings {
            source: Source::Kraken(KrakenSettings {
                url: self.exchange.url(),
                rest_url: self.exchange.rest_url(),
                rest_interval: Duration::from_millis(200),
                symbols: exchange.market.symbols.clone(),
                idle_timeout: Duration::from_secs(3),
                backoff_initial: Duration::from_millis(100),
                backoff_max: Duration::from_secs(1),
                ..KrakenSettings::default()
            }),
            output: OutputSettings {
                kafka: kafka_settings(self.security.as_ref()),
                topics: Topics {
                    trades: self.trades_topic.clone(),
                    ..Topics::default()
                },
                ..OutputSettings::default()
            },
            metrics: served(self.metrics_addrs.ingest),
        };
        let metrics = self.ingest_metrics.clone();
        let (stop, shutdown) = shutdown::channel();
        let task = self.rt.spawn(async move {
            ingest::run(config, metrics, shutdown)
                .await
                .expect("ingest run");
        });
        self.ingest = Some(Service { stop, task });
    }

    /// Distinct signal ids received so far, over every receiver of the run.
    pub fn received_ids(&self) -> BTreeSet<String> {
        self.arrivals()
            .into_iter()
            .map(|a| a.id.to_string())
            .collect()
    }

    /// Every signal the receivers wrote to their append file, by id.
    pub fn received_signals(&self) -> BTreeMap<String, Signal> {
        let text = std::fs::read_to_string(&self.received_file).unwrap_or_default();
        text.lines()
            .map(|line| {
                let s: Signal = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a signal in the append file ({e}): {line}"));
                (s.id.clone(), s)
            })
            .collect()
    }

    /// Every first arrival of a signal, over every receiver of the run.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.receivers.iter().flat_map(|r| r.arrivals()).collect()
    }

    /// Waits until every id in `expected` arrived (or `timeout` passed); returns what arrived.
    pub fn wait_for_ids(&self, expected: &BTreeSet<String>, timeout: Duration) -> BTreeSet<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received_ids();
            if expected.is_subset(&got) || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Writes `trades` straight into the trades topic, next to what ingest produces (a
    /// re-sent or broken record from any producer).
    pub fn inject_trades(&self, trades: &[contract::Trade]) {
        let records: Vec<(String, String, i64)> = trades
            .iter()
            .map(|t| (t.key().to_string(), t.to_json(), t.kafka_timestamp_ms()))
            .collect();
        self.rt
            .block_on(testkit::produce(&self.trades_topic, &records));
    }

    /// Trades ingest has produced to Kafka so far.
    pub fn trades_produced(&self) -> f64 {
        self.ingest_metric("trades_produced_total")
    }

    /// An ingest metric by name (summed over its labels).
    pub fn ingest_metric(&self, name: &str) -> f64 {
        self.ingest_metrics.registry.value(name)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Some(s) = self.supervisor.take() {
            // The supervisor stops the query it owns when it is stopped.
            s.stop.fire();
            if s.thread.join().is_err() {
                eprintln!("the supervisor thread panicked");
            }
        }
        if let Err(e) = control::stop(&self.spark, self.strategy.query_name(), Duration::ZERO) {
            eprintln!("could not stop query {}: {e}", self.strategy.query_name());
        }
        // The session is this pipeline's alone; released, the server frees what it holds
        // (sessions never expire on the stack, so each run's would pile up).
        if let Err(e) = self.spark.stop() {
            eprintln!("could not release the Spark session: {e}");
        }
        for service in [
            self.ingest.take(),
            self.forwarder.take(),
            self.receiver.take(),
        ]
        .into_iter()
        .flatten()
        {
            self.rt.block_on(service.stop());
        }
        self.exchange.stop();
    }
}

impl<T> Service<T> {
    async fn stop(self) {
        self.stop.fire();
        if tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .is_err()
        {
            eprintln!("a pipeline service did not stop within 60 s");
        }
    }
}
