//! The command line of `analytics`: flags (with environment fallbacks) and their conversion
//! into the library's settings. No I/O here.

use std::path::PathBuf;
use std::time::Duration;

use analytics::connect::{Connection, DEFAULT_REMOTE, DEFAULT_SESSION_ID, DEFAULT_USER_ID};
use analytics::strategy::Override;
use clap::{Parser, Subcommand};
use service::flags::LogFlags;

/// Exit code: the Spark Connect server cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: no active query of that name (status, watch).
pub const EXIT_NOT_FOUND: u8 = 4;

/// Run trading strategies as Spark Structured Streaming queries over Spark Connect.
///
/// Every invocation joins one shared Spark Connect session (fixed user and session id), so a
/// query submitted by one process can be listed, watched and stopped by any later one.
/// Exit codes: 0 ok, 1 Spark or other failure, 2 invalid strategy file or flags, 3 Spark
/// Connect server unreachable, 4 no active query of that name.
#[derive(Debug, Parser)]
#[command(name = "analytics", version)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogFlags,

    /// Spark Connect server, `sc://host:port` (optionally with `/;token=...;use_ssl=true`).
    #[arg(long, env = "SPARK_REMOTE", default_value = DEFAULT_REMOTE, global = true)]
    pub remote: String,

    /// User id of the shared Spark Connect session.
    #[arg(long, env = "ANALYTICS_USER_ID", default_value = DEFAULT_USER_ID, global = true)]
    pub user_id: String,

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the query of each strategy file (built-in defaults without --config). A query of
    /// the same name that is already running is reported, not duplicated; a query restarted
    /// after a stop resumes from its checkpoint.
    Submit {
        /// Strategy file (TOML); repeat (or comma-separate in ANALYTICS_CONFIG) to submit
        /// several strategies, each its own query.
        #[arg(
            long = "config",
            short = 'c',
            env = "ANALYTICS_CONFIG",
            value_delimiter = ','
        )]
        configs: Vec<PathBuf>,
        #[command(flatten)]
        strategy: StrategyFlags,
        /// Only validate the files and check the server is reachable; start nothing.
        #[arg(long)]
        check: bool,
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

impl Cli {
    /// The Spark Connect connection the global flags describe.
    pub fn connection(&self) -> Connection {
        Connection {
            remote: self.remote.clone(),
            user_id: self.user_id.clone(),
            session_id: self.session_id.clone(),
            ..Connection::default()
        }
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
        let Command::Submit {
            configs, strategy, ..
        } = cli.command
        else {
            panic!("not submit")
        };
        assert_eq!(configs, [PathBuf::from("a.toml")]);
        assert_eq!(strategy.overrides[0].key, "bars.interval_s");
        assert_eq!(strategy.overrides[0].value, toml::Value::Integer(5));
        assert_eq!(
            strategy.overrides[1].value,
            toml::Value::String("kafka:9092".into())
        );
        assert!(Cli::try_parse_from(["analytics", "submit", "--set", "oops"]).is_err());
    }
}
