//! The `analytics` binary: parses flags ([`cli`]), calls the library, prints its text
//! ([`analytics::text`]) and maps errors to exit codes (see `analytics --help`).

mod cli;

use std::process::ExitCode;

use analytics::connect::Connection;
use analytics::strategy::{self, Strategy, StrategyError};
use analytics::supervise::{self, AtExit, Ending, SuperviseSettings};
use analytics::{backtest, control, text, ui, Error};
use anyhow::Context;
use clap::Parser;
use cli::{
    Cli, Command, EXIT_ALL_GIVEN_UP, EXIT_NOT_FOUND, EXIT_UNAUTHENTICATED, EXIT_UNREACHABLE,
};
use service::metrics::{MetricsSettings, Registry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => service::exit::report("analytics", &*e, |e| match e.downcast_ref::<Error>() {
            Some(Error::Unreachable { .. }) => Some(EXIT_UNREACHABLE),
            Some(Error::Unauthenticated { .. }) => Some(EXIT_UNAUTHENTICATED),
            Some(Error::Strategy(_) | Error::Settings(_)) => Some(service::exit::INVALID),
            Some(e) if e.rejected_plan() => Some(service::exit::INVALID),
            _ if e.is::<StrategyError>() => Some(service::exit::INVALID),
            _ => None,
        }),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let connection = cli.connection()?;
    // Parse and validate everything before any I/O.
    connection.url()?;
    let ui = cli.ui_url;
    match cli.command {
        Command::Submit { files, check } => {
            let strategies = files.load()?;
            let spark = connection.connect()?;
            if check {
                let version = spark.version().context("ask the server its version")?;
                for s in &strategies {
                    analytics::query::analyze(&spark, s)?;
                    print!("{}", text::checked(s, &version, &connection.shown_remote()));
                }
                return Ok(ExitCode::SUCCESS);
            }
            for s in &strategies {
                print!("{}", text::submitted(s, &control::submit(&spark, s)?, &ui));
            }
        }
        Command::Supervise { files, flags } => {
            let strategies = files.load()?;
            let settings = flags.settings(connection)?;
            return run_supervisor(&settings, &flags.metrics.settings(), strategies);
        }
        Command::Stop {
            name,
            drain_timeout_s,
        } => {
            let spark = connection.connect()?;
            let drain = std::time::Duration::from_secs(drain_timeout_s);
            print!(
                "{}",
                text::stopped(&name, &control::stop(&spark, &name, drain)?)
            );
        }
        Command::Status { name } => {
            let spark = connection.connect()?;
            let reports = control::status(&spark, name.as_deref())?;
            if !reports.is_empty() {
                print!("{}", text::status(&reports, &ui));
                return Ok(ExitCode::SUCCESS);
            }
            let Some(name) = name else {
                println!("no active queries");
                return Ok(ExitCode::SUCCESS);
            };
            println!("no active query named `{name}`");
            print!("{}", text::last_run(&ui::completed_runs(&ui, &name), &ui));
            return Ok(ExitCode::from(EXIT_NOT_FOUND));
        }
        Command::List => {
            let spark = connection.connect()?;
            let queries = control::list(&spark)?;
            if queries.is_empty() {
                println!("no active queries");
            } else {
                print!("{}", text::list(&queries, &ui));
            }
        }
        Command::Watch { name, interval_ms } => {
            let spark = connection.connect()?;
            let Some(q) = control::find(&spark, &name)? else {
                println!("no active query named `{name}`");
                return Ok(ExitCode::from(EXIT_NOT_FOUND));
            };
            print!("{}", text::watching(&control::report(&q)?.info, &ui));
            let end = control::watch(&q, cli::watch_interval(interval_ms), |b| {
                print!("{}", text::watch_line(b))
            })?;
            print!("{}", text::watch_end(&end));
            if matches!(end, control::WatchEnd::Failed(_)) {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Backtest(flags) => {
            let strategies = flags.history.strategies()?;
            let settings = flags.settings(&ui)?;
            // A session of its own: its jobs are told apart in the UI by its id.
            let spark = Connection {
                session_id: settings.session_id.clone(),
                ..connection
            }
            .connect()?;
            let report = backtest::run(&spark, &strategies[0], &settings, |line| {
                eprintln!("{line}")
            });
            // Released, whatever the outcome: sessions never expire on the stack.
            if let Err(e) = spark.stop() {
                tracing::warn!("could not release the backtest's Spark session: {e}");
            }
            let report = report?;
            print!("{}", text::backtest(&report));
            if let Some(path) = &flags.metrics {
                let json = serde_json::to_string_pretty(&report.metrics)?;
                std::fs::write(path, json + "\n")
                    .with_context(|| format!("write the metrics to {}", path.display()))?;
                println!("metrics written to {}", path.display());
            }
        }
        Command::Lateness(flags) => {
            let strategies = flags.history.strategies()?;
            let input = flags.input()?;
            let spark = connection.connect()?;
            eprintln!("measuring how late the trades arrived (one Spark job over the range)");
            let measured = analytics::lateness::run(
                &spark,
                &strategies[0],
                &input,
                flags.history.from,
                flags.history.to,
                &flags.delays_ms,
            )?;
            print!("{}", text::lateness(&measured, flags.max_late_share));
        }
        Command::Warm {
            config,
            strategy,
            seconds,
            rate,
            trades_topic,
            signals_topic,
            checkpoint_dir,
        } => {
            let strategies = strategy::load_all(config.as_slice(), &strategy.overrides)?;
            let spark = connection.connect()?;
            let settings = analytics::warm::WarmSettings {
                duration: std::time::Duration::from_secs(seconds),
                rate,
                trades_topic,
                signals_topic,
                checkpoint_dir: checkpoint_dir.unwrap_or_default(),
            };
            eprintln!(
                "warming the server with {}'s query over {rate} synthetic trades/s through Kafka \
                 for {seconds} s",
                strategies[0].name
            );
            print!(
                "{}",
                text::warmed(&analytics::warm::run(&spark, &strategies[0], &settings)?)
            );
        }
        Command::Explain { config, strategy } => {
            let strategies = strategy::load_all(config.as_slice(), &strategy.overrides)?;
            let spark = connection.connect()?;
            print!("{}", control::explain(&spark, &strategies[0])?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `supervise`: the supervisor's loop calls Spark, whose client blocks, so it runs on this
/// plain thread; the signal handler and the metrics server are async and run on a small
/// runtime of their own.
fn run_supervisor(
    settings: &SuperviseSettings,
    metrics: &MetricsSettings,
    strategies: Vec<Strategy>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("start the runtime of the metrics server")?;
    let registry = Registry::new("analytics");
    let signals = runtime.block_on(async { service::shutdown::on_signals() });
    let (metrics_done, metrics_shutdown) = service::shutdown::channel();
    let tasks = runtime
        .block_on(metrics.start(&registry, &metrics_shutdown))
        .context("start the metrics server")?;
    print!("{}", text::supervising(&strategies, settings));
    let report = supervise::run(settings, strategies, &registry, signals)?;
    metrics_done.fire();
    runtime.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    print!("{}", text::supervised(&report));
    Ok(if report.ending == Ending::AllGivenUp {
        ExitCode::from(EXIT_ALL_GIVEN_UP)
    } else if report
        .at_exit
        .iter()
        .any(|a| matches!(a, AtExit::StopFailed { .. }))
    {
        ExitCode::from(service::exit::FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}
