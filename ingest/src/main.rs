//! The `ingest` binary: parses flags, validates them, then runs the chosen source into Kafka
//! until it ends or Ctrl-C/SIGTERM, flushing before exit. Exit codes: 0 done, 1 runtime
//! failure (including records left unacknowledged), 2 invalid flags.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::metrics::Registry;
use ingest::cli::{Cli, Command, IngestArgs};
use ingest::exchange::Exchange;
use ingest::metrics::Metrics;
use ingest::{Config, Source};

/// A trade passes through several short-lived allocations (frame, parsed fields, JSON, Kafka
/// copy); mimalloc serves them markedly cheaper than the system allocator (see the benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let ingest = match &cli.command {
        Command::Kraken(a) => IngestArgs::Kraken(a),
        Command::Replay(a) => IngestArgs::Replay(a),
        Command::Simulate(a) => IngestArgs::Simulate(a),
        Command::Exchange(a) => {
            let config = match a.into_config() {
                Ok(c) => c,
                Err(errors) => return invalid(&errors),
            };
            return exit(runtime.block_on(exchange(a.listen, config)));
        }
    };
    match ingest.into_config() {
        Err(errors) => invalid(&errors),
        Ok(v) if v.check => exit(runtime.block_on(check(v.config))),
        Ok(v) => exit(runtime.block_on(async {
            let shutdown = common::shutdown::on_signals();
            let metrics = Metrics::new(Registry::new("ingest"));
            ingest::run(v.config, metrics, shutdown).await?;
            tracing::info!("stopped cleanly");
            Ok(())
        })),
    }
}

fn invalid(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!("(see `ingest --help` and `ingest <command> --help`)");
    ExitCode::from(2)
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--check`: the flags are valid; now reach Kafka and, for `kraken`, the exchange.
async fn check(config: Config) -> anyhow::Result<()> {
    let topics = config.output.check().await.context("checking Kafka")?;
    for (topic, status) in topics {
        match status {
            Ok(n) => println!("kafka: topic {topic}: {n} partitions"),
            Err(e) => println!("kafka: topic {topic}: not available ({e}); it is created on first write if the broker allows"),
        }
    }
    match &config.source {
        Source::Kraken(k) => {
            ingest::kraken::client::probe(&k.url, k.connect_timeout)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("exchange: {} reachable", k.url);
        }
        Source::Replay(r) => {
            tokio::fs::File::open(&r.file)
                .await
                .with_context(|| format!("cannot read {}", r.file.display()))?;
            println!("replay: {} readable", r.file.display());
        }
        Source::Simulate(_) => {}
    }
    println!("check passed");
    Ok(())
}

/// `exchange`: serve until Ctrl-C/SIGTERM.
async fn exchange(
    listen: std::net::SocketAddr,
    config: ingest::exchange::ExchangeConfig,
) -> anyhow::Result<()> {
    let mut shutdown = common::shutdown::on_signals();
    let exchange = Exchange::start(listen, config)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("local exchange at {}", exchange.url());
    shutdown.recv().await;
    exchange.stop();
    Ok(())
}
