//! Command-line flags (with environment-variable fallbacks) and their validation.
//!
//! Two stages: clap parses, then [`IngestArgs::into_config`] checks everything without any I/O
//! and reports every problem at once, each naming its flag, before anything connects.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use common::kafka::KafkaArgs;

use crate::exchange::ExchangeConfig;
use crate::kraken::client::KrakenConfig;
use crate::output::{self, OutputConfig, Topics, COMPRESSIONS, OWNED_OPTIONS};
use crate::pace::Speed;
use crate::replay::ReplayConfig;
use crate::simulate::SimulateConfig;
use crate::{Config, Source};

const DEFAULT_SYMBOLS: &str = "BTC/USD,ETH/USD,SOL/USD,XRP/USD";

/// Market data into Kafka: normalized trades on `market.trades`, keyed by symbol, stamped
/// with the trade time, each exactly once.
#[derive(Debug, Parser)]
#[command(name = "ingest", version, about, long_about = None)]
pub struct Cli {
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `info,ingest=debug`.
    #[arg(long, env = "INGEST_LOG", default_value = "info", global = true)]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Live trades from Kraken's WebSocket v2 API (reconnects forever; Ctrl-C to stop).
    Kraken(KrakenArgs),
    /// Play back a JSON-lines file of Kraken v2 frames or of normalized trades.
    Replay(ReplayArgs),
    /// Generate seeded random-walk trades for any symbols at any rate.
    Simulate(SimulateArgs),
    /// Run a local exchange speaking Kraken's v2 protocol (no Kafka), e.g. for `ingest kraken
    /// --url ws://127.0.0.1:8765` in offline demos.
    Exchange(ExchangeArgs),
}

/// Kafka, queue and metrics flags shared by the `kraken`, `replay` and `simulate` commands.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Topic for normalized trades (key = symbol, timestamp = trade time).
    #[arg(long, env = "INGEST_TOPIC", default_value = "market.trades")]
    pub topic: String,

    /// Topic for bad input: the raw frame or trade as value, the reason in the `reason`
    /// header (and as key), details in `detail`, `source`, `recv_ts`. Unset: only counted.
    #[arg(long, env = "INGEST_DEAD_LETTER_TOPIC")]
    pub dead_letter_topic: Option<String>,

    /// Records held between the source and Kafka before the source waits (backpressure).
    /// librdkafka's queue gets the same bound, so up to about twice this is in memory.
    #[arg(long, env = "INGEST_QUEUE_CAPACITY", default_value_t = output::DEFAULT_QUEUE_CAPACITY)]
    pub queue_capacity: usize,

    /// How long the producer waits to fill a batch (librdkafka `linger.ms`).
    #[arg(long, env = "INGEST_LINGER_MS", default_value_t = output::DEFAULT_LINGER_MS)]
    pub linger_ms: u64,

    /// Largest batch per partition in bytes (librdkafka `batch.size`).
    #[arg(long, env = "INGEST_BATCH_BYTES", default_value_t = output::DEFAULT_BATCH_BYTES)]
    pub batch_bytes: usize,

    /// Batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, env = "INGEST_COMPRESSION", default_value = output::DEFAULT_COMPRESSION)]
    pub compression: String,

    /// On Ctrl-C/SIGTERM, how long to keep flushing before giving up (exit code 1).
    #[arg(long, env = "INGEST_FLUSH_TIMEOUT_S", default_value_t = output::DEFAULT_FLUSH_TIMEOUT_S)]
    pub flush_timeout_s: u64,

    /// Serve Prometheus metrics on this address, e.g. `127.0.0.1:9101`.
    #[arg(long, env = "INGEST_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Log every metric this often (seconds).
    #[arg(long, env = "INGEST_METRICS_LOG_INTERVAL_S", default_value_t = 30)]
    pub metrics_log_interval_s: u64,

    /// Validate the flags, reach Kafka (and the exchange), print what was found, and exit.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KrakenArgs {
    /// WebSocket v2 endpoint.
    #[arg(long, env = "KRAKEN_URL", default_value = "wss://ws.kraken.com/v2")]
    pub url: String,

    /// Pairs to subscribe to, comma-separated, in v2 notation.
    #[arg(long, env = "INGEST_SYMBOLS", value_delimiter = ',', default_value = DEFAULT_SYMBOLS)]
    pub symbols: Vec<String>,

    /// Also subscribe to `ticker` and write its updates, as received, to this topic.
    #[arg(long, env = "INGEST_TICKER_TOPIC")]
    pub ticker_topic: Option<String>,

    /// Reconnect when nothing (not even a heartbeat) arrived for this long (seconds).
    #[arg(long, env = "INGEST_IDLE_TIMEOUT_S", default_value_t = 10.0)]
    pub idle_timeout_s: f64,

    /// Send an application-level ping this often (seconds).
    #[arg(long, env = "INGEST_PING_INTERVAL_S", default_value_t = 30.0)]
    pub ping_interval_s: f64,

    /// Give up on a connection attempt after this long (seconds).
    #[arg(long, env = "INGEST_CONNECT_TIMEOUT_S", default_value_t = 10.0)]
    pub connect_timeout_s: f64,

    /// First reconnect delay (milliseconds); doubles per failure, with jitter.
    #[arg(long, env = "INGEST_BACKOFF_INITIAL_MS", default_value_t = 500)]
    pub backoff_initial_ms: u64,

    /// Longest reconnect delay (milliseconds).
    #[arg(long, env = "INGEST_BACKOFF_MAX_MS", default_value_t = 30_000)]
    pub backoff_max_ms: u64,

    /// Append every received frame to this JSON-lines file (replayable with `ingest replay`).
    #[arg(long, env = "INGEST_RECORD")]
    pub record: Option<PathBuf>,

    /// At startup, read back this many records per partition of --topic and skip those
    /// trades if Kraken's snapshot repeats them after a restart (0: off).
    #[arg(long, env = "INGEST_RESUME_LOOKBACK", default_value_t = 1000)]
    pub resume_lookback: i64,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// JSON-lines file: Kraken v2 frames (as `--record` writes) and/or normalized trades.
    pub file: PathBuf,

    /// `1` plays at the recorded speed, `10` ten times faster, `max` as fast as possible.
    #[arg(long, env = "INGEST_SPEED", default_value = "1")]
    pub speed: Speed,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Market flags shared by `simulate` and `exchange`.
