//! Forwarder throughput and added latency against the stack's real Kafka.
//!
//! `cargo bench -p sink --bench throughput` (stack running: `spark/stack up`). Prints numbers;
//! asserts nothing about speed.
//!
//! 1. Throughput: a backlog of `SINK_BENCH_N` signals (default 500,000) is produced first; then a
//!    forwarder (new group, from the start of the topic) and an in-process receiver run,
//!    without and then with acknowledgements (the second run also reads the first run's
//!    latency records). Reported: signals/s between the first and the last arrival (group join
//!    excluded) and overall.
//! 2. Added latency: with the forwarder caught up (and `SINK_BENCH_PAUSE_MS`, default 1000,
//!    after the backlog was drained), signals are produced at a steady `SINK_BENCH_RATE` per
//!    second (default 20,000) for 5 s, each with its Kafka record timestamp set to the send
//!    time; latency = arrival at the receiver − record timestamp. A plain consumer in the same
//!    process reads the same records, for Kafka's own share; p99 is also shown per second.
//!
//! The CPU time of the process during phase 1 (forwarder and receiver together) is printed
//! too: on a shared machine it is the number that does not depend on the neighbours.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use contract::{Action, Signal};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use service::kafka::KafkaSettings;
use service::metrics::MetricsSettings;
use service::shutdown;
use sink::forward::{ForwardSettings, Forwarder};
use sink::receive::{ReceiveSettings, Receiver};
use testkit::{create_topic, rand_topic};

const SYMBOLS: usize = 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The `i`-th signal (its bar index is `i / SYMBOLS`), as JSON.
fn signal_json(prefix: &str, i: usize) -> (String, String, String) {
    let symbol = format!("SYM{}/USD", i % SYMBOLS);
    let bar_end =
        chrono::DateTime::from_timestamp(1_700_000_000 + 60 * (i / SYMBOLS) as i64, 0).unwrap();
    let s = Signal {
        id: Signal::make_id(prefix, &symbol, bar_end),
        strategy: prefix.to_string(),
        symbol: symbol.clone(),
        bar_start: bar_end - chrono::Duration::minutes(1),
        bar_end,
        open: 65000.0,
        high: 65010.5,
        low: 64990.25,
        close: 65001.75,
        volume: 12.5,
        trades: 42,
        bars: 100,
        indicators: [
            ("sma_fast", Some(65000.1)),
            ("sma_slow", Some(64990.2)),
            ("ema", Some(64995.3)),
            ("rsi", Some(55.5)),
        ]
        .into_iter()
        .collect(),
        action: Action::Buy,
        reasons: vec!["sma_cross_up".into()],
    };
    let id = s.id.clone();
    (symbol, serde_json::to_string(&s).unwrap(), id)
}

fn producer(linger_ms: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", testkit::brokers())
        .set("linger.ms", linger_ms)
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer")
}

/// Sends one record, waiting while the local queue is full.
fn send(
    p: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    key: &str,
    value: &str,
    ts: i64,
) {
    let record = BaseRecord::to(topic).key(key).payload(value).timestamp(ts);
    testkit::send_waiting(p, record).unwrap_or_else(|e| panic!("produce: {e}"));
}

fn forward_settings(topic: &str, endpoint: std::net::SocketAddr, ack: bool) -> ForwardSettings {
    ForwardSettings {
        kafka: KafkaSettings {
            brokers: testkit::brokers(),
            ..Default::default()
        },
        topic: topic.into(),
        group_id: format!("bench-{:08x}", rand::random::<u32>()),
        endpoint: endpoint.to_string(),
        ack,
        metrics: MetricsSettings::off(),
        ..Default::default()
    }
}

/// Reads `count` records produced from now on (or for 60 s at most) and returns, for each, the
/// time from its Kafka timestamp to its arrival here, in ms.
fn plain_consumer_latencies(topic: &str, count: usize) -> tokio::task::JoinHandle<Vec<f64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", testkit::brokers())
        .set("group.id", "sink-bench-baseline")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .expect("watermarks");
        tpl.add_partition_offset(topic, p.id(), Offset::Offset(high))
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(count);
        let deadline = Instant::now() + Duration::from_secs(60);
        while out.len() < count && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                if let Some(ts) = m.timestamp().to_millis() {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                    out.push(now.as_secs_f64() * 1000.0 - ts as f64);
                }
            }
        }
        out
    })
}

