//! Sustained throughput of ingest, fake exchange -> WebSocket -> parse -> Kafka (acks=all,
//! idempotent), against the ceiling of a bare rdkafka producer sending the same records with
//! the same settings on the same machine.
//!
//! Run against the local stack: `cargo bench -p ingest --bench throughput`.
//! `BENCH_TRADES` (default 3000000) sets the trades per phase, `BENCH_ROUNDS` (default 3) how
//! often the two phases alternate (the machine is shared, so single runs are noisy);
//! `KAFKA_BROKERS` the broker. Only the measured phases are timed: the ceiling's records and
//! the fake exchange's market (`prepare`) are generated and serialized before.

use std::time::{Duration, Instant};

use ingest::fake_exchange::{FakeExchange, FakeExchangeSettings};
use ingest::metrics::Metrics;
use ingest::pipeline::{OutputSettings, Topics};
use ingest::source::kraken::protocol::BadKind;
use ingest::source::{Generator, KrakenSettings, SimulateSettings, Source, Speed};
use ingest::IngestSettings;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use service::kafka::KafkaSettings;
use service::metrics::{MetricsSettings, Registry};
use service::shutdown;
use testkit::{brokers, create_topic, rand_topic};

/// The same allocator as the `ingest` binary, so the benchmark measures what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SYMBOLS: [&str; 4] = ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"];
const PARTITIONS: i32 = 4;

fn symbols() -> Vec<String> {
    SYMBOLS.map(String::from).to_vec()
}

fn output(topic: &str) -> OutputSettings {
    OutputSettings {
        kafka: KafkaSettings {
            brokers: brokers(),
            ..KafkaSettings::default()
        },
        topics: Topics {
            trades: topic.to_string(),
            ..Topics::default()
        },
        flush_timeout: Duration::from_secs(60),
        ..OutputSettings::default()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The ceiling: a bare ThreadedProducer with ingest's settings, sending pre-serialized trades.
fn bare_producer(n: u64, topic: &str) -> f64 {
    let t0 = "2026-11-24T21:00:00Z".parse().unwrap();
    let mut generator = Generator::new(&symbols(), 1, t0, 1e6);
    let records: Vec<(String, String, i64)> = (0..n)
        .map(|_| {
            let t = generator.next_trade();
            (t.symbol.clone(), t.to_json(), t.kafka_timestamp_ms())
        })
        .collect();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "100000")
        .create()
        .expect("producer");
    let start = Instant::now();
    for (key, value, ts) in &records {
        let mut record = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(value.as_str())
            .timestamp(*ts);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    n as f64 / start.elapsed().as_secs_f64()
}

/// The real thing: ingest reading the fake exchange over WebSocket into Kafka.
async fn ingest_from_exchange(n: u64, topic: &str) -> (f64, Vec<f64>) {
    let exchange = FakeExchange::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeExchangeSettings {
            market: SimulateSettings {
                symbols: symbols(),
                rate: 1e6,
                speed: Speed::Max,
                count: Some(n),
                ..SimulateSettings::default()
            },
            // Rendered before the timed phase, as the ceiling's records are.
            prepare: true,
            ..FakeExchangeSettings::default()
        },
    )
    .await
    .expect("exchange");
    let settings = IngestSettings {
        source: Source::Kraken(KrakenSettings {
            url: exchange.url(),
            symbols: symbols(),
            connect_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            resume_lookback: 0,
            ..KrakenSettings::default()
        }),
        output: output(topic),
        metrics: MetricsSettings::off(),
    };
    let metrics = Metrics::new(Registry::new("ingest"));
    let (stop, shutdown) = shutdown::channel();
    let run = tokio::spawn(ingest::run(settings, metrics.clone(), shutdown));
    let produced = metrics.trades_produced.clone();
    // Timed from the first acknowledged trade to the last.
    while produced.get() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let start = Instant::now();
    let mut per_second = Vec::new();
    let mut last = produced.get();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let deadline = Instant::now() + Duration::from_secs(600);
    while produced.get() < n {
        assert!(
            Instant::now() < deadline,
            "stuck at {} of {n}",
            produced.get()
        );
        tokio::select! {
            _ = tick.tick() => {
                let now = produced.get();
                per_second.push((now - last) as f64);
                last = now;
            }
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    let elapsed = start.elapsed();
    let rate = (n - 1) as f64 / elapsed.as_secs_f64();
    stop.fire();
    run.await.expect("ingest task").expect("ingest run");
    assert_eq!(metrics.duplicates_skipped.get(), 0);
    assert_eq!(metrics.bad(BadKind::NotJson).get(), 0);
    (rate, per_second)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn main() {
    let n = env_or("BENCH_TRADES", 3_000_000);
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "ingest throughput: {n} trades per phase, {rounds} rounds, {PARTITIONS} partitions, \
         acks=all, idempotent, lz4, linger 5 ms"
    );
    let (mut ceilings, mut rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let topic = rand_topic("bench-ceiling");
        rt.block_on(create_topic(&topic, PARTITIONS));
        let ceiling = bare_producer(n, &topic);
        println!(
            "round {round}: ceiling, bare rdkafka producer, same records: {ceiling:>9.0} trades/s"
        );

        let topic = rand_topic("bench-ingest");
        rt.block_on(create_topic(&topic, PARTITIONS));
        let (rate, mut per_second) = rt.block_on(ingest_from_exchange(n, &topic));
        per_second.sort_by(f64::total_cmp);
        println!(
            "round {round}: ingest, fake exchange -> WebSocket -> Kafka:   {rate:>9.0} trades/s \
             ({:.0}% of this round's ceiling); per full second: p50 {:.0}, p99 {:.0}, min {:.0}",
            100.0 * rate / ceiling,
            percentile(&per_second, 0.5),
            percentile(&per_second, 0.99),
            percentile(&per_second, 0.0),
        );
        ceilings.push(ceiling);
        rates.push(rate);
    }
    let ratios: Vec<f64> = rates.iter().zip(&ceilings).map(|(r, c)| r / c).collect();
    println!(
        "median over rounds: ingest {:.0} trades/s, ceiling {:.0} trades/s, ratio {:.0}%",
        median(rates),
        median(ceilings),
        100.0 * median(ratios)
    );
}
