//! The command line of `analytics`: flags (with environment fallbacks) and their conversion
//! into the library's settings. No I/O here.

use std::path::PathBuf;
use std::time::Duration;

use analytics::backtest::{BacktestSettings, FileFormat, Input, SimSettings};
use analytics::connect::{Connection, Token, DEFAULT_REMOTE, DEFAULT_SESSION_ID};
use analytics::strategy::{self, Override, Strategy, StrategyError};
use analytics::supervise::{OnStop, SuperviseSettings};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use service::exit::InvalidSettings;
use service::flags::{LogFlags, MetricsFlags};

/// Exit code: the Spark Connect server cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: no active query of that name (status, watch).
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit code: `supervise` gave up on every strategy.
pub const EXIT_ALL_GIVEN_UP: u8 = 5;
/// Exit code: the Spark Connect server refused the token (or its absence).
pub const EXIT_UNAUTHENTICATED: u8 = 6;

/// Run trading strategies as Spark Structured Streaming queries over Spark Connect.
///
/// Every invocation joins one shared Spark Connect session (fixed user and session id), so a
/// query submitted by one process can be listed, watched and stopped by any later one.
/// Exit codes: 0 ok, 1 Spark or other failure, 2 invalid strategy file or flags, 3 Spark
/// Connect server unreachable, 4 no active query of that name, 5 `supervise` gave up on every
/// strategy, 6 the server refused the token (or its absence).
///
/// A server that requires a token (the local stack's does) gets it from the file named by
/// --token-file (SPARK_CONNECT_TOKEN_FILE), else from SPARK_CONNECT_AUTHENTICATE_TOKEN; it is
/// never taken from the command line nor shown.
#[derive(Debug, Parser)]
#[command(name = "analytics", version)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogFlags,

    /// Spark Connect server, `sc://host:port` (optionally with `/;use_ssl=true`). A token is
    /// better given with --token-file than in here.
    #[arg(long, env = "SPARK_REMOTE", default_value = DEFAULT_REMOTE, global = true,
          hide_env_values = true)]
    pub remote: String,

    /// File holding the Spark Connect server's authentication token (the local stack's:
    /// .stack/secrets/connect.token). Without it, the token is read from
    /// SPARK_CONNECT_AUTHENTICATE_TOKEN, if set.
    #[arg(
        long,
        env = "SPARK_CONNECT_TOKEN_FILE",
        value_name = "PATH",
        global = true
    )]
    pub token_file: Option<PathBuf>,

    /// Session id (a v4 UUID) of the shared Spark Connect session: processes with the same id
    /// see and manage the same queries.
    #[arg(long, env = "ANALYTICS_SESSION_ID", default_value = DEFAULT_SESSION_ID, global = true)]
    pub session_id: String,

    /// Base URL of the Spark driver UI (the Connect server's), for links to each query.
    #[arg(
        long,
        env = "SPARK_UI_URL",
        default_value = "http://127.0.0.1:4040",
        global = true
    )]
    pub ui_url: String,

    #[command(subcommand)]
    pub command: Command,
}

/// Strategy files and field overrides, shared by `submit` and `explain`.
#[derive(Debug, Clone, clap::Args)]
pub struct StrategyFlags {
    /// Override a field of every strategy: KEY is its dotted path in the file, VALUE a TOML
    /// value or plain text (repeatable), e.g. `--set bars.interval_s=5 --set
    /// source.brokers=kafka:9092`. Checked like the file itself.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<Override>,
}

/// The strategies of `submit` and `supervise`: files (built-in defaults without one) and
/// field overrides.
#[derive(Debug, Clone, clap::Args)]
pub struct StrategyFiles {
    /// Strategy file (TOML); repeat (or comma-separate in ANALYTICS_CONFIG) for several
    /// strategies, each its own query.
    #[arg(
        long = "config",
        short = 'c',
        env = "ANALYTICS_CONFIG",
        value_delimiter = ','
    )]
    pub configs: Vec<PathBuf>,
    #[command(flatten)]
    pub strategy: StrategyFlags,
}