#[derive(Debug, Clone, Args)]
pub struct MarketArgs {
    /// Symbols to generate trades for, comma-separated.
    #[arg(long, env = "INGEST_SYMBOLS", value_delimiter = ',', default_value = DEFAULT_SYMBOLS)]
    pub symbols: Vec<String>,

    /// Trades per second of event time, over all symbols.
    #[arg(long, env = "INGEST_RATE", default_value_t = 100.0)]
    pub rate: f64,

    /// `1` runs event time in real time, `10` ten times faster, `max` as fast as possible.
    #[arg(long, env = "INGEST_SPEED", default_value = "1")]
    pub speed: Speed,

    /// Stop after this many trades (default: run until stopped).
    #[arg(long, env = "INGEST_COUNT")]
    pub count: Option<u64>,

    /// Random seed: the same seed and start give the same trades.
    #[arg(long, env = "INGEST_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Event time of the first trade, RFC 3339 (default: now).
    #[arg(long, env = "INGEST_START")]
    pub start: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub market: MarketArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ExchangeArgs {
    /// Address to listen on.
    #[arg(long, env = "EXCHANGE_LISTEN", default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,

    /// Trades per symbol in a subscription snapshot (Kraken sends 50).
    #[arg(long, default_value_t = 50)]
    pub snapshot_depth: usize,

    /// Most trades in one update frame.
    #[arg(long, default_value_t = 100)]
    pub max_frame_trades: usize,

    #[command(flatten)]
    pub market: MarketArgs,
}

fn secs(name: &str, v: f64, errors: &mut Vec<String>) -> Duration {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Duration::from_secs_f64(v)
    } else {
        errors.push(format!(
            "--{name} must be a positive number of seconds, got {v}"
        ));
        Duration::from_secs(1)
    }
}

