//! The `ingest` command line: flags (with environment-variable fallbacks), their validation,
//! and the settings they make. Part of the binary; the library never sees clap.
//!
//! Two stages: clap parses, then [`Cli::task`] checks everything without any I/O and reports
//! every problem at once, each naming its flag ([`InvalidSettings`], exit code 2), before
//! anything connects. Flag defaults are the library's `Default` settings, so a flag left out
//! and a field left to `..Default::default()` mean the same. The shared flags (`--log`,
//! `--metrics-*`, `--brokers`, `--kafka-option`) come from [`service::flags`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use ingest::fake_exchange::FakeExchangeSettings;
use ingest::pipeline::{OutputSettings, Topics, COMPRESSIONS, OWNED_OPTIONS};
use ingest::source::{
    HistoryInput, HistorySettings, KrakenSettings, ReplaySettings, RestHistory, SimulateSettings,
    Source, Speed, DEFAULT_SYMBOLS,
};
use ingest::IngestSettings;
use service::exit::InvalidSettings;
use service::flags::{KafkaFlags, LogFlags, MetricsFlags};

/// Market data into Kafka: normalized trades on `market.trades`, keyed by symbol, stamped
/// with the trade time, each exactly once.
///
/// Every flag also reads an environment variable (shown in brackets); flags win.
///
/// Exit codes: 0 done (source finished, or stopped and fully flushed), 1 runtime failure
/// (including records left unacknowledged), 2 invalid flags or settings (every problem
/// listed, nothing started), 7 Kafka refused the login or TLS failed verification (not
/// retried; a broker that is down is), 130 a second Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "ingest", version)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogFlags,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Live trades from Kraken's WebSocket v2 API (reconnects forever; Ctrl-C to stop).
    Kraken(KrakenArgs),
    /// Play back a JSON-lines file of Kraken v2 frames or of normalized trades.
    Replay(ReplayArgs),
    /// Generate seeded random-walk trades for any symbols at any rate.
    Simulate(SimulateArgs),
    /// Load history between two times into a topic that keeps it: from Kraken's REST
    /// `Trades` endpoint (`--pairs`), or from Kraken's trade-history CSV (`--csv FILE
    /// --symbol PAIR`). Resumes after the newest trade of each pair already on the topic, so
    /// running it again after an interruption loads each trade once. A missing topic is
    /// created keeping every record (retention.ms=-1); a topic that would delete trades this
    /// old is refused.
    History(HistoryArgs),
    /// Run a FAKE local exchange speaking Kraken's v2 protocol over a simulated market (no
    /// Kafka), for offline demos: `ingest kraken --url ws://127.0.0.1:8765`.
    Exchange(ExchangeArgs),
}

/// Kafka, queue and metrics flags shared by the `kraken`, `replay` and `simulate` commands.
#[derive(Debug, Clone, Args)]
struct OutputArgs {
    #[command(flatten)]
    kafka: KafkaFlags,

    #[command(flatten)]
    metrics: MetricsFlags,

    /// Topic for normalized trades (key = symbol, timestamp = trade time).
    #[arg(long, env = "INGEST_TOPIC", default_value_t = Topics::default().trades)]
    topic: String,

    /// Topic for bad input: the raw frame or trade as value, the reason in the `reason`
    /// header (and as key), details in `detail`, `source`, `recv_ts`; also for records Kafka
    /// refuses for good (too large, invalid timestamp). Unset: bad input is only counted, and
    /// a record Kafka refuses stops the run with exit code 1.
    #[arg(long, env = "INGEST_DEAD_LETTER_TOPIC")]
    dead_letter_topic: Option<String>,