impl StrategyFiles {
    /// Reads and validates every strategy (see [`strategy::load_all`]).
    pub fn load(&self) -> Result<Vec<Strategy>, StrategyError> {
        strategy::load_all(&self.configs, &self.strategy.overrides)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the query of each strategy file (built-in defaults without --config). A query of
    /// the same name that is already running is reported, not duplicated; a query restarted
    /// after a stop resumes from its checkpoint.
    Submit {
        #[command(flatten)]
        files: StrategyFiles,
        /// Only validate the files and check the server is reachable; start nothing.
        #[arg(long)]
        check: bool,
    },
    /// Keep the query of each strategy file running: poll the session's active queries, start
    /// a stopped or failed one again from its checkpoint (with backoff per strategy), reconnect
    /// when the server restarts, and give up (logged as an error, metric `analytics_given_up`)
    /// only on a strategy whose plan Spark rejects or whose runs keep failing at once with the
    /// same analysis error; the others stay supervised. Ctrl-C or SIGTERM stops supervising and
    /// stops the queries gracefully (--leave-running: leaves them running). Runs until then;
    /// exits 5 when every strategy was given up.
    Supervise {
        #[command(flatten)]
        files: StrategyFiles,
        #[command(flatten)]
        flags: SuperviseFlags,
    },
    /// Stop the query named NAME gracefully (after its batch in flight). Stopping a query
    /// that is not running is not an error.
    Stop {
        name: String,
        /// Longest wait for the batch in flight before stopping anyway, in seconds.
        #[arg(long, default_value_t = 30)]
        drain_timeout_s: u64,
    },
    /// A table of the active queries (or only NAME): status, input and processed rows/s,
    /// batch duration, watermark, state rows, rows dropped as late, bad records, last error.
    /// For a NAME that is not active (stopped or failed), how its last run ended and its error,
    /// from the Spark UI (--ui-url).
    Status { name: Option<String> },
    /// Names, ids and Spark UI links of the active queries.
    List,
    /// Print the progress of query NAME, one line per micro-batch, until Ctrl-C or until the
    /// query terminates.
    Watch {
        name: String,
        /// How often to poll, in milliseconds (at least 100).
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
    },
    /// Run a strategy over history as a Spark batch job: the live query's own steps over the
    /// strategy's Kafka topic between two times (or a file of trades), the signals to a file
    /// (and optionally a topic), and a trading simulation on Spark whose metrics are printed
    /// as a table (and written as JSON with --metrics). Progress goes to stderr.
    Backtest(BacktestFlags),
    /// Measure how late trades reached the query in a range of the strategy's topic (or a
    /// file of trades as ingest wrote them), to choose `bars.watermark_delay_ms`: for each
    /// delay, the trades it would have dropped, and the smallest delay that drops at most
    /// --max-late-share of them. Runs on Spark; one row comes back.
    Lateness(LatenessFlags),
    /// Warm a freshly started Spark Connect server: for --seconds, a feeder query writes
    /// synthetic trades from Spark's `rate` source to --trades-topic and the strategy's query
    /// (with 1 s bars) reads them and writes signals to --signals-topic, so the Kafka source,
    /// the steps and the Kafka sink are compiled before real queries arrive (`spark/stack up`
    /// runs this). Touches no topic, query or checkpoint of the strategy; both topics must
    /// exist (`spark/stack up` creates them).
    Warm {
        /// Strategy file (TOML); built-in defaults without it. Its brokers are used.
        #[arg(long = "config", short = 'c', env = "ANALYTICS_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        strategy: StrategyFlags,
        /// How long the warm-up runs, in seconds.
        #[arg(long, default_value_t = analytics::warm::DEFAULT_SECONDS)]
        seconds: u64,
        /// Synthetic trades per second.
        #[arg(long, default_value_t = analytics::warm::DEFAULT_RATE)]
        rate: u32,
        /// The topic the synthetic trades go through.
        #[arg(long, default_value = analytics::warm::TRADES_TOPIC)]
        trades_topic: String,
        /// The topic the warm-up's signals go to.
        #[arg(long, default_value = analytics::warm::SIGNALS_TOPIC)]
        signals_topic: String,
        /// Directory (on the Spark server) for the warm-up queries' checkpoints, which may be
        /// deleted afterwards; default: warm-<random> under the checkpoint root.
        #[arg(long)]
        checkpoint_dir: Option<String>,
    },
    /// Print the plan Spark will run for a strategy: the SQL steps, then Spark's parsed and
    /// analyzed plans, and, when the strategy's query is running, its optimized and physical
    /// plans. Starts nothing.
    Explain {
        /// Strategy file (TOML); built-in defaults without it.
        #[arg(long = "config", short = 'c', env = "ANALYTICS_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        strategy: StrategyFlags,
    },
}

/// Which trades a command over history reads: the strategy (its topic and brokers) and a
/// range of its topic, or a file of trades.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryFlags {
    /// Strategy file (TOML); built-in defaults without it.
    #[arg(long = "config", short = 'c', env = "ANALYTICS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub strategy: StrategyFlags,
    /// First trade time: RFC 3339 or a date (YYYY-MM-DD, midnight UTC); default: the start.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Trades before this time only (RFC 3339 or a date); default: to the end.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// `kafka` (the strategy's source topic, or --input-topic), or a file of trades on the
    /// filesystem Spark reads: JSON lines (our trade JSON), `.parquet`, or (backtest only)
    /// Kraken's trade-history `.csv` (with --symbol).
    #[arg(long, default_value = "kafka")]
    pub input: String,
    /// Read this topic instead of the strategy's `source.topic`.
    #[arg(long)]
    pub input_topic: Option<String>,
}