fn check_symbols(symbols: &[String], errors: &mut Vec<String>) {
    if symbols.is_empty() {
        errors.push("--symbols: at least one symbol is needed".into());
    }
    for s in symbols {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 2
            || parts
                .iter()
                .any(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            errors.push(format!("--symbols: `{s}` is not a pair like BTC/USD"));
        }
    }
}

impl OutputArgs {
    fn validate(&self, ticker: Option<&String>, errors: &mut Vec<String>) -> OutputConfig {
        if self.topic.trim().is_empty() {
            errors.push("--topic must not be empty".into());
        }
        for (flag, t) in [
            ("--dead-letter-topic", self.dead_letter_topic.as_ref()),
            ("--ticker-topic", ticker),
        ] {
            if let Some(t) = t {
                if t.trim().is_empty() || *t == self.topic {
                    errors.push(format!(
                        "{flag} must be a non-empty topic other than --topic"
                    ));
                }
            }
        }
        if self.queue_capacity == 0 {
            errors.push("--queue-capacity must be at least 1".into());
        }
        if self.linger_ms > 60_000 {
            errors.push("--linger-ms must be at most 60000".into());
        }
        if !(1_000..=100_000_000).contains(&self.batch_bytes) {
            errors.push("--batch-bytes must be between 1000 and 100000000".into());
        }
        if !COMPRESSIONS.contains(&self.compression.as_str()) {
            errors.push(format!(
                "--compression must be one of {}",
                COMPRESSIONS.join(", ")
            ));
        }
        for (key, _) in &self.kafka.options {
            if let Some((_, why)) = OWNED_OPTIONS.iter().find(|(k, _)| k == key) {
                errors.push(format!(
                    "--kafka-option {key} is set by ingest itself ({why})"
                ));
            }
        }
        if self.metrics_log_interval_s == 0 {
            errors.push("--metrics-log-interval-s must be at least 1".into());
        }
        OutputConfig {
            kafka: self.kafka.clone(),
            topics: Topics {
                trades: self.topic.clone(),
                ticker: ticker.cloned(),
                dead_letter: self.dead_letter_topic.clone(),
            },
            queue_capacity: self.queue_capacity,
            linger_ms: self.linger_ms,
            batch_bytes: self.batch_bytes,
            compression: self.compression.clone(),
            flush_timeout: Duration::from_secs(self.flush_timeout_s),
        }
    }
}

impl MarketArgs {
    fn validate(&self, errors: &mut Vec<String>) {
        check_symbols(&self.symbols, errors);
        if !(self.rate.is_finite() && self.rate > 0.0) {
            errors.push(format!(
                "--rate must be a positive number, got {}",
                self.rate
            ));
        }
    }
}

/// A validated source command: what [`crate::run`] needs plus `--check`.
#[derive(Debug)]
pub struct Validated {
    pub config: Config,
    pub check: bool,
}