    /// Records held between the source and Kafka before the source waits (backpressure).
    /// librdkafka's queue gets the same bound, so up to about twice this is in memory.
    #[arg(long, env = "INGEST_QUEUE_CAPACITY",
          default_value_t = OutputSettings::default().queue_capacity)]
    queue_capacity: usize,

    /// How long the producer waits to fill a batch (librdkafka `linger.ms`).
    #[arg(long, env = "INGEST_LINGER_MS", default_value_t = OutputSettings::default().linger_ms)]
    linger_ms: u64,

    /// Largest batch per partition in bytes (librdkafka `batch.size`).
    #[arg(long, env = "INGEST_BATCH_BYTES",
          default_value_t = OutputSettings::default().batch_bytes)]
    batch_bytes: usize,

    /// Batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, env = "INGEST_COMPRESSION",
          default_value_t = OutputSettings::default().compression)]
    compression: String,

    /// On Ctrl-C/SIGTERM, how long to keep flushing before giving up (exit code 1).
    #[arg(long, env = "INGEST_FLUSH_TIMEOUT_S",
          default_value_t = OutputSettings::default().flush_timeout.as_secs())]
    flush_timeout_s: u64,

    /// Validate the flags, reach Kafka (and the exchange), print what was found, and exit.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Clone, Args)]
struct KrakenArgs {
    /// WebSocket v2 endpoint.
    #[arg(long, env = "KRAKEN_URL", default_value_t = KrakenSettings::default().url)]
    url: String,

    /// Pairs to subscribe to, comma-separated, in v2 notation.
    #[arg(long, env = "INGEST_SYMBOLS", value_delimiter = ',',
          default_value = DEFAULT_SYMBOLS)]
    symbols: Vec<String>,

    /// Also subscribe to `ticker` and write its updates, as received, to this topic.
    #[arg(long, env = "INGEST_TICKER_TOPIC")]
    ticker_topic: Option<String>,

    /// Reconnect when nothing (not even a heartbeat) arrived for this long (seconds).
    #[arg(long, env = "INGEST_IDLE_TIMEOUT_S",
          default_value_t = KrakenSettings::default().idle_timeout.as_secs_f64())]
    idle_timeout_s: f64,

    /// Send an application-level ping this often (seconds).
    #[arg(long, env = "INGEST_PING_INTERVAL_S",
          default_value_t = KrakenSettings::default().ping_interval.as_secs_f64())]
    ping_interval_s: f64,

    /// Give up on a connection attempt after this long (seconds).
    #[arg(long, env = "INGEST_CONNECT_TIMEOUT_S",
          default_value_t = KrakenSettings::default().connect_timeout.as_secs_f64())]
    connect_timeout_s: f64,

    /// First reconnect delay (milliseconds); doubles per failure, with jitter.
    #[arg(long, env = "INGEST_BACKOFF_INITIAL_MS",
          default_value_t = millis(KrakenSettings::default().backoff_initial))]
    backoff_initial_ms: u64,

    /// Longest reconnect delay (milliseconds).
    #[arg(long, env = "INGEST_BACKOFF_MAX_MS",
          default_value_t = millis(KrakenSettings::default().backoff_max))]
    backoff_max_ms: u64,

    /// A connection must stay subscribed this long (seconds) before its loss starts the
    /// backoff over; a server that accepts and drops sooner keeps the delays growing.
    #[arg(long, env = "INGEST_HEALTHY_AFTER_S",
          default_value_t = KrakenSettings::default().healthy_after.as_secs_f64())]
    healthy_after_s: f64,

    /// Kraken's public REST API, which fills the gap when more trades were missed during a
    /// disconnection than the snapshot holds.
    #[arg(long, env = "KRAKEN_REST_URL", default_value_t = KrakenSettings::default().rest_url)]
    rest_url: String,

    /// Least time between two REST requests (milliseconds).
    #[arg(long, env = "INGEST_REST_INTERVAL_MS",
          default_value_t = millis(KrakenSettings::default().rest_interval))]
    rest_interval_ms: u64,

    /// Give up on a REST request after this long (seconds).
    #[arg(long, env = "INGEST_REST_TIMEOUT_S",
          default_value_t = KrakenSettings::default().rest_timeout.as_secs_f64())]
    rest_timeout_s: f64,

    /// Append every received frame to this JSON-lines file (replayable with `ingest replay`).
    #[arg(long, env = "INGEST_RECORD")]
    record: Option<PathBuf>,

    /// At startup, read --topic back from its end until every symbol's last 50 trades are
    /// known (at most this many records per partition), and skip those trades when Kraken's
    /// snapshot repeats them after a restart (0: no read-back).
    #[arg(long, env = "INGEST_RESUME_LOOKBACK",
          default_value_t = KrakenSettings::default().resume_lookback)]
    resume_lookback: i64,

    /// Dead-letter (as `ahead_of_receive_time`) a trade stamped more than this many seconds
    /// after we received it: one trade from the future would move the Spark query's watermark
    /// past every real trade. Older trades always pass (0: no check).
    #[arg(long, env = "INGEST_MAX_CLOCK_SKEW_S",
          default_value_t = max_clock_skew_s(KrakenSettings::default().max_clock_skew))]
    max_clock_skew_s: f64,

    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