impl HistoryFlags {
    /// The strategies of --config and --set.
    pub fn strategies(&self) -> Result<Vec<Strategy>, StrategyError> {
        strategy::load_all(self.config.as_slice(), &self.strategy.overrides)
    }

    /// The input (a Kraken CSV needs `symbol`), every problem with it or the range added to
    /// `problems`.
    fn input(&self, symbol: Option<&str>, problems: &mut Vec<String>) -> Input {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                problems.push(format!("--from ({from}) must be before --to ({to})"));
            }
        }
        if self.input == "kafka" {
            return Input::Kafka {
                topic: self.input_topic.clone(),
            };
        }
        let path = PathBuf::from(&self.input);
        let format = FileFormat::of(&path, symbol).unwrap_or_else(|e| {
            problems.push(format!("--input {e}"));
            FileFormat::JsonLines
        });
        Input::File { path, format }
    }
}

/// The flags of `backtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct BacktestFlags {
    #[command(flatten)]
    pub history: HistoryFlags,
    /// The pair a Kraken CSV holds (BTC/USD).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Write the signals here: `.parquet` for Parquet, otherwise JSON lines (Spark writes a
    /// directory of that name with one part file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the signals to this Kafka topic (the strategy's sink brokers).
    #[arg(long)]
    pub topic: Option<String>,
    /// Write every bar (HOLD included), not only bars where a rule fired.
    #[arg(long)]
    pub every_bar: bool,
    /// Write a self-contained HTML report here (opens offline): per symbol, candles,
    /// indicators, BUY/SELL marks, equity against buy-and-hold, and the metrics.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the metrics as JSON to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// SELL opens a short position (default: long/flat, SELL only closes).
    #[arg(long)]
    pub long_short: bool,
    /// Fee per side in basis points of the traded notional.
    #[arg(long, default_value_t = SimSettings::default().fee_bps)]
    pub fee_bps: f64,
    /// Slippage per side in basis points (fills at the close ± this).
    #[arg(long, default_value_t = SimSettings::default().slippage_bps)]
    pub slippage_bps: f64,
    /// Starting capital, split equally among the symbols.
    #[arg(long, default_value_t = SimSettings::default().capital)]
    pub capital: f64,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 2.0)]
    pub progress_s: f64,
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

impl BacktestFlags {
    /// The backtest's settings (a session of its own, so its jobs are its own in the UI);
    /// every invalid flag is named.
    pub fn settings(&self, ui_url: &str) -> Result<BacktestSettings, InvalidSettings> {
        let mut problems = Vec::new();
        let input = self.history.input(self.symbol.as_deref(), &mut problems);
        for (flag, v) in [
            ("--fee-bps", self.fee_bps),
            ("--slippage-bps", self.slippage_bps),
        ] {
            if !(v.is_finite() && (0.0..10_000.0).contains(&v)) {
                problems.push(format!("{flag} {v}: must be from 0 to below 10000"));
            }
        }
        if !(self.capital.is_finite() && self.capital > 0.0) {
            problems.push(format!("--capital {}: must be positive", self.capital));
        }
        if !(self.progress_s.is_finite() && self.progress_s >= 0.1) {
            problems.push(format!(
                "--progress-s {}: must be at least 0.1",
                self.progress_s
            ));
        }
        InvalidSettings::check(
            problems,
            BacktestSettings {
                input,
                from: self.history.from,
                to: self.history.to,
                out: self.out.clone(),
                topic: self.topic.clone(),
                report: self.report.clone(),
                every_bar: self.every_bar,
                sim: SimSettings {
                    long_short: self.long_short,
                    fee_bps: self.fee_bps,
                    slippage_bps: self.slippage_bps,
                    capital: self.capital,
                },
                ui_url: ui_url.to_string(),
                session_id: uuid::Uuid::new_v4().to_string(),
                progress_interval: Duration::from_secs_f64(self.progress_s.max(0.1)),
            },
        )
    }
}

