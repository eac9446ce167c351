//! The `analytics` CLI: parses flags and calls the library; maps errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use analytics::connect::{Connection, DEFAULT_REMOTE, DEFAULT_SESSION_ID, DEFAULT_USER_ID};
use analytics::control::{self, Stopped, Submitted};
use analytics::progress::BatchProgress;
use analytics::{query, table, Error, Strategy};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// Exit code: the strategy file or a flag is invalid.
const EXIT_INVALID: u8 = 2;
/// Exit code: the Spark Connect server cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: no active query of that name (status, watch).
const EXIT_NOT_FOUND: u8 = 4;

/// Run trading strategies as Spark Structured Streaming queries over Spark Connect.
///
/// Every invocation joins one shared Spark Connect session (fixed user and session id), so a
/// query submitted by one process can be listed, watched and stopped by any later one.
/// Exit codes: 0 ok, 1 Spark or other failure, 2 invalid strategy file or flags, 3 Spark
/// Connect server unreachable, 4 no active query of that name.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Spark Connect server, `sc://host:port` (optionally with `/;token=...;use_ssl=true`).
    #[arg(long, env = "SPARK_REMOTE", default_value = DEFAULT_REMOTE, global = true)]
    remote: String,

    /// User id of the shared Spark Connect session.
    #[arg(long, env = "ANALYTICS_USER_ID", default_value = DEFAULT_USER_ID, global = true)]
    user_id: String,

    /// Session id (a v4 UUID) of the shared Spark Connect session: processes with the same id
    /// see and manage the same queries.
    #[arg(long, env = "ANALYTICS_SESSION_ID", default_value = DEFAULT_SESSION_ID, global = true)]
    session_id: String,

    /// Base URL of the Spark driver UI (the Connect server's), for links to each query.
    #[arg(
        long,
        env = "SPARK_UI_URL",
        default_value = "http://127.0.0.1:4040",
        global = true
    )]
    ui_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        /// How often to poll, in milliseconds.
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
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<Error>() {
        Some(Error::Strategy(_) | Error::Settings(_)) => EXIT_INVALID,
        Some(Error::Unreachable { .. }) => EXIT_UNREACHABLE,
        _ => 1,
    }
}

