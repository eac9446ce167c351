//! The `ingest` binary: parses and validates the flags ([`cli`]), then runs the chosen source
//! into Kafka until it ends or Ctrl-C/SIGTERM, flushing before exit (or checks, or serves the
//! fake exchange). Exit codes ([`service::exit`]): 0 done, 1 runtime failure (including records
//! left unacknowledged), 2 invalid flags, 7 Kafka refused the login or TLS failed verification,
//! 130 a second Ctrl-C.

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use ingest::fake_exchange::FakeExchange;
use ingest::metrics::Metrics;
use service::kafka::AuthFailed;
use service::metrics::Registry;

use crate::cli::{Cli, Task};

/// A trade passes through several short-lived allocations (frame, parsed fields, JSON, Kafka
/// copy); mimalloc serves them markedly cheaper than the system allocator (see the benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => service::exit::report("ingest", &*e, AuthFailed::exit_code),
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let task = cli.task()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        match task {
            Task::Ingest {
                settings,
                check: true,
            } => ingest::check(&settings, |line| println!("{line}")).await?,
            Task::Ingest { settings, .. } => {
                let shutdown = service::shutdown::on_signals();
                let metrics = Metrics::new(Registry::new("ingest"));
                ingest::run(*settings, metrics, shutdown).await?;
                tracing::info!("stopped cleanly");
            }
            Task::FakeExchange { listen, settings } => {
                let mut shutdown = service::shutdown::on_signals();
                let exchange = FakeExchange::start(listen, settings)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                println!("fake exchange at {}", exchange.url());
                shutdown.recv().await;
                exchange.stop();
            }
        }
        Ok(())
    })
}