struct HistoryArgs {
    /// Load from this Kraken trade-history CSV (`unix_time,price,volume`, no header) instead
    /// of the REST API; needs --symbol.
    #[arg(long, env = "INGEST_HISTORY_CSV", conflicts_with = "pairs")]
    csv: Option<PathBuf>,

    /// The pair the CSV file holds, in v2 notation (BTC/USD).
    #[arg(long, env = "INGEST_HISTORY_SYMBOL", requires = "csv")]
    symbol: Option<String>,

    /// Pairs to load from REST, comma-separated, in v2 notation, one after the other.
    #[arg(
        long,
        env = "INGEST_SYMBOLS",
        value_delimiter = ',',
        default_value = "BTC/USD"
    )]
    pairs: Vec<String>,

    /// First trade time to load: RFC 3339 or a date (YYYY-MM-DD, midnight UTC). Required
    /// for REST; a CSV loads from its start without it.
    #[arg(long, env = "INGEST_HISTORY_FROM", value_parser = parse_time)]
    from: Option<DateTime<Utc>>,

    /// Load trades before this time only (RFC 3339 or a date); default: now.
    #[arg(long, env = "INGEST_HISTORY_TO", value_parser = parse_time)]
    to: Option<DateTime<Utc>>,

    /// Send every trade of the range even when the topic already has newer trades of the
    /// pair (the default resumes after the topic's newest trade of each pair).
    #[arg(long)]
    no_resume: bool,

    /// Partitions of the topic when it does not exist and is created.
    #[arg(long, env = "INGEST_HISTORY_PARTITIONS",
          default_value_t = HistorySettings::default().partitions)]
    partitions: i32,

    /// Seconds between two progress lines (pages, trades, time covered, ETA).
    #[arg(long, env = "INGEST_HISTORY_PROGRESS_S",
          default_value_t = HistorySettings::default().progress_interval.as_secs_f64())]
    progress_s: f64,

    /// Kraken's public REST API.
    #[arg(long, env = "KRAKEN_REST_URL", default_value_t = RestHistory::default().url)]
    rest_url: String,

    /// Least time between two REST requests (milliseconds); Kraken allows about one a second.
    #[arg(long, env = "INGEST_REST_INTERVAL_MS",
          default_value_t = millis(RestHistory::default().interval))]
    rest_interval_ms: u64,

    /// Give up on one REST request after this long (seconds).
    #[arg(long, env = "INGEST_REST_TIMEOUT_S",
          default_value_t = RestHistory::default().timeout.as_secs_f64())]
    rest_timeout_s: f64,

    /// Attempts of one page that fails with HTTP 429/5xx, Kraken's "too many requests" or a
    /// network error, with delays doubling from --retry-initial-ms to --retry-max-ms.
    #[arg(long, env = "INGEST_REST_ATTEMPTS", default_value_t = RestHistory::default().attempts)]
    rest_attempts: u32,

    /// First delay before asking a failed page again (milliseconds).
    #[arg(long, env = "INGEST_REST_RETRY_INITIAL_MS",
          default_value_t = millis(RestHistory::default().retry_initial))]
    retry_initial_ms: u64,

    /// Longest delay before asking a failed page again (milliseconds).
    #[arg(long, env = "INGEST_REST_RETRY_MAX_MS",
          default_value_t = millis(RestHistory::default().retry_max))]
    retry_max_ms: u64,

    #[command(flatten)]
    output: OutputArgs,
}

/// A time flag: RFC 3339, or a date meaning its midnight UTC.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))
}

#[derive(Debug, Clone, Args)]
struct ReplayArgs {
    /// JSON-lines file: Kraken v2 frames (as `--record` writes) and/or normalized trades.
    file: PathBuf,