fn load(configs: &[PathBuf]) -> Result<Vec<Strategy>, Error> {
    if configs.is_empty() {
        return Ok(vec![Strategy::default()]);
    }
    configs
        .iter()
        .map(|p| Strategy::load(p).map_err(Error::from))
        .collect()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let connection = Connection {
        remote: cli.remote,
        user_id: cli.user_id,
        session_id: cli.session_id,
        ..Connection::default()
    };
    // Parse and validate everything before any I/O.
    connection.url()?;
    let ui = cli.ui_url;
    match cli.command {
        Command::Submit { configs, check } => {
            let strategies = load(&configs)?;
            let mut names: Vec<&str> = strategies.iter().map(Strategy::query_name).collect();
            names.sort();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(Error::Settings(format!(
                    "two strategies have the query name `{}`",
                    w[0]
                ))
                .into());
            }
            let spark = connection.connect()?;
            if check {
                let version = spark.version().context("ask the server its version")?;
                for s in &strategies {
                    println!(
                        "ok: strategy `{}` (query `{}`) is valid; Spark {version} reachable at {}",
                        s.name,
                        s.query_name(),
                        connection.remote
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            for s in &strategies {
                match control::submit(&spark, s)? {
                    Submitted::Started(q) => println!(
                        "started `{}` (id {}, run {}), checkpoint {}\n  Spark UI: {}",
                        q.name,
                        q.id,
                        q.run_id,
                        s.checkpoint_location(),
                        q.ui_url(&ui)
                    ),
                    Submitted::AlreadyRunning(q) => println!(
                        "already running: `{}` (id {}, run {}); not started again\n  Spark UI: {}",
                        q.name,
                        q.id,
                        q.run_id,
                        q.ui_url(&ui)
                    ),
                }
            }
        }
        Command::Stop {
            name,
            drain_timeout_s,
        } => {
            let spark = connection.connect()?;
            match control::stop(&spark, &name, Duration::from_secs(drain_timeout_s))? {
                Stopped::Stopped(q) => {
                    println!("stopped `{}` (id {}, run {})", q.name, q.id, q.run_id)
                }
                Stopped::NotRunning => println!("`{name}` is not running; nothing to stop"),
            }
        }
        Command::Status { name } => {
            let spark = connection.connect()?;
            let reports = control::status(&spark, name.as_deref())?;
            if reports.is_empty() {
                return Ok(match name {
                    Some(n) => {
                        println!("no active query named `{n}`");
                        last_run(&ui, &n);
                        ExitCode::from(EXIT_NOT_FOUND)
                    }
                    None => {
                        println!("no active queries");
                        ExitCode::SUCCESS
                    }
                });
            }
            print!("{}", table::status(&reports, &ui));
        }
        Command::List => {
            let spark = connection.connect()?;
            let queries = control::list(&spark)?;
            if queries.is_empty() {
                println!("no active queries");
            } else {
                print!("{}", table::list(&queries, &ui));
            }
        }
        Command::Watch { name, interval_ms } => {
            let spark = connection.connect()?;
            let Some(q) = control::find(&spark, &name)? else {
                println!("no active query named `{name}`");
                return Ok(ExitCode::from(EXIT_NOT_FOUND));
            };
            return watch(&q, &ui, Duration::from_millis(interval_ms.max(100)));
        }
        Command::Explain { config } => {
            let strategy = load(config.as_slice())?.remove(0);
            let spark = connection.connect()?;
            print!("{}", query::explain(&spark, &strategy)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints how the last run of a query that is no longer active ended, from the Spark UI.
fn last_run(ui: &str, name: &str) {
    match analytics::ui::completed_runs(ui, name) {
        Ok(runs) => match runs.first() {
            Some(r) => {
                println!(
                    "last run: {} (id {}, run {}, started {})",
                    r.status, r.id, r.run_id, r.started
                );
                if !r.error.is_empty() {
                    println!("last error: {}", r.error);
                }
                println!(
                    "  Spark UI: {ui}/StreamingQuery/statistics/?id={}",
                    r.run_id
                );
            }
            None => println!("the Spark UI at {ui} shows no completed run of it either"),
        },
        Err(e) => println!("(no last run: {e})"),
    }
}

/// Prints one line per new micro-batch until the query terminates.
fn watch(
    q: &spark_connect::StreamingQuery,
    ui: &str,
    interval: Duration,
) -> anyhow::Result<ExitCode> {
    let first = control::report(q)?;
    println!("watching `{}`: {}", first.info.name, first.info.ui_url(ui));
    let mut seen = -1;
    loop {
        let report = control::report(q)?;
        if let Some(b) = report.last.as_ref().filter(|b| b.batch_id > seen) {
            seen = b.batch_id;
            println!("{}", watch_line(b));
        }
        if !report.active {
            return Ok(match report.error {
                Some(e) => {
                    println!("query terminated with an error: {e}");
                    ExitCode::FAILURE
                }
                None => {
                    println!("query stopped");
                    ExitCode::SUCCESS
                }
            });
        }
        std::thread::sleep(interval);
    }
}

fn watch_line(b: &BatchProgress) -> String {
    format!(
        "batch {} at {}: {} rows in ({:.1}/s), processed {:.1}/s, {} ms, watermark {}, \
         {} state rows, {} late dropped, {} bad records",
        b.batch_id,
        b.timestamp,
        b.input_rows,
        b.input_rows_per_s,
        b.processed_rows_per_s,
        b.batch_duration_ms,
        b.watermark.as_deref().unwrap_or("-"),
        b.state_rows,
        b.dropped_late,
        b.bad_records.unwrap_or(0),
    )
}