/// The flags of `lateness`.
#[derive(Debug, Clone, clap::Args)]
pub struct LatenessFlags {
    #[command(flatten)]
    pub history: HistoryFlags,
    /// The watermark delays to count late trades for, in milliseconds.
    #[arg(long, value_delimiter = ',', default_values_t = analytics::lateness::DEFAULT_DELAYS_MS)]
    pub delays_ms: Vec<u64>,
    /// The share of trades a recommended delay may drop (0.0001: one in ten thousand).
    #[arg(long, default_value_t = 0.0001)]
    pub max_late_share: f64,
}

impl LatenessFlags {
    /// The input, with every invalid flag named.
    pub fn input(&self) -> Result<Input, InvalidSettings> {
        let mut problems = Vec::new();
        let input = self.history.input(None, &mut problems);
        if self.delays_ms.is_empty() {
            problems.push("--delays-ms: give at least one delay".into());
        }
        if !(self.max_late_share.is_finite() && (0.0..1.0).contains(&self.max_late_share)) {
            problems.push(format!(
                "--max-late-share {}: must be from 0 to below 1",
                self.max_late_share
            ));
        }
        InvalidSettings::check(problems, input)
    }
}

/// How `supervise` polls, retries and stops.
#[derive(Debug, Clone, clap::Args)]
pub struct SuperviseFlags {
    #[command(flatten)]
    pub metrics: MetricsFlags,
    /// How often to list the active queries, in milliseconds (at least 100): how soon a
    /// stopped or failed query is noticed.
    #[arg(long, env = "ANALYTICS_POLL_INTERVAL_MS", default_value_t = 1000)]
    pub poll_interval_ms: u64,
    /// Longest delay between two attempts to start a query again, in seconds; the delay
    /// starts at 1 s, doubles per attempt, and starts over once a run stayed up for 60 s.
    #[arg(long, env = "ANALYTICS_RESUBMIT_BACKOFF_MAX_S", default_value_t = 60)]
    pub resubmit_backoff_max_s: u64,
    /// Give up on a strategy whose runs failed this many times in a row within 60 s of their
    /// start with the same analysis error (a plan Spark rejects at submit is given up at once).
    #[arg(long, default_value_t = 3)]
    pub give_up_after: u32,
    /// On Ctrl-C or SIGTERM, leave the queries running (a new supervisor adopts them) instead
    /// of stopping them.
    #[arg(long)]
    pub leave_running: bool,
    /// Longest wait for a query's batch in flight when stopping it at exit, in seconds.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout_s: u64,
}

impl SuperviseFlags {
    /// The supervisor's settings on `connection`; every invalid flag is named.
    pub fn settings(&self, connection: Connection) -> Result<SuperviseSettings, InvalidSettings> {
        let mut problems = Vec::new();
        if self.poll_interval_ms < 100 {
            problems.push(format!(
                "--poll-interval-ms {}: must be at least 100",
                self.poll_interval_ms
            ));
        }
        if self.resubmit_backoff_max_s < 1 {
            problems.push("--resubmit-backoff-max-s 0: must be at least 1".into());
        }
        if self.give_up_after < 1 {
            problems.push("--give-up-after 0: must be at least 1".into());
        }
        let defaults = SuperviseSettings::default();
        InvalidSettings::check(
            problems,
            SuperviseSettings {
                connection,
                poll_interval: Duration::from_millis(self.poll_interval_ms),
                resubmit_backoff_max: Duration::from_secs(self.resubmit_backoff_max_s)
                    .max(defaults.resubmit_backoff_initial),
                give_up_after: self.give_up_after,
                on_stop: if self.leave_running {
                    OnStop::LeaveRunning
                } else {
                    OnStop::StopQueries
                },
                drain_timeout: Duration::from_secs(self.drain_timeout_s),
                ..defaults
            },
        )
    }
}