    /// `1` plays at the recorded speed, `10` ten times faster, `max` as fast as possible.
    #[arg(long, env = "INGEST_SPEED", default_value_t = Speed::default())]
    speed: Speed,

    #[command(flatten)]
    output: OutputArgs,
}

/// Market flags shared by `simulate` and `exchange`.
#[derive(Debug, Clone, Args)]
struct MarketArgs {
    /// Symbols to generate trades for, comma-separated.
    #[arg(long, env = "INGEST_SYMBOLS", value_delimiter = ',',
          default_value = DEFAULT_SYMBOLS)]
    symbols: Vec<String>,

    /// Trades per second of event time, over all symbols.
    #[arg(long, env = "INGEST_RATE", default_value_t = SimulateSettings::default().rate)]
    rate: f64,

    /// `1` runs event time in real time, `10` ten times faster, `max` as fast as possible.
    #[arg(long, env = "INGEST_SPEED", default_value_t = Speed::default())]
    speed: Speed,

    /// Stop after this many trades (default: run until stopped).
    #[arg(long, env = "INGEST_COUNT")]
    count: Option<u64>,

    /// Random seed: the same seed and start give the same trades.
    #[arg(long, env = "INGEST_SEED", default_value_t = SimulateSettings::default().seed)]
    seed: u64,

    /// Event time of the first trade, RFC 3339 (default: now).
    #[arg(long, env = "INGEST_START")]
    start: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Args)]
struct SimulateArgs {
    #[command(flatten)]
    market: MarketArgs,

    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
struct ExchangeArgs {
    /// Address to listen on.
    #[arg(long, env = "EXCHANGE_LISTEN", default_value = "127.0.0.1:8765")]
    listen: SocketAddr,

    /// Trades per symbol in a subscription snapshot (Kraken sends 50).
    #[arg(long, default_value_t = FakeExchangeSettings::default().snapshot_depth)]
    snapshot_depth: usize,

    /// Most trades in one update frame.
    #[arg(long, default_value_t = FakeExchangeSettings::default().max_frame_trades)]
    max_frame_trades: usize,

    #[command(flatten)]
    market: MarketArgs,
}

/// What the command line asks for, validated.
#[derive(Debug)]
pub enum Task {
    /// Run a source into Kafka; with `check`, only reach Kafka and the source.
    Ingest {
        settings: Box<IngestSettings>,
        check: bool,
    },
    /// Serve the fake exchange on `listen` until stopped.
    FakeExchange {
        listen: SocketAddr,
        settings: FakeExchangeSettings,
    },
}

impl Cli {
    /// Checks every flag (no I/O) and builds the settings, or lists every problem.
    pub fn task(&self) -> Result<Task, InvalidSettings> {
        let mut problems = Vec::new();
        let (source, output, ticker) = match &self.command {
            Command::Kraken(a) => (
                a.settings(&mut problems),
                &a.output,
                a.ticker_topic.as_ref(),
            ),
            Command::Replay(a) => {
                let source = Source::Replay(ReplaySettings {
                    file: a.file.clone(),
                    speed: a.speed,
                });
                (source, &a.output, None)
            }
            Command::Simulate(a) => (
                Source::Simulate(a.market.settings(&mut problems)),
                &a.output,
                None,
            ),
            Command::History(a) => (Source::History(a.settings(&mut problems)), &a.output, None),
            Command::Exchange(a) => {
                let settings = a.settings(&mut problems);
                return InvalidSettings::check(
                    problems,
                    Task::FakeExchange {
                        listen: a.listen,
                        settings,
                    },
                );
            }
        };
        let settings = IngestSettings {
            source,
            output: output.settings(ticker, &mut problems),
            metrics: output.metrics.settings(),
        };
        InvalidSettings::check(
            problems,
            Task::Ingest {
                settings: Box::new(settings),
                check: output.check,
            },
        )
    }
}

/// `--max-clock-skew-s` of a setting: 0 for no check.
fn max_clock_skew_s(d: Option<Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64())
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn secs(name: &str, v: f64, problems: &mut Vec<String>) -> Duration {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Duration::from_secs_f64(v)
    } else {
        problems.push(format!(
            "--{name} must be a positive number of seconds, got {v}"
        ));
        Duration::from_secs(1)
    }
}

