//! Shared helpers: signals with a known order, a quiet in-process receiver, the forwarder
//! settings every test starts from, and reading a group's committed offsets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use contract::{Action, Signal};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use service::kafka::KafkaSettings;
use service::metrics::MetricsSettings;
use service::shutdown::{self, ShutdownTrigger};
use sink::forward::{ForwardSettings, Forwarder, Summary};
use sink::receive::{Arrival, ReceiveSettings, Receiver};
use tokio::task::JoinHandle;

pub const SYMBOLS: [&str; 3] = ["BTC/USD", "ETH/USD", "SOL/USD"];

/// Bar end of the `i`-th signal of a symbol: one minute apart.
pub fn bar_end(i: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap() + chrono::Duration::minutes(i as i64)
}

pub fn signal(symbol: &str, i: usize) -> Signal {
    let end = bar_end(i);
    Signal {
        id: Signal::make_id("it", symbol, end),
        strategy: "it".into(),
        symbol: symbol.into(),
        bar_start: end - chrono::Duration::minutes(1),
        bar_end: end,
        open: 100.0,
        high: 101.0,
        low: 99.0,
        close: 100.5 + i as f64,
        volume: 2.0,
        trades: 3,
        bars: 50,
        indicators: Default::default(),
        action: if i % 2 == 0 {
            Action::Buy
        } else {
            Action::Sell
        },
        reasons: vec!["sma_cross_up".into()],
    }
}

/// Kafka records (key = symbol) for signals `from..to` of every symbol, interleaved.
pub fn records(from: usize, to: usize) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for i in from..to {
        for symbol in SYMBOLS {
            let s = signal(symbol, i);
            out.push((
                symbol.to_string(),
                serde_json::to_string(&s).unwrap(),
                now_ms(),
            ));
        }
    }
    out
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Position of a signal id in its symbol's sequence.
pub fn index_of(id: &str) -> usize {
    let bar_end: DateTime<Utc> = id.rsplit('|').next().unwrap().parse().unwrap();
    (bar_end - bar_end_zero()).num_minutes() as usize
}

fn bar_end_zero() -> DateTime<Utc> {
    bar_end(0)
}

/// Checks that per symbol the ids are exactly 0..n in order, without gaps or repeats.
pub fn assert_complete_and_ordered<'a>(ids: impl IntoIterator<Item = &'a str>, n: usize) {
    let mut per_symbol: HashMap<String, Vec<usize>> = HashMap::new();
    for id in ids {
        let symbol = id.split('|').nth(1).unwrap().to_string();
        per_symbol.entry(symbol).or_default().push(index_of(id));
    }
    assert_eq!(
        per_symbol.len(),
        SYMBOLS.len(),
        "symbols seen: {:?}",
        per_symbol.keys()
    );
    for (symbol, seen) in per_symbol {
        let expected: Vec<usize> = (0..n).collect();
        if seen != expected {
            let first_bad = seen
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(seen.len().min(n));
            panic!(
                "{symbol}: {} signals, expected {n} in order; first difference at position {first_bad}: {:?}",
                seen.len(),
                &seen[first_bad.saturating_sub(2)..(first_bad + 3).min(seen.len())]
            );
        }
    }
}

pub fn arrival_ids(arrivals: &[Arrival]) -> Vec<&str> {
    arrivals.iter().map(|a| &*a.id).collect()
}

/// The settings every forwarder test starts from (tests change fields with struct-update
/// syntax): the test broker, no metrics, fast commits and backoff.
pub fn forward_settings(topic: &str, group: &str, endpoint: SocketAddr) -> ForwardSettings {
    ForwardSettings {
        kafka: KafkaSettings {
            brokers: testkit::brokers(),
            ..Default::default()
        },
        topic: topic.into(),
        group_id: group.into(),
        endpoint: endpoint.to_string(),
        metrics: MetricsSettings::off(),
        commit_interval: Duration::from_millis(200),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..Default::default()
    }
}

/// A forwarder running in this process until its trigger fires.
pub struct RunningForwarder {
    pub trigger: ShutdownTrigger,
    pub metrics: service::metrics::Registry,
    pub task: JoinHandle<Summary>,
}

impl RunningForwarder {
    pub fn start(settings: ForwardSettings) -> Self {
        let forwarder = Forwarder::new(settings).expect("forwarder settings");
        let metrics = forwarder.metrics();
        let (trigger, shutdown) = shutdown::channel();
        let task =
            tokio::spawn(async move { forwarder.run(shutdown).await.expect("forwarder run") });
        Self {
            trigger,
            metrics,
            task,
        }
    }

    pub async fn stop(self) -> Summary {
        self.trigger.fire();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("forwarder stops within 30 s")
            .expect("forwarder task")
    }
}

/// An in-process receiver that keeps its arrivals.
pub struct RunningReceiver {
    pub addr: SocketAddr,
    pub received: sink::receive::Received,
    pub metrics: service::metrics::Registry,
    trigger: ShutdownTrigger,
    task: JoinHandle<sink::receive::Summary>,
}

impl RunningReceiver {
    pub async fn start(settings: ReceiveSettings) -> Self {
        let settings = ReceiveSettings {
            keep_arrivals: true,
            ..settings
        };
        let receiver = Receiver::bind(settings).await.expect("receiver binds");
        let (trigger, shutdown) = shutdown::channel();
        Self {
            addr: receiver.local_addr(),
            received: receiver.received(),
            metrics: receiver.metrics(),
            trigger,
            task: tokio::spawn(async move { receiver.run(shutdown).await.expect("receiver run") }),
        }
    }

    pub async fn quiet(ack: bool) -> Self {
        Self::start(ReceiveSettings {
            ack,
            ..quiet_receiver()
        })
        .await
    }

    pub async fn stop(self) -> sink::receive::Summary {
        self.trigger.fire();
        self.task.await.expect("receiver task")
    }

    /// Waits until `n` distinct signals arrived; panics with what did after `timeout`.
    pub async fn wait_for_signals(&self, n: u64, timeout: Duration) {
        let received = self.received.clone();
        if testkit::wait_for(timeout, || received.signals() >= n)
            .await
            .is_err()
        {
            panic!(
                "only {} of {n} signals arrived within {timeout:?}",
                self.received.signals()
            );
        }
    }
}

/// The settings every receiver test starts from: any free port, nothing printed, no metrics.
pub fn quiet_receiver() -> ReceiveSettings {
    ReceiveSettings::quiet("127.0.0.1:0".parse().unwrap())
}

/// The group's committed offset per partition of `topic` (0 when none).
pub async fn committed(topic: &str, group: &str, partitions: i32) -> Vec<i64> {
    let (topic, group) = (topic.to_string(), group.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", testkit::brokers())
            .set("group.id", &group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(
                |p| match got.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => 0,
                },
            )
            .collect()
    })
    .await
    .unwrap()
}

/// Polls the committed offsets until they add up to `total` (10 s at most); returns the last.
pub async fn wait_committed(topic: &str, group: &str, partitions: i32, total: i64) -> Vec<i64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let offsets = committed(topic, group, partitions).await;
        let sum: i64 = offsets.iter().sum();
        if sum == total || std::time::Instant::now() > deadline {
            return offsets;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A consumer group name unique to this run.
pub fn rand_group(test: &str) -> String {
    format!("it-{test}-{:08x}", rand::random::<u32>())
}
