//! Pipeline benchmark: the whole system end to end on this machine.
//!
//! For each offered rate, the fake exchange generates random-walk trades for 10 symbols in
//! real time (event time = wall-clock time); ingest, Kafka, the Spark query (1-second bars,
//! 30-bar lookback, a signal for every bar), the forwarder and the receiver carry them. It
//! prints, per rate: trades/s ingested, Spark's processed rows/s and batch durations, signals/s
//! at the receiver, and the time from bar close (bar_end) to the signal's arrival at the
//! receiver, p50 / p99 / max. The pipeline keeps up when batch durations stay below the trigger
//! interval and the latency does not grow over the run.
//!
//! Needs the local stack (`spark/stack up`). Run: `cargo bench -p e2e --bench pipeline`.
//! `PIPELINE_RATES` (trades/s, comma-separated; default 2000,10000,30000),
//! `PIPELINE_SECONDS` (per rate, default 40), `PIPELINE_TRIGGER_MS` (the query's trigger,
//! default 1000), `PIPELINE_DELAY_MS` (the watermark delay, default 1000) and
//! `PIPELINE_WARMUP_S` (seconds after the start not measured, default 10; 0 right after
//! `spark/stack up` measures a cold server) change the runs. `PIPELINE_TIMELINE=1` also prints
//! every batch of the run (start, duration, rows, watermark) and the latency of the signals by
//! 5-second slices of bar close time: where the first minute of a cold server goes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use analytics::control;
use analytics::progress::BatchProgress;
use chrono::{DateTime, Utc};
use e2e::{path, Options, Pipeline};
use ingest::fake_exchange::FakeExchangeSettings;
use ingest::source::{SimulateSettings, Speed};

/// The allocator of the ingest binary, which this process runs as a library: with the system
/// allocator, malloc and free took a quarter of this process's CPU at 30k trades/s (`perf`),
/// CPU the Spark executor on the same two cores then lacked.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SYMBOLS: [&str; 10] = [
    "BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOGE/USD", "DOT/USD", "LTC/USD",
    "LINK/USD", "AVAX/USD",
];

fn env_or<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: bad value {s}"))
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rates: Vec<f64> = env_or("PIPELINE_RATES", "2000,10000,30000");
    let seconds = env_or::<u64>("PIPELINE_SECONDS", "40")[0];
    let trigger_ms = env_or::<u64>("PIPELINE_TRIGGER_MS", "1000")[0];
    let delay_ms = env_or::<u64>("PIPELINE_DELAY_MS", "1000")[0];
    let warmup_s = env_or::<u64>("PIPELINE_WARMUP_S", "10")[0];
    println!(
        "pipeline benchmark: {} symbols, 1 s bars, lookback 30, every bar a signal, trigger \
         {trigger_ms} ms, watermark delay {delay_ms} ms, {seconds} s per rate after {warmup_s} s",
        SYMBOLS.len()
    );
    println!(
        "{:>10} {:>12} {:>14} {:>20} {:>12} {:>22}",
        "offered/s",
        "ingested/s",
        "spark rows/s",
        "batch ms p50/p90/max",
        "signals/s",
        "bar close->rx ms p50/p99/max"
    );
    for rate in rates {
        run(rate, seconds, trigger_ms, delay_ms, warmup_s);
    }
}