fn check_symbols(symbols: &[String], problems: &mut Vec<String>) {
    if symbols.is_empty() {
        problems.push("--symbols: at least one symbol is needed".into());
    }
    for s in symbols {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 2
            || parts
                .iter()
                .any(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            problems.push(format!("--symbols: `{s}` is not a pair like BTC/USD"));
        }
    }
}

impl KrakenArgs {
    fn settings(&self, problems: &mut Vec<String>) -> Source {
        check_symbols(&self.symbols, problems);
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            problems.push(format!(
                "--url must start with ws:// or wss://, got `{}`",
                self.url
            ));
        }
        if !(self.rest_url.starts_with("http://") || self.rest_url.starts_with("https://")) {
            problems.push(format!(
                "--rest-url must start with http:// or https://, got `{}`",
                self.rest_url
            ));
        }
        if self.resume_lookback < 0 {
            problems.push("--resume-lookback must not be negative".into());
        }
        if self.backoff_initial_ms == 0 || self.backoff_initial_ms > self.backoff_max_ms {
            problems
                .push("--backoff-initial-ms must be positive and at most --backoff-max-ms".into());
        }
        Source::Kraken(KrakenSettings {
            url: self.url.clone(),
            symbols: self.symbols.clone(),
            idle_timeout: secs("idle-timeout-s", self.idle_timeout_s, problems),
            ping_interval: secs("ping-interval-s", self.ping_interval_s, problems),
            connect_timeout: secs("connect-timeout-s", self.connect_timeout_s, problems),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            healthy_after: secs("healthy-after-s", self.healthy_after_s, problems),
            rest_url: self.rest_url.clone(),
            rest_interval: Duration::from_millis(self.rest_interval_ms),
            rest_timeout: secs("rest-timeout-s", self.rest_timeout_s, problems),
            record: self.record.clone(),
            resume_lookback: self.resume_lookback,
            max_clock_skew: if self.max_clock_skew_s == 0.0 {
                None
            } else {
                Some(secs("max-clock-skew-s", self.max_clock_skew_s, problems))
            },
        })
    }
}

impl HistoryArgs {
    fn settings(&self, problems: &mut Vec<String>) -> HistorySettings {
        let input = match &self.csv {
            Some(file) => {
                let symbol = self.symbol.clone().unwrap_or_default();
                if self.symbol.is_none() {
                    problems.push("--csv needs --symbol (the pair the file holds)".into());
                } else {
                    check_symbols(std::slice::from_ref(&symbol), problems);
                }
                HistoryInput::Csv {
                    file: file.clone(),
                    symbol,
                }
            }
            None => {
                check_symbols(&self.pairs, problems);
                if self.from.is_none() {
                    problems.push("--from is required when loading from REST".into());
                }
                if !(self.rest_url.starts_with("http://") || self.rest_url.starts_with("https://"))
                {
                    problems.push(format!(
                        "--rest-url must start with http:// or https://, got `{}`",
                        self.rest_url
                    ));
                }
                if self.rest_attempts == 0 {
                    problems.push("--rest-attempts must be at least 1".into());
                }
                if self.retry_initial_ms == 0 || self.retry_initial_ms > self.retry_max_ms {
                    problems.push(
                        "--retry-initial-ms must be positive and at most --retry-max-ms".into(),
                    );
                }
                HistoryInput::Rest(RestHistory {
                    url: self.rest_url.clone(),
                    symbols: self.pairs.clone(),
                    interval: Duration::from_millis(self.rest_interval_ms),
                    timeout: secs("rest-timeout-s", self.rest_timeout_s, problems),
                    attempts: self.rest_attempts,
                    retry_initial: Duration::from_millis(self.retry_initial_ms),
                    retry_max: Duration::from_millis(self.retry_max_ms),
                })
            }
        };
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                problems.push(format!("--from ({from}) must be before --to ({to})"));
            }
        }
        if self.partitions < 1 {
            problems.push("--partitions must be at least 1".into());
        }
        HistorySettings {
            input,
            from: self.from,
            to: self.to,
            resume: !self.no_resume,
            partitions: self.partitions,
            progress_interval: secs("progress-s", self.progress_s, problems),
            ..HistorySettings::default()
        }
    }
}

