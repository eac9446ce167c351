//! Backtest throughput on the running stack (`spark/stack up`): `analytics backtest` of the
//! default strategy over the same trades from three inputs, timed.
//!
//! Makes BENCH_TRADES trades (default 10,000,000) of BENCH_SYMBOLS symbols (10), spread over
//! one day of the past (contract::Trade JSON), and writes them as JSON lines under
//! `target/bench-backtest/`, as Parquet (written by Spark from those lines) and to a fresh
//! Kafka topic (4 partitions, key = symbol, record time = trade time). Then runs the backtest
//! over each and prints trades/s and the time of each phase. `BENCH_TRADES=1000000` gives a
//! run of a few minutes; `BENCH_INPUTS=parquet` (a comma list of `jsonl`, `parquet`, `kafka`)
//! runs only those inputs, and prepares only what they read.
//! Run: `cargo bench -p analytics --bench backtest`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use analytics::backtest::{self, BacktestSettings, FileFormat, Input};
use analytics::connect::{Connection, Token};
use analytics::Strategy;
use chrono::{DateTime, Utc};
use contract::{Side, Trade};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Trade `n` of `count` over one day from `start`, on a deterministic walk per symbol.
fn trade(
    n: u64,
    count: u64,
    symbols: &[String],
    prices: &mut [f64],
    start: DateTime<Utc>,
) -> Trade {
    let k = (n % symbols.len() as u64) as usize;
    prices[k] *= 1.0 + ((n.wrapping_mul(2_654_435_761) % 2001) as f64 - 1000.0) * 1e-6;
    let ts = start + chrono::Duration::microseconds((86_400_000_000 / count as i64) * n as i64);
    Trade {
        exchange: "bench".into(),
        symbol: symbols[k].clone(),
        trade_id: n + 1,
        price: (prices[k] * 1e4).round() / 1e4,
        qty: 0.01,
        side: if n % 2 == 0 { Side::Buy } else { Side::Sell },
        ord_type: "market".into(),
        ts,
        recv_ts: ts,
    }
}

fn main() -> anyhow::Result<()> {
    let count: u64 = env("BENCH_TRADES", 10_000_000);
    let n_symbols: usize = env("BENCH_SYMBOLS", 10);
    let selected: String = env("BENCH_INPUTS", "jsonl,parquet,kafka".to_string());
    let wants = |input: &str| selected.split(',').any(|s| s.trim() == input);
    let symbols: Vec<String> = (0..n_symbols).map(|i| format!("B{i:03}/USD")).collect();
    let start: DateTime<Utc> = "2026-11-20T00:00:00Z".parse()?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-backtest");
    std::fs::create_dir_all(&dir)?;
    let jsonl = std::path::absolute(dir.join("trades.jsonl"))?;
    let parquet = std::path::absolute(dir.join("trades.parquet"))?;

    let t = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&jsonl)?);
    let mut prices: Vec<f64> = (0..n_symbols).map(|i| 100.0 + 10.0 * i as f64).collect();
    for n in 0..count {
        writeln!(
            out,
            "{}",
            trade(n, count, &symbols, &mut prices, start).to_json()
        )?;
    }
    out.flush()?;
    println!(
        "{count} trades of {n_symbols} symbols as JSON lines in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let session_id = uuid::Uuid::new_v4().to_string();
    let spark = Connection {
        remote: std::env::var("SPARK_REMOTE").unwrap_or_else(|_| "sc://127.0.0.1:15002".into()),
        session_id: session_id.clone(),
        token: testkit::spark_token().map(|t| Token::new(&t).expect("the stack's token")),
        ..Connection::default()
    }
    .connect()?;
    if wants("parquet") {
        let t = Instant::now();
        backtest::input::jsonl_as_parquet(&spark, &jsonl, &parquet)?;
        println!(
            "as Parquet (by Spark) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }

    let topic = testkit::rand_topic("bench-backtest");
    if wants("kafka") {
        load_kafka(&topic, count, &symbols, start)?;
    }

    let mut strategy = Strategy {
        name: "bench_backtest".into(),
        ..Strategy::default()
    };
    strategy.source.brokers = testkit::brokers();
    strategy.source.topic = topic.clone();
    let inputs = [
        (
            "jsonl",
            "JSON lines",
            Input::File {
                path: jsonl,
                format: FileFormat::JsonLines,
            },
        ),
        (
            "parquet",
            "Parquet",
            Input::File {
                path: parquet,
                format: FileFormat::Parquet,
            },
        ),
        ("kafka", "Kafka", Input::Kafka { topic: None }),
    ];
    println!("input       trades/s   total s   phases");
    for (key, what, input) in inputs {
        if !wants(key) {
            continue;
        }
        let settings = BacktestSettings {
            input,
            ui_url: std::env::var("SPARK_UI_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:4040".into()),
            session_id: session_id.clone(),
            progress_interval: Duration::from_secs(3600),
            ..BacktestSettings::default()
        };
        let t = Instant::now();
        let report = backtest::run(&spark, &strategy, &settings, |_| {})?;
        let total = t.elapsed().as_secs_f64();
        let phases: Vec<String> = report
            .phases
            .iter()
            .map(|(name, d)| format!("{name} {:.1} s", d.as_secs_f64()))
            .collect();
        println!(
            "{what:<10} {:>9.0} {total:>9.1}   {} ({} bars)",
            count as f64 / total,
            phases.join(", "),
            report.bars
        );
    }
    // This run's session alone: released, so sessions do not pile up on the server.
    spark.stop()?;
    Ok(())
}

/// Writes the same trades to a fresh topic (4 partitions, key = symbol, record time = trade
/// time), as ingest would.
fn load_kafka(
    topic: &str,
    count: u64,
    symbols: &[String],
    start: DateTime<Utc>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(testkit::create_topic(topic, 4));
    let t = Instant::now();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", testkit::brokers())
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut prices: Vec<f64> = (0..symbols.len())
        .map(|i| 100.0 + 10.0 * i as f64)
        .collect();
    for n in 0..count {
        let trade = trade(n, count, symbols, &mut prices, start);
        let json = trade.to_json();
        let record = BaseRecord::to(topic)
            .key(trade.key())
            .payload(&json)
            .timestamp(trade.kafka_timestamp_ms());
        testkit::send_waiting(&producer, record)?;
    }
    producer.flush(Duration::from_secs(120))?;
    println!(
        "to Kafka topic {topic} in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    Ok(())
}
