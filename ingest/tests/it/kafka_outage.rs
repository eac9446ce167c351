//! Kafka away for 20 s in the middle of a stream: every trade arrives, none twice.
//!
//! Stopping the shared broker would break everyone else's tests, so this test runs a private
//! broker with `spark/stack` (its own STACK_DIR and ports), stops it for 20 s and starts it
//! again on the same data. A small queue makes the backpressure reach the WebSocket reader.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest::source::{SimulateSettings, Source, Speed};
use testkit::{consume_until_on, create_topic_on, rand_topic, wait_for};

use crate::support::{self, assert_exactly_once, topic_size};

/// A broker of our own, stopped (by its PID file, through spark/stack) when dropped.
struct PrivateKafka {
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    secure_port: u16,
}

/// Three distinct free ports (all held while choosing, so they differ): plaintext, controller
/// and the SASL_SSL listener.
fn free_ports() -> [u16; 3] {
    let held: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    [0, 1, 2].map(|i| held[i].local_addr().unwrap().port())
}

impl PrivateKafka {
    fn try_stack(&self, args: &[&str]) -> Result<(), String> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spark/stack");
        let out = Command::new(&script)
            .args(args)
            .env("STACK_DIR", &self.dir)
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_CONTROLLER_PORT", self.controller_port.to_string())
            .env("KAFKA_SASL_SSL_PORT", self.secure_port.to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "`spark/stack {}` for the private broker failed (provision the stack first with \
             `spark/stack up`):\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn stack(&self, args: &[&str]) {
        self.try_stack(args).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts a broker; a second attempt on fresh ports covers a port taken meanwhile.
    fn start() -> Self {
        let mut failures = Vec::new();
        for _ in 0..2 {
            let [port, controller_port, secure_port] = free_ports();
            let dir =
                std::env::temp_dir().join(format!("ingest-outage-{:016x}", rand::random::<u64>()));
            let k = PrivateKafka {
                dir,
                port,
                controller_port,
                secure_port,
            };
            match k.try_stack(&["up", "kafka"]) {
                Ok(()) => return k,
                Err(e) => failures.push(e),
            }
        }
        panic!(
            "cannot start a private Kafka broker:\n{}",
            failures.join("\n")
        );
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        if let Err(e) = self.try_stack(&["stop", "kafka"]) {
            eprintln!("{e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_stopped_for_20_s_loses_and_repeats_nothing() {
    let kafka = Arc::new(
        tokio::task::spawn_blocking(PrivateKafka::start)
            .await
            .unwrap(),
    );
    let brokers = kafka.brokers();
    let topic = rand_topic("outage");
    create_topic_on(&brokers, &topic, 4).await;

    let symbols: Vec<String> = vec!["BTC/USD".into(), "SOL/USD".into()];
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: symbols.clone(),
        rate: 300.0,
        speed: Speed::Times(1.0),
        count: Some(12_000),
        ..SimulateSettings::default()
    })
    .await;
    let mut settings = support::settings(
        Source::Kraken(support::kraken(&exchange, &symbols)),
        &brokers,
        &topic,
    );
    settings.output.queue_capacity = 1000;
    let running = support::start(settings);

    let produced = running.metrics.trades_produced.clone();
    wait_for(Duration::from_secs(30), || produced.get() >= 1000)
        .await
        .expect("nothing produced before the outage");
    // Sample the queue depth through the outage: it must reach the bound (backpressure).
    let depth = running.metrics.queue_depth.clone();
    let sampler = tokio::spawn(async move {
        loop {
            let now = depth.get();
            if now >= 1000 {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let k = kafka.clone();
    tokio::task::spawn_blocking(move || {
        k.stack(&["stop", "kafka"]);
        let stopped = Instant::now();
        std::thread::sleep(Duration::from_secs(20));
        k.stack(&["up", "kafka"]);
        eprintln!("private Kafka was down for {:?}", stopped.elapsed());
    })
    .await
    .unwrap();
    let full_depth = tokio::time::timeout(Duration::from_secs(1), sampler)
        .await
        .expect("the queue never filled during the outage: no backpressure")
        .unwrap();

    wait_for(Duration::from_secs(90), || exchange.market_closed())
        .await
        .expect("the market did not close: backpressure never released?");
    let expected = exchange.published();
    let total: u64 = expected.values().sum();
    wait_for(Duration::from_secs(60), || produced.get() >= total)
        .await
        .unwrap_or_else(|_| panic!("{} of {total} produced after the outage", produced.get()));
    let metrics = running.stop().await;
    assert!(
        metrics.kafka_errors.get() > 0,
        "the outage was not even noticed"
    );
    eprintln!(
        "queue depth reached {full_depth}, kafka errors {}",
        metrics.kafka_errors.get()
    );

    let records = consume_until_on(&brokers, &topic, Duration::from_secs(60), move |r| {
        r.len() as u64 >= total
    })
    .await;
    assert_exactly_once(&support::trades(&records), &expected);
    assert_eq!(topic_size(&brokers, &topic), total as i64);
}