impl Cli {
    /// The Spark Connect connection the global flags describe, with the token of
    /// --token-file (unless the connection string carries one).
    pub fn connection(&self) -> Result<Connection, analytics::Error> {
        let token = match &self.token_file {
            Some(path) if !self.remote.contains("token=") => Some(Token::from_file(path)?),
            _ => None,
        };
        Ok(Connection {
            remote: self.remote.clone(),
            session_id: self.session_id.clone(),
            token,
            ..Connection::default()
        })
    }
}

/// `watch --interval-ms`, kept from polling the server in a tight loop.
pub fn watch_interval(interval_ms: u64) -> Duration {
    Duration::from_millis(interval_ms.max(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn submit_takes_files_and_overrides() {
        let cli = Cli::try_parse_from([
            "analytics",
            "submit",
            "-c",
            "a.toml",
            "--set",
            "bars.interval_s=5",
            "--set",
            "source.brokers=kafka:9092",
        ])
        .unwrap();
        let Command::Submit { files, .. } = cli.command else {
            panic!("not submit")
        };
        assert_eq!(files.configs, [PathBuf::from("a.toml")]);
        let overrides = &files.strategy.overrides;
        assert_eq!(overrides[0].key, "bars.interval_s");
        assert_eq!(overrides[0].value, toml::Value::Integer(5));
        assert_eq!(overrides[1].value, toml::Value::String("kafka:9092".into()));
        assert!(Cli::try_parse_from(["analytics", "submit", "--set", "oops"]).is_err());
    }

    fn supervise_flags(args: &[&str]) -> SuperviseFlags {
        let cli = Cli::try_parse_from([&["analytics", "supervise", "-c", "a.toml"], args].concat())
            .unwrap();
        match cli.command {
            Command::Supervise { flags, .. } => flags,
            other => panic!("not supervise: {other:?}"),
        }
    }

    #[test]
    fn supervise_stops_its_queries_on_exit_unless_told_otherwise() {
        let s = supervise_flags(&[])
            .settings(Connection::default())
            .unwrap();
        assert_eq!(s.on_stop, OnStop::StopQueries);
        assert_eq!(s.poll_interval, Duration::from_secs(1));
        let s = supervise_flags(&["--leave-running", "--metrics-addr", "127.0.0.1:9464"]);
        assert_eq!(
            s.metrics.settings().addr,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        let s = s.settings(Connection::default()).unwrap();
        assert_eq!(s.on_stop, OnStop::LeaveRunning);
    }

    fn backtest(args: &[&str]) -> Result<BacktestSettings, InvalidSettings> {
        let cli = Cli::try_parse_from([&["analytics", "backtest"], args].concat()).unwrap();
        match cli.command {
            Command::Backtest(flags) => flags.settings("http://ui"),
            other => panic!("not backtest: {other:?}"),
        }
    }

    #[test]
    fn backtest_inputs_times_and_costs() {
        let b = backtest(&["--from", "2026-01-05", "--to", "2026-01-06T12:00:00Z"]).unwrap();
        assert_eq!(b.input, Input::Kafka { topic: None });
        assert_eq!(b.from.unwrap().to_rfc3339(), "2026-01-05T00:00:00+00:00");
        assert_eq!(b.sim, SimSettings::default());
        assert_eq!(b.ui_url, "http://ui");
        let b = backtest(&[
            "--input",
            "XBTUSD.csv",
            "--symbol",
            "BTC/USD",
            "--long-short",
        ])
        .unwrap();
        assert!(matches!(
            b.input,
            Input::File {
                format: FileFormat::KrakenCsv { .. },
                ..
            }
        ));
        assert!(b.sim.long_short);
        assert_eq!(b.report, None);
        let b = backtest(&["--report", "target/report.html"]).unwrap();
        assert_eq!(b.report, Some(PathBuf::from("target/report.html")));
        let e = backtest(&[
            "--input",
            "x.csv",
            "--from",
            "2026-01-06",
            "--to",
            "2026-01-05",
            "--fee-bps=-1",
        ])
        .unwrap_err();
        assert_eq!(e.0.len(), 3, "{e}");
    }

    #[test]
    fn supervise_names_every_invalid_flag() {
        let e = supervise_flags(&["--poll-interval-ms", "10", "--give-up-after", "0"])
            .settings(Connection::default())
            .unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.0[0].starts_with("--poll-interval-ms 10"), "{e}");
        assert!(e.0[1].starts_with("--give-up-after 0"), "{e}");
    }
}