fn run(rate: f64, seconds: u64, trigger_ms: u64, delay_ms: u64, warmup_s: u64) {
    let mut strategy = path::strategy();
    strategy.bars.lookback = 30;
    strategy.rules.every_bar = true;
    strategy.query.trigger_interval_ms = trigger_ms;
    strategy.bars.watermark_delay_ms = Some(delay_ms);
    strategy.source.max_offsets_per_trigger = 1_000_000;
    let p = Pipeline::start(Options {
        name: format!("bench-{rate}"),
        exchange: FakeExchangeSettings {
            market: SimulateSettings {
                symbols: SYMBOLS.map(String::from).to_vec(),
                rate,
                speed: Speed::Times(1.0),
                ..SimulateSettings::default()
            },
            script: None::<Arc<Vec<contract::Trade>>>,
            ..FakeExchangeSettings::default()
        },
        strategy,
        trades_partitions: 4,
        ack: false,
        supervise: false,
        security: None,
    });
    // Warm-up: the query's first batches plan and compile; measure after that.
    std::thread::sleep(Duration::from_secs(warmup_s));
    let t0 = Instant::now();
    let wall0 = SystemTime::now();
    let produced0 = p.trades_produced();
    let arrived0 = p.arrivals().len();
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = t0.elapsed().as_secs_f64();
    let ingested = (p.trades_produced() - produced0) / elapsed;
    let arrivals = p.arrivals();
    let signals = (arrivals.len() - arrived0) as f64 / elapsed;

    let mut latency_ms: Vec<f64> = arrivals
        .iter()
        .filter(|a| a.at >= wall0)
        .filter_map(bar_close_to_arrival)
        .map(|(_, ms)| ms)
        .collect();
    latency_ms.sort_by(f64::total_cmp);

    let progress: Vec<String> = match control::find(&p.spark, p.strategy.query_name()) {
        Ok(Some(q)) => q.recent_progress().unwrap_or_default(),
        _ => Vec::new(),
    };
    if std::env::var("PIPELINE_TIMELINE").is_ok_and(|v| v == "1") {
        print_timeline(&progress, &arrivals, wall0);
    }
    let batches: Vec<BatchProgress> = progress
        .iter()
        .filter_map(|j| BatchProgress::parse(j).ok())
        .filter(|b| b.input_rows > 0)
        .collect();
    let recent = &batches[batches.len().saturating_sub(20)..];
    let mut durations: Vec<f64> = recent.iter().map(|b| b.batch_duration_ms as f64).collect();
    durations.sort_by(f64::total_cmp);
    let processed = if recent.is_empty() {
        f64::NAN
    } else {
        recent.iter().map(|b| b.processed_rows_per_s).sum::<f64>() / recent.len() as f64
    };
    println!(
        "{:>10.0} {:>12.0} {:>14.0} {:>20} {:>12.1} {:>22}",
        rate,
        ingested,
        processed,
        format!(
            "{:.0}/{:.0}/{:.0}",
            percentile(&durations, 0.5),
            percentile(&durations, 0.9),
            durations.last().copied().unwrap_or(f64::NAN)
        ),
        signals,
        format!(
            "{:.0}/{:.0}/{:.0}",
            percentile(&latency_ms, 0.5),
            percentile(&latency_ms, 0.99),
            latency_ms.last().copied().unwrap_or(f64::NAN)
        ),
    );
}

/// A signal's bar close (the last field of its id) and the milliseconds from it to the
/// signal's arrival at the receiver.
fn bar_close_to_arrival(a: &sink::receive::Arrival) -> Option<(DateTime<Utc>, f64)> {
    let bar_end: DateTime<Utc> = a.id.rsplit('|').next()?.parse().ok()?;
    let at: DateTime<Utc> = a.at.into();
    Some((bar_end, (at - bar_end).num_microseconds()? as f64 / 1000.0))
}

/// Every batch, then the signals' latency by 5 s slices of bar close time (seconds after the
/// measurement began).
fn print_timeline(progress: &[String], arrivals: &[sink::receive::Arrival], wall0: SystemTime) {
    const PHASES: [&str; 5] = [
        "queryPlanning",
        "addBatch",
        "walCommit",
        "commitOffsets",
        "latestOffset",
    ];
    println!(
        "  batch  started                   ms     rows  {}  watermark",
        PHASES.map(|p| format!("{p:>13}")).join(" ")
    );
    for json in progress {
        let (Ok(b), Ok(raw)) = (
            BatchProgress::parse(json),
            serde_json::from_str::<serde_json::Value>(json),
        ) else {
            continue;
        };
        let phases = PHASES.map(|p| format!("{:>13}", raw["durationMs"][p].as_i64().unwrap_or(0)));
        println!(
            "  {:>5}  {:<24} {:>6} {:>8}  {}  {}",
            b.batch_id,
            b.timestamp,
            b.batch_duration_ms,
            b.input_rows,
            phases.join(" "),
            b.watermark.as_deref().unwrap_or("-")
        );
    }
    let start: DateTime<Utc> = wall0.into();
    let mut slices: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
    for (bar_end, ms) in arrivals
        .iter()
        .filter(|a| a.at >= wall0)
        .filter_map(bar_close_to_arrival)
    {
        slices
            .entry((bar_end - start).num_seconds().div_euclid(5) * 5)
            .or_default()
            .push(ms);
    }
    println!("  bar close s  signals  latency ms p50/max");
    for (s, mut v) in slices {
        v.sort_by(f64::total_cmp);
        println!(
            "  {:>11}  {:>7}  {:.0}/{:.0}",
            s,
            v.len(),
            percentile(&v, 0.5),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
}