/// User + system CPU time of this process so far, from /proc (Linux; `None` elsewhere).
/// The machine is shared, so CPU per signal is the number that does not depend on the others.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from after the command name: utime, stime in
    // USER_HZ (100 per second on Linux).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    service::logging::init(
        &std::env::var("RUST_LOG").unwrap_or_else(|_| service::logging::DEFAULT_FILTER.into()),
    );
    let n = env_usize("SINK_BENCH_N", 500_000);
    let rate = env_usize("SINK_BENCH_RATE", 20_000);
    let pause_ms = env_usize("SINK_BENCH_PAUSE_MS", 1000);
    // The machine is shared: say how busy it was, since that moves the numbers.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start (1/5/15 min): {}", load.trim());
    }
    let topic = rand_topic("sink-bench");
    create_topic(&topic, 4).await;

    let started = Instant::now();
    let backlog = tokio::task::spawn_blocking({
        let topic = topic.clone();
        move || {
            let p = producer("20");
            let mut bytes = 0;
            for i in 0..n {
                let (key, value, _) = signal_json("bench", i);
                bytes += value.len();
                send(&p, &topic, &key, &value, now_ms());
            }
            p.flush(Duration::from_secs(120)).expect("flush");
            bytes
        }
    })
    .await
    .unwrap();
    println!(
        "backlog: {n} signals ({} bytes each on average) produced in {:.1} s",
        backlog / n,
        started.elapsed().as_secs_f64()
    );

    // Each run reads the topic from the start with a new group: the backlog plus the latency
    // records of the runs before it.
    let mut in_topic = n;
    for ack in [false, true] {
        let receiver = Receiver::bind(ReceiveSettings {
            ack,
            keep_arrivals: true,
            ..ReceiveSettings::quiet("127.0.0.1:0".parse().unwrap())
        })
        .await
        .unwrap();
        let addr = receiver.local_addr();
        let received = receiver.received();
        let (rtrigger, rshutdown) = shutdown::channel();
        let rtask = tokio::spawn(receiver.run(rshutdown));

        let forwarder = Forwarder::new(forward_settings(&topic, addr, ack)).unwrap();
        let (ftrigger, fshutdown) = shutdown::channel();
        let start = Instant::now();
        let cpu_before = cpu_seconds();
        let ftask = tokio::spawn(forwarder.run(fshutdown));
        while received.signals() < in_topic as u64 {
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "stalled at {}",
                received.signals()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let total = start.elapsed();
        let backlog = in_topic;
        let cpu = cpu_seconds()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        let arrivals = received.arrivals();
        let first = arrivals.first().unwrap().at;
        let last = arrivals.last().unwrap().at;
        let busy = last.duration_since(first).unwrap().as_secs_f64();
        println!(
            "throughput (ack={ack}): {backlog} signals, first->last arrival {busy:.2} s = {:.0} signals/s; \
             including consumer-group join {:.2} s = {:.0} signals/s",
            backlog as f64 / busy,
            total.as_secs_f64(),
            backlog as f64 / total.as_secs_f64()
        );

        if let Some(cpu) = cpu {
            println!(
                "  CPU used by forwarder + receiver (this process, all threads): {cpu:.2} s = {:.1} µs per signal",
                cpu * 1e6 / backlog as f64
            );
        }

        // Latency under a steady load, forwarder caught up. A plain consumer reads the same
        // records meanwhile: Kafka's own share of the latency, for comparison.
        let seconds = 5;
        // Let the catch-up settle first: this phase is about the steady state.
        tokio::time::sleep(Duration::from_millis(pause_ms as u64)).await;
        let baseline = plain_consumer_latencies(&topic, rate * seconds);
        let sent = tokio::task::spawn_blocking({
            let topic = topic.clone();
            move || {
                let p = producer("0");
                let mut sent = HashMap::with_capacity(rate * seconds);
                let per_tick = rate / 100;
                let begin = Instant::now();
                for tick in 0..(100 * seconds) {
                    let due = begin + Duration::from_millis(10 * tick as u64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    for j in 0..per_tick {
                        let (key, value, id) =
                            signal_json(&format!("lat{ack}"), tick * per_tick + j);
                        let ts = now_ms();
                        send(&p, &topic, &key, &value, ts);
                        sent.insert(id, ts);
                    }
                }
                p.flush(Duration::from_secs(30)).expect("flush");
                sent
            }
        })
        .await
        .unwrap();
        in_topic += sent.len();
        let want = in_topic as u64;
        let wait_start = Instant::now();
        while received.signals() < want && wait_start.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let timed: Vec<(i64, f64)> = received
            .arrivals()
            .iter()
            .filter_map(|a| {
                let ts = *sent.get(&*a.id)?;
                let at = a.at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
                Some((ts, at - ts as f64))
            })
            .collect();
        // Per second of sending, to tell a steady tail from a one-off stall.
        let start_ms = timed.iter().map(|(ts, _)| *ts).min().unwrap_or(0);
        let mut by_second = vec![Vec::new(); seconds + 1];
        for (ts, latency) in &timed {
            let second = (((ts - start_ms) / 1000) as usize).min(seconds);
            by_second[second].push(*latency);
        }
        let per_second: Vec<String> = by_second
            .iter_mut()
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                format!("{:.0}", percentile(v, 0.99))
            })
            .collect();
        let mut latencies: Vec<f64> = timed.iter().map(|(_, l)| *l).collect();
        latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "added latency (ack={ack}) at {rate} signals/s for {seconds} s: {} of {} arrived; \
             Kafka record time -> line received p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            latencies.len(),
            sent.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().unwrap()
        );
        println!("  p99 per second of sending (ms): {}", per_second.join(" "));
        let mut kafka_only = baseline.await.unwrap();
        kafka_only.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if !kafka_only.is_empty() {
            println!(
                "  same records, plain Kafka consumer in this process: p50 {:.1} ms, p99 {:.1} ms",
                percentile(&kafka_only, 0.5),
                percentile(&kafka_only, 0.99)
            );
        }
        ftrigger.fire();
        let summary = ftask.await.unwrap().unwrap();
        rtrigger.fire();
        let rsummary = rtask.await.unwrap().unwrap();
        println!("  forwarder: {summary}\n  receiver: {rsummary}");
    }
}
