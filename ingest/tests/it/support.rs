//! Shared plumbing of the ingest integration tests: settings pointed at a test topic (and a
//! fake exchange), running the service in-process, and reading back what reached Kafka.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use contract::records::Trade;
use ingest::fake_exchange::{FakeExchange, FakeExchangeSettings};
use ingest::metrics::Metrics;
use ingest::pipeline::{OutputSettings, Topics};
use ingest::source::{KrakenSettings, SimulateSettings, Source};
use ingest::IngestSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use service::kafka::KafkaSettings;
use service::metrics::{MetricsSettings, Registry};
use service::shutdown::{self, ShutdownTrigger};
use testkit::{wait_for, Record};
use tokio::task::JoinHandle;

/// Settings producing `source` to `topic` on `brokers` with the service's defaults, metrics
/// logged every 5 s.
pub fn settings(source: Source, brokers: &str, topic: &str) -> IngestSettings {
    IngestSettings {
        source,
        output: OutputSettings {
            kafka: KafkaSettings {
                brokers: brokers.to_string(),
                ..KafkaSettings::default()
            },
            topics: Topics {
                trades: topic.to_string(),
                ..Topics::default()
            },
            ..OutputSettings::default()
        },
        metrics: MetricsSettings {
            log_interval: Some(Duration::from_secs(5)),
            ..MetricsSettings::default()
        },
    }
}

/// The `kraken` source against the fake `exchange` (its WebSocket and its REST API), for
/// `symbols`, with the short timeouts and quick reconnects the tests want and no read-back of
/// the topic.
pub fn kraken(exchange: &FakeExchange, symbols: &[String]) -> KrakenSettings {
    KrakenSettings {
        rest_url: exchange.rest_url(),
        ..kraken_at(exchange.url(), symbols)
    }
}

/// [`kraken`] against the WebSocket server at `url`, with a REST address on this machine that
/// nothing listens on (a test never reaches the real exchange).
pub fn kraken_at(url: String, symbols: &[String]) -> KrakenSettings {
    KrakenSettings {
        url,
        rest_url: "http://127.0.0.1:9".into(),
        rest_interval: Duration::from_millis(20),
        symbols: symbols.to_vec(),
        idle_timeout: Duration::from_secs(5),
        ping_interval: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        resume_lookback: 0,
        ..KrakenSettings::default()
    }
}

/// A fake exchange on a free local port, serving `market`.
pub async fn fake_exchange(market: SimulateSettings) -> FakeExchange {
    let settings = FakeExchangeSettings {
        market,
        ..FakeExchangeSettings::default()
    };
    FakeExchange::start("127.0.0.1:0".parse().unwrap(), settings)
        .await
        .expect("fake exchange")
}

/// The service running in this process.
pub struct Running {
    pub metrics: Metrics,
    pub stop: ShutdownTrigger,
    pub task: JoinHandle<Result<(), ingest::Error>>,
}

pub fn start(settings: IngestSettings) -> Running {
    // Logs of the service under test, shown for failing tests (`RUST_LOG` filters them).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let metrics = Metrics::new(Registry::new("ingest"));
    let (stop, shutdown) = shutdown::channel();
    let task = tokio::spawn(ingest::run(settings, metrics.clone(), shutdown));
    Running {
        metrics,
        stop,
        task,
    }
}

impl Running {
    /// Fires shutdown and waits for the flush; panics if the run failed.
    pub async fn stop(self) -> Metrics {
        self.stop.fire();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("ingest did not stop within 60 s")
            .expect("ingest task panicked")
            .expect("ingest failed");
        self.metrics
    }
}

/// Sends `items` (Kraken v2 trade elements, good or bad) in one trade update frame of the
/// fake exchange.
pub fn send_trades(exchange: &FakeExchange, items: &[String]) {
    exchange.send_raw(format!(
        r#"{{"channel":"trade","type":"update","data":[{}]}}"#,
        items.join(",")
    ));
}

/// Waits until the market closed and `running` produced all its trades plus `test_trades`
/// sent by the test as `TEST/USD`; returns the trades expected per symbol.
pub async fn until_market_produced(
    exchange: &FakeExchange,
    running: &Running,
    test_trades: u64,
) -> BTreeMap<String, u64> {
    wait_for(Duration::from_secs(60), || exchange.market_closed())
        .await
        .expect("market did not close");
    let mut expected = exchange.published();
    expected.insert("TEST/USD".into(), test_trades);
    let total: u64 = expected.values().sum();
    let produced = running.metrics.trades_produced.clone();
    wait_for(Duration::from_secs(30), || produced.get() >= total)
        .await
        .unwrap_or_else(|_| panic!("{} of {total} produced", produced.get()));
    expected
}

/// Records on the topic: the sum of the partitions' high watermarks (nothing is deleted).
pub fn topic_size(brokers: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (lo, hi) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks");
            hi - lo
        })
        .sum()
}

/// Parses the trades of `records`, checking key and timestamp against the contract.
pub fn trades(records: &[Record]) -> Vec<Trade> {
    records
        .iter()
        .map(|r| {
            let value = r.value.as_deref().expect("a value");
            let t: Trade = serde_json::from_str(value).expect("a Trade");
            assert_eq!(r.key.as_deref(), Some(t.symbol.as_str()), "key = symbol");
            assert_eq!(
                r.timestamp_ms,
                Some(t.kafka_timestamp_ms()),
                "timestamp = trade time"
            );
            t
        })
        .collect()
}

/// Asserts that `trades` holds ids `1..=n` of every symbol in `expected` exactly once, and
/// nothing else.
pub fn assert_exactly_once(trades: &[Trade], expected: &BTreeMap<String, u64>) {
    let mut seen: HashMap<(&str, u64), u32> = HashMap::new();
    for t in trades {
        *seen.entry((t.symbol.as_str(), t.trade_id)).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "trades in Kafka more than once: {twice:?}"
    );
    for (symbol, n) in expected {
        let missing: Vec<u64> = (1..=*n)
            .filter(|id| !seen.contains_key(&(symbol.as_str(), *id)))
            .collect();
        assert!(
            missing.is_empty(),
            "{symbol}: {} of {n} trades missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
    let total: u64 = expected.values().sum();
    assert_eq!(trades.len() as u64, total, "unexpected extra trades");
}