/// The commands that feed Kafka.
pub enum IngestArgs<'a> {
    Kraken(&'a KrakenArgs),
    Replay(&'a ReplayArgs),
    Simulate(&'a SimulateArgs),
}

impl IngestArgs<'_> {
    /// Checks every flag (no I/O) and builds the configuration, or lists every problem.
    pub fn into_config(self) -> Result<Validated, Vec<String>> {
        let mut errors = Vec::new();
        let (source, output, ticker) = match self {
            IngestArgs::Kraken(a) => {
                check_symbols(&a.symbols, &mut errors);
                if !(a.url.starts_with("ws://") || a.url.starts_with("wss://")) {
                    errors.push(format!(
                        "--url must start with ws:// or wss://, got `{}`",
                        a.url
                    ));
                }
                if a.resume_lookback < 0 {
                    errors.push("--resume-lookback must not be negative".into());
                }
                if a.backoff_initial_ms == 0 || a.backoff_initial_ms > a.backoff_max_ms {
                    errors.push(
                        "--backoff-initial-ms must be positive and at most --backoff-max-ms".into(),
                    );
                }
                let source = Source::Kraken(KrakenConfig {
                    url: a.url.clone(),
                    symbols: a.symbols.clone(),
                    idle_timeout: secs("idle-timeout-s", a.idle_timeout_s, &mut errors),
                    ping_interval: secs("ping-interval-s", a.ping_interval_s, &mut errors),
                    connect_timeout: secs("connect-timeout-s", a.connect_timeout_s, &mut errors),
                    backoff_initial: Duration::from_millis(a.backoff_initial_ms),
                    backoff_max: Duration::from_millis(a.backoff_max_ms),
                    record: a.record.clone(),
                    resume_lookback: a.resume_lookback,
                });
                (source, &a.output, a.ticker_topic.as_ref())
            }
            IngestArgs::Replay(a) => (
                Source::Replay(ReplayConfig {
                    file: a.file.clone(),
                    speed: a.speed,
                }),
                &a.output,
                None,
            ),
            IngestArgs::Simulate(a) => {
                a.market.validate(&mut errors);
                let m = &a.market;
                let source = Source::Simulate(SimulateConfig {
                    symbols: m.symbols.clone(),
                    rate: m.rate,
                    count: m.count,
                    seed: m.seed,
                    start: m.start,
                    speed: m.speed,
                });
                (source, &a.output, None)
            }
        };
        let out = output.validate(ticker, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Validated {
            config: Config {
                source,
                output: out,
                metrics_addr: output.metrics_addr,
                metrics_log_interval: Duration::from_secs(output.metrics_log_interval_s),
            },
            check: output.check,
        })
    }
}

impl ExchangeArgs {
    pub fn into_config(&self) -> Result<ExchangeConfig, Vec<String>> {
        let mut errors = Vec::new();
        self.market.validate(&mut errors);
        if self.max_frame_trades == 0 {
            errors.push("--max-frame-trades must be at least 1".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let m = &self.market;
        Ok(ExchangeConfig {
            symbols: m.symbols.clone(),
            rate: m.rate,
            speed: m.speed,
            count: m.count,
            seed: m.seed,
            start: m.start,
            snapshot_depth: self.snapshot_depth,
            max_frame_trades: self.max_frame_trades,
            ..ExchangeConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap()
    }

    #[test]
    fn defaults_make_a_valid_kraken_config() {
        let Command::Kraken(a) = parse(&["ingest", "kraken"]).command else {
            panic!()
        };
        let v = IngestArgs::Kraken(&a).into_config().unwrap();
        let Source::Kraken(k) = v.config.source else {
            panic!()
        };
        assert_eq!(k.symbols, ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"]);
        assert_eq!(k.url, "wss://ws.kraken.com/v2");
        assert_eq!(v.config.output.topics.trades, "market.trades");
        assert!(!v.check);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let Command::Kraken(a) = parse(&[
            "ingest",
            "kraken",
            "--symbols",
            "BTCUSD",
            "--url",
            "http://x",
            "--idle-timeout-s",
            "0",
            "--compression",
            "brotli",
            "--kafka-option",
            "acks=1",
            "--ticker-topic",
            "market.trades",
        ])
        .command
        else {
            panic!()
        };
        let errors = IngestArgs::Kraken(&a).into_config().unwrap_err();
        let all = errors.join("\n");
        for flag in [
            "--symbols",
            "--url",
            "--idle-timeout-s",
            "--compression",
            "acks",
            "--ticker-topic",
        ] {
            assert!(all.contains(flag), "{flag} missing in:\n{all}");
        }
        assert_eq!(errors.len(), 6, "{all}");
    }

    #[test]
    fn simulate_and_exchange_parse_speeds_and_counts() {
        let Command::Simulate(a) = parse(&[
            "ingest",
            "simulate",
            "--rate",
            "500",
            "--speed",
            "max",
            "--count",
            "10",
            "--seed",
            "3",
            "--start",
            "2026-11-24T21:00:00Z",
        ])
        .command
        else {
            panic!()
        };
        let v = IngestArgs::Simulate(&a).into_config().unwrap();
        let Source::Simulate(s) = v.config.source else {
            panic!()
        };
        assert_eq!(
            (s.rate, s.speed, s.count, s.seed),
            (500.0, Speed::Max, Some(10), 3)
        );
        let Command::Exchange(e) = parse(&["ingest", "exchange", "--rate", "0"]).command else {
            panic!()
        };
        assert!(e.into_config().unwrap_err()[0].contains("--rate"));
    }
}
