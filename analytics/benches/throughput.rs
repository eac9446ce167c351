//! Throughput and latency of a strategy query on the running stack (`spark/stack up`).
//!
//! Produces trades (contract::Trade JSON, event time = now) into a fresh topic at a ladder of
//! rates, each for a fixed time, with the query running on the cluster. For each rate it
//! prints the micro-batch durations, input and processed rows/s and the backlog, and whether
//! the query kept up (90% of batches shorter than the trigger, backlog under two triggers'
//! worth); then the event-time latency from a bar's close to its signal landing in Kafka
//! (the signal record's Kafka timestamp minus `bar_end`), p50 and p99. The strategy emits every
//! bar so every bar yields a latency sample. Last, it stops the query in the middle of a
//! micro-batch, resubmits it (resuming from its checkpoint) and counts the signal ids emitted
//! twice: the at-least-once overlap of an abrupt restart.
//!
//! Settings (environment): BENCH_RATES (trades/s, comma-separated; default
//! 25000,50000,100000), BENCH_STEP_S (seconds per rate; 40), BENCH_SYMBOLS (20), BENCH_BAR_S
//! (bar length; 5), BENCH_LOOKBACK (L; 100), BENCH_TRIGGER_MS (5000), BENCH_PARTITIONS (shuffle
//! partitions; 0 = the server's), BENCH_DUMP (a file to write the raw progress JSON to),
//! BENCH_STRATEGY (a strategy file, relative to the repository, whose indicators and rules
//! replace the default's, e.g.
//! `analytics/benches/ten_indicators.toml`: 10 named indicators, 6 rules), plus SPARK_REMOTE
//! and KAFKA_BROKERS.
//! Run: `cargo bench -p analytics --bench throughput`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use analytics::connect::{Connection, Token};
use analytics::control;
use analytics::progress::BatchProgress;
use analytics::Strategy;
use chrono::{DateTime, Utc};
use contract::{Side, Signal, Trade};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Produces `rate` trades/s for `duration`, spread over `symbols` symbols, event time = now.
fn produce(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    rate: u64,
    duration: Duration,
    symbols: &[String],
    next_id: &AtomicU64,
) -> u64 {
    let start = Instant::now();
    let mut sent = 0u64;
    let mut prices: Vec<f64> = (0..symbols.len())
        .map(|i| 10_000.0 + 1_000.0 * i as f64)
        .collect();
    while start.elapsed() < duration {
        let due = (rate as f64 * start.elapsed().as_secs_f64()) as u64;
        while sent < due {
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let k = (id % symbols.len() as u64) as usize;
            // A cheap deterministic walk.
            prices[k] *= 1.0 + ((id.wrapping_mul(2_654_435_761) % 2001) as f64 - 1000.0) * 1e-6;
            let now = Utc::now();
            let trade = Trade {
                exchange: "bench".into(),
                symbol: symbols[k].clone(),
                trade_id: id,
                price: prices[k],
                qty: 0.01,
                side: if id % 2 == 0 { Side::Buy } else { Side::Sell },
                ord_type: "market".into(),
                ts: now,
                recv_ts: now,
            };
            let json = trade.to_json();
            let record = BaseRecord::to(topic)
                .key(trade.key())
                .payload(&json)
                .timestamp(trade.kafka_timestamp_ms());
            testkit::send_waiting(producer, record).unwrap_or_else(|e| panic!("produce: {e}"));
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    sent
}

/// One signal as read: its id, bar_end and Kafka timestamp (milliseconds).
type Sample = (String, i64, i64);

/// Reads signals as they arrive.
fn collect_latencies(topic: String, stop: Arc<AtomicBool>, out: Arc<Mutex<Vec<Sample>>>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", testkit::brokers())
        .set("group.id", format!("bench-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    while !stop.load(Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let (Some(payload), Some(ts)) = (m.payload(), m.timestamp().to_millis()) else {
                continue;
            };
            if let Ok(s) = serde_json::from_slice::<Signal>(payload) {
                out.lock()
                    .unwrap()
                    .push((s.id, s.bar_end.timestamp_millis(), ts));
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let rates: Vec<u64> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "25000,50000,100000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let step = Duration::from_secs(env("BENCH_STEP_S", 40));
    let n_symbols: usize = env("BENCH_SYMBOLS", 20);
    let symbols: Vec<String> = (0..n_symbols).map(|i| format!("S{i:03}/USD")).collect();

    let rt = tokio::runtime::Runtime::new()?;
    let trades_topic = testkit::rand_topic("bench-trades");
    let signals_topic = testkit::rand_topic("bench-signals");
    rt.block_on(async {
        testkit::create_topic(&trades_topic, 4).await;
        testkit::create_topic(&signals_topic, 1).await;
    });

    let mut strategy = Strategy {
        name: trades_topic.replace("-trades-", "-"),
        ..Strategy::default()
    };
    if let Ok(path) = std::env::var("BENCH_STRATEGY") {
        // Relative to the repository (cargo runs benchmarks in the crate's directory).
        let file = Strategy::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(path),
        )?;
        (strategy.indicators, strategy.rules) = (file.indicators, file.rules);
    }
    strategy.source.brokers = testkit::brokers();
    strategy.source.topic = trades_topic.clone();
    strategy.source.starting_offsets = "earliest".into();
    strategy.source.max_offsets_per_trigger = 0;
    strategy.sink.topic = signals_topic.clone();
    strategy.bars.interval_s = env("BENCH_BAR_S", 5);
    strategy.bars.watermark_delay_s = 1;
    strategy.bars.lookback = env("BENCH_LOOKBACK", 100);
    strategy.rules.every_bar = true;
    strategy.query.trigger_interval_ms = env("BENCH_TRIGGER_MS", 5000);
    strategy.query.shuffle_partitions = env("BENCH_PARTITIONS", 0);
    let trigger_ms = strategy.query.trigger_interval_ms;
    strategy.query.checkpoint_location = std::env::temp_dir()
        .join("tradesignal-bench")
        .join(&strategy.name)
        .to_string_lossy()
        .into_owned();

    let connection = Connection {
        remote: std::env::var("SPARK_REMOTE").unwrap_or_else(|_| "sc://127.0.0.1:15002".into()),
        session_id: uuid::Uuid::new_v4().to_string(),
        token: testkit::spark_token().map(|t| Token::new(&t).expect("the stack's token")),
        ..Connection::default()
    };
    let spark = connection.connect()?;
    control::submit(&spark, &strategy)?;
    let name = strategy.query_name().to_string();
    println!(
        "query `{name}`: {} indicator series, {} rules; {n_symbols} symbols, {} s bars, L = {}, \
         trigger {trigger_ms} ms, shuffle partitions {}, every bar",
        strategy.catalog().names().count() - analytics::rules::BarField::NAMES.len(),
        strategy.compiled_rules().len(),
        strategy.bars.interval_s,
        strategy.bars.lookback,
        match strategy.query.shuffle_partitions {
            0 => "(server's)".to_string(),
            n => n.to_string(),
        }
    );

    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (topic, stop, samples) = (signals_topic.clone(), stop.clone(), samples.clone());
        std::thread::spawn(move || collect_latencies(topic, stop, samples))
    };
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", testkit::brokers())
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "lz4")
        .create()?;
    let next_id = AtomicU64::new(1);

    let result = (|| -> anyhow::Result<()> {
        let mut produced = 0u64;
        let mut kept_up = None;
        println!(
            "{:>8}  {:>7}  {:>9}  {:>9}  {:>9}  {:>12}  {:>12}  {:>9}  {:>8}  {:>8}  {:>8}",
            "trades/s",
            "batches",
            "batch p50",
            "batch p90",
            "batch max",
            "input rows/s",
            "proc. rows/s",
            "backlog",
            "lat p50",
            "lat p99",
            "kept up"
        );
        for &rate in &rates {
            let started: DateTime<Utc> = Utc::now();
            produced += produce(&producer, &trades_topic, rate, step, &symbols, &next_id);
            producer.flush(Duration::from_secs(30))?;
            let ended = Utc::now();
            // Let the in-flight batch finish, then read the batches of the measured window
            // (the first 5 s of each rate are warm-up).
            std::thread::sleep(Duration::from_millis(2 * trigger_ms));
            let q = control::find(&spark, &name)?
                .ok_or_else(|| anyhow::anyhow!("query {name} is not running"))?;
            let raw = q.recent_progress()?;
            if let Ok(path) = std::env::var("BENCH_DUMP") {
                std::fs::write(path, raw.join("\n"))?;
            }
            let all: Vec<BatchProgress> = raw
                .iter()
                .map(|j| BatchProgress::parse(j))
                .collect::<Result<_, _>>()?;
            let from = started + chrono::Duration::seconds(5);
            let window: Vec<&BatchProgress> = all
                .iter()
                .filter(|b| {
                    b.timestamp
                        .parse::<DateTime<Utc>>()
                        .is_ok_and(|t| t >= from && t <= ended)
                })
                .collect();
            let mut durations: Vec<f64> =
                window.iter().map(|b| b.batch_duration_ms as f64).collect();
            durations.sort_by(f64::total_cmp);
            let rows: f64 = window.iter().map(|b| b.input_rows as f64).sum();
            let busy_s: f64 = durations.iter().sum::<f64>() / 1000.0;
            let span_s = (ended - from).num_milliseconds() as f64 / 1000.0;
            // Backlog: produced minus read, over the whole run so far.
            let read: i64 = all.iter().map(|b| b.input_rows).sum();
            let backlog = produced as i64 - read;
            let mut lat: Vec<f64> = samples
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, bar_end, _)| {
                    *bar_end >= from.timestamp_millis() && *bar_end <= ended.timestamp_millis()
                })
                .map(|(_, bar_end, ts)| (ts - bar_end) as f64)
                .collect();
            lat.sort_by(f64::total_cmp);
            let p90 = percentile(&durations, 0.9);
            let ok = !durations.is_empty()
                && p90 <= trigger_ms as f64
                && backlog <= 2 * rate as i64 * trigger_ms as i64 / 1000;
            if ok {
                kept_up = Some(rate);
            }
            println!(
                "{:>8}  {:>7}  {:>7.0}ms  {:>7.0}ms  {:>7.0}ms  {:>12.0}  {:>12.0}  {:>9}  {:>6.0}ms  {:>6.0}ms  {:>8}",
                rate,
                durations.len(),
                percentile(&durations, 0.5),
                p90,
                durations.last().copied().unwrap_or(f64::NAN),
                rows / span_s,
                if busy_s > 0.0 { rows / busy_s } else { 0.0 },
                backlog,
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                if ok { "yes" } else { "no" }
            );
            if !ok {
                break;
            }
        }
        match kept_up {
            Some(r) => println!("sustained: the query kept up with {r} trades/s (highest rate tried that it kept up with)"),
            None => println!("sustained: the query kept up with none of the rates tried"),
        }

        // At-least-once overlap of an abrupt restart: stop while a batch is in flight (no
        // drain), resubmit (resumes from the checkpoint), and count ids emitted twice.
        let rate = rates[0];
        let load = std::thread::scope(|scope| -> anyhow::Result<u64> {
            let producing =
                scope.spawn(|| produce(&producer, &trades_topic, rate, step, &symbols, &next_id));
            std::thread::sleep(step / 3);
            let q = control::find(&spark, &name)?
                .ok_or_else(|| anyhow::anyhow!("query {name} is not running"))?;
            while !q.status()?.is_trigger_active {
                std::thread::sleep(Duration::from_millis(20));
            }
            control::stop(&spark, &name, Duration::ZERO)?;
            control::submit(&spark, &strategy)?;
            Ok(producing.join().expect("producer thread"))
        })?;
        produced += load;
        producer.flush(Duration::from_secs(30))?;
        std::thread::sleep(Duration::from_millis(4 * trigger_ms + 3000));
        let samples = samples.lock().unwrap();
        let mut ids: Vec<&str> = samples.iter().map(|(id, _, _)| id.as_str()).collect();
        ids.sort_unstable();
        let total = ids.len();
        ids.dedup();
        println!(
            "restart during a batch at {rate} trades/s: {} of {} signal ids emitted again \
             (at-least-once overlap); {produced} trades produced in all",
            total - ids.len(),
            ids.len()
        );
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    control::stop(&spark, &name, Duration::from_secs(5))?;
    // This run's session alone: released, so sessions do not pile up on the server.
    spark.stop()?;
    result
}