impl OutputArgs {
    fn settings(&self, ticker: Option<&String>, problems: &mut Vec<String>) -> OutputSettings {
        if self.topic.trim().is_empty() {
            problems.push("--topic must not be empty".into());
        }
        for (flag, t) in [
            ("--dead-letter-topic", self.dead_letter_topic.as_ref()),
            ("--ticker-topic", ticker),
        ] {
            if let Some(t) = t {
                if t.trim().is_empty() || *t == self.topic {
                    problems.push(format!(
                        "{flag} must be a non-empty topic other than --topic"
                    ));
                }
            }
        }
        if self.queue_capacity == 0 {
            problems.push("--queue-capacity must be at least 1".into());
        }
        if self.linger_ms > 60_000 {
            problems.push("--linger-ms must be at most 60000".into());
        }
        if !(1_000..=100_000_000).contains(&self.batch_bytes) {
            problems.push("--batch-bytes must be between 1000 and 100000000".into());
        }
        if !COMPRESSIONS.contains(&self.compression.as_str()) {
            problems.push(format!(
                "--compression must be one of {}",
                COMPRESSIONS.join(", ")
            ));
        }
        for (key, _) in &self.kafka.settings().options {
            if let Some((_, why)) = OWNED_OPTIONS.iter().find(|(k, _)| k == key) {
                problems.push(format!(
                    "--kafka-option {key} is set by ingest itself ({why})"
                ));
            }
        }
        OutputSettings {
            kafka: self.kafka.settings(),
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
    fn settings(&self, problems: &mut Vec<String>) -> SimulateSettings {
        check_symbols(&self.symbols, problems);
        if !(self.rate.is_finite() && self.rate > 0.0) {
            problems.push(format!(
                "--rate must be a positive number, got {}",
                self.rate
            ));
        }
        SimulateSettings {
            symbols: self.symbols.clone(),
            rate: self.rate,
            count: self.count,
            seed: self.seed,
            start: self.start,
            speed: self.speed,
        }
    }
}

impl ExchangeArgs {
    fn settings(&self, problems: &mut Vec<String>) -> FakeExchangeSettings {
        let market = self.market.settings(problems);
        if self.max_frame_trades == 0 {
            problems.push("--max-frame-trades must be at least 1".into());
        }
        FakeExchangeSettings {
            market,
            snapshot_depth: self.snapshot_depth,
            max_frame_trades: self.max_frame_trades,
            ..FakeExchangeSettings::default()
        }
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

    fn task(args: &[&str]) -> Result<Task, InvalidSettings> {
        Cli::try_parse_from(args).unwrap().task()
    }

    fn ingest(args: &[&str]) -> (IngestSettings, bool) {
        match task(args).unwrap() {
            Task::Ingest { settings, check } => (*settings, check),
            Task::FakeExchange { .. } => panic!("not an ingest task"),
        }
    }

    #[test]
    fn defaults_make_a_valid_kraken_config() {
        let (settings, check) = ingest(&["ingest", "kraken"]);
        let Source::Kraken(k) = &settings.source else {
            panic!()
        };
        assert_eq!(k.symbols, ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"]);
        assert_eq!(k.url, "wss://ws.kraken.com/v2");
        assert_eq!(k.rest_url, "https://api.kraken.com");
        assert_eq!(settings.output.topics.trades, "market.trades");
        assert!(!check);
    }

    /// A flag left out means what a field left to `Default` means (brokers aside, which a
    /// test environment may set through `KAFKA_BROKERS`).
    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let (settings, _) = ingest(&["ingest", "kraken"]);
        let expected = IngestSettings {
            output: OutputSettings {
                kafka: settings.output.kafka.clone(),
                ..OutputSettings::default()
            },
            ..IngestSettings::default()
        };
        assert_eq!(settings, expected);
        let (settings, _) = ingest(&["ingest", "simulate"]);
        assert_eq!(
            settings.source,
            Source::Simulate(SimulateSettings::default())
        );
        let Task::FakeExchange { settings, .. } = task(&["ingest", "exchange"]).unwrap() else {
            panic!()
        };
        assert_eq!(settings, FakeExchangeSettings::default());
    }

    #[test]
    fn max_clock_skew_zero_means_no_check() {
        let (settings, _) = ingest(&["ingest", "kraken", "--max-clock-skew-s", "0"]);
        let Source::Kraken(k) = settings.source else {
            panic!()
        };
        assert_eq!(k.max_clock_skew, None);
        let (settings, _) = ingest(&["ingest", "kraken", "--max-clock-skew-s", "2.5"]);
        let Source::Kraken(k) = settings.source else {
            panic!()
        };
        assert_eq!(k.max_clock_skew, Some(Duration::from_millis(2500)));
        assert!(task(&["ingest", "kraken", "--max-clock-skew-s=-1"]).is_err());
    }

    #[test]
    fn metrics_log_interval_zero_means_never() {
        let (settings, _) = ingest(&["ingest", "simulate", "--metrics-log-interval-s", "0"]);
        assert_eq!(settings.metrics.log_interval, None);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = task(&[
            "ingest",
            "kraken",
            "--symbols",
            "BTCUSD",
            "--url",
            "http://x",
            "--rest-url",
            "ws://x",
            "--healthy-after-s",
            "0",
            "--idle-timeout-s",
            "0",
            "--compression",
            "brotli",
            "--kafka-option",
            "acks=1",
            "--ticker-topic",
            "market.trades",
        ])
        .unwrap_err()
        .0;
        let all = problems.join("\n");
        for flag in [
            "--symbols",
            "--url",
            "--rest-url",
            "--healthy-after-s",
            "--idle-timeout-s",
            "--compression",
            "acks",
            "--ticker-topic",
        ] {
            assert!(all.contains(flag), "{flag} missing in:\n{all}");
        }
        assert_eq!(problems.len(), 8, "{all}");
    }

    #[test]
    fn simulate_and_exchange_parse_speeds_and_counts() {
        let (settings, _) = ingest(&[
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
        ]);
        let Source::Simulate(s) = settings.source else {
            panic!()
        };
        assert_eq!(
            (s.rate, s.speed, s.count, s.seed),
            (500.0, Speed::Max, Some(10), 3)
        );
        let problems = task(&["ingest", "exchange", "--rate", "0"]).unwrap_err().0;
        assert!(problems[0].contains("--rate"));
    }

    #[test]
    fn history_from_rest_or_csv() {
        let (settings, _) = ingest(&[
            "ingest",
            "history",
            "--pairs",
            "BTC/USD,ETH/USD",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02T12:00:00Z",
            "--topic",
            "history.trades",
        ]);
        let Source::History(h) = settings.source else {
            panic!()
        };
        let HistoryInput::Rest(r) = &h.input else {
            panic!()
        };
        assert_eq!(r.symbols, ["BTC/USD", "ETH/USD"]);
        assert_eq!(h.from.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(h.to.unwrap().to_rfc3339(), "2026-11-02T12:00:00+00:00");
        assert!(h.resume);
        assert_eq!(settings.output.topics.trades, "history.trades");
        let (settings, _) = ingest(&[
            "ingest",
            "history",
            "--csv",
            "x.csv",
            "--symbol",
            "BTC/USD",
            "--no-resume",
        ]);
        let Source::History(h) = settings.source else {
            panic!()
        };
        assert_eq!(
            h.input,
            HistoryInput::Csv {
                file: "x.csv".into(),
                symbol: "BTC/USD".into()
            }
        );
        assert!(!h.resume && h.from.is_none());
        let problems = task(&[
            "ingest",
            "history",
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-01",
            "--pairs",
            "BTC",
        ])
        .unwrap_err()
        .0;
        let all = problems.join("\n");
        assert!(
            all.contains("--from (") && all.contains("--symbols"),
            "{all}"
        );
        assert!(task(&["ingest", "history"]).unwrap_err().0[0].contains("--from"));
        assert!(task(&["ingest", "history", "--csv", "x"]).unwrap_err().0[0].contains("--symbol"));
    }
}
